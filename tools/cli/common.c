/* The nabla command's options, models and output directories. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------------------ */
static bool listed(const char *const *names, const char *arg) {
    for (int i = 0; names && names[i]; i++)
        if (!strcmp(names[i], arg)) return true;
    return false;
}

bool cli_wants_help(int argc, char **argv) {
    return cli_flag(argc, argv, "--help") || cli_flag(argc, argv, "-h");
}

bool cli_check(const char *command, int argc, char **argv, const cli_opts *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || isdigit((unsigned char)a[1]) || a[1] == '.') continue;
        if (listed(o->flags, a)) continue;
        if (!listed(o->valued, a)) {
            fprintf(stderr, "error: nabla %s: unknown option '%s' (nabla %s --help lists them)\n",
                    command, a, command);
            return false;
        }
        if (i + 1 == argc) {
            fprintf(stderr, "error: nabla %s: %s needs a value\n", command, a);
            return false;
        }
        i++;
    }
    return true;
}

const char *cli_option(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

bool cli_flag(int argc, char **argv, const char *name) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name)) return true;
    return false;
}

bool cli_long(const char *name, const char *text, long long lo, long long hi, long long *out) {
    if (!text) return true;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || isspace((unsigned char)*text) || v < lo || v > hi) {
        fprintf(stderr, "error: %s '%s': expected a whole number from %lld to %lld\n", name, text,
                lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_real(const char *name, const char *text, double lo, double hi, double *out) {
    if (!text) return true;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || isspace((unsigned char)*text) || !(v >= lo && v <= hi)) {
        fprintf(stderr, "error: %s '%s': expected a number from %g to %g\n", name, text, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* ---- models ---------------------------------------------------------------------------- */
/* the i-th comma-separated layer of spec, trimmed, into buf ("" past the end) */
static int layer_text(const char *spec, int i, char *buf, size_t n) {
    int count = 0;
    const char *p = spec;
    for (;; count++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (count == i) {
            while (len && isspace((unsigned char)*p)) p++, len--;
            while (len && isspace((unsigned char)p[len - 1])) len--;
            if (len >= n) len = n - 1;
            memcpy(buf, p, len);
            buf[len] = '\0';
        }
        if (!comma) break;
        p = comma + 1;
    }
    if (i >= count + 1) buf[0] = '\0';
    return count + 1;
}

static bool is_conv_first(const char *spec) {
    char first[64];
    layer_text(spec, 0, first, sizeof first);
    return !strncmp(first, "conv", 4);
}

nb_model *cli_model(const char *spec, const int64_t *shape, int ndim) {
    if (is_conv_first(spec) && ndim == 3 && shape[2] <= 4 && shape[0] > 4) {
        fprintf(stderr,
                "error: conv layers take channels first, CxHxW: for %lldx%lldx%lld images "
                "(channels last, Keras's default) use --input %lldx%lldx%lld and permute the "
                "data [N, H, W, C] -> [N, C, H, W]\n",
                (long long)shape[0], (long long)shape[1], (long long)shape[2], (long long)shape[2],
                (long long)shape[0], (long long)shape[1]);
        return NULL;
    }
    int column = -1;
    nb_model *m = nb_model_from_spec(spec, shape, ndim, &column);
    if (!m) {
        fprintf(stderr, "error: %s\n", nb_error());
        if (column >= 0) fprintf(stderr, "  %s\n  %*s^\n", spec, column, "");
    }
    return m;
}

nb_model *cli_model_text(const char *spec, const char *text) {
    int64_t shape[NB_MAX_DIMS];
    int ndim = 0;
    if (!text) {
        fprintf(stderr, "error: --input SHAPE is required (e.g. --input 28x28)\n");
        return NULL;
    }
    if (!nb_parse_shape(text, shape, &ndim)) {
        fprintf(stderr, "error: %s\n", nb_error());
        return NULL;
    }
    return cli_model(spec, shape, ndim);
}

static const char *const activations[] = {"linear",     "relu", "sigmoid", "tanh",     "softmax",
                                          "leaky_relu", "elu",  "gelu",    "softplus", "step"};

void cli_output_activation(const char *spec, char *act, size_t n) {
    char layer[256];
    snprintf(act, n, "linear");
    /* layers after the last one that computes (dropout, flatten) do not change it */
    for (int i = layer_text(spec, 0, layer, sizeof layer) - 1; i >= 0; i--) {
        layer_text(spec, i, layer, sizeof layer);
        if (!strncmp(layer, "dropout", 7) || !strcmp(layer, "flatten")) continue;
        const char *last = strrchr(layer, ' ') ? strrchr(layer, ' ') + 1 : layer;
        if (!strncmp(layer, "conv", 4) && (!strcmp(last, "same") || !strcmp(last, "valid"))) {
            *strrchr(layer, ' ') = '\0';
            last = strrchr(layer, ' ') ? strrchr(layer, ' ') + 1 : layer;
        }
        for (size_t k = 0; k < sizeof activations / sizeof activations[0]; k++)
            if (!strcmp(last, activations[k])) snprintf(act, n, "%s", last);
        return;
    }
}

int64_t cli_output_units(nb_model *m) {
    int64_t shape[NB_MAX_DIMS];
    int n = nb_layer_output_shape(nb_model_layer(m, nb_model_num_layers(m) - 1), shape);
    return n > 0 ? shape[n - 1] : 1;
}

/* ---- output ------------------------------------------------------------------------------ */
static bool make_one(const char *path) {
    struct stat st;
    if (mkdir(path, 0777) == 0) return true;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return true;
    fprintf(stderr, "error: cannot make the output directory %s: %s\n", path,
            errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
    return false;
}

bool cli_make_dir(const char *dir) {
    char path[4096], probe[4200];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        fprintf(stderr, "error: --out: the path is longer than %zu bytes\n", sizeof path - 1);
        return false;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/' && p[-1] != '/') {
            *p = '\0';
            bool ok = make_one(path);
            *p = '/';
            if (!ok) return false;
        }
    if (!make_one(path)) return false;
    /* a directory that exists may still refuse files: find out before training, not after */
    snprintf(probe, sizeof probe, "%s/.nabla-write-check-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "error: cannot write in the output directory %s: %s\n", dir,
                strerror(errno));
        return false;
    }
    close(fd);
    unlink(probe);
    return true;
}
