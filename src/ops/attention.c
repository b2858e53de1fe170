/* Dispatch of causal grouped-query self-attention to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static void check_dims(const char *op, int B, int T, int NH, int NKV, int hd) {
    op_require(B > 0 && T > 0 && NH > 0 && NKV > 0 && hd > 0, op, "B, T, NH, NKV and hd must be positive");
    op_require(NH % NKV == 0, op, "NKV must divide NH");
}

void iopo_attention_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *lse, const iopo_tensor *qkv,
                            const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd) {
    // out (B,T,NH*hd), lse (B,NH,T), qkv (B,T,(NH+2*NKV)*hd), lengths (B) i32
    const char *op = "attention_forward";
    check_dims(op, B, T, NH, NKV, hd);
    op_check(ctx, op, "out", out, IOPO_F32, (size_t)B * T * NH * hd, false);
    op_check(ctx, op, "lse", lse, IOPO_F32, (size_t)B * NH * T, false);
    op_check(ctx, op, "qkv", qkv, IOPO_F32, (size_t)B * T * (NH + 2 * NKV) * hd, false);
    op_check(ctx, op, "lengths", lengths, IOPO_I32, (size_t)B, false);
    op_require(out != qkv && lse != qkv && out != lse, op, "out, lse and qkv must be distinct tensors");
    if (op_on_cpu(ctx))
        cpu_attention_forward(op_f32(out), op_f32(lse), op_f32(qkv), op_i32(lengths), B, T, NH, NKV, hd);
    else vkop_attention_forward(ctx, out, lse, qkv, lengths, B, T, NH, NKV, hd);
}

void iopo_attention_backward(iopo_ctx *ctx, iopo_tensor *dqkv, iopo_tensor *scratch, const iopo_tensor *dout,
                             const iopo_tensor *qkv, const iopo_tensor *out, const iopo_tensor *lse,
                             const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd) {
    // dqkv (B,T,(NH+2*NKV)*hd) +=, scratch (B,NH,T), dout (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd), out (B,T,NH*hd),
    // lse (B,NH,T), lengths (B) i32
    const char *op = "attention_backward";
    check_dims(op, B, T, NH, NKV, hd);
    op_check(ctx, op, "dqkv", dqkv, IOPO_F32, (size_t)B * T * (NH + 2 * NKV) * hd, true);
    op_check(ctx, op, "scratch", scratch, IOPO_F32, (size_t)B * NH * T, false);
    op_check(ctx, op, "dout", dout, IOPO_F32, (size_t)B * T * NH * hd, false);
    op_check(ctx, op, "qkv", qkv, IOPO_F32, (size_t)B * T * (NH + 2 * NKV) * hd, false);
    op_check(ctx, op, "out", out, IOPO_F32, (size_t)B * T * NH * hd, false);
    op_check(ctx, op, "lse", lse, IOPO_F32, (size_t)B * NH * T, false);
    op_check(ctx, op, "lengths", lengths, IOPO_I32, (size_t)B, false);
    op_require(scratch != lse && scratch != qkv && scratch != dout && scratch != out && dqkv != qkv &&
                   dqkv != dout && dqkv != out && dqkv != scratch,
               op, "dqkv and scratch must not alias an input or each other");
    if (!dqkv) return;   // the only gradient output: nothing to compute
    if (op_on_cpu(ctx))
        cpu_attention_backward(op_f32(dqkv), op_f32(scratch), op_f32(dout), op_f32(qkv), op_f32(out), op_f32(lse),
                               op_i32(lengths), B, T, NH, NKV, hd);
    else vkop_attention_backward(ctx, dqkv, scratch, dout, qkv, out, lse, lengths, B, T, NH, NKV, hd);
}
