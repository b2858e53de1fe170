// Softmax cross-entropy backward: dlogits = g * (softmax - onehot(target)), g = mask * (dloss - dseq_logp).
// Workgroup (row, chunk) covers SCE_PER consecutive strides of the row, so short and long vocabularies both give
// enough workgroups. dlogits OVERWRITES and may be the same buffer as logits (in place): every element is read and
// then written by the same invocation, and no invocation reads an element another one writes.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_ce.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Logits { float logits[]; };      // (B,T,V)
layout(std430, set = 0, binding = 1) readonly buffer Lse { float lse[]; };            // (B,T)
layout(std430, set = 0, binding = 2) readonly buffer Targets { int targets[]; };      // (B,T)
layout(std430, set = 0, binding = 3) readonly buffer Mask { float mask[]; };          // (B,T)
layout(std430, set = 0, binding = 4) readonly buffer DLoss { float dloss[]; };        // (B,T) or a dummy
layout(std430, set = 0, binding = 5) readonly buffer DSeq { float dseq[]; };          // (B) or a dummy
layout(std430, set = 0, binding = 6) writeonly buffer DLogits { float dlogits[]; };   // (B,T,V)

layout(push_constant) uniform Push {
    uint rows;     // B*T
    uint T;
    uint V;
    uint chunks;   // workgroups per row
    uint per;      // strides of the workgroup size per chunk
    uint flags;    // SCE_HAS_* bits: which upstream gradients are bound to real tensors
    // Logits over one binding: each dispatch binds the rows [row0, rows) of logits and dlogits, their first element
    // at index lshift of both bindings (src/vkops/softmax_ce.c). Unsplit: 0, 0.
    uint row0, lshift;
} p;

void main() {
    uint gid = iopo_group_id();
    uint row = p.row0 + gid / p.chunks;
    if (row >= p.rows) return;
    uint WG = gl_WorkGroupSize.x;
    uint start = (gid % p.chunks) * p.per * WG + gl_LocalInvocationID.x;
    uint end = min(start + p.per * WG, p.V);
    uint base = p.lshift + (row - p.row0) * p.V;

    float mk = mask[row];
    if (mk == 0.0) {
        // No loss at this position: the gradient is exactly 0 (and the target may be -100, so it is not read).
        for (uint i = start; i < end; i += WG) dlogits[base + i] = 0.0;
        return;
    }
    float d = 0.0;
    if ((p.flags & SCE_HAS_DLOSS) != 0u) d = dloss[row];
    if ((p.flags & SCE_HAS_DSEQ) != 0u) d -= dseq[row / p.T];
    float g = mk * d;
    float l = lse[row];
    uint t = sce_clamp_target(targets[row], p.V);
    for (uint i = start; i < end; i += WG) {
        float pr = exp(logits[base + i] - l);
        dlogits[base + i] = g * (i == t ? pr - 1.0 : pr);
    }
}
