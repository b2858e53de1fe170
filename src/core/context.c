/* The public context and tensor API over both backends. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context_internal.h"
#include "vk/vk_internal.h"

bool iopo_ctx_options_parse(iopo_ctx_options *opts, const char *device, char *err, size_t errlen) {
    *opts = (iopo_ctx_options){.backend = IOPO_BACKEND_VULKAN, .device_index = -1};
    const char *validate = getenv("IOPO_VALIDATE");
    opts->validate = validate && strcmp(validate, "") != 0 && strcmp(validate, "0") != 0;
    const char *src = "--device";
    if (!device || !*device) {
        device = getenv("IOPO_DEVICE");
        src = "IOPO_DEVICE";
    }
    if (!device || !*device) return true;
    if (strcmp(device, "cpu") == 0) {
        opts->backend = IOPO_BACKEND_CPU;
        return true;
    }
    char *end;
    errno = 0;
    long v = strtol(device, &end, 10);
    if (errno || *end || v < 0 || v > 1000) {
        snprintf(err, errlen, "%s '%s': expected a device number from `iopo devices` or 'cpu'", src, device);
        return false;
    }
    opts->device_index = (int)v;
    return true;
}

static iopo_failure_handler failure_fn;
static void *failure_user;

void iopo_set_failure_handler(iopo_failure_handler fn, void *user) {
    failure_fn = fn;
    failure_user = user;
}

void iopo_fail(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (failure_fn) failure_fn(msg, failure_user);
    fprintf(stderr, "iopo: %s\n", msg);
    abort();
}

static void vk_state_free(vk_state *s) {
    if (s->device) {
        vkDeviceWaitIdle(s->device);
        vk_stream_destroy(s);
        vk_pipelines_destroy(s);
        vk_memory_destroy(s);
        vk_device_destroy(s);
    }
    vk_instance_destroy(s);
    free(s);
}

iopo_ctx *iopo_ctx_create(const iopo_ctx_options *opts, char *err, size_t errlen) {
    iopo_ctx *ctx = calloc(1, sizeof *ctx);
    ctx->kind = opts->backend;
    if (opts->backend == IOPO_BACKEND_CPU) {
        snprintf(ctx->device_name, sizeof ctx->device_name, "cpu (C reference backend)");
        return ctx;
    }
    vk_state *s = calloc(1, sizeof *s);
    s->profile = opts->profile;
    if (!vk_instance_create(s, opts->validate, err, errlen) ||
        !vk_device_create(s, opts->device_index, err, errlen, ctx->device_name, sizeof ctx->device_name)) {
        vk_state_free(s);
        free(ctx);
        return NULL;
    }
    if (!vk_stream_init(s, err, errlen)) {
        vk_state_free(s);
        free(ctx);
        return NULL;
    }
    ctx->vk = s;
    s->dummy = iopo_tensor_new1(ctx, IOPO_F32, 4);
    return ctx;
}

void iopo_ctx_destroy(iopo_ctx *ctx) {
    if (!ctx) return;
    if (ctx->vk) {
        iopo_sync(ctx);
        iopo_tensor_free(ctx->vk->dummy);
        vk_state_free(ctx->vk);
    }
    free(ctx);
}

iopo_backend_kind iopo_ctx_backend(const iopo_ctx *ctx) { return ctx->kind; }
const char *iopo_ctx_device_name(const iopo_ctx *ctx) { return ctx->device_name; }

size_t iopo_ctx_tensor_bytes(const iopo_ctx *ctx) { return ctx->tensor_bytes; }
size_t iopo_ctx_tensor_bytes_peak(const iopo_ctx *ctx) { return ctx->tensor_bytes_peak; }

size_t iopo_ctx_set_max_binding(iopo_ctx *ctx, size_t bytes) {
    if (!ctx->vk) return 0;
    vk_limits *l = &ctx->vk->limits;
    VkDeviceSize floor = (VkDeviceSize)VK_MIN_BINDING_ALIGNS * l->storage_align;
    VkDeviceSize want = bytes ? bytes / l->storage_align * l->storage_align : l->device_max_binding;
    if (want < floor) want = floor;
    l->max_binding = want < l->device_max_binding ? want : l->device_max_binding;
    return (size_t)l->max_binding;
}

size_t iopo_ctx_device_memory(const iopo_ctx *ctx) {
    if (!ctx->vk) return 0;
    size_t total = 0;
    const VkPhysicalDeviceMemoryProperties *mp = &ctx->vk->memprops;
    for (uint32_t h = 0; h < mp->memoryHeapCount; h++)
        if (mp->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) total += (size_t)mp->memoryHeaps[h].size;
    return total;
}

size_t iopo_ctx_max_tensor_bytes(const iopo_ctx *ctx) {
    if (!ctx->vk) return SIZE_MAX;
    const vk_limits *l = vk_get_limits(ctx);
    return (size_t)(l->max_buffer < l->max_alloc ? l->max_buffer : l->max_alloc);
}

void iopo_sync(iopo_ctx *ctx) {
    if (ctx->vk) vk_stream_submit_wait(ctx->vk);
}

const iopo_tensor *vk_dummy(iopo_ctx *ctx) { return ctx->vk->dummy; }

size_t iopo_dtype_size(iopo_dtype dtype) { return dtype == IOPO_BF16 || dtype == IOPO_F16 ? 2 : 4; }

const char *iopo_dtype_name(iopo_dtype dtype) {
    switch (dtype) {
    case IOPO_F32: return "f32";
    case IOPO_I32: return "i32";
    case IOPO_BF16: return "bf16";
    case IOPO_F16: return "f16";
    }
    return "unknown";
}

iopo_tensor *iopo_tensor_new(iopo_ctx *ctx, iopo_dtype dtype, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > IOPO_MAX_DIMS) {
        fprintf(stderr, "iopo: internal error: tensor with %d dimensions\n", ndim);
        abort();
    }
    if (dtype != IOPO_F32 && dtype != IOPO_I32 && dtype != IOPO_BF16 && dtype != IOPO_F16) {
        fprintf(stderr, "iopo: internal error: tensor of unknown dtype %d\n", (int)dtype);
        abort();
    }
    iopo_tensor *t = calloc(1, sizeof *t);
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            fprintf(stderr, "iopo: internal error: negative tensor dimension %lld\n", (long long)shape[i]);
            abort();
        }
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    size_t bytes = iopo_tensor_bytes(t);
    /* On failure nothing is left allocated: a failure handler that longjmps out leaks nothing. */
    if (ctx->kind == IOPO_BACKEND_CPU) {
        t->data = calloc(bytes ? bytes : 4, 1);
        if (!t->data) {
            free(t);
            iopo_fail("out of host memory: a tensor of %zu bytes could not be allocated", bytes);
        }
    } else {
        char err[512];
        t->vk = malloc(sizeof *t->vk);
        if (!t->vk || !vk_memory_alloc(ctx->vk, bytes, t->vk, err, sizeof err)) {
            free(t->vk);
            free(t);
            iopo_fail("%s", err);
        }
    }
    ctx->tensor_bytes += bytes;
    if (ctx->tensor_bytes > ctx->tensor_bytes_peak) ctx->tensor_bytes_peak = ctx->tensor_bytes;
    if (t->vk) iopo_tensor_zero(t);   /* both backends hand out zeroed tensors */
    return t;
}

