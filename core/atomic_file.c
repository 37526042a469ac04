/* Files that are never half-written: write to a temporary name in the same
 * directory, flush and fsync, rename over the target, fsync the directory.
 * A process killed at any moment leaves the old file or the new one.
 *
 * The temp file is ".nb-PID-RANDOM" (12 hex digits from getrandom), created
 * with O_CREAT | O_EXCL | O_NOFOLLOW: a name planted in advance (a symlink to
 * a victim, a FIFO) makes the create fail and another name is drawn, so a save
 * never writes through anything but the file it just made. The name is short
 * whatever the target's length (a 255-byte name still fits NAME_MAX) and
 * carries the PID so a later save can tell a dead run's leftovers. It is
 * created with mode 0666 like fopen's files, so the umask (and a default ACL)
 * gives it the mode a plain file would get. */
#include "core_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_PREFIX    ".nb-"
#define TEMP_HEX       12
#define STALE_SECONDS  3600 /* a temp file untouched this long, of a dead PID, is a leftover */
#define CREATE_RETRIES 64

/* ---- opening for reading ------------------------------------------------------------------ */
/* O_NONBLOCK makes the open of a FIFO (or a terminal) return at once instead
 * of waiting for a writer; fstat on the opened descriptor then decides, so
 * nothing can be swapped in between a check and the open. O_NOCTTY: opening a
 * terminal must not make it the process's controlling terminal. */
int nb_open_regular(const char *path, const char **why) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flags < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        *why = "not a regular file";
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the target and its directory ---------------------------------------------------------- */
static const char *kind_of(mode_t m) {
    return S_ISFIFO(m)   ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISDIR(m)  ? "a directory"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* A regular file or a symlink at path is replaced (the link itself, never
 * what it points to); anything else a user put there is refused. */
static bool target_ok(const char *fn, const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return true;
    nb_fail(NB_ERR_IO, "%s: %s is %s, not a regular file: not replacing it", fn, path,
            kind_of(st.st_mode));
    return false;
}

/* the directory part of path ("." for a bare name), into dir */
static void dir_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* ".nb-" PID "-" 12 lowercase hex digits, nothing more; *pid receives the PID */
static bool is_temp_name(const char *name, long *pid) {
    if (strncmp(name, TEMP_PREFIX, strlen(TEMP_PREFIX))) return false;
    const char *p = name + strlen(TEMP_PREFIX), *digits = p;
    long v = 0;
    while (*p >= '0' && *p <= '9' && p - digits < 10) v = v * 10 + (*p++ - '0');
    if (p == digits || *p++ != '-') return false;
    for (int i = 0; i < TEMP_HEX; i++, p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    *pid = v;
    return *p == '\0';
}

/* Removes the temp files killed runs left in dir: our name pattern, a regular
 * file owned by this user, untouched for an hour, its PID running nothing
 * (kill(pid, 0) says ESRCH). A live writer's file is never older than its last
 * write, and anything not matching all of this is left alone. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        struct stat st;
        if (!is_temp_name(e->d_name, &pid) || pid <= 0 || pid == (long)getpid()) continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || now - st.st_mtime < STALE_SECONDS)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static uint64_t random_bits(void) {
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) return r;
    /* no entropy yet (early boot): still unique enough, and O_EXCL keeps it safe */
    static atomic_uint_fast64_t counter;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    r = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 30) ^ (atomic_fetch_add(&counter, 1) << 48);
    return r * 0x9e3779b97f4a7c15ull;
}

