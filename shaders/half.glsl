// 16-bit floats without any 16-bit storage or arithmetic feature: a BF16/F16 tensor is bound as a uint array, element
// i in the low (i even) or high (i odd) half of word i/2, and widened here with integer steps. These mirror
// src/util/half.h bit for bit, so the CPU backend and the shaders see the same fp32 values. (unpackHalf2x16 would
// also widen fp16, but whether it keeps fp16 subnormals is the device's float-controls choice; this does not depend
// on it.)
//
// Dtype codes are iopo_dtype's values (include/iopo/context.h); shaders take them as specialization constants.
const uint DT_F32 = 0u;
const uint DT_BF16 = 2u;
const uint DT_F16 = 3u;

float iopo_bf16_to_f32(uint h) { return uintBitsToFloat(h << 16); }

// The fp32 bit pattern of fp16 h (integer results, so a NaN payload or a sign survives whatever the float path does).
uint iopo_f16_bits(uint h) {
    uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (e == 0x1fu) return sign | 0x7f800000u | (man << 13);
    if (e != 0u) return sign | ((e + 112u) << 23) | (man << 13);
    // zero or subnormal man * 2^-24: exact in fp32, where it is a normal number
    return sign | floatBitsToUint(float(man) * 5.9604644775390625e-8);
}

float iopo_f16_to_f32(uint h) { return uintBitsToFloat(iopo_f16_bits(h)); }

// The 16-bit pattern of element i of a packed array, given the word holding it.
uint iopo_half_of(uint word, uint i) { return (i & 1u) != 0u ? word >> 16 : word & 0xffffu; }

// Element i of a float tensor bound as uint words, in dtype dt (DT_F32: one word per element).
float iopo_widen(uint word_of_i, uint i, uint dt) {
    if (dt == DT_F32) return uintBitsToFloat(word_of_i);
    uint h = iopo_half_of(word_of_i, i);
    return dt == DT_BF16 ? iopo_bf16_to_f32(h) : iopo_f16_to_f32(h);
}

// The word index that holds element i.
uint iopo_word_index(uint i, uint dt) { return dt == DT_F32 ? i : i >> 1; }

// Narrowing of an fp32 given by its bits (round to nearest, ties to even; see src/util/half.h for the steps).
uint iopo_bits_to_bf16(uint u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x0040u) & 0xffffu;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

uint iopo_bits_to_f16(uint u) {
    uint sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u | ((a >> 13) & 0x3ffu);
    if (a >= 0x477ff000u) return sign | 0x7c00u;
    if (a >= 0x38800000u) {
        uint m = a - 0x38000000u;
        m += 0xfffu + ((m >> 13) & 1u);
        return sign | (m >> 13);
    }
    uint e = a >> 23;
    if (e < 102u) return sign;
    uint man = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint r = man >> shift, rem = man & ((1u << shift) - 1u), half_ = 1u << (shift - 1u);
    if (rem > half_ || (rem == half_ && (r & 1u) != 0u)) r++;
    return sign | r;
}

uint iopo_f32_to_bf16(float f) { return iopo_bits_to_bf16(floatBitsToUint(f)); }
uint iopo_f32_to_f16(float f) { return iopo_bits_to_f16(floatBitsToUint(f)); }
