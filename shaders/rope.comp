// variant: rope_fwd -DROPE_FWD=1
// variant: rope_fwd_inplace -DROPE_FWD_INPLACE=1
// variant: rope_bwd -DROPE_BWD=1
// Rotate-half RoPE on the q and k heads of packed qkv rows (B*T tokens, (NH+2*NKV)*hd values each), v heads passed
// through. One work item is one pair (i, i + hd/2) of one head of one token, so the pair's two values are read before
// either is written and in place needs no synchronisation. A token has (NH+2*NKV)*hd/2 pairs, the first (NH+NKV)*hd/2
// of them rotated; the rest are v values, copied (forward) or accumulated (backward) two at a time. Each workgroup
// covers EPT * workgroup-size consecutive pairs, invocation i taking pairs i, i + WG, ... of its block (as eltwise).
//   forward:  out[i] = x[i]*c - x[i+half]*s ;  out[i+half] = x[i+half]*c + x[i]*s
//   backward: dinp[i] += dy[i]*c + dy[i+half]*s ;  dinp[i+half] += dy[i+half]*c - dy[i]*s   (the transposed rotation)
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
IOPO_WINDOWED(1)

layout(push_constant) uniform Push {
    uint pairs;      // pairs in all: tokens * pairs_tok
    uint pairs_tok;  // pairs per token, (NH+2*NKV)*hd/2
    uint rot_pairs;  // rotated pairs per token, (NH+NKV)*hd/2
    uint half_;      // hd/2
    uint npos;       // rows of the cos/sin tables; positions are clamped to [0, npos)
    uint groups;     // workgroups launched; vk_dispatch_1d may launch more, which return at once
    // Tensors over one binding (src/vkops/rope.c): each dispatch takes a block of tokens, bound as windows whose first
    // element is at index s0 (binding 0), s1 (binding 1 out of place) and spos (positions). Unsplit: all 0.
    uint s0, s1, spos;
} p;

#define EPT 4u

#if ROPE_FWD
layout(std430, set = 0, binding = 0) writeonly buffer B0 { float out_[]; };     // (B,T,W)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float inp[]; };       // (B,T,W)
#elif ROPE_FWD_INPLACE
layout(std430, set = 0, binding = 0) buffer B0 { float x_[]; };                 // (B,T,W), rotated in place
#elif ROPE_BWD
layout(std430, set = 0, binding = 0) buffer B0 { float dinp[]; };               // (B,T,W)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float dout[]; };      // (B,T,W)
#else
#error "rope.comp: no ROPE_* defined"
#endif
#if ROPE_FWD_INPLACE
layout(std430, set = 0, binding = 1) readonly buffer Cos { float cos_t[]; };    // (npos, hd/2)
layout(std430, set = 0, binding = 2) readonly buffer Sin { float sin_t[]; };    // (npos, hd/2)
layout(std430, set = 0, binding = 3) readonly buffer Pos { int positions[]; };  // (B,T)
#else
layout(std430, set = 0, binding = 2) readonly buffer Cos { float cos_t[]; };    // (npos, hd/2)
layout(std430, set = 0, binding = 3) readonly buffer Sin { float sin_t[]; };    // (npos, hd/2)
layout(std430, set = 0, binding = 4) readonly buffer Pos { int positions[]; };  // (B,T)
#endif

void apply(uint g) {
    uint tok = g / p.pairs_tok;
    uint j = g - tok * p.pairs_tok;
    uint row = tok * 2u * p.pairs_tok;   // first value of the token
    if (j >= p.rot_pairs) {
        uint e = row + 2u * j;           // v values: two adjacent ones per pair
#if ROPE_FWD
        out_[WIN(p.s0) + e] = inp[WIN(p.s1) + e];
        out_[WIN(p.s0) + e + 1u] = inp[WIN(p.s1) + e + 1u];
#elif ROPE_BWD
        dinp[WIN(p.s0) + e] += dout[WIN(p.s1) + e];
        dinp[WIN(p.s0) + e + 1u] += dout[WIN(p.s1) + e + 1u];
#endif
        return;
    }
    uint head = j / p.half_;
    uint i = j - head * p.half_;
    uint e0 = row + 2u * head * p.half_ + i, e1 = e0 + p.half_;
    int pos = clamp(positions[WIN(p.spos) + tok], 0, int(p.npos) - 1);
    uint t = uint(pos) * p.half_ + i;
    float c = cos_t[t], s = sin_t[t];
#if ROPE_FWD
    float x0 = inp[WIN(p.s1) + e0], x1 = inp[WIN(p.s1) + e1];
    out_[WIN(p.s0) + e0] = x0 * c - x1 * s;
    out_[WIN(p.s0) + e1] = x1 * c + x0 * s;
#elif ROPE_FWD_INPLACE
    float x0 = x_[WIN(p.s0) + e0], x1 = x_[WIN(p.s0) + e1];
    x_[WIN(p.s0) + e0] = x0 * c - x1 * s;
    x_[WIN(p.s0) + e1] = x1 * c + x0 * s;
#elif ROPE_BWD
    float g0 = dout[WIN(p.s1) + e0], g1 = dout[WIN(p.s1) + e1];
    dinp[WIN(p.s0) + e0] += g0 * c + g1 * s;
    dinp[WIN(p.s0) + e1] += g1 * c - g0 * s;
#endif
}

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;
    uint WG = gl_WorkGroupSize.x;
    uint base = grp * WG * EPT + gl_LocalInvocationID.x;
    [[unroll]] for (uint k = 0; k < EPT; k++) {
        uint g = base + k * WG;
        if (g < p.pairs) apply(g);
    }
}
