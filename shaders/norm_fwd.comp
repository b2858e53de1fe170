// variant: norm_layernorm_fwd -DLAYERNORM=1
// variant: norm_rmsnorm_fwd -DRMSNORM=1
// LayerNorm / RMSNorm forward: one workgroup per row; each invocation walks the row with stride workgroup-size, then
// the partial sums meet in a fixed tree (norm.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
IOPO_WINDOWED(1)

#include "norm.glsl"

#if LAYERNORM
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };    // (N,C)
layout(std430, set = 0, binding = 1) writeonly buffer Mean { float mean_[]; };  // (N)
layout(std430, set = 0, binding = 2) writeonly buffer Rstd { float rstd_[]; };  // (N)
layout(std430, set = 0, binding = 3) readonly buffer Inp { float inp[]; };      // (N,C)
layout(std430, set = 0, binding = 4) readonly buffer W { float w[]; };          // (C)
layout(std430, set = 0, binding = 5) readonly buffer B { float b[]; };          // (C)
#else
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };    // (N,C)
layout(std430, set = 0, binding = 1) writeonly buffer Rstd { float rstd_[]; };  // (N)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,C)
layout(std430, set = 0, binding = 3) readonly buffer W { float w[]; };          // (C)
#endif

void main() {
    uint row = iopo_group_id();
    if (row >= p.N) return;    // uniform across the workgroup, so no barrier is skipped by part of it
    uint lid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
    uint base = row * p.C;   // in the row windows: out at p.s0 + base, inp at p.s3 / p.s2 (LayerNorm / RMSNorm)
    float invC = 1.0 / float(p.C);

#if LAYERNORM
    // Two passes (mean, then squared deviations): E[x^2] - E[x]^2 would cancel for rows with a large offset.
    uint ib = WIN(p.s3) + base, ob = WIN(p.s0) + base;
    float s = 0.0;
    for (uint c = lid; c < p.C; c += WG) s += inp[ib + c];
    float m = norm_reduce1(s) * invC;
    float v = 0.0;
    for (uint c = lid; c < p.C; c += WG) {
        float d = inp[ib + c] - m;
        v += d * d;
    }
    float r = 1.0 / sqrt(norm_reduce1(v) * invC + p.eps);
    for (uint c = lid; c < p.C; c += WG) out_[ob + c] = (inp[ib + c] - m) * r * w[c] + b[c];
    if (lid == 0) {
        mean_[WIN(p.s1) + row] = m;
        rstd_[WIN(p.s2) + row] = r;
    }
#else
    uint ib = WIN(p.s2) + base, ob = WIN(p.s0) + base;
    float ss = 0.0;
    for (uint c = lid; c < p.C; c += WG) {
        float x = inp[ib + c];
        ss += x * x;
    }
    float r = 1.0 / sqrt(norm_reduce1(ss) * invC + p.eps);
    for (uint c = lid; c < p.C; c += WG) out_[ob + c] = inp[ib + c] * r * w[c];
    if (lid == 0) rstd_[WIN(p.s1) + row] = r;
#endif
}
