/* safetensors checkpoints (Hugging Face layout): reading with mmap, single files or shards listed in
 * model.safetensors.index.json; F32, F16 and BF16 tensors read into fp32; writing fp32 files atomically.
 *
 * Every malformed input is rejected with a one-line message naming the file and what is wrong: a header length beyond
 * the file, invalid header JSON, offsets out of range or overlapping, a byte size that does not match shape x dtype,
 * an unknown dtype. */
#ifndef IOPO_SAFETENSORS_H
#define IOPO_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { IOPO_ST_F32, IOPO_ST_F16, IOPO_ST_BF16, IOPO_ST_I32, IOPO_ST_I64 } iopo_st_dtype;

#define IOPO_ST_MAX_DIMS 8

typedef struct iopo_st_tensor {
    const char *name;
    iopo_st_dtype dtype;
    int ndim;
    int64_t shape[IOPO_ST_MAX_DIMS];
    size_t numel;
    const void *data;          /* into the mmap'd file */
    size_t nbytes;
    const char *file;          /* the file it lives in (for messages) */
} iopo_st_tensor;

typedef struct iopo_safetensors iopo_safetensors;

/* path: a .safetensors file, a model.safetensors.index.json (any path ending in .json is read as an index), or a
 * directory holding either (model.safetensors is preferred; else model.safetensors.index.json). Shard names in the
 * index's weight_map are relative to the index's directory; each shard is mapped once, and every weight_map entry
 * must be in the shard it names. NULL with a one-line message in err on any error. */
iopo_safetensors *iopo_st_open(const char *path, char *err, size_t errlen);
void iopo_st_close(iopo_safetensors *st);
int iopo_st_count(const iopo_safetensors *st);
/* Tensors in file order (shards by name), then by data offset: the order iopo_st_write was given. */
const iopo_st_tensor *iopo_st_at(const iopo_safetensors *st, int i);
/* Exact name, or with a leading "transformer." (old GPT-2 files), whichever exists; NULL if neither. */
const iopo_st_tensor *iopo_st_find(const iopo_safetensors *st, const char *name);
/* The JSON text of "__metadata__" (of the first shard that has one), or NULL. */
const char *iopo_st_metadata(const iopo_safetensors *st);

/* Converts t into fp32 (numel elements) at dst. Only F32, F16 and BF16 convert; false + message otherwise. */
bool iopo_st_read_f32(const iopo_st_tensor *t, float *dst, char *err, size_t errlen);
/* Finds `name`, checks its shape equals shape[0..ndim-1] and reads it into fp32; a missing or mis-shaped tensor is an
 * error naming the tensor, the file and both shapes. */
bool iopo_st_load_f32(const iopo_safetensors *st, const char *name, int ndim, const int64_t *shape, float *dst,
                      char *err, size_t errlen);

typedef struct iopo_st_entry {
    const char *name;
    const float *data;         /* fp32, row-major */
    int ndim;
    int64_t shape[IOPO_ST_MAX_DIMS];
} iopo_st_entry;

/* Writes an F32 safetensors file atomically (temporary file in the same directory, fsync, rename, fsync of the
 * directory). metadata: NULL or pairs of strings {key, value, key, value, ..., NULL} for "__metadata__".
 * The header is padded with spaces so the data section starts 8-byte aligned; tensors follow in the given order,
 * back to back (Hugging Face's reader rejects gaps), so each is 4-byte aligned. Names must be unique. */
bool iopo_st_write(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, char *err,
                   size_t errlen);
/* The same with every tensor stored as BF16, rounded from the fp32 data as torch rounds (nearest, ties to even). */
bool iopo_st_write_bf16(const char *path, const iopo_st_entry *entries, int n, const char *const *metadata, char *err,
                        size_t errlen);

#endif
