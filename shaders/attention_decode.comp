// Attention of one new token per sequence against its KV cache (include/iopo/ops.h, iopo_attention_decode), split
// along the cache so that no invocation loops long (lavapipe ends a shader's loops after 65,535 iterations in total
// per invocation) and short batches still fill the device. Two entry points, chosen by define:
// variant: attention_decode_part -DDEC_PART=1
// variant: attention_decode_merge -DDEC_MERGE=1
// part: one workgroup per (b, h, chunk of p.chunk keys) writes the chunk's max score m, sum of exp(score - m) l and
// unnormalised output o = sum exp(score - m) v; merge: one workgroup per (b, h) combines the chunks in ascending
// order, out = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c with M = max_c m_c. Fixed orders throughout, no atomics.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint ngroups;   // workgroups that do work (vk_dispatch_1d may round the grid up)
    uint B, Tmax, NH, NKV, hd;
    uint group;     // NH / NKV
    float scale;    // 1 / sqrt(hd)
    uint chunk;     // keys per part workgroup
    uint nchunks;   // chunks per (b, h): ceil(Tmax / chunk)
    // A cache over one binding (src/vkops/decode.c): each dispatch takes the sequences b0 <= b < b0 + B (b below is
    // the sequence in the block), the cache's and out's rows of them bound as windows whose first element is at
    // index scache and sout; the scratch (part, scores) holds the block only. Unsplit: all 0.
    uint b0, scache, sout;
} p;

uint cache_stride() { return (p.NH + 2u * p.NKV) * p.hd; }   // floats per cached position
uint part_stride() { return p.hd + 2u; }                      // m, l, o[hd] per chunk

#if defined(DEC_PART)
layout(std430, set = 0, binding = 0) writeonly buffer Part { float part[]; };   // (B,NH,nchunks,hd+2)
// Each invocation reads back only the scores it wrote itself; the probabilities all need go through shared memory.
layout(std430, set = 0, binding = 1) buffer Scores { float scores[]; };         // (B,NH,nchunks*chunk)
layout(std430, set = 0, binding = 2) readonly buffer Cache { float cache[]; };  // (B,Tmax,W)
layout(std430, set = 0, binding = 3) readonly buffer Lengths { int lengths[]; };   // (B)

shared float red[gl_WorkGroupSize.x];
shared float probs[gl_WorkGroupSize.x];

// Tree reduction over the workgroup (a power of two, as vk_group_size gives): a fixed pairing, whatever the subgroups.
float wg_reduce(float x, bool is_max) {
    uint lid = gl_LocalInvocationID.x;
    red[lid] = x;
    barrier();
    for (uint k = gl_WorkGroupSize.x / 2u; k > 0u; k >>= 1) {
        if (lid < k) red[lid] = is_max ? max(red[lid], red[lid + k]) : red[lid] + red[lid + k];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main() {
    uint g = iopo_group_id();   // (b * NH + h) * nchunks + c
    if (g >= p.ngroups) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint c = g % p.nchunks, bh = g / p.nchunks, h = bh % p.NH, b = bh / p.NH;
    uint kvh = h / p.group;
    uint len = uint(clamp(lengths[p.b0 + b], 0, int(p.Tmax)));
    uint s_begin = c * p.chunk, s_end = min(len, s_begin + p.chunk);
    uint pb = g * part_stride();
    if (s_begin >= s_end) {   // a chunk past the sequence's end (uniform over the workgroup): the merge skips it
        for (uint i = lid; i < part_stride(); i += WG) part[pb + i] = 0.0;
        return;
    }

    uint W = cache_stride();
    uint qb = p.scache + (b * p.Tmax + len - 1u) * W + h * p.hd;   // the new token's query
    uint kcol = (p.NH + kvh) * p.hd, vcol = (p.NH + p.NKV + kvh) * p.hd;
    uint sb = bh * p.nchunks * p.chunk;                 // this (b, h)'s scores row
    float mx = uintBitsToFloat(0xff800000u);            // -inf
    for (uint s = s_begin + lid; s < s_end; s += WG) {
        uint kb = p.scache + (b * p.Tmax + s) * W + kcol;
        float sc = 0.0;
        for (uint d = 0; d < p.hd; d++) sc += cache[qb + d] * cache[kb + d];
        sc *= p.scale;
        scores[sb + s] = sc;
        mx = max(mx, sc);
    }
    mx = wg_reduce(mx, true);

    float sum = 0.0;
    for (uint s = s_begin + lid; s < s_end; s += WG) {
        float e = exp(scores[sb + s] - mx);
        scores[sb + s] = e;
        sum += e;
    }
    sum = wg_reduce(sum, false);

    // o = sum_s e_s v_s: invocations own channels, the chunk's e_s come through shared memory a tile of WG keys at a
    // time (each invocation loads its own key, which it wrote above). Keys in ascending order.
    for (uint d0 = 0; d0 < p.hd; d0 += WG) {
        uint d = d0 + lid;
        float o = 0.0;
        for (uint s0 = s_begin; s0 < s_end; s0 += WG) {
            probs[lid] = s0 + lid < s_end ? scores[sb + s0 + lid] : 0.0;
            barrier();
            uint n = min(WG, s_end - s0);
            if (d < p.hd)
                for (uint j = 0; j < n; j++) o += probs[j] * cache[p.scache + (b * p.Tmax + s0 + j) * W + vcol + d];
            barrier();
        }
        if (d < p.hd) part[pb + 2u + d] = o;
    }
    if (lid == 0u) {
        part[pb] = mx;
        part[pb + 1u] = sum;
    }
}

#elif defined(DEC_MERGE)
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };   // (B,NH*hd)
layout(std430, set = 0, binding = 1) readonly buffer Part { float part[]; };   // (B,NH,nchunks,hd+2)
layout(std430, set = 0, binding = 2) readonly buffer Lengths { int lengths[]; };   // (B)

void main() {
    uint bh = iopo_group_id();   // b * NH + h
    if (bh >= p.ngroups) return;
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint b = bh / p.NH;
    uint len = uint(clamp(lengths[p.b0 + b], 0, int(p.Tmax)));
    uint nc = (len + p.chunk - 1u) / p.chunk;   // chunks holding keys (none when len == 0: a zero row)
    uint pb = bh * p.nchunks * part_stride();
    float M = uintBitsToFloat(0xff800000u);
    for (uint c = 0; c < nc; c++) M = max(M, part[pb + c * part_stride()]);
    float den = 0.0;
    for (uint c = 0; c < nc; c++) den += exp(part[pb + c * part_stride()] - M) * part[pb + c * part_stride() + 1u];
    float inv = nc > 0u ? 1.0 / den : 0.0;
    for (uint d = lid; d < p.hd; d += WG) {
        float o = 0.0;
        for (uint c = 0; c < nc; c++)
            o += exp(part[pb + c * part_stride()] - M) * part[pb + c * part_stride() + 2u + d];
        out_[p.sout + bh * p.hd + d] = o * inv;
    }
}
#endif
