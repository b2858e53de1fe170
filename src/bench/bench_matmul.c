/* Benchmarks of the matmul family at GPT-2-small-like shapes (C = 768, MLP width 3072): the linear layer forward,
 * the two products of its backward (dinp, and dw with dbias) and a bare GEMM; then the forward and dinp with the
 * weight (and bias) in BF16 and F16, beside the same product with an fp32 weight. flops = 2*M*N*K per product;
 * bytes = the least traffic each call needs (every operand read once at its own size, accumulated outputs read and
 * written). */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct mm_bench {
    iopo_tensor *inp, *w, *bias, *out;      /* (M,K), (K,N)|(N,K), (N), (M,N) */
    iopo_tensor *dinp, *dw, *dbias, *dout;  /* gradients of the same shapes */
    int M, K, N;
    iopo_wlayout layout;
} mm_bench;

static void run_forward(iopo_ctx *ctx, void *user) {
    mm_bench *b = user;
    iopo_matmul_forward(ctx, b->out, b->inp, b->w, b->bias, b->M, b->K, b->N, b->layout);
}

static void run_backward_dinp(iopo_ctx *ctx, void *user) {
    mm_bench *b = user;
    iopo_matmul_backward(ctx, b->dinp, NULL, NULL, b->dout, NULL, b->w, b->M, b->K, b->N, b->layout);
}

static void run_backward_dw(iopo_ctx *ctx, void *user) {
    mm_bench *b = user;
    iopo_matmul_backward(ctx, NULL, b->dw, b->dbias, b->dout, b->inp, NULL, b->M, b->K, b->N, b->layout);
}

/* out (M,N) = inp (M,K) @ w^T, w stored (N,K): the torch Linear forward as a bare GEMM. */
static void run_gemm_nt(iopo_ctx *ctx, void *user) {
    mm_bench *b = user;
    iopo_gemm(ctx, b->out, b->inp, b->w, b->M, b->N, b->K, false, true, 1.0f, 0.0f);
}

static void bench_shape(bench_ctx *bc, int M, int K, int N, iopo_wlayout layout, bool gemm) {
    int64_t s_inp[2] = {M, K}, s_out[2] = {M, N}, s_bias[1] = {N};
    int64_t s_w[2] = {layout == IOPO_W_KN ? K : N, layout == IOPO_W_KN ? N : K};
    mm_bench b = {bench_randn(bc, 2, s_inp), bench_randn(bc, 2, s_w),   bench_randn(bc, 1, s_bias),
                  bench_randn(bc, 2, s_out), bench_randn(bc, 2, s_inp), bench_randn(bc, 2, s_w),
                  bench_randn(bc, 1, s_bias), bench_randn(bc, 2, s_out), M, K, N, layout};
    char shape[64];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s", M, K, N, layout == IOPO_W_KN ? "KN" : "NK");
    double flops = 2.0 * M * N * K, f = sizeof(float);
    double mk = (double)M * K, kn = (double)K * N, mn = (double)M * N;

    bench_case(bc, "matmul_forward", shape, run_forward, &b, flops, f * (mk + kn + mn + N));
    bench_case(bc, "matmul_backward dinp", shape, run_backward_dinp, &b, flops, f * (mn + kn + 2 * mk));
    bench_case(bc, "matmul_backward dw+dbias", shape, run_backward_dw, &b, flops + mn,
               f * (mk + mn + 2 * kn + 2.0 * N));
    if (gemm) bench_case(bc, "gemm nt", shape, run_gemm_nt, &b, flops, f * (mk + kn + mn));

    iopo_tensor *all[] = {b.inp, b.w, b.bias, b.out, b.dinp, b.dw, b.dbias, b.dout};
    for (int i = 0; i < (int)(sizeof all / sizeof all[0]); i++) iopo_tensor_free(all[i]);
}

/* The forward and the backward's dinp with W and the bias stored in dt (a frozen checkpoint weight). */
static void bench_shape16(bench_ctx *bc, int M, int K, int N, iopo_wlayout layout, iopo_dtype dt) {
    int64_t s_inp[2] = {M, K}, s_out[2] = {M, N}, s_bias[1] = {N};
    int64_t s_w[2] = {layout == IOPO_W_KN ? K : N, layout == IOPO_W_KN ? N : K};
    iopo_tensor *w32 = bench_randn(bc, 2, s_w), *b32 = bench_randn(bc, 1, s_bias);
    mm_bench b = {bench_randn(bc, 2, s_inp), iopo_tensor_new(bc->ctx, dt, 2, s_w), iopo_tensor_new1(bc->ctx, dt, N),
                  bench_randn(bc, 2, s_out), bench_randn(bc, 2, s_inp), NULL, NULL, bench_randn(bc, 2, s_out),
                  M, K, N, layout};
    iopo_convert(bc->ctx, b.w, w32, w32->numel);
    iopo_convert(bc->ctx, b.bias, b32, b32->numel);
    char shape[64];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s w:%s", M, K, N, layout == IOPO_W_KN ? "KN" : "NK",
             iopo_dtype_name(dt));
    double flops = 2.0 * M * N * K, f = sizeof(float), h = iopo_dtype_size(dt);
    double mk = (double)M * K, kn = (double)K * N, mn = (double)M * N;
    bench_case(bc, "matmul_forward", shape, run_forward, &b, flops, f * (mk + mn) + h * (kn + N));
    bench_case(bc, "matmul_backward dinp", shape, run_backward_dinp, &b, flops, f * (mn + 2 * mk) + h * kn);
    iopo_tensor *all[] = {w32, b32, b.inp, b.w, b.bias, b.out, b.dinp, b.dout};
    for (int i = 0; i < (int)(sizeof all / sizeof all[0]); i++) iopo_tensor_free(all[i]);
}

void bench_matmul(bench_ctx *bc) {
    /* Tokens per micro-batch: a few sequences' worth, cut down under quick so lavapipe finishes each call in well
     * under a second (~1 GFLOPS there: M=32 at N=3072 is 0.15 GFLOP). */
    int M = bc->quick ? 32 : 256;
    bench_shape(bc, M, 768, 768, IOPO_W_KN, false);    /* attention c_proj */
    bench_shape(bc, M, 768, 3072, IOPO_W_KN, false);   /* MLP c_fc */
    bench_shape(bc, M, 3072, 768, IOPO_W_NK, true);    /* an MLP down projection in the torch Linear layout */
    /* 16-bit weights at the torch Linear layout the Llama / Qwen checkpoints use, and GPT-2's Conv1D one */
    bench_shape16(bc, M, 3072, 768, IOPO_W_NK, IOPO_BF16);
    bench_shape16(bc, M, 3072, 768, IOPO_W_NK, IOPO_F16);
    bench_shape16(bc, M, 768, 3072, IOPO_W_KN, IOPO_BF16);
}
