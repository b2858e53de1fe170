/* CPU reference of causal grouped-query self-attention on the fused qkv layout (see include/iopo/ops.h), flash-style:
 * no (T,T) buffer. The forward walks each query row's keys in tiles under an online softmax and keeps the row's
 * log-sum-exp; the backward recomputes every probability from q, k and that lse. Plain loops in float, OpenMP over
 * independent (b, head) pairs, every sum in one fixed order. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

// Keys scored at once in the forward: one tile of scores on the stack. The rescaling happens once per tile, so the
// value is part of the result's rounding (and of the decode's, which runs the same row function).
#define CPU_ATT_TILE 64

// A length outside [0, T] is clamped so that a bad lengths array cannot index out of bounds.
static int valid_len(const int32_t *lengths, int b, int T) {
    int len = lengths[b];
    return len < 0 ? 0 : len > T ? T : len;
}

// restrict (o is written only through o; the rest is only read) lets the compiler vectorise the element-wise output
// updates; the dot products stay in order.
float cpu_attention_row(float *restrict o, const float *restrict q, const float *restrict k, const float *restrict v,
                        size_t stride, int n, int hd, float scale) {
    // o (hd) written; q (hd); k, v: key/value s at k + s*stride, v + s*stride (hd each), s < n; n >= 1
    float m = -INFINITY, l = 0.0f, sc[CPU_ATT_TILE];
    memset(o, 0, (size_t)hd * sizeof *o);
    for (int s0 = 0; s0 < n; s0 += CPU_ATT_TILE) {
        const int nt = n - s0 < CPU_ATT_TILE ? n - s0 : CPU_ATT_TILE;
        float mt = -INFINITY;
        for (int j = 0; j < nt; j++) {
            const float *kr = k + (size_t)(s0 + j) * stride;
            float dot = 0.0f;
            for (int d = 0; d < hd; d++) dot += q[d] * kr[d];
            sc[j] = dot * scale;
            if (sc[j] > mt) mt = sc[j];
        }
        // The running max only grows: what was summed under the old max is rescaled to the new one (nothing yet on
        // the first tile, whose old max is -inf).
        const float mn = mt > m ? mt : m;
        const float alpha = s0 == 0 ? 0.0f : expf(m - mn);
        l *= alpha;
        for (int d = 0; d < hd; d++) o[d] *= alpha;
        for (int j = 0; j < nt; j++) {
            const float p = expf(sc[j] - mn);
            const float *vr = v + (size_t)(s0 + j) * stride;
            l += p;
            for (int d = 0; d < hd; d++) o[d] += p * vr[d];
        }
        m = mn;
    }
    const float inv = 1.0f / l;
    for (int d = 0; d < hd; d++) o[d] *= inv;
    return m + logf(l);
}

void cpu_attention_forward(float *out, float *lse, const float *qkv, const int32_t *lengths, int B, int T, int NH,
                           int NKV, int hd) {
    // out (B,T,NH*hd), lse (B,NH,T), qkv (B,T,(NH+2*NKV)*hd), lengths (B)
    const int row = (NH + 2 * NKV) * hd;   // qkv elements per token
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const int len = valid_len(lengths, b, T);
            const int kvh = h / group;
            const float *base = qkv + (size_t)b * T * row;
            float *ls = lse + ((size_t)b * NH + h) * T;
            for (int t = 0; t < T; t++) {
                float *o = out + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                if (t >= len) {   // padding query: attends to nothing
                    memset(o, 0, (size_t)hd * sizeof *o);
                    ls[t] = 0.0f;
                    continue;
                }
                // causal: keys s <= t < len, so padded keys are never reached
                ls[t] = cpu_attention_row(o, base + (size_t)t * row + (size_t)h * hd, base + (size_t)(NH + kvh) * hd,
                                          base + (size_t)(NH + NKV + kvh) * hd, (size_t)row, t + 1, hd, scale);
            }
        }
    }
}

void cpu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *out,
                            const float *lse, const int32_t *lengths, int B, int T, int NH, int NKV, int hd) {
    // dqkv (B,T,(NH+2*NKV)*hd) +=, scratch (B,NH,T) = D, dout (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd),
    // out (B,T,NH*hd), lse (B,NH,T)
    const int row = (NH + 2 * NKV) * hd;
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
    // The heads of one kv group all add into the same dk, dv: one thread owns a (b, kv head) and walks its query
    // heads in order, queries ascending, keys ascending, which keeps every sum race-free and in a fixed order.
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int kvh = 0; kvh < NKV; kvh++) {
            const int len = valid_len(lengths, b, T);
            const float *base = qkv + (size_t)b * T * row;
            float *dbase = dqkv + (size_t)b * T * row;
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                const float *ls = lse + ((size_t)b * NH + h) * T;
                float *D = scratch + ((size_t)b * NH + h) * T;
                for (int t = 0; t < T; t++) {
                    if (t >= len) {   // padding query: no gradient anywhere
                        D[t] = 0.0f;
                        continue;
                    }
                    const float *g = dout + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                    const float *o = out + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                    // D = sum_s p_s (dout . v_s) = dout . out, so d(scores)_s = p_s (dout . v_s - D)
                    float Dt = 0.0f;
                    for (int d = 0; d < hd; d++) Dt += g[d] * o[d];
                    D[t] = Dt;
                    const float *q = base + (size_t)t * row + (size_t)h * hd;
                    // dq, dk and dv are disjoint parts of dqkv, written only through these pointers (restrict: the
                    // element-wise updates vectorise; each element still gets its adds in the same order)
                    float *restrict dq = dbase + (size_t)t * row + (size_t)h * hd;
                    for (int s = 0; s <= t; s++) {
                        const float *k = base + (size_t)s * row + (size_t)(NH + kvh) * hd;
                        const float *v = base + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                        float dot = 0.0f, dp = 0.0f;
                        for (int d = 0; d < hd; d++) {
                            dot += q[d] * k[d];
                            dp += g[d] * v[d];
                        }
                        const float p = expf(dot * scale - ls[t]);
                        const float ds = p * (dp - Dt);
                        float *restrict dk = dbase + (size_t)s * row + (size_t)(NH + kvh) * hd;
                        float *restrict dv = dbase + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                        for (int d = 0; d < hd; d++) {
                            dq[d] += scale * ds * k[d];
                            dk[d] += scale * ds * q[d];
                            dv[d] += p * g[d];
                        }
                    }
                }
            }
        }
    }
}