iopo_tensor *iopo_tensor_new1(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0) {
    return iopo_tensor_new(ctx, dtype, 1, (int64_t[]){d0});
}
iopo_tensor *iopo_tensor_new2(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0, int64_t d1) {
    return iopo_tensor_new(ctx, dtype, 2, (int64_t[]){d0, d1});
}
iopo_tensor *iopo_tensor_new3(iopo_ctx *ctx, iopo_dtype dtype, int64_t d0, int64_t d1, int64_t d2) {
    return iopo_tensor_new(ctx, dtype, 3, (int64_t[]){d0, d1, d2});
}

size_t iopo_tensor_bytes(const iopo_tensor *t) { return t->numel * iopo_dtype_size(t->dtype); }

iopo_tensor *iopo_tensor_view(iopo_tensor *base, size_t offset, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > IOPO_MAX_DIMS) {
        fprintf(stderr, "iopo: internal error: view with %d dimensions\n", ndim);
        abort();
    }
    if (base->view_of) {   /* a view of a view: offset is into the view, which lies inside the owning tensor */
        size_t n = 1;
        for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
        if (offset > base->numel || n > base->numel - offset) {
            fprintf(stderr, "iopo: internal error: a view of %zu elements at %zu exceeds the view of %zu it is taken "
                            "from\n", n, offset, base->numel);
            abort();
        }
        offset += base->view_offset;
        base = (iopo_tensor *)base->view_of;
    }
    iopo_tensor *t = calloc(1, sizeof *t);
    if (!t) iopo_fail("out of host memory: a tensor view could not be allocated");
    t->ctx = base->ctx;
    t->dtype = base->dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    if (offset > base->numel || t->numel > base->numel - offset) {
        fprintf(stderr, "iopo: internal error: a view of %zu elements at %zu exceeds its base of %zu\n", t->numel,
                offset, base->numel);
        abort();
    }
    t->view_of = base;
    t->view_offset = offset;
    size_t es = iopo_dtype_size(base->dtype);
    if (!base->vk) {
        t->data = (char *)base->data + offset * es;
        return t;
    }
    const vk_limits *lim = vk_get_limits(base->ctx);
    VkDeviceSize start = base->vk->offset + (VkDeviceSize)offset * es;
    if (lim->storage_align > 1 && start % lim->storage_align != 0) {
        free(t);
        iopo_fail("internal error: a tensor view at byte %llu breaks the device's storage-buffer offset alignment "
                  "of %llu", (unsigned long long)start, (unsigned long long)lim->storage_align);
    }
    t->vk = malloc(sizeof *t->vk);
    if (!t->vk) iopo_fail("out of host memory: a tensor view could not be allocated");
    *t->vk = *base->vk;
    t->vk->offset = start;
    /* Rounded up as allocations are (shaders may read whole vectors, or whole 32-bit words of 16-bit elements), never
     * past the base's own range. */
    VkDeviceSize bytes = (VkDeviceSize)t->numel * es, align = lim->storage_align > 4 ? lim->storage_align : 4;
    VkDeviceSize rounded = (bytes + align - 1) / align * align, room = base->vk->offset + base->vk->size - start;
    t->vk->size = rounded < room ? rounded : room;
    if (t->vk->size == 0) t->vk->size = room < 4 ? room : 4;
    return t;
}

