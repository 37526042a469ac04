/* Small growing buffers: formatted text (DOT files) and arrays. */
#include "core_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void nb_text_put(nb_text *t, const char *fmt, ...) {
    va_list ap;
    for (int pass = 0; pass < 2 && !t->oom; pass++) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *s = nb_realloc(t->s, cap);
        if (!s) {
            t->oom = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

void nb_text_put_escaped(nb_text *t, const char *s) {
    for (; *s; s++) nb_text_put(t, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
}

bool nb_grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return true;
    int c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *p = nb_realloc(*items, (size_t)c * size);
    if (!p) return false;
    *items = p;
    *cap = c;
    return true;
}
