// Softmax cross-entropy forward, pass 1: one workgroup per row. Each invocation keeps an online (max, sum of exp)
// pair over the logits it strides through, so the row is read once; the pairs then meet in a fixed shared-memory
// tree, which gives the same lse on every run whatever the subgroup size.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_ce.glsl"

layout(local_size_x_id = 0) in;   // a power of two (src/vkops/softmax_ce.c)

layout(std430, set = 0, binding = 0) readonly buffer Logits { float logits[]; };   // (B,T,V)
layout(std430, set = 0, binding = 1) readonly buffer Targets { int targets[]; };   // (B,T)
layout(std430, set = 0, binding = 2) readonly buffer Mask { float mask[]; };       // (B,T)
layout(std430, set = 0, binding = 3) writeonly buffer Loss { float loss[]; };      // (B,T)
layout(std430, set = 0, binding = 4) writeonly buffer Lse { float lse[]; };        // (B,T)

layout(push_constant) uniform Push {
    uint rows;   // end of this dispatch's rows; vk_dispatch_1d may launch more workgroups, which return at once
    uint V;
    // Logits over one binding: each dispatch binds the rows [row0, rows), their first element at index lshift of
    // the binding (src/vkops/softmax_ce.c). Unsplit: 0, 0.
    uint row0, lshift;
} p;

shared float red_m[gl_WorkGroupSize.x];
shared float red_s[gl_WorkGroupSize.x];

// The finite start value (not -inf) keeps exp(m - m') at 0 or 1 instead of NaN for invocations that saw no logit
// (V < workgroup size) when their pairs are merged.
const float NEG_BIG = -3.402823466e38;

void main() {
    uint row = p.row0 + iopo_group_id();
    if (row >= p.rows) return;   // uniform across the workgroup: no barrier below is skipped by part of it
    uint lid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
    uint base = p.lshift + (row - p.row0) * p.V;

    float m = NEG_BIG;
    float s = 0.0;
    for (uint i = lid; i < p.V; i += WG) {
        float x = logits[base + i];
        // Rescale only when the running max moves (rare after the first few values), so most logits cost one exp.
        if (x > m) {
            s = s * exp(m - x) + 1.0;
            m = x;
        } else {
            s += exp(x - m);
        }
    }

    red_m[lid] = m;
    red_s[lid] = s;
    barrier();
    for (uint k = WG / 2; k > 0; k >>= 1) {
        if (lid < k) {
            float m2 = red_m[lid + k];
            float mn = max(m, m2);
            s = s * exp(m - mn) + red_s[lid + k] * exp(m2 - mn);
            m = mn;
            red_m[lid] = m;
            red_s[lid] = s;
        }
        barrier();
    }

    if (lid == 0) {
        float l = m + log(s);
        lse[row] = l;
        float mk = mask[row];
        float lo = 0.0;
        if (mk != 0.0) {   // a masked row's target may be -100 or anything: never read it
            uint t = sce_clamp_target(targets[row], p.V);
            lo = mk * (l - logits[base + t]);
        }
        loss[row] = lo;
    }
}
