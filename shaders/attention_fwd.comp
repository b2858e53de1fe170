// Causal grouped-query attention forward (include/iopo/ops.h), flash-style: one workgroup per query row (b, h, t),
// the row's keys in tiles of WG (one key per invocation) under an online softmax. Per tile: the scores, their max
// (fixed-order reduction), the running max m raised to it and everything summed so far rescaled by exp(m_old - m),
// then the tile's exp(score - m) summed into the output, invocations owning channels. Nothing (T,T) is stored: the
// row leaves its output and its log-sum-exp m + log(sum), from which the backward recomputes the probabilities.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#define ATT_REDUCE 1
#define ATT_LENGTHS_BINDING 3
#include "attention.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };   // (B,T,NH*hd)
layout(std430, set = 0, binding = 1) writeonly buffer Lse { float lse[]; };    // (B,NH,T)
layout(std430, set = 0, binding = 2) readonly buffer Qkv { float qkv[]; };     // (B,T,(NH+2*NKV)*hd)

shared float probs[gl_WorkGroupSize.x];   // the tile's exp(score - m)

void main() {
    uint row = iopo_group_id();   // ((b * NH + h) * T + t): also the lse index
    if (row >= p.nrows) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
    uint kvh = h / p.group;
    uint ob = WIN(p.s0) + o_off(b, t, h);   // in out's window
    uint lr = WIN(p.s1) + row;              // in lse's

    if (t >= seq_len(b)) {   // padding query (uniform over the workgroup): attends to nothing
        for (uint c = 0; c < NCH; c++)
            if (lid + c * WG < p.hd) out_[ob + lid + c * WG] = 0.0;
        if (lid == 0u) lse[lr] = 0.0;
        return;
    }

    // Causal: keys s <= t < len, so padded keys are never reached.
    uint qb = WIN(p.s2) + q_off(b, t, h);   // qkv's indices all carry its shift
    float acc[NCH];
    for (uint c = 0; c < NCH; c++) acc[c] = 0.0;
    float m = 0.0;   // the running max (uniform); set by the first tile
    float l = 0.0;   // this invocation's share of the running sum, under m
    for (uint s0 = 0; s0 <= t; s0 += WG) {
        uint s = s0 + lid;
        float sc = uintBitsToFloat(0xff800000u);   // -inf: a key past the causal edge
        if (s <= t) {
            uint kb = WIN(p.s2) + k_off(b, s, kvh);
            float dot = 0.0;
            for (uint d = 0; d < p.hd; d++) dot += qkv[qb + d] * qkv[kb + d];
            sc = dot * p.scale;
        }
        float mt = wg_reduce(sc, true);   // finite: key s0 <= t is in every tile
        float mn = s0 == 0u ? mt : max(m, mt);
        float alpha = s0 == 0u ? 0.0 : exp(m - mn);
        float e = s <= t ? exp(sc - mn) : 0.0;
        l = l * alpha + e;
        probs[lid] = e;
        barrier();
        uint n = min(WG, t + 1u - s0);
        for (uint c = 0; c < NCH; c++) {
            uint d = lid + c * WG;
            if (d < p.hd) {
                float o = acc[c] * alpha;
                for (uint j = 0; j < n; j++) o += probs[j] * qkv[WIN(p.s2) + v_off(b, s0 + j, kvh) + d];
                acc[c] = o;
            }
        }
        barrier();   // probs[] is rewritten by the next tile
        m = mn;
    }
    float sum = wg_reduce(l, false);
    float inv = 1.0 / sum;
    for (uint c = 0; c < NCH; c++)
        if (lid + c * WG < p.hd) out_[ob + lid + c * WG] = acc[c] * inv;
    if (lid == 0u) lse[lr] = m + log(sum);
}
