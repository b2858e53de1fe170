// Causal grouped-query attention backward (include/iopo/ops.h), two passes with the same bindings:
// variant: attention_bwd_q -DATT_BWD_Q=1
// variant: attention_bwd_kv -DATT_BWD_KV=1
// attention_bwd_q: one workgroup per query row (b, h, t): d(scores) of the row into scratch, then dq.
// attention_bwd_kv: one workgroup per key row (b, kvh, s): dk and dv summed over the heads of the group and over the
// queries t >= s, in a fixed order, reading the column s of scratch and att. Each output element has one writer,
// so no atomics are needed and the result is deterministic.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#ifdef ATT_BWD_Q
#define ATT_REDUCE 1
#endif
#define ATT_LENGTHS_BINDING 5
#include "attention.glsl"

layout(std430, set = 0, binding = 0) buffer Dqkv { float dqkv[]; };            // (B,T,(NH+2*NKV)*hd)
layout(std430, set = 0, binding = 1) buffer Scratch { float ds[]; };          // (B,NH,T,T): d(scores)
layout(std430, set = 0, binding = 2) readonly buffer Dout { float dout[]; };   // (B,T,NH*hd)
layout(std430, set = 0, binding = 3) readonly buffer Qkv { float qkv[]; };     // (B,T,(NH+2*NKV)*hd)
layout(std430, set = 0, binding = 4) readonly buffer Att { float att[]; };     // (B,NH,T,T)

#if defined(ATT_BWD_Q)
shared float tile[gl_WorkGroupSize.x];   // one tile of the row's d(scores)

void main() {
    uint row = iopo_group_id();   // ((b * NH + h) * T + t)
    if (row >= p.nrows) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
    uint kvh = h / p.group;
    uint arow = row * p.T;

    if (t >= seq_len(b)) {   // padding query: zero d(scores), no gradient
        for (uint s = lid; s < p.T; s += WG) ds[arow + s] = 0.0;
        return;
    }

    // d(att)[s] = dout_t . v_s; through the softmax: ds = att * (datt - sum_s att * datt)
    uint gb = o_off(b, t, h);
    float part = 0.0;
    for (uint s = lid; s < p.T; s += WG) {
        float datt = 0.0;
        if (s <= t) {
            uint vb = v_off(b, s, kvh);
            for (uint d = 0; d < p.hd; d++) datt += dout[gb + d] * qkv[vb + d];
            part += att[arow + s] * datt;
        }
        ds[arow + s] = datt;
    }
    float dsum = wg_reduce(part, false);
    for (uint s = lid; s <= t; s += WG) ds[arow + s] = att[arow + s] * (ds[arow + s] - dsum);

    // dq = scale * ds . k: invocations own channels; d(scores) come through shared memory a tile of WG keys at a time
    // (each invocation loads its own key s = lid mod WG, which it wrote above), keys in ascending order.
    uint qb = q_off(b, t, h);
    for (uint d0 = 0; d0 < p.hd; d0 += WG) {
        uint d = d0 + lid;
        float acc = 0.0;
        for (uint s0 = 0; s0 <= t; s0 += WG) {
            tile[lid] = s0 + lid <= t ? ds[arow + s0 + lid] : 0.0;
            barrier();
            uint n = min(WG, t + 1u - s0);
            if (d < p.hd)
                for (uint j = 0; j < n; j++) acc += tile[j] * qkv[k_off(b, s0 + j, kvh) + d];
            barrier();
        }
        if (d < p.hd) dqkv[qb + d] += p.scale * acc;
    }
}

#elif defined(ATT_BWD_KV)
void main() {
    uint row = iopo_group_id();   // ((b * NKV + kvh) * T + s)
    if (row >= p.nrows) return;
    uint s = row % p.T, kvh = (row / p.T) % p.NKV, b = row / (p.T * p.NKV);
    uint len = seq_len(b);
    if (s >= len) return;   // padded key: never attended, no gradient

    uint kb = k_off(b, s, kvh), vb = v_off(b, s, kvh);
    for (uint d = gl_LocalInvocationID.x; d < p.hd; d += gl_WorkGroupSize.x) {
        float dk = 0.0, dv = 0.0;
        for (uint h = kvh * p.group; h < (kvh + 1u) * p.group; h++) {
            for (uint t = s; t < len; t++) {   // causal: only queries t >= s saw key s
                uint a = ((b * p.NH + h) * p.T + t) * p.T + s;
                dk += ds[a] * qkv[q_off(b, t, h) + d];
                dv += att[a] * dout[o_off(b, t, h) + d];
            }
        }
        dqkv[kb + d] += p.scale * dk;
        dqkv[vb + d] += dv;
    }
}
#endif
