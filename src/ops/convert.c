/* Dispatch of iopo_convert (fp32 <-> BF16/F16) to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static bool is_half(iopo_dtype dt) { return dt == IOPO_BF16 || dt == IOPO_F16; }

void iopo_convert(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N) {
    // dst (N), src (N)
    const char *op = "convert";
    op_require(dst && src, op, "dst and src must not be NULL");
    op_require((src->dtype == IOPO_F32 && is_half(dst->dtype)) || (is_half(src->dtype) && dst->dtype == IOPO_F32), op,
               "converts between f32 and bf16 or f16 only");
    op_check(ctx, op, "dst", dst, dst->dtype, N, false);
    op_check(ctx, op, "src", src, src->dtype, N, false);
    op_require(dst != src, op, "dst and src must be distinct tensors");
    if (N == 0) return;
    if (op_on_cpu(ctx)) cpu_convert(dst->data, dst->dtype, src->data, src->dtype, N);
    else vkop_convert(ctx, dst, src, N);
}
