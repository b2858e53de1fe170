// variant: qk_norm_fwd -DQK_FWD=1
// variant: qk_norm_bwd_rows -DQK_BWD=1
// Per-head RMSNorm of q and k, forward and input gradient. The N*(NH+2*NKV) heads ("slots", token-major) are dealt to
// segments of LANES invocations, workgroup-size / LANES consecutive slots per workgroup: heads are short (64-256
// values), so a workgroup per head would spend more on its barriers than on its values. A q or k head's sum is a fixed
// tree over its segment (qk_segment_sum); a v head is copied (forward) or its gradient passed through (backward). Every
// invocation, v head or past the last slot included, takes part in the reduction, so barriers stay uniform.
//   forward:  out = x * rstd * w,  rstd = 1/sqrt(mean(x^2) + eps)
//   backward: dinp += rstd * (dout*w - x * rstd^2 * mean(dout*w*x));  v heads: dinp += dout
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "qk_norm.glsl"

layout(constant_id = 1) const uint LANES = 1;   // invocations per head: a power of two dividing the workgroup size
IOPO_WINDOWED(2)

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
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid % LANES;
    uint slot = g * (gl_WorkGroupSize.x / LANES) + lid / LANES;
    bool live = slot < p.N * S;
    uint n = slot / S, h = slot - n * S;
    uint base = slot * p.hd;   // (n*S + h) * hd, in the windows of the token block
    bool normed_head = live && h < normed;
    if (live && !normed_head) {
        for (uint c = lane; c < p.hd; c += LANES) {
#if QK_FWD
            out_[WIN(p.s0) + base + c] = inp[WIN(p.s2) + base + c];
#else
            dinp[WIN(p.s0) + base + c] += dout[WIN(p.s1) + base + c];
#endif
        }
    }
    bool is_q = h < p.NH;
    uint ridx = n * normed + h;
    float invC = 1.0 / float(p.hd);
#if QK_FWD
    float ss = 0.0;
    if (normed_head)
        for (uint c = lane; c < p.hd; c += LANES) {
            float x = inp[WIN(p.s2) + base + c];
            ss += x * x;
        }
    float r = 1.0 / sqrt(qk_segment_sum(ss, LANES) * invC + p.eps);
    if (!normed_head) return;   // after the last barrier
    for (uint c = lane; c < p.hd; c += LANES)
        out_[WIN(p.s0) + base + c] = inp[WIN(p.s2) + base + c] * r * weight(is_q, c);
    if (lane == 0) rstd_[WIN(p.s1) + ridx] = r;
#else
    float r = normed_head ? rstd_[WIN(p.s5) + ridx] : 0.0;
    float s = 0.0;
    if (normed_head)
        for (uint c = lane; c < p.hd; c += LANES)
            s += (dout[WIN(p.s1) + base + c] * weight(is_q, c)) * inp[WIN(p.s2) + base + c];
    float k = qk_segment_sum(s, LANES) * invC * r * r;
    if (!normed_head) return;   // after the last barrier
    for (uint c = lane; c < p.hd; c += LANES)
        dinp[WIN(p.s0) + base + c] +=
            r * (dout[WIN(p.s1) + base + c] * weight(is_q, c) - inp[WIN(p.s2) + base + c] * k);
#endif
}
