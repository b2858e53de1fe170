/* Array forms of the conversions in util/half.h. */
#include "util/half.h"

void iopo_widen_f32(float *dst, const void *src, iopo_dtype dt, size_t first, size_t n) {
    const uint16_t *h = (const uint16_t *)src + first;
    switch (dt) {
    case IOPO_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = iopo_bf16_to_f32(h[i]);
        break;
    case IOPO_F16:
        for (size_t i = 0; i < n; i++) dst[i] = iopo_f16_to_f32(h[i]);
        break;
    default: memcpy(dst, (const float *)src + first, n * sizeof *dst); break;
    }
}

void iopo_narrow_f32(void *dst, iopo_dtype dt, const float *src, size_t n) {
    uint16_t *h = dst;
    if (dt == IOPO_BF16)
        for (size_t i = 0; i < n; i++) h[i] = iopo_f32_to_bf16(src[i]);
    else
        for (size_t i = 0; i < n; i++) h[i] = iopo_f32_to_f16(src[i]);
}
