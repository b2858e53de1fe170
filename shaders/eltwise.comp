// variant: eltwise_gelu_fwd -DOP_GELU_FWD=1
// variant: eltwise_gelu_bwd -DOP_GELU_BWD=1
// variant: eltwise_silu_fwd -DOP_SILU_FWD=1
// variant: eltwise_silu_bwd -DOP_SILU_BWD=1
// variant: eltwise_swiglu_fwd -DOP_SWIGLU_FWD=1
// variant: eltwise_swiglu_bwd -DOP_SWIGLU_BWD=1
// variant: eltwise_add -DOP_ADD=1
// variant: eltwise_accumulate -DOP_ACCUMULATE=1
// variant: eltwise_double -DOP_DOUBLE=1
// Element-wise ops, one variant per op. Each workgroup covers EPT * workgroup-size consecutive elements; invocation i
// takes elements i, i + WG, i + 2*WG, ... of its block so that adjacent invocations touch adjacent addresses.
// In-place forms (add with out == a or b, accumulate with dst == src) are recorded as eltwise_accumulate /
// eltwise_double (see src/vkops/eltwise.c), so no variant ever sees one tensor bound twice.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "eltwise.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint n;          // elements
    uint groups;     // workgroups launched; vk_dispatch_1d may launch more, which return at once
    uint flags;      // SWIGLU_HAS_* bits: which optional gradients are bound to real tensors
} p;

#define EPT 4u
#define SWIGLU_HAS_DGATE 1u
#define SWIGLU_HAS_DUP 2u

#if OP_GELU_FWD || OP_SILU_FWD
layout(std430, set = 0, binding = 0) writeonly buffer B0 { float out_[]; };     // (n)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float inp[]; };       // (n)
#elif OP_GELU_BWD || OP_SILU_BWD
layout(std430, set = 0, binding = 0) buffer B0 { float dinp[]; };               // (n)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float dout[]; };      // (n)
layout(std430, set = 0, binding = 2) readonly buffer B2 { float inp[]; };       // (n)
#elif OP_SWIGLU_FWD
layout(std430, set = 0, binding = 0) writeonly buffer B0 { float out_[]; };     // (n)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float gate[]; };      // (n)
layout(std430, set = 0, binding = 2) readonly buffer B2 { float up[]; };        // (n)
#elif OP_SWIGLU_BWD
layout(std430, set = 0, binding = 0) buffer B0 { float dgate[]; };              // (n), or a dummy
layout(std430, set = 0, binding = 1) buffer B1 { float dup[]; };                // (n), or a dummy
layout(std430, set = 0, binding = 2) readonly buffer B2 { float dout[]; };      // (n)
layout(std430, set = 0, binding = 3) readonly buffer B3 { float gate[]; };      // (n)
layout(std430, set = 0, binding = 4) readonly buffer B4 { float up[]; };        // (n)
#elif OP_ADD
layout(std430, set = 0, binding = 0) writeonly buffer B0 { float out_[]; };     // (n)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float a[]; };         // (n)
layout(std430, set = 0, binding = 2) readonly buffer B2 { float b[]; };         // (n)
#elif OP_ACCUMULATE
layout(std430, set = 0, binding = 0) buffer B0 { float dst[]; };                // (n)
layout(std430, set = 0, binding = 1) readonly buffer B1 { float src[]; };       // (n)
#elif OP_DOUBLE
layout(std430, set = 0, binding = 0) buffer B0 { float dst[]; };                // (n)
#else
#error "eltwise.comp: no OP_* defined"
#endif

void apply(uint i) {
#if OP_GELU_FWD
    out_[i] = gelu(inp[i]);
#elif OP_GELU_BWD
    dinp[i] += gelu_grad(inp[i]) * dout[i];
#elif OP_SILU_FWD
    float x = inp[i];
    out_[i] = x * safe_sigmoid(x);
#elif OP_SILU_BWD
    dinp[i] += dout[i] * silu_grad(inp[i]);
#elif OP_SWIGLU_FWD
    float g = gate[i];
    out_[i] = g * safe_sigmoid(g) * up[i];
#elif OP_SWIGLU_BWD
    float g = gate[i];
    float dy = dout[i];
    if ((p.flags & SWIGLU_HAS_DGATE) != 0) dgate[i] += dy * up[i] * silu_grad(g);
    if ((p.flags & SWIGLU_HAS_DUP) != 0) dup[i] += dy * g * safe_sigmoid(g);
#elif OP_ADD
    out_[i] = a[i] + b[i];
#elif OP_ACCUMULATE
    dst[i] += src[i];
#elif OP_DOUBLE
    dst[i] += dst[i];
#endif
}

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;
    uint WG = gl_WorkGroupSize.x;
    uint base = grp * WG * EPT + gl_LocalInvocationID.x;
    [[unroll]] for (uint k = 0; k < EPT; k++) {
        uint i = base + k * WG;
        if (i < p.n) apply(i);
    }
}
