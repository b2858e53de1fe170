// Causal grouped-query attention forward (include/iopo/ops.h): one workgroup per query row (b, h, t).
// The row's scores live in its att row (global memory), so no shared-memory size limits T.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
#define ATT_REDUCE 1
#define ATT_LENGTHS_BINDING 3
#include "attention.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };   // (B,T,NH*hd)
// Each invocation only reads back att values it wrote itself (key s = lid mod WG); the probabilities that all
// invocations need travel through shared memory.
layout(std430, set = 0, binding = 1) buffer Att { float att[]; };   // (B,NH,T,T)
layout(std430, set = 0, binding = 2) readonly buffer Qkv { float qkv[]; };     // (B,T,(NH+2*NKV)*hd)

shared float probs[gl_WorkGroupSize.x];   // one tile of the row's probabilities

void main() {
    uint row = iopo_group_id();   // ((b * NH + h) * T + t): also the att row index
    if (row >= p.nrows) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint t = row % p.T, h = (row / p.T) % p.NH, b = row / (p.T * p.NH);
    uint kvh = h / p.group;
    uint arow = row * p.T;
    uint ob = o_off(b, t, h);

    if (t >= seq_len(b)) {   // padding query (uniform over the workgroup): attends to nothing
        for (uint s = lid; s < p.T; s += WG) att[arow + s] = 0.0;
        for (uint d = lid; d < p.hd; d += WG) out_[ob + d] = 0.0;
        return;
    }

    // Causal: keys s <= t < len, so padded keys are never reached.
    uint qb = q_off(b, t, h);
    float mx = uintBitsToFloat(0xff800000u);   // -inf
    for (uint s = lid; s < p.T; s += WG) {
        float sc = 0.0;
        if (s <= t) {
            uint kb = k_off(b, s, kvh);
            for (uint d = 0; d < p.hd; d++) sc += qkv[qb + d] * qkv[kb + d];
            sc *= p.scale;
            mx = max(mx, sc);
        }
        att[arow + s] = sc;
    }
    mx = wg_reduce(mx, true);

    float sum = 0.0;
    for (uint s = lid; s <= t; s += WG) {
        float e = exp(att[arow + s] - mx);
        att[arow + s] = e;
        sum += e;
    }
    float inv = 1.0 / wg_reduce(sum, false);
    for (uint s = lid; s <= t; s += WG) att[arow + s] *= inv;

    // out = att . v: invocations own channels; the probabilities they all need come through shared memory a tile of
    // WG keys at a time (each invocation loads its own key s = lid mod WG, which it wrote above). Keys are summed in
    // ascending order.
    for (uint d0 = 0; d0 < p.hd; d0 += WG) {
        uint d = d0 + lid;
        float o = 0.0;
        for (uint s0 = 0; s0 <= t; s0 += WG) {
            probs[lid] = s0 + lid <= t ? att[arow + s0 + lid] : 0.0;
            barrier();
            uint n = min(WG, t + 1u - s0);
            if (d < p.hd)
                for (uint j = 0; j < n; j++) o += probs[j] * qkv[v_off(b, s0 + j, kvh) + d];
            barrier();
        }
        if (d < p.hd) out_[ob + d] = o;
    }
}
