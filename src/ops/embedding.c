/* Dispatch of the token + position embedding to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static void check_dims(const char *op, int B, int T, int C, int V) {
    op_require(B > 0 && T > 0 && C > 0 && V > 0, op, "B, T, C and V must be positive");
}

void iopo_embedding_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *tokens, const iopo_tensor *wte,
                            const iopo_tensor *wpe, int B, int T, int C, int V) {
    // out (B,T,C), tokens (B,T) i32, wte (V,C), wpe (maxT,C) with maxT >= T, or NULL
    const char *op = "embedding_forward";
    check_dims(op, B, T, C, V);
    op_check(ctx, op, "out", out, IOPO_F32, (size_t)B * T * C, false);
    op_check(ctx, op, "tokens", tokens, IOPO_I32, (size_t)B * T, false);
    op_check_float(ctx, op, "wte", wte, (size_t)V * C, false);
    // the positional table has maxT rows, of which the first T are used
    op_check_float_min(ctx, op, "wpe", wpe, (size_t)T * C, true);
    op_require(!wpe || wpe->numel % (size_t)C == 0, op, "wpe must hold whole rows of C values");
    if (op_on_cpu(ctx))
        cpu_embedding_forward(op_f32(out), op_i32(tokens), wte->data, wte->dtype, op_data(wpe), op_dtype(wpe), B, T, C,
                              V);
    else vkop_embedding_forward(ctx, out, tokens, wte, wpe, B, T, C, V);
}

void iopo_embedding_backward(iopo_ctx *ctx, iopo_tensor *dwte, iopo_tensor *dwpe, const iopo_tensor *dout,
                             const iopo_tensor *tokens, int B, int T, int C, int V) {
    // dwte (V,C) +=, dwpe (maxT,C) +=, dout (B,T,C), tokens (B,T) i32
    const char *op = "embedding_backward";
    check_dims(op, B, T, C, V);
    op_check(ctx, op, "dwte", dwte, IOPO_F32, (size_t)V * C, true);
    op_check_min(ctx, op, "dwpe", dwpe, IOPO_F32, (size_t)T * C, true);
    op_require(!dwpe || dwpe->numel % (size_t)C == 0, op, "dwpe must hold whole rows of C values");
    op_check(ctx, op, "dout", dout, IOPO_F32, (size_t)B * T * C, false);
    op_check(ctx, op, "tokens", tokens, IOPO_I32, (size_t)B * T, false);
    if (op_on_cpu(ctx)) cpu_embedding_backward(op_f32(dwte), op_f32(dwpe), op_f32(dout), op_i32(tokens), B, T, C, V);
    else vkop_embedding_backward(ctx, dwte, dwpe, dout, tokens, B, T, C, V);
}
