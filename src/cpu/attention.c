/* CPU reference of causal grouped-query self-attention on the fused qkv layout (see include/iopo/ops.h).
 * Plain loops that follow the definition; rows are independent, so OpenMP splits over (b, head). */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"

// A length outside [0, T] is clamped so that a bad lengths array cannot index out of bounds.
static int valid_len(const int32_t *lengths, int b, int T) {
    int len = lengths[b];
    return len < 0 ? 0 : len > T ? T : len;
}

void cpu_attention_forward(float *out, float *att, const float *qkv, const int32_t *lengths, int B, int T, int NH,
                           int NKV, int hd) {
    // out (B,T,NH*hd), att (B,NH,T,T), qkv (B,T,(NH+2*NKV)*hd), lengths (B)
    const int row = (NH + 2 * NKV) * hd;   // qkv elements per token
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const int len = valid_len(lengths, b, T);
            const int kvh = h / group;
            const float *base = qkv + (size_t)b * T * row;
            for (int t = 0; t < T; t++) {
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *o = out + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                memset(a, 0, (size_t)T * sizeof *a);
                memset(o, 0, (size_t)hd * sizeof *o);
                if (t >= len) continue;   // padding query: attends to nothing
                // causal: s <= t < len, so padded keys are never reached
                const float *q = base + (size_t)t * row + (size_t)h * hd;
                float mx = -INFINITY;
                for (int s = 0; s <= t; s++) {
                    const float *k = base + (size_t)s * row + (size_t)(NH + kvh) * hd;
                    float dot = 0.0f;
                    for (int d = 0; d < hd; d++) dot += q[d] * k[d];
                    a[s] = dot * scale;
                    if (a[s] > mx) mx = a[s];
                }
                float sum = 0.0f;
                for (int s = 0; s <= t; s++) {
                    a[s] = expf(a[s] - mx);
                    sum += a[s];
                }
                const float inv = 1.0f / sum;
                for (int s = 0; s <= t; s++) a[s] *= inv;
                for (int s = 0; s <= t; s++) {
                    const float *v = base + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                    for (int d = 0; d < hd; d++) o[d] += a[s] * v[d];
                }
            }
        }
    }
}

void cpu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *att,
                            const int32_t *lengths, int B, int T, int NH, int NKV, int hd) {
    // dqkv (B,T,(NH+2*NKV)*hd), scratch (B,NH,T,T), dout (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd), att (B,NH,T,T)
    const int row = (NH + 2 * NKV) * hd;
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
    // The heads of one kv group all add into the same dk, dv: one thread owns a (b, kv head) and walks its query
    // heads in order, which keeps the sums race-free and in a fixed order.
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int kvh = 0; kvh < NKV; kvh++) {
            const int len = valid_len(lengths, b, T);
            const float *base = qkv + (size_t)b * T * row;
            float *dbase = dqkv + (size_t)b * T * row;
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                    float *ds = scratch + (((size_t)b * NH + h) * T + t) * T;   // d(scores) of this row
                    memset(ds, 0, (size_t)T * sizeof *ds);
                    if (t >= len) continue;   // padding query: no gradient anywhere
                    const float *g = dout + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                    // d(att)[s] = dout . v_s, then through the softmax: ds = att * (datt - sum(att * datt))
                    float dsum = 0.0f;
                    for (int s = 0; s <= t; s++) {
                        const float *v = base + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                        float datt = 0.0f;
                        for (int d = 0; d < hd; d++) datt += g[d] * v[d];
                        ds[s] = datt;
                        dsum += a[s] * datt;
                    }
                    for (int s = 0; s <= t; s++) ds[s] = a[s] * (ds[s] - dsum);
                    const float *q = base + (size_t)t * row + (size_t)h * hd;
                    float *dq = dbase + (size_t)t * row + (size_t)h * hd;
                    for (int s = 0; s <= t; s++) {
                        const float *k = base + (size_t)s * row + (size_t)(NH + kvh) * hd;
                        float *dk = dbase + (size_t)s * row + (size_t)(NH + kvh) * hd;
                        float *dv = dbase + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                        for (int d = 0; d < hd; d++) {
                            dq[d] += scale * ds[s] * k[d];
                            dk[d] += scale * ds[s] * q[d];
                            dv[d] += a[s] * g[d];
                        }
                    }
                }
            }
        }
    }
}
