/* Compute context and tensors: the one handle that model code holds, whichever backend runs it.
 *
 * A context is either the CPU reference backend or one Vulkan device. Tensors live on their context's backend.
 * On Vulkan, ops are recorded into a command stream and run when the stream is submitted: iopo_sync() (and any
 * download) submits and waits. On the CPU backend every op runs immediately and iopo_sync() does nothing. */
#ifndef IOPO_CONTEXT_H
#define IOPO_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { IOPO_BACKEND_CPU = 0, IOPO_BACKEND_VULKAN = 1 } iopo_backend_kind;
/* Element types. F32 and I32 are 4 bytes; BF16 (the top half of an fp32) and F16 (IEEE binary16) are 2 bytes, stored
 * little-endian and packed (element 2i in the low half of 32-bit word i: shaders read them as uint and unpack). The
 * 16-bit types hold weights kept in a checkpoint's own precision: ops that accept them say so (include/iopo/ops.h),
 * read them widened exactly to fp32 and compute in fp32; everything else takes F32. */
typedef enum { IOPO_F32 = 0, IOPO_I32 = 1, IOPO_BF16 = 2, IOPO_F16 = 3 } iopo_dtype;

/* Bytes of one element: 4 for F32 and I32, 2 for BF16 and F16. */
size_t iopo_dtype_size(iopo_dtype dtype);
/* "f32", "i32", "bf16", "f16". */
const char *iopo_dtype_name(iopo_dtype dtype);

typedef struct iopo_ctx iopo_ctx;

#define IOPO_MAX_DIMS 4

typedef struct iopo_tensor {
    iopo_ctx *ctx;
    iopo_dtype dtype;          /* iopo_dtype_size(dtype) bytes per element */
    int ndim;
    int64_t shape[IOPO_MAX_DIMS];
    size_t numel;
    void *data;                /* CPU backend: the elements; NULL on Vulkan */
    struct vk_slice *vk;       /* Vulkan backend: buffer, offset and size of the sub-allocation */
    const struct iopo_tensor *view_of;   /* the tensor whose memory this view shares; NULL: it owns its memory */
    size_t view_offset;        /* a view: its first element's index in view_of */
} iopo_tensor;

typedef struct iopo_ctx_options {
    iopo_backend_kind backend;
    int device_index;          /* Vulkan: index in iopo_vk_list_devices() order; -1 = default choice */
    bool validate;             /* enable VK_LAYER_KHRONOS_validation and count its messages */
    bool profile;              /* record per-op GPU timestamps; see iopo_profile_print() */
} iopo_ctx_options;

/* Fills opts from a device string ("cpu", "N", or NULL/"" for the default) plus the IOPO_DEVICE and IOPO_VALIDATE
 * environment variables (the string wins over IOPO_DEVICE). Returns false with a message in err if it is malformed. */
bool iopo_ctx_options_parse(iopo_ctx_options *opts, const char *device, char *err, size_t errlen);

/* Returns NULL and a one-line reason in err when no usable device exists. */
iopo_ctx *iopo_ctx_create(const iopo_ctx_options *opts, char *err, size_t errlen);
void iopo_ctx_destroy(iopo_ctx *ctx);
iopo_backend_kind iopo_ctx_backend(const iopo_ctx *ctx);
const char *iopo_ctx_device_name(const iopo_ctx *ctx);
/* Bytes of device-local memory (sum of device-local heaps); 0 on the CPU backend. */
size_t iopo_ctx_device_memory(const iopo_ctx *ctx);
/* Vulkan: the most bytes of a tensor one op binds (maxStorageBufferRange, or IOPO_VK_MAX_BINDING_BYTES when that is
 * lower); ops over larger tensors split their work along rows. bytes > 0 lowers it further for this context (never
 * above what the context started with; tests use it to run the split paths on small shapes); 0 restores it. Returns
 * the limit now in force; 0 on the CPU backend, which has none. */
size_t iopo_ctx_set_max_binding(iopo_ctx *ctx, size_t bytes);
/* The largest single tensor the context can allocate (Vulkan: min(maxMemoryAllocationSize, maxBufferSize); the CPU
 * backend: SIZE_MAX). */
size_t iopo_ctx_max_tensor_bytes(const iopo_ctx *ctx);
/* Bytes held by tensors on the context now, and the most held at once since it was created (both backends). */
size_t iopo_ctx_tensor_bytes(const iopo_ctx *ctx);
size_t iopo_ctx_tensor_bytes_peak(const iopo_ctx *ctx);

/* Submits everything recorded and waits for it. */
void iopo_sync(iopo_ctx *ctx);

/* Failures that no call can return: a tensor allocation (the tensor API hands out tensors, not errors) and a Vulkan
 * call failing inside an op or a submit (device lost, out of memory). The library never exits: it calls the
 * handler with a one-line message ("out of host memory: a tensor of N bytes could not be allocated"), and the
 * handler decides; the iopo CLI prints "iopo: MESSAGE" and exits with status 1. A handler must not return (exit,
 * or longjmp out); if it returns, or none is set, the library aborts, since the computation cannot go on.
 * Errors that a call can return (context creation, loading, saving) are returned, never sent here. */
typedef void (*iopo_failure_handler)(const char *message, void *user);
void iopo_set_failure_handler(iopo_failure_handler fn, void *user);

/* Tensors. Allocation failure goes to the failure handler with the bytes requested. */
iopo_tensor *iopo_tensor_new(iopo_ctx *ctx, iopo_dtype dtype, int ndim, const int64_t *shape);
iopo_tensor *iopo_tensor_new1(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0);
iopo_tensor *iopo_tensor_new2(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0, int64_t d1);
iopo_tensor *iopo_tensor_new3(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0, int64_t d1, int64_t d2);
/* A view: a tensor of `shape` over base's elements [offset, offset + numel), sharing base's memory and dtype (base must
 * outlive it; freeing the view frees only the view). On Vulkan, offset * iopo_dtype_size(dtype) bytes must keep the
 * device's storage-buffer offset alignment (offset 0, a prefix, always does); a misaligned view goes to the failure
 * handler. */
iopo_tensor *iopo_tensor_view(iopo_tensor *base, size_t offset, int ndim, const int64_t *shape);
void iopo_tensor_free(iopo_tensor *t);
size_t iopo_tensor_bytes(const iopo_tensor *t);   /* numel * iopo_dtype_size(dtype) */

/* Host <-> tensor copies of the whole tensor, iopo_tensor_bytes(t) bytes of raw elements (a BF16/F16 tensor takes and
 * gives its 2-byte values). Upload is recorded in order with ops; download waits for the stream. */
void iopo_tensor_upload(iopo_tensor *t, const void *src);
void iopo_tensor_download(const iopo_tensor *t, void *dst);
void iopo_tensor_zero(iopo_tensor *t);
void iopo_tensor_copy(iopo_tensor *dst, const iopo_tensor *src);   /* same numel and dtype size */
/* dst[dst_off .. dst_off + n) = src[src_off .. src_off + n) (elements; any offsets; same context; dtypes of the same
 * size: the bytes are copied, not converted; see iopo_convert in include/iopo/ops.h). */
void iopo_tensor_copy_range(iopo_tensor *dst, size_t dst_off, const iopo_tensor *src, size_t src_off, size_t n);

/* Per-op GPU time table, summed since the last reset (Vulkan with opts.profile only; prints a note otherwise). */
void iopo_profile_print(iopo_ctx *ctx, FILE *out);
void iopo_profile_reset(iopo_ctx *ctx);

/* Validation messages counted so far by every Vulkan context of this process. */
uint64_t iopo_validation_message_count(void);

#endif
