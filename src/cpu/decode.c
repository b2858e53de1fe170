/* CPU reference of the KV-cache decoding ops (see include/iopo/ops.h): attention of one new token per sequence
 * against its cache, row scatter into the cache and row gather-add. The attention runs cpu_attention_row, the row
 * function of cpu_attention_forward, so it gives that row bit for bit. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "util/half.h"

void cpu_attention_decode(float *out, const float *cache, const int32_t *lengths, int B, int Tmax, int NH, int NKV,
                          int hd) {
    // out (B,NH*hd), cache (B,Tmax,(NH+2*NKV)*hd), lengths (B)
    const int row = (NH + 2 * NKV) * hd;
    const int group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const int len = lengths[b] < 0 ? 0 : lengths[b] > Tmax ? Tmax : lengths[b];
            const int kvh = h / group;
            float *o = out + ((size_t)b * NH + h) * hd;
            if (len == 0) {   // no token yet: a zero row
                memset(o, 0, (size_t)hd * sizeof *o);
                continue;
            }
            const float *base = cache + (size_t)b * Tmax * row;
            const int t = len - 1;   // the new token: its query against keys 0..t
            cpu_attention_row(o, base + (size_t)t * row + (size_t)h * hd, base + (size_t)(NH + kvh) * hd,
                              base + (size_t)(NH + NKV + kvh) * hd, (size_t)row, len, hd, scale);
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
