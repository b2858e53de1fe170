/* CPU reference of the matmul family: OpenBLAS sgemm for the products, OpenMP loops for the bias. */
#include <cblas.h>
#include <string.h>

#include "cpu/cpu_ops.h"

void cpu_gemm(float *c, const float *a, const float *b, int M, int N, int K, bool trans_a, bool trans_b, float alpha,
              float beta) {
    /* c (M,N), a (M,K) or (K,M) with trans_a, b (K,N) or (N,K) with trans_b. BLAS allows but does not promise to
     * skip reading C when beta == 0; clearing it first keeps a NaN in the old contents from leaking through. */
    if (beta == 0.0f) memset(c, 0, (size_t)M * N * sizeof(float));
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                a, trans_a ? M : K, b, trans_b ? K : N, beta, c, N);
}

void cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int M, int K, int N,
                        iopo_wlayout layout) {
    /* out (M,N), inp (M,K), w (K,N) | (N,K), bias (N) */
    if (!bias) {
        cpu_gemm(out, inp, w, M, N, K, false, layout == IOPO_W_NK, 1.0f, 0.0f);
        return;
    }
    /* Broadcast the bias into out, then accumulate the product onto it: one pass over out instead of two. */
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) memcpy(out + (size_t)m * N, bias, (size_t)N * sizeof(float));
    cpu_gemm(out, inp, w, M, N, K, false, layout == IOPO_W_NK, 1.0f, 1.0f);
}

void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w,
                         int M, int K, int N, iopo_wlayout layout) {
    /* dinp (M,K) += dout (M,N) @ W^T, where W^T (N,K) is W itself for IOPO_W_NK and W (K,N) transposed otherwise */
    if (dinp) cpu_gemm(dinp, dout, w, M, K, N, false, layout == IOPO_W_KN, 1.0f, 1.0f);
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