void iopo_tensor_free(iopo_tensor *t) {
    if (!t) return;
    if (t->view_of) {
        free(t->vk);
        free(t);
        return;
    }
    t->ctx->tensor_bytes -= iopo_tensor_bytes(t);
    if (t->vk) {
        /* A recorded command may still use the range: it is reused only after the stream's next submit. */
        vk_memory_free_deferred(t->ctx->vk, t->vk);
        free(t->vk);
    }
    free(t->data);
    free(t);
}

/* Big tensors move through staging in pieces, so no staging buffer exceeds one chunk of the arena (and
 * maxMemoryAllocationSize) whatever the tensor's size. */
#define TRANSFER_PIECE_BYTES ((size_t)32 << 20)

void iopo_tensor_upload(iopo_tensor *t, const void *src) {
    size_t bytes = iopo_tensor_bytes(t);
    if (!t->vk) {
        memcpy(t->data, src, bytes);
        return;
    }
    vk_state *s = t->ctx->vk;
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < TRANSFER_PIECE_BYTES ? bytes - done : TRANSFER_PIECE_BYTES;
        vk_stream_cmd(s);   /* begin recording first: beginning recycles the staging arena */
        VkBuffer buf;
        VkDeviceSize off;
        void *dst = vk_staging_alloc(s, n, &buf, &off);
        memcpy(dst, (const char *)src + done, n);
        vk_access acc = {t->vk->buffer, t->vk->offset + done, t->vk->offset + done + n, true};
        vk_stream_track(s, &acc, 1);
        VkBufferCopy region = {.srcOffset = off, .dstOffset = t->vk->offset + done, .size = n};
        vkCmdCopyBuffer(vk_stream_cmd(s), buf, t->vk->buffer, 1, &region);
        done += n;
    }
}

