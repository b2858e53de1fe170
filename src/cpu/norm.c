/* CPU reference of LayerNorm (GPT-2) and RMSNorm (Llama/Qwen2), forward and backward.
 *
 * Row statistics are accumulated in double: this backend is the reference the Vulkan shaders are compared against, so
 * it should carry less rounding error than they do. Weight gradients are column sums over the N rows; each column is
 * summed in row order by exactly one thread, so the result does not depend on the thread count. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* Columns per block of the weight-gradient loops: a block's partial sums stay in cache while the rows stream by. */
#define NORM_COL_BLOCK 64

void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                           int N, int C, float eps) {
    // out (N,C), mean (N), rstd (N), inp (N,C), w (C), b (C)
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        // Two passes (mean, then squared deviations) instead of E[x^2] - E[x]^2, which cancels for large offsets.
        double s = 0.0;
        for (int c = 0; c < C; c++) s += x[c];
        float m = (float)(s / C);
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            double d = (double)x[c] - m;
            v += d * d;
        }
        float r = (float)(1.0 / sqrt(v / C + (double)eps));
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* dinp: per row, d xhat = dout * w, then
 *   dinp += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 * (the two means are the gradients flowing through the row mean and the row variance). */
static void layernorm_backward_rows(float *dinp, const float *dout, const float *inp, const float *w,
                                    const float *mean, const float *rstd, int N, int C) {
    // dinp (N,C), dout (N,C), inp (N,C), w (C), mean (N), rstd (N)
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        double s1 = 0.0, s2 = 0.0;
        for (int c = 0; c < C; c++) {
            float dxh = dy[c] * w[c];
            s1 += dxh;
            s2 += (double)dxh * ((x[c] - m) * r);
        }
        float m1 = (float)(s1 / C), m2 = (float)(s2 / C);
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * r;
            dx[c] += r * (dy[c] * w[c] - m1 - xh * m2);
        }
    }
}

/* dw += sum_n dout * xhat, db += sum_n dout; either may be NULL. */
static void layernorm_backward_cols(float *dw, float *db, const float *dout, const float *inp, const float *mean,
                                    const float *rstd, int N, int C) {
    // dw (C), db (C), dout (N,C), inp (N,C), mean (N), rstd (N)
    int nblocks = (C + NORM_COL_BLOCK - 1) / NORM_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int c0 = blk * NORM_COL_BLOCK;
        int c1 = c0 + NORM_COL_BLOCK < C ? c0 + NORM_COL_BLOCK : C;
        double aw[NORM_COL_BLOCK] = {0}, ab[NORM_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            const float *dy = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            for (int c = c0; c < c1; c++) {
                aw[c - c0] += (double)dy[c] * ((x[c] - m) * r);
                ab[c - c0] += dy[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dw) dw[c] += (float)aw[c - c0];
            if (db) db[c] += (float)ab[c - c0];
        }
    }
}

void cpu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const float *mean, const float *rstd, int N, int C) {
    // dinp (N,C), dw (C), db (C), dout (N,C), inp (N,C), w (C), mean (N), rstd (N)
    if (dinp) layernorm_backward_rows(dinp, dout, inp, w, mean, rstd, N, C);
    if (dw || db) layernorm_backward_cols(dw, db, dout, inp, mean, rstd, N, C);
}

void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps) {
    // out (N,C), rstd (N), inp (N,C), w (C)
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        float r = (float)(1.0 / sqrt(ss / C + (double)eps));
        for (int c = 0; c < C; c++) o[c] = x[c] * r * w[c];
        rstd[n] = r;
    }
}

/* With out = x * r * w and r = (mean(x^2) + eps)^(-1/2), dr/dx_j = -r^3 x_j / C, so
 *   dinp += r * (dout * w - x * r^2 * mean(dout * w * x)). */
static void rmsnorm_backward_rows(float *dinp, const float *dout, const float *inp, const float *w, const float *rstd,
                                  int N, int C) {
    // dinp (N,C), dout (N,C), inp (N,C), w (C), rstd (N)
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float r = rstd[n];
        double s = 0.0;
        for (int c = 0; c < C; c++) s += (double)(dy[c] * w[c]) * x[c];
        float k = (float)(s / C) * r * r;
        for (int c = 0; c < C; c++) dx[c] += r * (dy[c] * w[c] - x[c] * k);
    }
}

/* dw += sum_n dout * x * rstd. */
static void rmsnorm_backward_cols(float *dw, const float *dout, const float *inp, const float *rstd, int N, int C) {
    // dw (C), dout (N,C), inp (N,C), rstd (N)
    int nblocks = (C + NORM_COL_BLOCK - 1) / NORM_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int c0 = blk * NORM_COL_BLOCK;
        int c1 = c0 + NORM_COL_BLOCK < C ? c0 + NORM_COL_BLOCK : C;
        double aw[NORM_COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            const float *dy = dout + (size_t)n * C;
            float r = rstd[n];
            for (int c = c0; c < c1; c++) aw[c - c0] += (double)dy[c] * (x[c] * r);
        }
        for (int c = c0; c < c1; c++) dw[c] += (float)aw[c - c0];
    }
}

void cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                          const float *rstd, int N, int C) {
    // dinp (N,C), dw (C), dout (N,C), inp (N,C), w (C), rstd (N)
    if (dinp) rmsnorm_backward_rows(dinp, dout, inp, w, rstd, N, C);
    if (dw) rmsnorm_backward_cols(dw, dout, inp, rstd, N, C);
}
