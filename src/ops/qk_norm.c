/* Dispatch of the per-head q/k RMSNorm (Qwen3) to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static void qk_shape(const char *op, int N, int NH, int NKV, int hd) {
    op_require(N >= 0, op, "needs N >= 0");
    op_require(NH > 0 && NKV > 0 && hd > 0, op, "needs NH > 0, NKV > 0 and hd > 0");
}

void iopo_qk_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                             const iopo_tensor *qw, const iopo_tensor *kw, int N, int NH, int NKV, int hd, float eps) {
    const char *op = "qk_rmsnorm_forward";
    qk_shape(op, N, NH, NKV, hd);
    size_t NW = (size_t)N * (size_t)(NH + 2 * NKV) * (size_t)hd, NR = (size_t)N * (size_t)(NH + NKV);
    op_check(ctx, op, "out", out, IOPO_F32, NW, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, NR, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NW, false);
    op_check(ctx, op, "qw", qw, IOPO_F32, (size_t)hd, false);
    op_check(ctx, op, "kw", kw, IOPO_F32, (size_t)hd, false);
    op_require(out != inp, op, "out must not be inp (not in place)");
    if (op_on_cpu(ctx))
        cpu_qk_rmsnorm_forward(op_f32(out), op_f32(rstd), op_f32(inp), op_f32(qw), op_f32(kw), N, NH, NKV, hd, eps);
    else vkop_qk_rmsnorm_forward(ctx, out, rstd, inp, qw, kw, N, NH, NKV, hd, eps);
}

void iopo_qk_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dqw, iopo_tensor *dkw,
                              const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *qw,
                              const iopo_tensor *kw, const iopo_tensor *rstd, int N, int NH, int NKV, int hd) {
    const char *op = "qk_rmsnorm_backward";
    qk_shape(op, N, NH, NKV, hd);
    size_t NW = (size_t)N * (size_t)(NH + 2 * NKV) * (size_t)hd, NR = (size_t)N * (size_t)(NH + NKV);
    op_check(ctx, op, "dinp", dinp, IOPO_F32, NW, true);
    op_check(ctx, op, "dqw", dqw, IOPO_F32, (size_t)hd, true);
    op_check(ctx, op, "dkw", dkw, IOPO_F32, (size_t)hd, true);
    op_check(ctx, op, "dout", dout, IOPO_F32, NW, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NW, false);
    op_check(ctx, op, "qw", qw, IOPO_F32, (size_t)hd, false);
    op_check(ctx, op, "kw", kw, IOPO_F32, (size_t)hd, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, NR, false);
    if (op_on_cpu(ctx))
        cpu_qk_rmsnorm_backward(op_f32(dinp), op_f32(dqw), op_f32(dkw), op_f32(dout), op_f32(inp), op_f32(qw),
                                op_f32(kw), op_f32(rstd), N, NH, NKV, hd);
    else vkop_qk_rmsnorm_backward(ctx, dinp, dqw, dkw, dout, inp, qw, kw, rstd, N, NH, NKV, hd);
}