void iopo_tensor_download(const iopo_tensor *t, void *dst) {
    size_t bytes = iopo_tensor_bytes(t);
    if (!t->vk) {
        memcpy(dst, t->data, bytes);
        return;
    }
    vk_state *s = t->ctx->vk;
    /* One piece per submit: the staging arena is recycled when the next recording begins. */
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < TRANSFER_PIECE_BYTES ? bytes - done : TRANSFER_PIECE_BYTES;
        vk_stream_cmd(s);   /* begin recording first: beginning recycles the staging arena */
        VkBuffer buf;
        VkDeviceSize off;
        void *src = vk_staging_alloc(s, n, &buf, &off);
        vk_access acc = {t->vk->buffer, t->vk->offset + done, t->vk->offset + done + n, false};
        vk_stream_track(s, &acc, 1);
        VkBufferCopy region = {.srcOffset = t->vk->offset + done, .dstOffset = off, .size = n};
        vkCmdCopyBuffer(vk_stream_cmd(s), t->vk->buffer, buf, 1, &region);
        iopo_sync(t->ctx);
        memcpy((char *)dst + done, src, n);
        done += n;
    }
}

void iopo_tensor_zero(iopo_tensor *t) {
    if (!t->vk) {
        memset(t->data, 0, iopo_tensor_bytes(t));
        return;
    }
    vk_state *s = t->ctx->vk;
    vk_access acc = {t->vk->buffer, t->vk->offset, t->vk->offset + t->vk->size, true};
    vk_stream_track(s, &acc, 1);
    vkCmdFillBuffer(vk_stream_cmd(s), t->vk->buffer, t->vk->offset, t->vk->size, 0);
}

void iopo_tensor_copy(iopo_tensor *dst, const iopo_tensor *src) {
    if (dst->numel != src->numel || dst->ctx != src->ctx ||
        iopo_dtype_size(dst->dtype) != iopo_dtype_size(src->dtype)) {
        fprintf(stderr, "iopo: internal error: tensor copy of %zu elements into %zu\n", src->numel, dst->numel);
        abort();
    }
    if (!dst->vk) {
        memmove(dst->data, src->data, iopo_tensor_bytes(src));
        return;
    }
    vk_copy(dst->ctx, dst, 0, src, 0, iopo_tensor_bytes(src));
}

void iopo_tensor_copy_range(iopo_tensor *dst, size_t dst_off, const iopo_tensor *src, size_t src_off, size_t n) {
    size_t es = iopo_dtype_size(dst->dtype);
    if (dst->ctx != src->ctx || es != iopo_dtype_size(src->dtype) || dst_off > dst->numel || n > dst->numel - dst_off ||
        src_off > src->numel || n > src->numel - src_off) {
        fprintf(stderr, "iopo: internal error: copy of %zu elements from %zu of %zu into %zu of %zu\n", n, src_off,
                src->numel, dst_off, dst->numel);
        abort();
    }
    if (!n) return;
    if (!dst->vk) {
        memmove((char *)dst->data + dst_off * es, (const char *)src->data + src_off * es, n * es);
        return;
    }
    /* vkCmdCopyBuffer takes any byte offsets and sizes: 2-byte elements need no word alignment here. */
    vk_copy(dst->ctx, dst, dst_off * es, src, src_off * es, n * es);
}

void iopo_profile_print(iopo_ctx *ctx, FILE *out) {
    if (!ctx->vk || !ctx->vk->profile) {
        fprintf(stderr, "iopo: no profile: per-op timing needs a Vulkan device and --profile\n");
        return;
    }
    iopo_sync(ctx);
    vk_profile_print(ctx->vk, out);
}

void iopo_profile_reset(iopo_ctx *ctx) {
    if (ctx->vk) vk_profile_reset(ctx->vk);
}
