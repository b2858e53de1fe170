/* Scalar conversions between fp32 and the two 16-bit float formats, and widening of 16-bit arrays: the one place the
 * CPU backend, the safetensors reader and writer, and the checks take them from (the shaders mirror them in
 * shaders/half.glsl, the same integer steps, so both backends give the same bits).
 *
 * bf16 is the top half of an fp32 (8 exponent bits, 8 significant bits); fp16 is IEEE binary16 (5 exponent bits, 11
 * significant bits, subnormals below 2^-14). Widening is exact for both. Narrowing rounds to nearest, ties to even,
 * as torch's .to(torch.bfloat16) / .to(torch.float16) do: fp16 overflows to inf from 65520 up (the midpoint between
 * its largest finite value 65504 and 65536) and keeps subnormals; NaN stays a quiet NaN of the same sign, its payload
 * truncated. */
#ifndef IOPO_UTIL_HALF_H
#define IOPO_UTIL_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iopo/context.h"

static inline uint32_t iopo_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float iopo_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float iopo_bf16_to_f32(uint16_t h) { return iopo_bits_f32((uint32_t)h << 16); }

static inline uint16_t iopo_f32_to_bf16(float f) {
    uint32_t u = iopo_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);   /* NaN: keep it quiet */
    u += 0x7fffu + ((u >> 16) & 1u);   /* round to nearest, ties to the even upper half; carries into the exponent */
    return (uint16_t)(u >> 16);
}

static inline float iopo_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1fu) return iopo_bits_f32(sign | 0x7f800000u | (man << 13));   /* inf, NaN (payload kept) */
    if (exp != 0) return iopo_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal man * 2^-24: exact in fp32, where it is a normal number */
    float v = (float)man * 0x1p-24f;
    return sign ? -v : v;
}

static inline uint16_t iopo_f32_to_f16(float f) {
    uint32_t u = iopo_f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));   /* NaN: quiet, same sign */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);   /* >= 65520 (inf included) rounds to inf */
    if (a >= 0x38800000u) {                                    /* normal in fp16: >= 2^-14 */
        uint32_t m = a - 0x38000000u;                          /* rebias the exponent from 127 to 15 */
        m += 0xfffu + ((m >> 13) & 1u);                        /* nearest, ties to even; may carry into exp */
        return (uint16_t)(sign | (m >> 13));
    }
    uint32_t e = a >> 23;
    if (e < 102u) return (uint16_t)sign;   /* below 2^-25: at most half the smallest subnormal, a tie at 2^-25 */
    /* subnormal: the significand (implicit bit set) shifted to units of 2^-24, rounded to nearest even; a carry out
     * of 10 bits gives 0x400, the smallest normal, which is the right encoding */
    uint32_t man = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;   /* 14..24 */
    uint32_t r = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

/* Element i of a float tensor's data in dtype dt (F32, BF16 or F16), widened to fp32. */
static inline float iopo_load_f32(const void *data, iopo_dtype dt, size_t i) {
    switch (dt) {
    case IOPO_BF16: return iopo_bf16_to_f32(((const uint16_t *)data)[i]);
    case IOPO_F16: return iopo_f16_to_f32(((const uint16_t *)data)[i]);
    default: return ((const float *)data)[i];
    }
}

/* dst[i] = element first + i of src (dtype dt: F32, BF16 or F16) widened, for i < n. */
void iopo_widen_f32(float *dst, const void *src, iopo_dtype dt, size_t first, size_t n);
/* dst[i] (BF16 or F16 per dt) = src[i] rounded, for i < n. */
void iopo_narrow_f32(void *dst, iopo_dtype dt, const float *src, size_t n);

#endif
