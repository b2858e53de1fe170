// Causal grouped-query attention backward (include/iopo/ops.h), FlashAttention-2's shape, two passes with the same
// bindings; every probability is recomputed from q, k and the forward's lse, nothing (T,T) is stored:
// variant: attention_bwd_q -DATT_BWD_Q=1
// variant: attention_bwd_kv -DATT_BWD_KV=1
// attention_bwd_q: one workgroup per query row (b, h, t): D = dout . out into scratch, then dq = scale * sum_s ds_s k_s
// over the keys in tiles of WG (one key per invocation: p = exp(q.k * scale - lse), ds = p * (dout . v - D)).
// attention_bwd_kv: one workgroup per key row (b, kvh, s): dk = scale * sum ds q, dv = sum p dout over the query heads
// g0 <= g < g1 of the group and the queries s <= t < len, in tiles of WG queries (one per invocation), in that
// order. Each output element has one writer per dispatch, so no atomics are needed and the result is deterministic.
// Indices are relative to the dispatch's block of sequences; each access adds its binding's shift (attention.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#ifdef ATT_BWD_Q
#define ATT_REDUCE 1
#endif
#define ATT_LENGTHS_BINDING 6
#include "attention.glsl"

layout(std430, set = 0, binding = 0) buffer Dqkv { float dqkv[]; };            // (B,T,(NH+2*NKV)*hd) +=
layout(std430, set = 0, binding = 1) buffer Scratch { float D[]; };           // (B,NH,T): rowsum(dout * out)
layout(std430, set = 0, binding = 2) readonly buffer Dout { float dout[]; };   // (B,T,NH*hd)
layout(std430, set = 0, binding = 3) readonly buffer Qkv { float qkv[]; };     // (B,T,(NH+2*NKV)*hd)
layout(std430, set = 0, binding = 4) readonly buffer Out { float out_[]; };    // (B,T,NH*hd)
layout(std430, set = 0, binding = 5) readonly buffer Lse { float lse[]; };     // (B,NH,T)

#if defined(ATT_BWD_Q)
shared float tile[gl_WorkGroupSize.x];   // one tile of the row's d(scores)

void main() {
    uint row = iopo_group_id();   // ((b * NH + h) * T + t): also the D / lse index
    if (row >= p.nrows) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
    uint kvh = h / p.group;

    if (t >= seq_len(b)) {   // padding query: D 0, no gradient
        if (lid == 0u) D[WIN(p.s1) + row] = 0.0;
        return;
    }

    // D = sum_s p_s (dout . v_s) = dout . out
    uint gb = o_off(b, t, h);   // the shifts of dout (s2) and out (s4) added at each read
    float part = 0.0;
    for (uint c = 0; c < NCH; c++)
        if (lid + c * WG < p.hd) part += dout[WIN(p.s2) + gb + lid + c * WG] * out_[WIN(p.s4) + gb + lid + c * WG];
    float Dt = wg_reduce(part, false);
    if (lid == 0u) D[WIN(p.s1) + row] = Dt;
    float ls = lse[WIN(p.s5) + row];

    uint qb = q_off(b, t, h);   // qkv's shift (s3) and dqkv's (s0) added at each access
    float acc[NCH];
    for (uint c = 0; c < NCH; c++) acc[c] = 0.0;
    for (uint s0 = 0; s0 <= t; s0 += WG) {
        uint s = s0 + lid;
        float ds = 0.0;
        if (s <= t) {
            uint kb = k_off(b, s, kvh), vb = v_off(b, s, kvh);
            float dot = 0.0, dp = 0.0;
            for (uint d = 0; d < p.hd; d++) {
                dot += qkv[WIN(p.s3) + qb + d] * qkv[WIN(p.s3) + kb + d];
                dp += dout[WIN(p.s2) + gb + d] * qkv[WIN(p.s3) + vb + d];
            }
            ds = exp(dot * p.scale - ls) * (dp - Dt);
        }
        tile[lid] = ds;
        barrier();
        uint n = min(WG, t + 1u - s0);
        for (uint c = 0; c < NCH; c++) {
            uint d = lid + c * WG;
            if (d < p.hd)
                for (uint j = 0; j < n; j++) acc[c] += tile[j] * qkv[WIN(p.s3) + k_off(b, s0 + j, kvh) + d];
        }
        barrier();   // tile[] is rewritten by the next tile
    }
    for (uint c = 0; c < NCH; c++)
        if (lid + c * WG < p.hd) dqkv[WIN(p.s0) + qb + lid + c * WG] += p.scale * acc[c];
}

#elif defined(ATT_BWD_KV)
shared float ptile[gl_WorkGroupSize.x];    // the tile's probabilities of this key
shared float dstile[gl_WorkGroupSize.x];   // ... and d(scores)

void main() {
    uint row = iopo_group_id();   // ((b * NKV + kvh) * T + s)
    if (row >= p.nrows) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint s = row % p.T, kvh = (row / p.T) % p.NKV, b = row / (p.T * p.NKV);
    uint len = seq_len(b);
    // causal: only queries t >= s saw key s; a padded key (s >= len) has none and gets no gradient
    uint tb = s, te = len;
    if (tb >= te) return;   // uniform over the workgroup

    uint kb = k_off(b, s, kvh), vb = v_off(b, s, kvh);
    float dk[NCH], dv[NCH];
    for (uint c = 0; c < NCH; c++) dk[c] = dv[c] = 0.0;
    for (uint g = p.g0; g < p.g1; g++) {
        uint h = kvh * p.group + g;
        for (uint tq = tb; tq < te; tq += WG) {
            uint t = tq + lid;
            float pr = 0.0, ds = 0.0;
            if (t < te) {
                uint qb = q_off(b, t, h), gb = o_off(b, t, h), r = r_off(b, h, t);
                float dot = 0.0, dp = 0.0;
                for (uint d = 0; d < p.hd; d++) {
                    dot += qkv[WIN(p.s3) + qb + d] * qkv[WIN(p.s3) + kb + d];
                    dp += dout[WIN(p.s2) + gb + d] * qkv[WIN(p.s3) + vb + d];
                }
                pr = exp(dot * p.scale - lse[WIN(p.s5) + r]);
                ds = pr * (dp - D[WIN(p.s1) + r]);
            }
            ptile[lid] = pr;
            dstile[lid] = ds;
            barrier();
            uint n = min(WG, te - tq);
            for (uint c = 0; c < NCH; c++) {
                uint d = lid + c * WG;
                if (d < p.hd)
                    for (uint j = 0; j < n; j++) {
                        dk[c] += dstile[j] * qkv[WIN(p.s3) + q_off(b, tq + j, h) + d];
                        dv[c] += ptile[j] * dout[WIN(p.s2) + o_off(b, tq + j, h) + d];
                    }
            }
            barrier();   // the tiles are rewritten by the next one
        }
    }
    for (uint c = 0; c < NCH; c++) {
        uint d = lid + c * WG;
        if (d < p.hd) {
            dqkv[WIN(p.s0) + kb + d] += p.scale * dk[c];
            dqkv[WIN(p.s0) + vb + d] += dv[c];
        }
    }
}
#endif
