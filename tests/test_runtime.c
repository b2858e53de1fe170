/* Tests of the Vulkan runtime below the ops: memory sub-allocation, uploads/downloads, the barrier tracking of the
 * command stream (a chain of dependent dispatches recorded without syncs), grid folding past
 * maxComputeWorkGroupCount, tensors beyond one storage binding, 16-bit (BF16/F16) tensors, and device-option parsing. Runs with validation (synchronization validation included). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/context.h"
#include "vk/vk_internal.h"

static int failures;
#define EXPECT(cond, ...)                                                                                             \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            failures++;                                                                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                               \
            printf(__VA_ARGS__);                                                                                      \
            printf("\n");                                                                                             \
        }                                                                                                             \
    } while (0)

static void copy_vec4(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, uint32_t wg) {
    uint32_t n_vec4 = (uint32_t)(src->numel / 4);
    uint32_t groups = (n_vec4 + wg - 1) / wg;
    uint32_t push[2] = {n_vec4, groups};
    vk_dispatch_1d(ctx, "bench_copy", &wg, 1, (vk_arg[]){VK_R(src), VK_W(dst)}, 2, push, sizeof push, groups);
}

static void test_upload_download(iopo_ctx *ctx) {
    for (int64_t n = 1; n <= 100000; n *= 7) {
        iopo_tensor *t = iopo_tensor_new1(ctx, IOPO_F32, n);
        float *zero = malloc((size_t)n * 4), *in = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
        iopo_tensor_download(t, zero);
        bool all_zero = true;
        for (int64_t i = 0; i < n; i++) all_zero &= zero[i] == 0.0f;
        EXPECT(all_zero, "new tensor of %lld elements is not zeroed", (long long)n);
        for (int64_t i = 0; i < n; i++) in[i] = (float)i * 0.5f - 3.0f;
        iopo_tensor_upload(t, in);
        iopo_tensor_download(t, out);
        EXPECT(memcmp(in, out, (size_t)n * 4) == 0, "round trip of %lld floats differs", (long long)n);
        iopo_tensor *u = iopo_tensor_new1(ctx, IOPO_F32, n);
        iopo_tensor_copy(u, t);
        iopo_tensor_zero(t);
        iopo_tensor_download(u, out);
        EXPECT(memcmp(in, out, (size_t)n * 4) == 0, "tensor copy of %lld floats differs", (long long)n);
        iopo_tensor_download(t, out);
        EXPECT(out[n - 1] == 0.0f && out[0] == 0.0f, "zero left data");
        iopo_tensor_free(u);
        iopo_tensor_free(t);
        free(zero), free(in), free(out);
    }
}

static void test_suballocation(iopo_ctx *ctx) {
    /* Many tensors of odd sizes, freed in a scattered order and reallocated: contents must never overlap. */
    enum { N = 64 };
    iopo_tensor *t[N];
    for (int i = 0; i < N; i++) {
        t[i] = iopo_tensor_new1(ctx, IOPO_I32, 1 + (i * 37) % 1001);
        int32_t *v = malloc(t[i]->numel * 4);
        for (size_t k = 0; k < t[i]->numel; k++) v[k] = i * 100000 + (int32_t)k;
        iopo_tensor_upload(t[i], v);
        free(v);
    }
    for (int i = 0; i < N; i += 3) {
        iopo_tensor_free(t[i]);
        t[i] = iopo_tensor_new1(ctx, IOPO_I32, 1 + (i * 53) % 777);
        int32_t *v = malloc(t[i]->numel * 4);
        for (size_t k = 0; k < t[i]->numel; k++) v[k] = i * 100000 + (int32_t)k;
        iopo_tensor_upload(t[i], v);
        free(v);
    }
    for (int i = 0; i < N; i++) {
        int32_t *v = malloc(t[i]->numel * 4);
        iopo_tensor_download(t[i], v);
        bool ok = true;
        for (size_t k = 0; k < t[i]->numel; k++) ok &= v[k] == i * 100000 + (int32_t)k;
        EXPECT(ok, "tensor %d was overwritten by a neighbour", i);
        free(v);
        iopo_tensor_free(t[i]);
    }
}

