/* Dispatch of the element-wise ops (GELU, SiLU, SwiGLU, residual add, accumulation) to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

void iopo_gelu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N) {
    op_check(ctx, "gelu_forward", "out", out, IOPO_F32, N, false);
    op_check(ctx, "gelu_forward", "inp", inp, IOPO_F32, N, false);
    if (op_on_cpu(ctx)) cpu_gelu_forward(op_f32(out), op_f32(inp), N);
    else vkop_gelu_forward(ctx, out, inp, N);
}

void iopo_gelu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N) {
    op_check(ctx, "gelu_backward", "dinp", dinp, IOPO_F32, N, true);
    op_check(ctx, "gelu_backward", "dout", dout, IOPO_F32, N, false);
    op_check(ctx, "gelu_backward", "inp", inp, IOPO_F32, N, false);
    if (!dinp) return;   // a NULL gradient is not computed (include/iopo/ops.h)
    if (op_on_cpu(ctx)) cpu_gelu_backward(op_f32(dinp), op_f32(dout), op_f32(inp), N);
    else vkop_gelu_backward(ctx, dinp, dout, inp, N);
}

void iopo_silu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, size_t N) {
    op_check(ctx, "silu_forward", "out", out, IOPO_F32, N, false);
    op_check(ctx, "silu_forward", "inp", inp, IOPO_F32, N, false);
    if (op_on_cpu(ctx)) cpu_silu_forward(op_f32(out), op_f32(inp), N);
    else vkop_silu_forward(ctx, out, inp, N);
}

void iopo_silu_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp, size_t N) {
    op_check(ctx, "silu_backward", "dinp", dinp, IOPO_F32, N, true);
    op_check(ctx, "silu_backward", "dout", dout, IOPO_F32, N, false);
    op_check(ctx, "silu_backward", "inp", inp, IOPO_F32, N, false);
    if (!dinp) return;   // a NULL gradient is not computed (include/iopo/ops.h)
    if (op_on_cpu(ctx)) cpu_silu_backward(op_f32(dinp), op_f32(dout), op_f32(inp), N);
    else vkop_silu_backward(ctx, dinp, dout, inp, N);
}

void iopo_swiglu_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *gate, const iopo_tensor *up, size_t N) {
    op_check(ctx, "swiglu_forward", "out", out, IOPO_F32, N, false);
    op_check(ctx, "swiglu_forward", "gate", gate, IOPO_F32, N, false);
    op_check(ctx, "swiglu_forward", "up", up, IOPO_F32, N, false);
    if (op_on_cpu(ctx)) cpu_swiglu_forward(op_f32(out), op_f32(gate), op_f32(up), N);
    else vkop_swiglu_forward(ctx, out, gate, up, N);
}

void iopo_swiglu_backward(iopo_ctx *ctx, iopo_tensor *dgate, iopo_tensor *dup, const iopo_tensor *dout,
                          const iopo_tensor *gate, const iopo_tensor *up, size_t N) {
    op_check(ctx, "swiglu_backward", "dgate", dgate, IOPO_F32, N, true);
    op_check(ctx, "swiglu_backward", "dup", dup, IOPO_F32, N, true);
    op_check(ctx, "swiglu_backward", "dout", dout, IOPO_F32, N, false);
    op_check(ctx, "swiglu_backward", "gate", gate, IOPO_F32, N, false);
    op_check(ctx, "swiglu_backward", "up", up, IOPO_F32, N, false);
    if (!dgate && !dup) return;
    if (op_on_cpu(ctx)) cpu_swiglu_backward(op_f32(dgate), op_f32(dup), op_f32(dout), op_f32(gate), op_f32(up), N);
    else vkop_swiglu_backward(ctx, dgate, dup, dout, gate, up, N);
}

void iopo_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *a, const iopo_tensor *b, size_t N) {
    op_check(ctx, "add", "out", out, IOPO_F32, N, false);
    op_check(ctx, "add", "a", a, IOPO_F32, N, false);
    op_check(ctx, "add", "b", b, IOPO_F32, N, false);
    if (op_on_cpu(ctx)) cpu_add(op_f32(out), op_f32(a), op_f32(b), N);
    else vkop_add(ctx, out, a, b, N);
}

void iopo_accumulate(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, size_t N) {
    op_check(ctx, "accumulate", "dst", dst, IOPO_F32, N, false);
    op_check(ctx, "accumulate", "src", src, IOPO_F32, N, false);
    if (op_on_cpu(ctx)) cpu_accumulate(op_f32(dst), op_f32(src), N);
    else vkop_accumulate(ctx, dst, src, N);
}
