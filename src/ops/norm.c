/* Dispatch of LayerNorm and RMSNorm to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static void norm_shape(const char *op, int N, int C) { op_require(N >= 0 && C > 0, op, "needs N >= 0 and C > 0"); }

void iopo_layernorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd,
                            const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *b, int N, int C, float eps) {
    const char *op = "layernorm_forward";
    norm_shape(op, N, C);
    size_t NC = (size_t)N * (size_t)C;
    op_check(ctx, op, "out", out, IOPO_F32, NC, false);
    op_check(ctx, op, "mean", mean, IOPO_F32, (size_t)N, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, (size_t)N, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NC, false);
    op_check(ctx, op, "w", w, IOPO_F32, (size_t)C, false);
    op_check(ctx, op, "b", b, IOPO_F32, (size_t)C, false);
    if (op_on_cpu(ctx))
        cpu_layernorm_forward(op_f32(out), op_f32(mean), op_f32(rstd), op_f32(inp), op_f32(w), op_f32(b), N, C, eps);
    else vkop_layernorm_forward(ctx, out, mean, rstd, inp, w, b, N, C, eps);
}

void iopo_layernorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *db,
                             const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                             const iopo_tensor *mean, const iopo_tensor *rstd, int N, int C) {
    const char *op = "layernorm_backward";
    norm_shape(op, N, C);
    size_t NC = (size_t)N * (size_t)C;
    op_check(ctx, op, "dinp", dinp, IOPO_F32, NC, true);
    op_check(ctx, op, "dw", dw, IOPO_F32, (size_t)C, true);
    op_check(ctx, op, "db", db, IOPO_F32, (size_t)C, true);
    op_check(ctx, op, "dout", dout, IOPO_F32, NC, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NC, false);
    op_check(ctx, op, "w", w, IOPO_F32, (size_t)C, false);
    op_check(ctx, op, "mean", mean, IOPO_F32, (size_t)N, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, (size_t)N, false);
    if (op_on_cpu(ctx))
        cpu_layernorm_backward(op_f32(dinp), op_f32(dw), op_f32(db), op_f32(dout), op_f32(inp), op_f32(w),
                               op_f32(mean), op_f32(rstd), N, C);
    else vkop_layernorm_backward(ctx, dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}

void iopo_rmsnorm_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *rstd, const iopo_tensor *inp,
                          const iopo_tensor *w, int N, int C, float eps) {
    const char *op = "rmsnorm_forward";
    norm_shape(op, N, C);
    size_t NC = (size_t)N * (size_t)C;
    op_check(ctx, op, "out", out, IOPO_F32, NC, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, (size_t)N, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NC, false);
    op_check(ctx, op, "w", w, IOPO_F32, (size_t)C, false);
    if (op_on_cpu(ctx)) cpu_rmsnorm_forward(op_f32(out), op_f32(rstd), op_f32(inp), op_f32(w), N, C, eps);
    else vkop_rmsnorm_forward(ctx, out, rstd, inp, w, N, C, eps);
}

void iopo_rmsnorm_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, const iopo_tensor *dout,
                           const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *rstd, int N, int C) {
    const char *op = "rmsnorm_backward";
    norm_shape(op, N, C);
    size_t NC = (size_t)N * (size_t)C;
    op_check(ctx, op, "dinp", dinp, IOPO_F32, NC, true);
    op_check(ctx, op, "dw", dw, IOPO_F32, (size_t)C, true);
    op_check(ctx, op, "dout", dout, IOPO_F32, NC, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NC, false);
    op_check(ctx, op, "w", w, IOPO_F32, (size_t)C, false);
    op_check(ctx, op, "rstd", rstd, IOPO_F32, (size_t)N, false);
    if (op_on_cpu(ctx))
        cpu_rmsnorm_backward(op_f32(dinp), op_f32(dw), op_f32(dout), op_f32(inp), op_f32(w), op_f32(rstd), N, C);
    else vkop_rmsnorm_backward(ctx, dinp, dw, dout, inp, w, rstd, N, C);
}
