/* Named tensors in safetensors files: an 8-byte little-endian header length, a
 * JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [a, b]},
 * "__metadata__": {"key": "value"}}, then the raw little-endian data. Other
 * frameworks read these files as they are. */
#ifndef NABLA_SAFETENSORS_H
#define NABLA_SAFETENSORS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write n named tensors (and n_meta string pairs of metadata) to path. The
 * file is written to a temporary name in the same directory (created
 * exclusively, never through a link), synced, renamed over path and the
 * directory synced: a crash leaves the old file or the new one, never a mix,
 * and a failed save removes the temp file. A FIFO, device or directory at path
 * is refused; a symlink at path is itself replaced by the new file. */
nb_status nb_safetensors_save(const char *path, const char *const *names, nb_tensor *const *tensors,
                              int n, const char *const *meta_keys, const char *const *meta_values,
                              int n_meta);

/* Read the tensors called names[i] into tensors[i] (same shape, F32). A
 * missing name, a shape or dtype that differs, or a malformed file is an
 * error naming the file, the tensor and, for bad bytes, the offset.
 *
 * Reading a path: anything but a regular file (a FIFO, a device) is refused
 * without blocking. Only the header and the tensors asked for are read (each
 * straight into its tensor), so the memory used is the tensors'. A trailing
 * tail, bytes after the end of the last tensor's data, makes the file
 * malformed, as in the format's reference reader (MetadataIncompleteBuffer);
 * it is found from the file's size, without reading it. Buffers (the _mem
 * calls) are checked the same way. */
nb_status nb_safetensors_load(const char *path, const char *const *names, nb_tensor *const *tensors,
                              int n);

/* Everything in a file: tensors (new, in the current scope) with their names,
 * and the metadata. */
typedef struct nb_safetensors nb_safetensors;
nb_safetensors *nb_safetensors_read(const char *path);
int nb_safetensors_count(const nb_safetensors *f);
const char *nb_safetensors_name(const nb_safetensors *f, int i);
nb_tensor *nb_safetensors_tensor(const nb_safetensors *f, int i);
const char *nb_safetensors_meta(const nb_safetensors *f, const char *key); /* NULL if absent */
void nb_safetensors_free(nb_safetensors *f); /* the tensors stay, owned by their scope */

/* nb_safetensors_load and nb_safetensors_read on a file's bytes already in
 * memory (read in place, not copied); name (NULL: "(memory)") stands for the
 * path in messages. */
nb_status nb_safetensors_load_mem(const void *data, size_t size, const char *name,
                                  const char *const *names, nb_tensor *const *tensors, int n);
nb_safetensors *nb_safetensors_read_mem(const void *data, size_t size, const char *name);

#ifdef __cplusplus
}
#endif
#endif
