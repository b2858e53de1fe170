/* Dispatch of the LoRA element-wise pieces to the CPU or Vulkan backend. */
#include <math.h>

#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

void iopo_lora_cols(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, int M, int n, int dst_ld, int dst_col0,
                    int src_ld, int src_col0, float alpha, bool accumulate) {
    const char *op = "lora_cols";
    op_require(M >= 0 && n >= 0 && dst_col0 >= 0 && src_col0 >= 0, op, "needs M, n and the first columns >= 0");
    op_require(dst_col0 + n <= dst_ld && src_col0 + n <= src_ld, op, "the columns must lie inside both rows");
    op_check(ctx, op, "dst", dst, IOPO_F32, (size_t)M * dst_ld, false);
    op_check(ctx, op, "src", src, IOPO_F32, (size_t)M * src_ld, false);
    op_require(dst != src, op, "dst must not be src");
    if (M == 0 || n == 0) return;
    if (op_on_cpu(ctx))
        cpu_lora_cols(op_f32(dst), op_f32(src), M, n, dst_ld, dst_col0, src_ld, src_col0, alpha, accumulate);
    else vkop_lora_cols(ctx, dst, src, M, n, dst_ld, dst_col0, src_ld, src_col0, alpha, accumulate);
}

void iopo_lora_dropout(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t n, uint32_t seed, float p,
                       bool accumulate) {
    const char *op = "lora_dropout";
    op_require(p >= 0.0f && p < 1.0f, op, "needs 0 <= p < 1");
    op_require(n <= UINT32_MAX, op, "more elements than the mask's 32-bit counter");
    op_check(ctx, op, "dst", dst, IOPO_F32, n, false);
    op_check(ctx, op, "src", src, IOPO_F32, n, false);
    op_require(dst != src, op, "dst must not be src");
    if (n == 0) return;
    uint32_t threshold = (uint32_t)llround((double)p * 16777216.0);
    float scale = 1.0f / (1.0f - p);
    if (op_on_cpu(ctx)) cpu_lora_dropout(op_f32(dst), op_f32(src), n, seed, threshold, scale, accumulate);
    else vkop_lora_dropout(ctx, dst, src, n, seed, threshold, scale, accumulate);
}