static void test_dependent_chain(iopo_ctx *ctx) {
    /* a -> b -> c -> a ... recorded back to back: every step reads what the previous wrote (RAW) and overwrites what
     * an earlier one read (WAR). Missing barriers show as wrong data or as synchronization-validation messages. */
    const int64_t n = 4 * 3001;
    float *h = malloc(n * 4), *out = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) h[i] = (float)i;
    iopo_tensor *a = iopo_tensor_new1(ctx, IOPO_F32, n), *b = iopo_tensor_new1(ctx, IOPO_F32, n),
                *c = iopo_tensor_new1(ctx, IOPO_F32, n);
    iopo_tensor_upload(a, h);
    for (int r = 0; r < 10; r++) {
        copy_vec4(ctx, b, a, 64);
        copy_vec4(ctx, c, b, 64);
        iopo_tensor_zero(a);
        copy_vec4(ctx, a, c, 64);
    }
    iopo_tensor_zero(b);
    iopo_tensor_download(a, out);
    EXPECT(memcmp(h, out, n * 4) == 0, "dependent copy chain lost data");
    iopo_tensor_download(b, out);
    EXPECT(out[0] == 0.0f && out[n - 1] == 0.0f, "zero after copies did not land");
    iopo_tensor_free(a), iopo_tensor_free(b), iopo_tensor_free(c);
    free(h), free(out);
}

static void test_grid_folding(iopo_ctx *ctx) {
    /* One invocation per workgroup and more workgroups than maxComputeWorkGroupCount[0]: the grid must fold into y
     * and the shader must skip the padding groups of the last row. */
    uint32_t max_x = vk_get_limits(ctx)->max_group_count[0];
    int64_t n_vec4 = (int64_t)max_x + 1234;
    if (n_vec4 > (64 << 20) / 16) {
        printf("skip grid folding: maxComputeWorkGroupCount[0] = %u is too large to exceed cheaply\n", max_x);
        return;
    }
    float *h = malloc(n_vec4 * 16), *out = malloc(n_vec4 * 16);
    for (int64_t i = 0; i < n_vec4 * 4; i++) h[i] = (float)(i % 1000003);
    iopo_tensor *a = iopo_tensor_new1(ctx, IOPO_F32, n_vec4 * 4), *b = iopo_tensor_new1(ctx, IOPO_F32, n_vec4 * 4);
    iopo_tensor_upload(a, h);
    copy_vec4(ctx, b, a, 1);
    iopo_tensor_download(b, out);
    EXPECT(memcmp(h, out, n_vec4 * 16) == 0, "folded grid of %lld groups missed elements", (long long)n_vec4);
    iopo_tensor_free(a), iopo_tensor_free(b);
    free(h), free(out);
}

static void test_options(void) {
    iopo_ctx_options o;
    char err[256];
    EXPECT(iopo_ctx_options_parse(&o, "cpu", err, sizeof err) && o.backend == IOPO_BACKEND_CPU, "cpu");
    EXPECT(iopo_ctx_options_parse(&o, "2", err, sizeof err) && o.backend == IOPO_BACKEND_VULKAN && o.device_index == 2,
           "index 2");
    EXPECT(!iopo_ctx_options_parse(&o, "gpu0", err, sizeof err) && strstr(err, "gpu0"), "bad device string accepted");
    EXPECT(!iopo_ctx_options_parse(&o, "-1", err, sizeof err), "negative index accepted");
    o.device_index = 999;
    o.backend = IOPO_BACKEND_VULKAN;
    o.validate = true;
    o.profile = false;
    iopo_ctx *ctx = iopo_ctx_create(&o, err, sizeof err);
    EXPECT(!ctx && strstr(err, "--device 999"), "device 999 should not exist: %s", err);
    if (ctx) iopo_ctx_destroy(ctx);
}

