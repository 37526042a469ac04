/* For harnesses whose reader takes a path: the input goes to a private temp
 * file (suffix chooses plain or gzip handling where the reader cares). */
#ifndef NB_FUZZ_FILES_H
#define NB_FUZZ_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[96];
    snprintf(path, sizeof path, "/tmp/nabla_fuzz_%ld%s", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(data, 1, size, f);
    fclose(f);
    return path;
}

#endif
