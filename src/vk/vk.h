/* Vulkan runtime used by the op recorders in src/vkops/: device limits, lazily created pipelines from the embedded
 * SPIR-V, and a command stream that records dispatches (inserting only the barriers their buffers need) and submits
 * once at iopo_sync().
 *
 * Descriptor convention, shared by every shader: set 0, storage buffers at bindings 0..n-1 in the order of the args
 * passed to vk_dispatch(); push constants (at most 128 bytes, offset 0); specialization constants at constant_id
 * 0..n-1 in the order of the spec array (constant_id 0 is the workgroup size by convention: local_size_x_id = 0). */
#ifndef IOPO_VK_H
#define IOPO_VK_H

#include <stdbool.h>
#include <stdint.h>
#include <volk.h>

#include "iopo/context.h"

typedef struct vk_slice {
    VkBuffer buffer;
    VkDeviceSize offset, size;     /* offset aligned to minStorageBufferOffsetAlignment; size rounded up likewise */
    int block;                     /* index of the memory block it was carved from */
} vk_slice;

typedef struct vk_limits {
    uint32_t subgroup_size;                  /* the device's default subgroup size */
    uint32_t max_shared_bytes;               /* maxComputeSharedMemorySize */
    uint32_t max_invocations;                /* maxComputeWorkGroupInvocations */
    uint32_t max_group_size[3];              /* maxComputeWorkGroupSize */
    uint32_t max_group_count[3];             /* maxComputeWorkGroupCount */
    VkDeviceSize max_storage_range;          /* maxStorageBufferRange */
    VkDeviceSize max_alloc;                  /* maxMemoryAllocationSize (Maintenance3) */
    VkDeviceSize max_buffer;                 /* maxBufferSize (Maintenance4), or max_alloc without it */
    VkDeviceSize storage_align;              /* minStorageBufferOffsetAlignment */
    /* The most bytes one descriptor binds: maxStorageBufferRange rounded down to storage_align, or lower where
     * IOPO_VK_MAX_BINDING_BYTES or iopo_ctx_set_max_binding() asks (to test the splitting on small shapes). Ops whose
     * tensors exceed it split their work along rows (see vk_window). */
    VkDeviceSize max_binding;
    VkDeviceSize device_max_binding;         /* max_binding as the context was created (after the variable) */
} vk_limits;

/* The lowest binding limit the test knob accepts, in units of storage_align: every window has room for a few rows. */
#define VK_MIN_BINDING_ALIGNS 16u

const vk_limits *vk_get_limits(const iopo_ctx *ctx);

/* Largest power of two <= want that the device accepts as a 1-D workgroup (maxComputeWorkGroupInvocations,
 * maxComputeWorkGroupSize[0]) with shared_per_invocation bytes of shared memory per invocation. Fixed-tree reductions
 * need the power of two. */
uint32_t vk_group_size(const iopo_ctx *ctx, uint32_t want, uint32_t shared_per_invocation);

/* One storage-buffer argument of a dispatch; `write` tells the stream whether the shader writes it (for barriers).
 * Without `window` the whole tensor is bound; [offset, offset + bytes) narrows only the range the barrier tracking
 * assumes the shader touches (bytes 0 = the whole tensor), so dispatches writing disjoint parts of one tensor need no
 * barrier between them. The shader must stay inside the declared range. With `window` only [offset, offset + bytes)
 * of the tensor is bound (offset a multiple of storage_align): the shader's index 0 is the window's first element.
 * A binding larger than max_binding goes to the failure handler: an op that can meet such a tensor must split. */
typedef struct vk_arg {
    const iopo_tensor *t;
    bool write;
    uint64_t offset, bytes;
    bool window;
} vk_arg;
#define VK_R(tensor) ((vk_arg){(tensor), false, 0, 0, false})
#define VK_W(tensor) ((vk_arg){(tensor), true, 0, 0, false})
#define VK_W_PART(tensor, off, nbytes) ((vk_arg){(tensor), true, (off), (nbytes), false})

/* Elements [begin, end) of a tensor bound as a window: the window starts at the aligned byte at or below element
 * `begin`, and `shift` is begin's index inside it (what the shader adds to its indices; in elements of the tensor's
 * dtype, so for a 16-bit tensor element shift + i lies in 32-bit word (shift + i) / 2 of the window). */
typedef struct vk_window {
    vk_arg arg;
    uint32_t shift;
} vk_window;
vk_window vk_window_of(const iopo_ctx *ctx, const iopo_tensor *t, bool write, uint64_t begin, uint64_t end);
/* Whether binding all of t fits max_binding. */
bool vk_fits(const iopo_ctx *ctx, const iopo_tensor *t);
/* Elements of `dtype` a window may span whatever element it starts at (max_binding less the alignment slack). */
uint64_t vk_window_elems(const iopo_ctx *ctx, iopo_dtype dtype);

/* Ops over row-major operands split along rows: operand i holds row_elems[i] elements (of its own dtype) per row, 0
 * for one bound whole whatever the row (a weight, a dummy). vk_rows_per_window returns 0 when every row operand fits
 * one binding (the op runs unsplit, its push constants and bits as before), else the rows every row operand's window
 * holds; one row that no window holds goes to the failure handler, naming op. */
uint64_t vk_rows_per_window(const iopo_ctx *ctx, const char *op, const vk_arg *args, const uint64_t *row_elems, int n);
/* out[i] = args[i] with rows [r0, r1) bound as a window where row_elems[i] > 0 (shift[i] its first element's index in
 * it), else args[i] unchanged (shift[i] = 0). */
void vk_row_windows(const iopo_ctx *ctx, const vk_arg *args, const uint64_t *row_elems, int n, uint64_t r0,
                    uint64_t r1, vk_arg *out, uint32_t *shift);

/* A 16-byte tensor to bind where an optional argument is absent (the shader must not touch it; tell it by a push
 * constant flag). */
const iopo_tensor *vk_dummy(iopo_ctx *ctx);

#define VK_MAX_ARGS 12
#define VK_MAX_SPEC 8
#define VK_MAX_PUSH 128

/* Records one dispatch of the embedded shader variant `shader` (name as in its "// variant:" line, or the file's
 * base name). spec: nspec uint32 specialization constants (constant_id 0..nspec-1). Unknown shader names abort. */
void vk_dispatch(iopo_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, const vk_arg *args, int nargs,
                 const void *push, uint32_t push_size, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);

/* Dispatches `groups` workgroups in one logical dimension. When groups exceeds maxComputeWorkGroupCount[0] the grid is
 * folded into x and y; shaders recover the linear index with iopo_group_id() (shaders/common.glsl) and must return
 * when it is >= the number of groups they were given (pass it as a push constant). */
void vk_dispatch_1d(iopo_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, const vk_arg *args, int nargs,
                    const void *push, uint32_t push_size, uint64_t groups);

/* Dispatches recorded on the context so far (the split checks use it to see that an op split). */
uint64_t vk_dispatch_count(const iopo_ctx *ctx);

/* Buffer copy inside the device stream (offsets in bytes). */
void vk_copy(iopo_ctx *ctx, const iopo_tensor *dst, VkDeviceSize dst_off, const iopo_tensor *src, VkDeviceSize src_off,
             VkDeviceSize bytes);

static inline uint32_t vk_div_up(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }
static inline uint64_t vk_div_up64(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
/* floor(log2(x)) for x >= 1 (the steps of a tree reduction over x lanes, x a power of two). */
static inline uint32_t vk_log2u(uint32_t x) {
    uint32_t r = 0;
    while (x > 1) x >>= 1, r++;
    return r;
}

#endif