static VkDeviceSize largest_buffer(const vk_limits *l) { return l->max_buffer < l->max_alloc ? l->max_buffer : l->max_alloc; }

static void test_oversized_tensor_is_reported(iopo_ctx *ctx) {
    VkDeviceSize too_big = largest_buffer(vk_get_limits(ctx)) + 16;
    vk_slice slice;
    char err[512] = "";
    bool ok = vk_memory_alloc(ctx->vk, too_big, &slice, err, sizeof err);
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%llu bytes", (unsigned long long)too_big);
    EXPECT(!ok && strstr(err, bytes) && strstr(err, "maxMemoryAllocationSize") && strstr(err, "maxBufferSize"),
           "oversized allocation not reported with its size and the limits: %s", err);
    if (ok) vk_memory_free(ctx->vk, &slice);
}

/* Under ASan, an impossible allocation returns NULL as it does without it, so the library's handling is what runs. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static jmp_buf failure_jump;
static char failure_message[1024];
static void record_failure(const char *message, void *user) {
    (void)user;
    snprintf(failure_message, sizeof failure_message, "%s", message);
    longjmp(failure_jump, 1);
}

/* A tensor that cannot be allocated reaches the failure handler with its size (the library does not exit), leaves
 * the context's accounting as it was, and leaks nothing (LSan checks). */
static void test_allocation_failure_is_handed_to_the_caller(iopo_ctx *ctx, int64_t d0, int64_t d1, const char *want) {
    size_t before = iopo_ctx_tensor_bytes(ctx);
    failure_message[0] = 0;
    iopo_set_failure_handler(record_failure, NULL);
    volatile bool returned = false;
    if (setjmp(failure_jump) == 0) {
        iopo_tensor *t = iopo_tensor_new2(ctx, IOPO_F32, d0, d1);
        returned = true;
        iopo_tensor_free(t);
    }
    iopo_set_failure_handler(NULL, NULL);
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%llu bytes", (unsigned long long)(d0 * d1 * 4));
    EXPECT(!returned && strstr(failure_message, want) && strstr(failure_message, bytes),
           "%s: allocation of %s: handler got \"%s\", want \"%s\" and the size", iopo_ctx_device_name(ctx), bytes,
           failure_message, want);
    EXPECT(iopo_ctx_tensor_bytes(ctx) == before, "tensor bytes %zu after the failure, %zu before",
           iopo_ctx_tensor_bytes(ctx), before);
}

/* A tensor beyond one binding (the limit lowered to 4 KiB) and beyond one 32 MiB transfer piece is allocated, and
 * round-trips through upload, copy and download; a dispatch binding all of it goes to the failure handler naming the
 * shader, while windows of it bind. */
