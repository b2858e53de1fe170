// DPO / IOPO losses on per-sequence summed log-probs (include/iopo/ops.h iopo_pref_loss): one invocation per example.
// The arithmetic mirrors src/cpu/pref.c in float.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) writeonly buffer Loss { float loss[]; };     // (E)
layout(std430, set = 0, binding = 1) writeonly buffer Z { float zout[]; };        // (E)
layout(std430, set = 0, binding = 2) writeonly buffer D { float dseq[]; };        // (E*G)
layout(std430, set = 0, binding = 3) readonly buffer Lp { float logp[]; };        // (E*G)
layout(std430, set = 0, binding = 4) readonly buffer Rp { float ref_logp[]; };    // (E*G)
layout(std430, set = 0, binding = 5) readonly buffer Cnt { float count[]; };      // (E*G)

layout(push_constant) uniform Push {
    uint E, G, type, groups;
    float beta, eps, gamma, scale;
} p;

float log_sigmoid(float x) { return -(max(-x, 0.0) + log(1.0 + exp(-abs(x)))); }
float sigmoid(float x) { return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

void main() {
    uint g = iopo_group_id();
    if (g >= p.groups) return;
    uint e = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (e >= p.E) return;
    uint base = e * p.G;
    float z = 0.0;
    for (uint k = 0; k < p.G; k++) {
        float s = (k & 1u) == 0u ? 1.0 : -1.0;
        z += s * (logp[base + k] - ref_logp[base + k]);
    }
    float bz = p.beta * z, l, dz;
    uint type = p.G == 4u ? 0u : p.type;
    if (type == 1u) {            // ipo
        float d = z - 1.0 / (2.0 * p.beta);
        l = d * d;
        dz = 2.0 * d;
    } else if (type == 2u) {     // hinge
        l = max(0.0, 1.0 - bz);
        dz = 1.0 - bz > 0.0 ? -p.beta : 0.0;
    } else if (type == 3u) {     // robust
        l = (-(1.0 - p.eps) * log_sigmoid(bz) + p.eps * log_sigmoid(-bz)) / (1.0 - 2.0 * p.eps);
        dz = (-(1.0 - p.eps) * p.beta * sigmoid(-bz) - p.eps * p.beta * sigmoid(bz)) / (1.0 - 2.0 * p.eps);
    } else {                     // sigmoid with label smoothing
        l = -(1.0 - p.eps) * log_sigmoid(bz) - p.eps * log_sigmoid(-bz);
        dz = -(1.0 - p.eps) * p.beta * sigmoid(-bz) + p.eps * p.beta * sigmoid(bz);
    }
    for (uint k = 0; k < p.G; k++) {
        bool chosen = (k & 1u) == 0u;
        float d = chosen ? dz : -dz;
        float c = count[base + k];
        if (p.gamma != 0.0 && chosen && c > 0.0) {
            l += p.gamma * -logp[base + k] / c;
            d += -p.gamma / c;
        }
        dseq[base + k] = p.scale * d;
    }
    loss[e] = l;
    zout[e] = z;
}
