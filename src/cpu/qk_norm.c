/* CPU reference of the per-head RMSNorm of q and k (Qwen3's q_norm / k_norm), forward and backward.
 *
 * Each q or k head of a token is one RMSNorm row of hd values (statistics in double, as src/cpu/norm.c); the v heads
 * pass through. The weight gradients sum over tokens and heads: each column is summed (tokens outer, heads inner) by
 * exactly one thread, so the result does not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

/* Columns per block of the weight-gradient loops, as in src/cpu/norm.c. */
#define QK_COL_BLOCK 64

void cpu_qk_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *qw, const float *kw, int N,
                            int NH, int NKV, int hd, float eps) {
    // out (N,W), rstd (N,NH+NKV), inp (N,W) with W = (NH+2*NKV)*hd, qw (hd), kw (hd)
    size_t W = (size_t)(NH + 2 * NKV) * hd;
    int normed = NH + NKV;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * W;
        float *o = out + (size_t)n * W;
        for (int h = 0; h < normed; h++) {
            const float *xh = x + (size_t)h * hd;
            float *oh = o + (size_t)h * hd;
            const float *w = h < NH ? qw : kw;
            double ss = 0.0;
            for (int c = 0; c < hd; c++) ss += (double)xh[c] * xh[c];
            float r = (float)(1.0 / sqrt(ss / hd + (double)eps));
            for (int c = 0; c < hd; c++) oh[c] = xh[c] * r * w[c];
            rstd[(size_t)n * normed + h] = r;
        }
        memcpy(o + (size_t)normed * hd, x + (size_t)normed * hd, (size_t)NKV * hd * sizeof(float));
    }
}

/* Per head, as RMSNorm: dinp += r * (dout * w - x * r^2 * mean(dout * w * x)); v heads: dinp += dout. */
static void qk_backward_rows(float *dinp, const float *dout, const float *inp, const float *qw, const float *kw,
                             const float *rstd, int N, int NH, int NKV, int hd) {
    // dinp (N,W), dout (N,W), inp (N,W), qw, kw (hd), rstd (N,NH+NKV)
    size_t W = (size_t)(NH + 2 * NKV) * hd;
    int normed = NH + NKV;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < normed; h++) {
            size_t base = (size_t)n * W + (size_t)h * hd;
            const float *x = inp + base, *dy = dout + base;
            float *dx = dinp + base;
            const float *w = h < NH ? qw : kw;
            float r = rstd[(size_t)n * normed + h];
            double s = 0.0;
            for (int c = 0; c < hd; c++) s += (double)(dy[c] * w[c]) * x[c];
            float k = (float)(s / hd) * r * r;
            for (int c = 0; c < hd; c++) dx[c] += r * (dy[c] * w[c] - x[c] * k);
        }
        for (size_t j = (size_t)n * W + (size_t)normed * hd; j < (size_t)(n + 1) * W; j++) dinp[j] += dout[j];
    }
}

/* dw += sum over tokens n, then heads h0 .. h0+nheads-1, of dout * x * rstd. */
static void qk_backward_cols(float *dw, const float *dout, const float *inp, const float *rstd, int N, int NH,
                             int NKV, int hd, int h0, int nheads) {
    // dw (hd), dout (N,W), inp (N,W), rstd (N,NH+NKV)
    size_t W = (size_t)(NH + 2 * NKV) * hd;
    int normed = NH + NKV;
    int nblocks = (hd + QK_COL_BLOCK - 1) / QK_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int c0 = blk * QK_COL_BLOCK;
        int c1 = c0 + QK_COL_BLOCK < hd ? c0 + QK_COL_BLOCK : hd;
        double aw[QK_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++)
            for (int h = h0; h < h0 + nheads; h++) {
                size_t base = (size_t)n * W + (size_t)h * hd;
                float r = rstd[(size_t)n * normed + h];
                for (int c = c0; c < c1; c++) aw[c - c0] += (double)dout[base + c] * (inp[base + c] * r);
            }
        for (int c = c0; c < c1; c++) dw[c] += (float)aw[c - c0];
    }
}

void cpu_qk_rmsnorm_backward(float *dinp, float *dqw, float *dkw, const float *dout, const float *inp,
                             const float *qw, const float *kw, const float *rstd, int N, int NH, int NKV, int hd) {
    // dinp (N,W) +=, dqw (hd) +=, dkw (hd) +=; NULL gradients are skipped
    if (dinp) qk_backward_rows(dinp, dout, inp, qw, kw, rstd, N, NH, NKV, hd);
    if (dqw) qk_backward_cols(dqw, dout, inp, rstd, N, NH, NKV, hd, 0, NH);
    if (dkw) qk_backward_cols(dkw, dout, inp, rstd, N, NH, NKV, hd, NH, NKV);
}
