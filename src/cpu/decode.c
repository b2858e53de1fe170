/* CPU reference of the KV-cache decoding ops (see include/iopo/ops.h): attention of one new token per sequence
 * against its cache, row scatter into the cache and row gather-add. The attention follows cpu_attention_forward's
 * row (same loops, same operation order), so it gives that row bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "util/half.h"

void cpu_attention_decode(float *out, const float *cache, const int32_t *lengths, int B, int Tmax, int NH, int NKV,
                          int hd) {
    // out (B,NH*hd), cache (B,Tmax,(NH+2*NKV)*hd), lengths (B)
    const int row = (NH + 2 * NKV) * hd;
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
    // One thread owns a (b, kv head) and walks its query heads side by side, so each k and v row is read once for the
    // group; every head still sees exactly cpu_attention_forward's sequence of float operations.
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int kvh = 0; kvh < NKV; kvh++) {
            const int len = lengths[b] < 0 ? 0 : lengths[b] > Tmax ? Tmax : lengths[b];
            const int h0 = kvh * group;
            float *o = out + ((size_t)b * NH + h0) * hd;   // the group's out rows, contiguous
            memset(o, 0, (size_t)group * hd * sizeof *o);
            if (len == 0) continue;   // no token yet: zero rows
            const float *base = cache + (size_t)b * Tmax * row;
            const int t = len - 1;    // the new token: its queries against keys 0..t
            const float *q = base + (size_t)t * row + (size_t)h0 * hd;   // the group's q heads, contiguous
            float *a = malloc(((size_t)group * len + 2 * (size_t)group) * sizeof *a);   // a[g][s], then mx, sum
            if (!a) abort();
            float *mx = a + (size_t)group * len, *sum = mx + group;
            for (int g = 0; g < group; g++) mx[g] = -INFINITY, sum[g] = 0.0f;
            for (int s = 0; s <= t; s++) {
                const float *k = base + (size_t)s * row + (size_t)(NH + kvh) * hd;
                for (int g = 0; g < group; g++) {
                    const float *qg = q + (size_t)g * hd;
                    float dot = 0.0f;
                    for (int d = 0; d < hd; d++) dot += qg[d] * k[d];
                    float sc = dot * scale;
                    a[(size_t)g * len + s] = sc;
                    if (sc > mx[g]) mx[g] = sc;
                }
            }
            for (int g = 0; g < group; g++) {
                float *ag = a + (size_t)g * len;
                for (int s = 0; s <= t; s++) {
                    ag[s] = expf(ag[s] - mx[g]);
                    sum[g] += ag[s];
                }
                const float inv = 1.0f / sum[g];
                for (int s = 0; s <= t; s++) ag[s] *= inv;
            }
            for (int s = 0; s <= t; s++) {
                const float *v = base + (size_t)s * row + (size_t)(NH + NKV + kvh) * hd;
                for (int g = 0; g < group; g++) {
                    float *og = o + (size_t)g * hd;
                    const float p = a[(size_t)g * len + s];
                    for (int d = 0; d < hd; d++) og[d] += p * v[d];
                }
            }
            free(a);
        }
    }
}

void cpu_scatter_rows(float *dst, const float *src, const int32_t *pos, int B, int Tmax, int W) {
    // dst (B,Tmax,W), src (B,W), pos (B)
    for (int b = 0; b < B; b++) {
        if (pos[b] < 0 || pos[b] >= Tmax) continue;
        memcpy(dst + ((size_t)b * Tmax + pos[b]) * W, src + (size_t)b * W, (size_t)W * sizeof *dst);
    }
}

void cpu_gather_rows_add(float *out, const void *table, iopo_dtype table_dt, const int32_t *idx, int N, int R,
                         int C) {
    // out (N,C) +=, table (R,C) f32, bf16 or f16, idx (N)
    for (int i = 0; i < N; i++) {
        if (idx[i] < 0 || idx[i] >= R) continue;
        size_t t = (size_t)idx[i] * C;
        float *o = out + (size_t)i * C;
        for (int c = 0; c < C; c++) o[c] += iopo_load_f32(table, table_dt, t + c);
    }
}