static void test_beyond_one_binding(iopo_ctx *ctx) {
    size_t limit = iopo_ctx_set_max_binding(ctx, 4096);
    EXPECT(limit == 4096, "binding limit %zu after asking for 4096", limit);
    const int64_t n = (40 << 20) / 4 + 3;   // 40 MiB and 12 bytes: two full transfer pieces and a short one
    float *in = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) in[i] = (float)(i % 100003) - 7.5f;
    iopo_tensor *a = iopo_tensor_new1(ctx, IOPO_F32, n), *b = iopo_tensor_new1(ctx, IOPO_F32, n);
    iopo_tensor_upload(a, in);
    iopo_tensor_copy(b, a);
    iopo_tensor_download(b, out);
    EXPECT(memcmp(in, out, (size_t)n * 4) == 0, "round trip of a 40 MiB tensor differs");

    // windows of 1024 elements (the limit): copy a's first 8192 floats into b through them, in 8 dispatches
    iopo_tensor_zero(b);
    for (uint64_t e = 0; e < 8192; e += 1024) {
        uint32_t wg = 64, push[2] = {256, 4};
        vk_arg args[2] = {vk_window_of(ctx, a, false, e, e + 1024).arg, vk_window_of(ctx, b, true, e, e + 1024).arg};
        vk_dispatch_1d(ctx, "bench_copy", &wg, 1, args, 2, push, sizeof push, 4);
    }
    iopo_tensor_download(b, out);
    EXPECT(memcmp(in, out, 8192 * 4) == 0 && out[8192] == 0.0f, "copy through windows differs");

    failure_message[0] = 0;
    iopo_set_failure_handler(record_failure, NULL);
    volatile bool returned = false;
    if (setjmp(failure_jump) == 0) {
        copy_vec4(ctx, b, a, 64);
        returned = true;
    }
    iopo_set_failure_handler(NULL, NULL);
    EXPECT(!returned && strstr(failure_message, "bench_copy") && strstr(failure_message, "4096 bytes"),
           "binding a whole 40 MiB tensor over a 4096-byte limit: handler got \"%s\"", failure_message);
    iopo_tensor_free(a), iopo_tensor_free(b);
    free(in), free(out);
    EXPECT(iopo_ctx_set_max_binding(ctx, 0) == vk_get_limits(ctx)->device_max_binding, "limit not restored");
    EXPECT(iopo_ctx_set_max_binding(ctx, (size_t)1 << 40) == vk_get_limits(ctx)->device_max_binding,
           "the limit rose above the device's");
    iopo_ctx_set_max_binding(ctx, 0);
}

/* 16-bit tensors (BF16 / F16: 2-byte elements) through every context function: sizes, zeroing, raw upload and
 * download of odd counts, copies at odd element offsets (half a 32-bit word), views at the device's offset alignment
 * and the refusal of a misaligned one, windows of whole 32-bit words, and a tensor beyond one binding and one transfer
 * piece. On the CPU backend the same calls, without the Vulkan parts. */
