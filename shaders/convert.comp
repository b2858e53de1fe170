// Conversion between fp32 and BF16/F16 (iopo_convert, include/iopo/ops.h), in integer steps only (shaders/half.glsl,
// the same as src/util/half.h): results are bit-identical to the CPU backend's, NaN payloads and signs included.
// One invocation per 32-bit word of the 16-bit side: two elements, so no two invocations write one word. Narrowing
// an odd count, the last word keeps its upper half (it may belong to the tensor a view of dst lies in).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "half.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint SRC_DT = 0;   // DT_F32, DT_BF16 or DT_F16; exactly one side is DT_F32
layout(constant_id = 2) const uint DST_DT = 2;

layout(std430, set = 0, binding = 0) buffer Dst { uint dst[]; };
layout(std430, set = 0, binding = 1) readonly buffer Src { uint src[]; };

layout(push_constant) uniform Push {
    uint ngroups;   // workgroups that do work (vk_dispatch_1d may round the grid up)
    uint n;         // elements converted by this dispatch
    // index of the first element in each binding (a window of a tensor over one binding; 0 unsplit); even on the
    // 16-bit side, so element pairs stay whole words
    uint dst_shift, src_shift;
} p;

uint narrow(uint bits) { return DST_DT == DT_BF16 ? iopo_bits_to_bf16(bits) : iopo_bits_to_f16(bits); }
uint widen(uint h) { return SRC_DT == DT_BF16 ? h << 16 : iopo_f16_bits(h); }

void main() {
    uint g = iopo_group_id();
    if (g >= p.ngroups) return;
    uint j = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;   // element pair 2j, 2j+1
    if (2u * j >= p.n) return;
    bool both = 2u * j + 1u < p.n;
    if (SRC_DT == DT_F32) {
        uint lo = narrow(src[p.src_shift + 2u * j]);
        uint w = p.dst_shift / 2u + j;
        uint hi = both ? narrow(src[p.src_shift + 2u * j + 1u]) : dst[w] >> 16;
        dst[w] = lo | (hi << 16);
    } else {
        uint word = src[p.src_shift / 2u + j];
        dst[p.dst_shift + 2u * j] = widen(word & 0xffffu);
        if (both) dst[p.dst_shift + 2u * j + 1u] = widen(word >> 16);
    }
}
