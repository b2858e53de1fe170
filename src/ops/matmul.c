/* Dispatch of the matmul family (general GEMM, linear layer forward and backward) to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

void iopo_gemm(iopo_ctx *ctx, iopo_tensor *c, const iopo_tensor *a, const iopo_tensor *b, int M, int N, int K,
               bool trans_a, bool trans_b, float alpha, float beta) {
    op_require(M > 0 && N > 0 && K > 0, "gemm", "M, N and K must be positive");
    op_check(ctx, "gemm", "c", c, IOPO_F32, (size_t)M * N, false);   /* (M,N) */
    op_check(ctx, "gemm", "a", a, IOPO_F32, (size_t)M * K, false);   /* (M,K) or (K,M) */
    op_check_float(ctx, "gemm", "b", b, (size_t)K * N, false);         /* (K,N) or (N,K) */
    op_require(c != a && c != b, "gemm", "c must not alias a or b");
    if (op_on_cpu(ctx)) cpu_gemm_w(op_f32(c), op_f32(a), b->data, b->dtype, M, N, K, trans_a, trans_b, alpha, beta);
    else vkop_gemm(ctx, c, a, b, M, N, K, trans_a, trans_b, alpha, beta);
}

void iopo_matmul_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *w,
                         const iopo_tensor *bias, int M, int K, int N, iopo_wlayout layout) {
    op_require(M > 0 && N > 0 && K > 0, "matmul_forward", "M, K and N must be positive");
    op_require(layout == IOPO_W_KN || layout == IOPO_W_NK, "matmul_forward", "unknown weight layout");
    op_check(ctx, "matmul_forward", "out", out, IOPO_F32, (size_t)M * N, false);   /* (M,N) */
    op_check(ctx, "matmul_forward", "inp", inp, IOPO_F32, (size_t)M * K, false);   /* (M,K) */
    op_check_float(ctx, "matmul_forward", "w", w, (size_t)K * N, false);           /* (K,N) or (N,K) */
    op_check_float(ctx, "matmul_forward", "bias", bias, (size_t)N, true);          /* (N) */
    op_require(out != inp && out != w, "matmul_forward", "out must not alias inp or w");
    if (op_on_cpu(ctx))
        cpu_matmul_forward(op_f32(out), op_f32(inp), w->data, w->dtype, op_data(bias), op_dtype(bias), M, K, N, layout);
    else vkop_matmul_forward(ctx, out, inp, w, bias, M, K, N, layout);
}

void iopo_matmul_backward(iopo_ctx *ctx, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *dbias,
                          const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w, int M, int K, int N,
                          iopo_wlayout layout) {
    op_require(M > 0 && N > 0 && K > 0, "matmul_backward", "M, K and N must be positive");
    op_require(layout == IOPO_W_KN || layout == IOPO_W_NK, "matmul_backward", "unknown weight layout");
    op_check(ctx, "matmul_backward", "dinp", dinp, IOPO_F32, (size_t)M * K, true);   /* (M,K) */
    op_check(ctx, "matmul_backward", "dw", dw, IOPO_F32, (size_t)K * N, true);       /* (K,N) or (N,K) */
    op_check(ctx, "matmul_backward", "dbias", dbias, IOPO_F32, (size_t)N, true);     /* (N) */
    op_check(ctx, "matmul_backward", "dout", dout, IOPO_F32, (size_t)M * N, false);  /* (M,N) */
    /* inp is read only for dw and w only for dinp: either may be NULL when its gradient is not asked for. */
    op_check(ctx, "matmul_backward", "inp", inp, IOPO_F32, (size_t)M * K, dw == NULL);   /* (M,K) */
    op_check_float(ctx, "matmul_backward", "w", w, (size_t)K * N, dinp == NULL);         /* (K,N) or (N,K) */
    op_require(!dinp || (dinp != dout && dinp != w), "matmul_backward", "dinp must not alias dout or w");
    op_require(!dw || (dw != dout && dw != inp), "matmul_backward", "dw must not alias dout or inp");
    op_require(!dbias || dbias != dout, "matmul_backward", "dbias must not alias dout");
    if (op_on_cpu(ctx))
        cpu_matmul_backward(op_f32(dinp), op_f32(dw), op_f32(dbias), op_f32(dout), op_f32(inp), op_data(w), op_dtype(w),
                            M, K, N, layout);
    else vkop_matmul_backward(ctx, dinp, dw, dbias, dout, inp, w, M, K, N, layout);
}
