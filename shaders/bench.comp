// Roofline probes for `iopo bench`: the device's peak fp32 FMA rate and its copy bandwidth, measured in the same run
// as the ops so every op's efficiency is a ratio to this device's own limits.
// variant: bench_fma -DFMA=1
// variant: bench_copy -DCOPY=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#ifdef FMA
layout(std430, set = 0, binding = 0) buffer Out { vec4 result[]; };
layout(push_constant) uniform Push { uint iterations; uint groups; } pc;

void main() {
    uint g = iopo_group_id();
    if (g >= pc.groups) return;
    uint i = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    // Eight independent accumulator chains hide FMA latency; the multiplier near 1 keeps values finite.
    vec4 a0 = vec4(i) * 1e-6, a1 = a0 + 1.0, a2 = a0 + 2.0, a3 = a0 + 3.0;
    vec4 a4 = a0 + 4.0, a5 = a0 + 5.0, a6 = a0 + 6.0, a7 = a0 + 7.0;
    const vec4 m = vec4(0.999999), c = vec4(1e-7);
    for (uint k = 0; k < pc.iterations; k++) {
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    }
    result[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}
#endif

#ifdef COPY
layout(std430, set = 0, binding = 0) readonly buffer Src { vec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { vec4 dst[]; };
layout(push_constant) uniform Push { uint n_vec4; uint groups; } pc;

void main() {
    uint g = iopo_group_id();
    if (g >= pc.groups) return;
    uint i = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i < pc.n_vec4) dst[i] = src[i];
}
#endif
