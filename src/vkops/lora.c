/* Vulkan recorders of the LoRA element-wise pieces (shaders/lora.comp): one invocation per element; a tensor over
 * one binding runs in row blocks (cols) or element ranges (dropout), each operand bound as a window of that block. */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct cols_push {
    uint32_t M, n, dst_ld, dst_col0, src_ld, src_col0;
    float alpha;
    uint32_t accumulate, groups, dst_shift, src_shift;
} cols_push;

typedef struct dropout_push {
    uint32_t n, base, seed, threshold;
    float scale;
    uint32_t accumulate, groups, dst_shift, src_shift;
} dropout_push;

void vkop_lora_cols(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, int M, int n, int dst_ld, int dst_col0,
                    int src_ld, int src_col0, float alpha, bool accumulate) {
    // dst (M, dst_ld), src (M, src_ld)
    uint32_t wg = vk_group_size(ctx, 256, 0);
    bool split = !vk_fits(ctx, dst) || !vk_fits(ctx, src);
    uint64_t ld = (uint64_t)(dst_ld > src_ld ? dst_ld : src_ld);
    uint64_t rows = split ? vk_window_elems(ctx, IOPO_F32) / ld : (uint64_t)M;
    op_require(rows >= 1, "lora_cols", "one row is larger than a storage binding");
    for (uint64_t r0 = 0; r0 < (uint64_t)M; r0 += rows) {
        uint64_t r1 = (uint64_t)M - r0 < rows ? (uint64_t)M : r0 + rows;
        op_require((r1 - r0) * ld <= UINT32_MAX, "lora_cols", "a block exceeds 32-bit indexing");
        vk_arg args[2] = {VK_W(dst), VK_R(src)};
        cols_push pc = {(uint32_t)(r1 - r0), (uint32_t)n, (uint32_t)dst_ld, (uint32_t)dst_col0, (uint32_t)src_ld,
                        (uint32_t)src_col0, alpha, accumulate ? 1u : 0u, 0, 0, 0};
        if (split) {
            vk_window wd = vk_window_of(ctx, dst, true, r0 * dst_ld, r1 * dst_ld);
            vk_window ws = vk_window_of(ctx, src, false, r0 * src_ld, r1 * src_ld);
            args[0] = wd.arg, args[1] = ws.arg;
            pc.dst_shift = wd.shift, pc.src_shift = ws.shift;
        }
        uint64_t groups = vk_div_up((r1 - r0) * (uint64_t)n, wg);
        pc.groups = (uint32_t)groups;
        vk_dispatch_1d(ctx, "lora_cols", &wg, 1, args, 2, &pc, sizeof pc, groups);
    }
}

void vkop_lora_dropout(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t n, uint32_t seed,
                       uint32_t threshold, float scale, bool accumulate) {
    // dst (n), src (n)
    uint32_t wg = vk_group_size(ctx, 256, 0);
    bool split = !vk_fits(ctx, dst) || !vk_fits(ctx, src);
    uint64_t piece = split ? vk_window_elems(ctx, IOPO_F32) : (uint64_t)n;
    for (uint64_t b = 0; b < (uint64_t)n; b += piece) {
        uint64_t e = (uint64_t)n - b < piece ? (uint64_t)n : b + piece;
        vk_arg args[2] = {VK_W(dst), VK_R(src)};
        dropout_push pc = {(uint32_t)(e - b), (uint32_t)b, seed, threshold, scale, accumulate ? 1u : 0u, 0, 0, 0};
        if (split) {
            vk_window wd = vk_window_of(ctx, dst, true, b, e);
            vk_window ws = vk_window_of(ctx, src, false, b, e);
            args[0] = wd.arg, args[1] = ws.arg;
            pc.dst_shift = wd.shift, pc.src_shift = ws.shift;
        }
        uint64_t groups = vk_div_up(e - b, wg);
        pc.groups = (uint32_t)groups;
        vk_dispatch_1d(ctx, "lora_dropout", &wg, 1, args, 2, &pc, sizeof pc, groups);
    }
}