/* a new temp file in dir, its path in a->tmp; -1 with errno when none can be made */
static int create_temp(nb_atomic_file *a, const char *dir) {
    if (nb_fault_hit(NB_FAULT_WRITE)) {
        errno = ENOSPC;
        return -1;
    }
    for (int i = 0; i < CREATE_RETRIES; i++) {
        unsigned long long r = random_bits() & ((1ull << (4 * TEMP_HEX)) - 1);
        snprintf(a->tmp, sizeof a->tmp, "%s/" TEMP_PREFIX "%ld-%0*llx", dir, (long)getpid(),
                 TEMP_HEX, r);
        int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* ---- writing ------------------------------------------------------------------------------- */
#ifdef NB_FAULT_INJECTION
/* The fault-injection build writes through a stream of its own so that each
 * write(2) of the data can be made to fail, whatever the caller writes with. */
static ssize_t fault_write(void *cookie, const char *buf, size_t n) {
    if (nb_fault_hit(NB_FAULT_WRITE)) {
        errno = ENOSPC;
        return -1;
    }
    return write((int)(intptr_t)cookie, buf, n);
}

static int fault_close(void *cookie) {
    return close((int)(intptr_t)cookie);
}

static FILE *stream_of(int fd) {
    return fopencookie((void *)(intptr_t)fd, "wb",
                       (cookie_io_functions_t){.write = fault_write, .close = fault_close});
}
#else
static FILE *stream_of(int fd) {
    return fdopen(fd, "wb");
}
#endif

static int sync_fd(int fd) {
    if (nb_fault_hit(NB_FAULT_SYNC)) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

/* A file turns stale an hour after its last write, so a directory scanned a minute
 * ago has nothing new to clean: a run that checkpoints every epoch (or every few
 * steps) into one directory scans it once a minute, not once per save. */
static bool scanned_lately(const char *dir) {
    static _Thread_local char last[4096];
    static _Thread_local time_t when;
    time_t now = time(NULL);
    if (!strcmp(last, dir) && now - when < 60) return true;
    snprintf(last, sizeof last, "%s", dir);
    when = now;
    return false;
}

FILE *nb_atomic_open(nb_atomic_file *a, const char *fn, const char *path) {
    a->f = NULL;
    a->fn = fn;
    a->tmp[0] = '\0';
    if (!path) return nb_fail(NB_ERR_NULL, "%s: the path is NULL", fn);
    if (!path[0]) return nb_fail(NB_ERR_ARG, "%s: the path is empty", fn);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return nb_fail(NB_ERR_ARG, "%s: path too long", fn);
    if (!target_ok(fn, path)) return NULL;
    char dir[sizeof a->path];
    dir_of(path, dir, sizeof dir);
    if (!scanned_lately(dir)) remove_stale_temps(dir);
    int fd = create_temp(a, dir);
    if (fd < 0) {
        int e = errno;
        a->tmp[0] = '\0';
        return nb_fail(NB_ERR_IO, "%s: cannot write %s: %s", fn, path, strerror(e));
    }
    a->fd = fd;
    a->f = stream_of(fd);
    if (!a->f) {
        close(fd);
        unlink(a->tmp);
        return nb_fail(NB_ERR_MEMORY, "%s: cannot write %s: out of memory", fn, path);
    }
    return a->f;
}

/* The directory entry of a rename is durable only once the directory is
 * synced: 0, or the errno of a failed fsync. A directory that cannot be opened
 * for reading, or a file system that cannot sync one (EINVAL), is not an error. */
static int sync_dir(const char *path) {
    char dir[sizeof((nb_atomic_file *)0)->path];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;
    if (fd >= 0) {
        if (sync_fd(fd) != 0 && errno != EINVAL) e = errno;
        close(fd);
    }
    return e;
}

nb_status nb_atomic_commit(nb_atomic_file *a) {
    if (!a->f) return nb_error_code() ? nb_error_code() : NB_ERR_IO;
    int e = 0;
    errno = 0;
    if (ferror(a->f) || fflush(a->f) != 0 || sync_fd(a->fd) != 0) e = errno ? errno : EIO;
    if (fclose(a->f) != 0 && !e) e = errno;
    a->f = NULL;
    /* checked again: something may have been made at the target while we wrote */
    if (!e && !target_ok(a->fn, a->path)) {
        unlink(a->tmp);
        return nb_error_code();
    }
    if (!e && nb_fault_hit(NB_FAULT_WRITE)) e = EIO; /* as a failed rename */
    if (!e && rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        unlink(a->tmp);
        return nb_fail_status(NB_ERR_IO, "%s: writing %s failed: %s", a->fn, a->path, strerror(e));
    }
    /* the new file is complete at path, but may not survive a crash */
    if ((e = sync_dir(a->path)))
        return nb_fail_status(NB_ERR_IO,
                              "%s: %s is written but its directory could not be synced: %s", a->fn,
                              a->path, strerror(e));
    return NB_OK;
}

void nb_atomic_abort(nb_atomic_file *a) {
    if (!a->f) return;
    fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}
