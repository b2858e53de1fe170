// Softmax cross-entropy forward, pass 2: per-sequence sums of the label log-probs and of the mask weights. One
// invocation per sequence walks t in order, so the sums are reproducible without atomics. T is small next to the
// V-wide pass 1, so this serial loop costs little.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer Loss { float loss[]; };          // (B,T)
layout(std430, set = 0, binding = 1) readonly buffer Mask { float mask[]; };          // (B,T)
layout(std430, set = 0, binding = 2) writeonly buffer SeqLogp { float seq_logp[]; };  // (B)
layout(std430, set = 0, binding = 3) writeonly buffer SeqCount { float seq_count[]; };// (B)

layout(push_constant) uniform Push {
    uint B;
    uint T;
} p;

void main() {
    uint b = iopo_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (b >= p.B) return;
    float lp = 0.0;
    float cnt = 0.0;
    for (uint t = 0; t < p.T; t++) {
        // loss = mask * (lse - logit[target]) = -mask * log p(target), exactly (negation is exact in IEEE).
        lp -= loss[b * p.T + t];
        cnt += mask[b * p.T + t];
    }
    seq_logp[b] = lp;
    seq_count[b] = cnt;
}