static void test_half_tensors(iopo_ctx *ctx) {
    bool vk = iopo_ctx_backend(ctx) == IOPO_BACKEND_VULKAN;
    EXPECT(iopo_dtype_size(IOPO_BF16) == 2 && iopo_dtype_size(IOPO_F16) == 2 && iopo_dtype_size(IOPO_F32) == 4 &&
               iopo_dtype_size(IOPO_I32) == 4,
           "dtype sizes");
    for (int64_t n = 1; n <= 100000; n *= 7) {
        iopo_tensor *t = iopo_tensor_new1(ctx, n % 2 ? IOPO_BF16 : IOPO_F16, n);
        EXPECT(iopo_tensor_bytes(t) == (size_t)n * 2, "a 16-bit tensor of %lld elements holds %zu bytes", (long long)n,
               iopo_tensor_bytes(t));
        uint16_t *in = malloc((size_t)n * 2), *out = malloc((size_t)n * 2 + 2);
        out[n] = 0xabcd;   // a download writes exactly n elements
        iopo_tensor_download(t, out);
        bool zero = true;
        for (int64_t i = 0; i < n; i++) zero &= out[i] == 0;
        EXPECT(zero && out[n] == 0xabcd, "new 16-bit tensor of %lld elements: not zeroed, or wrote past n",
               (long long)n);
        for (int64_t i = 0; i < n; i++) in[i] = (uint16_t)(i * 2654435761u >> 7);
        iopo_tensor_upload(t, in);
        iopo_tensor_download(t, out);
        EXPECT(memcmp(in, out, (size_t)n * 2) == 0, "round trip of %lld 16-bit values differs", (long long)n);
        iopo_tensor *u = iopo_tensor_new1(ctx, t->dtype, n);
        iopo_tensor_copy(u, t);
        iopo_tensor_download(u, out);
        EXPECT(memcmp(in, out, (size_t)n * 2) == 0, "copy of %lld 16-bit values differs", (long long)n);
        if (n >= 12) {   // elements [3, 10) to [1, 8): odd to odd, both starting inside a 32-bit word
            iopo_tensor_zero(u);
            iopo_tensor_copy_range(u, 1, t, 3, 7);
            iopo_tensor_download(u, out);
            bool ok = out[0] == 0 && out[8] == 0 && memcmp(out + 1, in + 3, 14) == 0;
            EXPECT(ok, "copy_range of 7 16-bit elements from 3 to 1 (n = %lld)", (long long)n);
        }
        iopo_tensor_zero(t);
        iopo_tensor_download(t, out);
        EXPECT(out[0] == 0 && out[n - 1] == 0, "zero left 16-bit data");
        iopo_tensor_free(u);
        iopo_tensor_free(t);
        free(in), free(out);
    }

    // views: an offset of storage_align bytes is storage_align / 2 elements
    size_t align = vk ? (size_t)vk_get_limits(ctx)->storage_align : 16;
    int64_t n = 64 + (int64_t)align;
    uint16_t *in = malloc((size_t)n * 2), *out = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) in[i] = (uint16_t)(0x1000 + i);
    iopo_tensor *base = iopo_tensor_new1(ctx, IOPO_BF16, n);
    iopo_tensor_upload(base, in);
    size_t off = align / 2;
    iopo_tensor *view = iopo_tensor_view(base, off, 1, (int64_t[]){7});
    EXPECT(view->dtype == IOPO_BF16 && iopo_tensor_bytes(view) == 14, "view dtype %d, %zu bytes", (int)view->dtype,
           iopo_tensor_bytes(view));
    iopo_tensor_download(view, out);
    EXPECT(memcmp(out, in + off, 14) == 0, "a 16-bit view at element %zu reads the wrong elements", off);
    iopo_tensor_free(view);
    if (vk) {
        failure_message[0] = 0;
        iopo_set_failure_handler(record_failure, NULL);
        volatile bool returned = false;
        if (setjmp(failure_jump) == 0) {
            iopo_tensor *bad = iopo_tensor_view(base, 1, 1, (int64_t[]){4});   // 2 bytes in: misaligned
            returned = true;
            iopo_tensor_free(bad);
        }
        iopo_set_failure_handler(NULL, NULL);
        EXPECT(!returned && strstr(failure_message, "alignment"), "a 16-bit view 2 bytes in: handler got \"%s\"",
               failure_message);
        // a window of elements [3, 9): starts at byte 0, element 3 is its shift, 18 bytes rounded up to whole words
        vk_window w = vk_window_of(ctx, base, false, 3, 9);
        EXPECT(w.arg.offset == 0 && w.shift == 3 && w.arg.bytes == 20, "window [3,9): offset %llu shift %u bytes %llu",
               (unsigned long long)w.arg.offset, w.shift, (unsigned long long)w.arg.bytes);
        w = vk_window_of(ctx, base, false, off + 1, off + 3);   // from the second aligned byte: 6 bytes, one word more
        EXPECT(w.arg.offset == align && w.shift == 1 && w.arg.bytes == 8,
               "window [%zu,%zu): offset %llu shift %u bytes %llu", off + 1, off + 3, (unsigned long long)w.arg.offset,
               w.shift, (unsigned long long)w.arg.bytes);
    }
    iopo_tensor_free(base);
    free(in), free(out);

    if (!vk) return;
    // beyond one binding (4 KiB) and one transfer piece (32 MiB): 40 MiB and 6 bytes of bf16
    iopo_ctx_set_max_binding(ctx, 4096);
    n = (40 << 20) / 2 + 3;
    in = malloc((size_t)n * 2), out = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) in[i] = (uint16_t)(i * 40503u);
    iopo_tensor *a = iopo_tensor_new1(ctx, IOPO_BF16, n), *b = iopo_tensor_new1(ctx, IOPO_BF16, n);
    iopo_tensor_upload(a, in);
    iopo_tensor_copy(b, a);
    iopo_tensor_download(b, out);
    EXPECT(memcmp(in, out, (size_t)n * 2) == 0, "round trip of a 40 MiB bf16 tensor differs");
    iopo_tensor_copy_range(b, (size_t)n - 5, a, 1, 5);   // across the last transfer piece, odd offsets
    iopo_tensor_download(b, out);
    EXPECT(memcmp(out + n - 5, in + 1, 10) == 0 && memcmp(out, in, (size_t)(n - 5) * 2) == 0,
           "copy_range at the end of a 40 MiB bf16 tensor");
    EXPECT(vk_window_elems(ctx, IOPO_BF16) == 2 * vk_window_elems(ctx, IOPO_F32) - 1,
           "a 16-bit window holds %llu elements, an fp32 one %llu", (unsigned long long)vk_window_elems(ctx, IOPO_BF16),
           (unsigned long long)vk_window_elems(ctx, IOPO_F32));
    iopo_tensor_free(a), iopo_tensor_free(b);
    free(in), free(out);
    iopo_ctx_set_max_binding(ctx, 0);
}

