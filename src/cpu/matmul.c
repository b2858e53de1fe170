/* CPU reference of the matmul family: OpenBLAS sgemm for the products, OpenMP loops for the bias. A 16-bit B (a
 * weight kept in its checkpoint's precision) is widened, a block of op(B)'s columns at a time, into fp32 scratch that
 * sgemm then reads: the widening is exact, so the result is the fp32 product of the widened weight, as the shader
 * computes it, at the cost of one pass over the weight and a scratch block, not an fp32 copy of it. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/context_internal.h"
#include "cpu/cpu_ops.h"
#include "util/half.h"

void cpu_gemm(float *c, const float *a, const float *b, int M, int N, int K, bool trans_a, bool trans_b, float alpha,
              float beta) {
    /* c (M,N), a (M,K) or (K,M) with trans_a, b (K,N) or (N,K) with trans_b. BLAS allows but does not promise to
     * skip reading C when beta == 0; clearing it first keeps a NaN in the old contents from leaking through. */
    if (beta == 0.0f) memset(c, 0, (size_t)M * N * sizeof(float));
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                a, trans_a ? M : K, b, trans_b ? K : N, beta, c, N);
}

/* Bytes of fp32 scratch one block of widened B columns may take: large enough that each sgemm call is a real GEMM,
 * small enough to stay in a core's share of the last-level cache. */
#define W16_SCRATCH_BYTES ((size_t)4 << 20)

void cpu_gemm_w(float *c, const float *a, const void *b, iopo_dtype b_dt, int M, int N, int K, bool trans_a,
                bool trans_b, float alpha, float beta) {
    /* c (M,N), a (M,K) | (K,M), b (K,N) | (N,K) in b_dt */
    if (b_dt == IOPO_F32) {
        cpu_gemm(c, a, b, M, N, K, trans_a, trans_b, alpha, beta);
        return;
    }
    if (beta == 0.0f) memset(c, 0, (size_t)M * N * sizeof(float));
    /* Columns [n0, n0 + nb) of op(B) at a time, every one with all K of its products in one sgemm (the same
     * reduction an unblocked call makes for it). */
    size_t per_col = (size_t)K * sizeof(float);
    int nb = (int)(W16_SCRATCH_BYTES / (per_col ? per_col : 1));
    if (nb < 16) nb = 16;
    if (nb > N) nb = N;
    float *scratch = malloc((size_t)nb * K * sizeof(float));
    if (!scratch) iopo_fail("out of host memory: %zu bytes of matmul scratch", (size_t)nb * K * sizeof(float));
    const uint16_t *h = b;
    for (int n0 = 0; n0 < N; n0 += nb) {
        int cols = N - n0 < nb ? N - n0 : nb;
        if (trans_b) {
            /* B (N,K): the block's columns of op(B) are B's rows n0.., contiguous: scratch (cols, K) */
#pragma omp parallel for schedule(static)
            for (int j = 0; j < cols; j++)
                iopo_widen_f32(scratch + (size_t)j * K, h, b_dt, (size_t)(n0 + j) * K, (size_t)K);
        } else {
            /* B (K,N): the block is a column strip of every row: scratch (K, cols) */
#pragma omp parallel for schedule(static)
            for (int k = 0; k < K; k++) iopo_widen_f32(scratch + (size_t)k * cols, h, b_dt, (size_t)k * N + n0, cols);
        }
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, cols, K,
                    alpha, a, trans_a ? M : K, scratch, trans_b ? K : cols, beta, c + n0, N);
    }
    free(scratch);
}

void cpu_matmul_forward(float *out, const float *inp, const void *w, iopo_dtype w_dt, const void *bias,
                        iopo_dtype bias_dt, int M, int K, int N, iopo_wlayout layout) {
    /* out (M,N), inp (M,K), w (K,N) | (N,K), bias (N) */
    if (!bias) {
        cpu_gemm_w(out, inp, w, w_dt, M, N, K, false, layout == IOPO_W_NK, 1.0f, 0.0f);
        return;
    }
    /* Broadcast the bias into out, then accumulate the product onto it: one pass over out instead of two. */
    iopo_widen_f32(out, bias, bias_dt, 0, (size_t)N);
#pragma omp parallel for schedule(static)
    for (int m = 1; m < M; m++) memcpy(out + (size_t)m * N, out, (size_t)N * sizeof(float));
    cpu_gemm_w(out, inp, w, w_dt, M, N, K, false, layout == IOPO_W_NK, 1.0f, 1.0f);
}

void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const void *w,
                         iopo_dtype w_dt, int M, int K, int N, iopo_wlayout layout) {
    /* dinp (M,K) += dout (M,N) @ W^T, where W^T (N,K) is W itself for IOPO_W_NK and W (K,N) transposed otherwise */
    if (dinp) cpu_gemm_w(dinp, dout, w, w_dt, M, K, N, false, layout == IOPO_W_KN, 1.0f, 1.0f);
    if (dw) {
        if (layout == IOPO_W_KN) cpu_gemm(dw, inp, dout, K, N, M, true, false, 1.0f, 1.0f);   /* (K,N) += inp^T @ dout */
        else cpu_gemm(dw, dout, inp, N, K, M, true, false, 1.0f, 1.0f);                        /* (N,K) += dout^T @ inp */
    }
    if (dbias) {
        /* dbias (N) += column sums of dout (M,N), each column summed over m in increasing order; a block of columns
         * at a time so that the rows are read contiguously. */
        enum { CB = 64 };
#pragma omp parallel for schedule(static)
        for (int n0 = 0; n0 < N; n0 += CB) {
            int nb = N - n0 < CB ? N - n0 : CB;
            float s[CB] = {0};
            for (int m = 0; m < M; m++) {
                const float *row = dout + (size_t)m * N + n0;
                for (int j = 0; j < nb; j++) s[j] += row[j];
            }
            for (int j = 0; j < nb; j++) dbias[n0 + j] += s[j];
        }
    }
}
