// variant: qk_norm_fwd -DQK_FWD=1
// variant: qk_norm_bwd_rows -DQK_BWD=1
// Per-head RMSNorm of q and k, forward and input gradient: one workgroup per (token, head); a q or k head reduces its
// hd values in a fixed tree (reduce.glsl), a v head is copied (forward) or its gradient passed through (backward). The
// branch depends on the workgroup only, so every barrier is reached by the whole workgroup.
//   forward:  out = x * rstd * w,  rstd = 1/sqrt(mean(x^2) + eps)
//   backward: dinp += rstd * (dout*w - x * rstd^2 * mean(dout*w*x));  v heads: dinp += dout
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "qk_norm.glsl"

#if QK_FWD
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };    // (N,W)
layout(std430, set = 0, binding = 1) writeonly buffer Rstd { float rstd_[]; };  // (N,NH+NKV)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,W)
layout(std430, set = 0, binding = 3) readonly buffer Qw { float qw[]; };        // (hd)
layout(std430, set = 0, binding = 4) readonly buffer Kw { float kw[]; };        // (hd)
#elif QK_BWD
layout(std430, set = 0, binding = 0) buffer Dinp { float dinp[]; };             // (N,W)
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };    // (N,W)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,W)
layout(std430, set = 0, binding = 3) readonly buffer Qw { float qw[]; };        // (hd)
layout(std430, set = 0, binding = 4) readonly buffer Kw { float kw[]; };        // (hd)
layout(std430, set = 0, binding = 5) readonly buffer Rstd { float rstd_[]; };   // (N,NH+NKV)
#else
#error "qk_norm_rows.comp: no QK_* defined"
#endif

float weight(bool is_q, uint c) { return is_q ? qw[c] : kw[c]; }

void main() {
    uint g = iopo_group_id();
    if (g >= p.groups) return;   // uniform across the workgroup
    uint S = p.NH + 2u * p.NKV, normed = p.NH + p.NKV;
    uint n = g / S, h = g - n * S;
    uint lid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
    uint base = g * p.hd;   // (n*S + h) * hd
    if (h >= normed) {
        for (uint c = lid; c < p.hd; c += WG) {
#if QK_FWD
            out_[base + c] = inp[base + c];
#else
            dinp[base + c] += dout[base + c];
#endif
        }
        return;
    }
    bool is_q = h < p.NH;
    uint ridx = n * normed + h;
    float invC = 1.0 / float(p.hd);
#if QK_FWD
    float ss = 0.0;
    for (uint c = lid; c < p.hd; c += WG) {
        float x = inp[base + c];
        ss += x * x;
    }
    float r = 1.0 / sqrt(norm_reduce1(ss) * invC + p.eps);
    for (uint c = lid; c < p.hd; c += WG) out_[base + c] = inp[base + c] * r * weight(is_q, c);
    if (lid == 0) rstd_[ridx] = r;
#else
    float r = rstd_[ridx];
    float s = 0.0;
    for (uint c = lid; c < p.hd; c += WG) s += (dout[base + c] * weight(is_q, c)) * inp[base + c];
    float k = norm_reduce1(s) * invC * r * r;
    for (uint c = lid; c < p.hd; c += WG)
        dinp[base + c] += r * (dout[base + c] * weight(is_q, c) - inp[base + c] * k);
#endif
}