/* The validation plumbing itself: a deliberately invalid call (a buffer of size 0) must be counted. */
static void test_validation_is_counted(iopo_ctx *ctx) {
    uint64_t before = iopo_validation_message_count();
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = 0,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    printf("(one validation error about a zero-sized buffer is expected next)\n");
    fflush(stdout);
    VkBuffer buf = VK_NULL_HANDLE;
    if (vkCreateBuffer(ctx->vk->device, &bci, NULL, &buf) == VK_SUCCESS) vkDestroyBuffer(ctx->vk->device, buf, NULL);
    EXPECT(iopo_validation_message_count() > before, "an invalid Vulkan call produced no validation message");
}

int main(void) {
    test_options();
    iopo_ctx_options opts;
    char err[512];
    if (!iopo_ctx_options_parse(&opts, NULL, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    iopo_ctx *cpu = iopo_ctx_create(&(iopo_ctx_options){.backend = IOPO_BACKEND_CPU}, err, sizeof err);
    test_upload_download(cpu);
    test_half_tensors(cpu);
    test_allocation_failure_is_handed_to_the_caller(cpu, (int64_t)1 << 40, (int64_t)1 << 20, "out of host memory");
    iopo_ctx_destroy(cpu);
    if (opts.backend != IOPO_BACKEND_VULKAN) {
        printf("FAIL: IOPO_DEVICE selects the CPU backend; this test needs a Vulkan device\n");
        return 1;
    }
    opts.profile = true;
    iopo_ctx *ctx = iopo_ctx_create(&opts, err, sizeof err);
    if (!ctx) {
        printf("FAIL: no Vulkan device: %s\n", err);
        return 1;
    }
    printf("device: %s\n", iopo_ctx_device_name(ctx));
    test_upload_download(ctx);
    test_suballocation(ctx);
    test_dependent_chain(ctx);
    test_grid_folding(ctx);
    test_oversized_tensor_is_reported(ctx);
    test_beyond_one_binding(ctx);
    test_half_tensors(ctx);
    VkDeviceSize cap = largest_buffer(vk_get_limits(ctx));
    test_allocation_failure_is_handed_to_the_caller(ctx, (int64_t)(cap / 4 / 16 + 1), 16, "maxMemoryAllocationSize");
    uint64_t msgs = iopo_validation_message_count();
    EXPECT(msgs == 0, "%llu validation messages", (unsigned long long)msgs);
    if (opts.validate) test_validation_is_counted(ctx);
    else printf("FAIL: run with IOPO_VALIDATE=1\n"), failures++;
    iopo_ctx_destroy(ctx);
    printf("runtime: %d failed\n", failures);
    return failures ? 1 : 0;
}
