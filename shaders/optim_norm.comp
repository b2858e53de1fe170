// variant: optim_norm_partial -DPASS=1
// variant: optim_norm_final -DPASS=2
// Global gradient norm, two passes, no atomics:
//  PASS 1 (one dispatch per gradient tensor): workgroup g of G writes the sum of squares of the elements
//    g*WG + lid + k*G*WG of its tensor to partials[offset + g], G fixed by the tensor's size alone.
//  PASS 2 (one workgroup): sums every partial in a fixed order and writes {norm, clip scale}.
// Each invocation accumulates with Kahan compensation and the workgroup meets in a fixed tree: a 124M-parameter model
// sums ~10^8 squares, where plain fp32 running sums would lose digits; the CPU reference sums in double.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;   // a power of two (src/vkops/optim.c)

#if PASS == 1
layout(std430, set = 0, binding = 0) readonly buffer Grad { float x[]; };              // (N)
layout(std430, set = 0, binding = 1) buffer Partials { float partials[]; };  // (>= offset + groups)
layout(push_constant) uniform Push {
    uint N;
    uint groups;       // G; vk_dispatch_1d may launch more workgroups, which return at once
    uint offset;       // first slot of this tensor in partials
    uint accumulate;   // a later piece of a tensor over one binding (src/vkops/optim.c): add to the slots
} p;
#else
layout(std430, set = 0, binding = 0) readonly buffer Partials { float x[]; };   // (N)
layout(std430, set = 0, binding = 1) writeonly buffer Out { float out_[]; };   // (2) = {norm, scale}
layout(push_constant) uniform Push {
    uint N;          // number of partials
    float max_norm;  // <= 0: no clipping
} p;
#endif

shared float red[gl_WorkGroupSize.x];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint WG = gl_WorkGroupSize.x;
#if PASS == 1
    uint g = iopo_group_id();
    if (g >= p.groups) return;   // uniform across the workgroup
    uint stride = p.groups * WG;
    uint first = g * WG + lid;
#else
    uint stride = WG;
    uint first = lid;
#endif
    // precise: keeps the compiler from reassociating or fusing away the compensation term.
    precise float s = 0.0;
    precise float c = 0.0;
    for (uint i = first; i < p.N; i += stride) {
        float v = x[i];
#if PASS == 1
        v = v * v;
#endif
        precise float y = v - c;
        precise float t = s + y;
        c = (t - s) - y;
        s = t;
        if (p.N - i <= stride) break;   // i + stride would pass N (and could wrap around 2^32)
    }

    red[lid] = s;
    barrier();
    for (uint k = WG / 2; k > 0; k >>= 1) {
        if (lid < k) red[lid] += red[lid + k];
        barrier();
    }
    if (lid != 0) return;
#if PASS == 1
    if (p.accumulate != 0u) partials[p.offset + g] += red[0];
    else partials[p.offset + g] = red[0];
#else
    float norm = sqrt(red[0]);
    out_[0] = norm;
    // As torch.nn.utils.clip_grad_norm_; a NaN/inf norm compares false and leaves the scale at 1, so the
    // non-finite norm stays visible to the caller instead of silently zeroing the step.
    out_[1] = (p.max_norm > 0.0 && norm > p.max_norm) ? p.max_norm / (norm + 1e-6) : 1.0;
#endif
}
