/* Printing a tensor the way numpy does: nested brackets, aligned columns,
 * long axes elided with "...". */
#include "core_internal.h"

#include <math.h>

#define EDGE 3  /* items shown at each end of a long axis */
#define LONG 10 /* axes longer than this are elided      */

static void print_rec(FILE *f, const nb_tensor *t, int d, int64_t off, int width, int indent) {
    if (d == t->ndim) {
        fprintf(f, "%*.4f", width, t->storage->data[off]);
        return;
    }
    fputc('[', f);
    int64_t n = t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (n > LONG && i == EDGE) {
            fprintf(f, d == t->ndim - 1 ? "..., " : "...,\n%*s", d == t->ndim - 1 ? 0 : indent + 1,
                    "");
            i = n - EDGE;
        }
        print_rec(f, t, d + 1, off + i * t->strides[d], width, indent + 1);
        if (i + 1 < n) {
            if (d == t->ndim - 1)
                fputs(", ", f);
            else
                fprintf(f, ",\n%*s", indent + 1, "");
        }
    }
    fputc(']', f);
}

nb_status nb_fprint(FILE *f, const nb_tensor *t) {
    if (!t || !f) return (nb_fail_null("nb_fprint"), NB_ERR_NULL);
    int width = 1;
    for (int64_t i = 0; i < t->numel; i++) {
        float v = nb_get_flat(t, i);
        int w = snprintf(NULL, 0, "%.4f", v);
        if (w > width) width = w;
    }
    fputs("tensor(", f);
    print_rec(f, t, 0, t->offset, width, 7);
    fprintf(f, ", shape=%s%s%s)\n", nb_shape_s(t), t->name[0] ? ", name=" : "", t->name);
    return NB_OK;
}

nb_status nb_print(const nb_tensor *t) {
    return nb_fprint(stdout, t);
}
