// variant: norm_layernorm_bwd_rows -DLAYERNORM=1
// variant: norm_rmsnorm_bwd_rows -DRMSNORM=1
// Input gradient of LayerNorm / RMSNorm: one workgroup per row reduces the row's two (LayerNorm) or one (RMSNorm)
// dot products, then every invocation adds its columns' gradient into dinp.
//   LayerNorm: dinp += rstd * (dout*w - mean(dout*w) - xhat * mean(dout*w*xhat)),  xhat = (x - mean) * rstd
//   RMSNorm:   dinp += rstd * (dout*w - x * rstd^2 * mean(dout*w*x))
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
IOPO_WINDOWED(1)

#include "norm.glsl"

layout(std430, set = 0, binding = 0) buffer Dinp { float dinp[]; };             // (N,C)
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };    // (N,C)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,C)
layout(std430, set = 0, binding = 3) readonly buffer W { float w[]; };          // (C)
#if LAYERNORM
layout(std430, set = 0, binding = 4) readonly buffer Mean { float mean_[]; };   // (N)
layout(std430, set = 0, binding = 5) readonly buffer Rstd { float rstd_[]; };   // (N)
#else
layout(std430, set = 0, binding = 4) readonly buffer Rstd { float rstd_[]; };   // (N)
#endif

void main() {
    uint row = iopo_group_id();
    if (row >= p.N) return;    // uniform across the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
    uint base = row * p.C;   // in the row windows of dinp, dout, inp (bindings 0, 1, 2)
    uint db = WIN(p.s0) + base, gb = WIN(p.s1) + base, ib = WIN(p.s2) + base;
    float invC = 1.0 / float(p.C);

#if LAYERNORM
    float r = rstd_[WIN(p.s5) + row];
    float m = mean_[WIN(p.s4) + row];
    float s1 = 0.0, s2 = 0.0;
    for (uint c = lid; c < p.C; c += WG) {
        float dxh = dout[gb + c] * w[c];
        s1 += dxh;
        s2 += dxh * ((inp[ib + c] - m) * r);
    }
    vec2 s = norm_reduce2(s1, s2) * invC;
    for (uint c = lid; c < p.C; c += WG) {
        float xh = (inp[ib + c] - m) * r;
        dinp[db + c] += r * (dout[gb + c] * w[c] - s.x - xh * s.y);
    }
#else
    float r = rstd_[WIN(p.s4) + row];
    float s = 0.0;
    for (uint c = lid; c < p.C; c += WG) s += (dout[gb + c] * w[c]) * inp[ib + c];
    float k = norm_reduce1(s) * invC * r * r;
    for (uint c = lid; c < p.C; c += WG) dinp[db + c] += r * (dout[gb + c] * w[c] - inp[ib + c] * k);
#endif
}
