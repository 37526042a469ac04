/* libFuzzer harness: reading a safetensors file (written to a private temp
 * file, since the reader takes a path). */
#include "nabla.h"

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_scope_begin();
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/nabla_fuzz_%ld.safetensors", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    nb_safetensors *st = nb_safetensors_read(path);
    nb_safetensors_free(st);
    nb_tensor *w = nb_zeros((int64_t[]){2, 2}, 2);
    nb_safetensors_load(path, (const char *[]){"w"}, &w, 1);
    nb_scope_end(); /* frees this input's tensors; pools and primitives stay warm */
    return 0;
}
