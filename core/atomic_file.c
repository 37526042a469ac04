/* Files that are never half-written: write to a temporary name in the same
 * directory, flush and fsync, rename over the target, fsync the directory.
 * A process killed at any moment leaves the old file or the new one. */
#include "core_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

FILE *nb_atomic_open(nb_atomic_file *a, const char *fn, const char *path) {
    a->f = NULL;
    a->fn = fn;
    if (!path) return nb_fail(NB_ERR_NULL, "%s: the path is NULL", fn);
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return nb_fail(NB_ERR_ARG, "%s: path too long", fn);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) return nb_fail(NB_ERR_IO, "%s: cannot write %s: %s", fn, a->tmp, strerror(errno));
    return a->f;
}

static void sync_dir(const char *path) {
    char copy[sizeof((nb_atomic_file *)0)->path];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

nb_status nb_atomic_commit(nb_atomic_file *a) {
    if (!a->f) return nb_error_code() ? nb_error_code() : NB_ERR_IO;
    bool ok = !ferror(a->f) && fflush(a->f) == 0 && fsync(fileno(a->f)) == 0;
    ok = fclose(a->f) == 0 && ok;
    a->f = NULL;
    if (!ok || rename(a->tmp, a->path) != 0) {
        int e = errno;
        unlink(a->tmp);
        return nb_failc(NB_ERR_IO, "%s: writing %s failed: %s", a->fn, a->path, strerror(e));
    }
    sync_dir(a->path);
    return NB_OK;
}

void nb_atomic_abort(nb_atomic_file *a) {
    if (!a->f) return;
    fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}
