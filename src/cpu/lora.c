/* CPU reference of the LoRA element-wise pieces (shaders/lora.comp): the same integers and the same float products,
 * so both backends give the same bits. */
#include "cpu/cpu_ops.h"

void cpu_lora_cols(float *dst, const float *src, int M, int n, int dst_ld, int dst_col0, int src_ld, int src_col0,
                   float alpha, bool accumulate) {
    // dst (M, dst_ld), src (M, src_ld)
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
        float *d = dst + (size_t)m * dst_ld + dst_col0;
        const float *s = src + (size_t)m * src_ld + src_col0;
        for (int j = 0; j < n; j++) {
            float v = alpha * s[j];
            d[j] = accumulate ? d[j] + v : v;
        }
    }
}

static uint32_t lora_mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

bool cpu_lora_keep(uint32_t seed, uint32_t index, uint32_t threshold) {
    return (lora_mix(index * 0x9e3779b9u ^ lora_mix(seed)) >> 8) >= threshold;
}

void cpu_lora_dropout(float *dst, const float *src, size_t n, uint32_t seed, uint32_t threshold, float scale,
                      bool accumulate) {
    // dst (n), src (n)
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = cpu_lora_keep(seed, (uint32_t)i, threshold) ? src[i] * scale : 0.0f;
        dst[i] = accumulate ? dst[i] + v : v;
    }
}
