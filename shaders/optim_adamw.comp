// AdamW step (torch.optim.AdamW), one element per invocation. The gradient is first multiplied by the clip scale,
// read from element 1 of the grad-norm output on the device, so clipping needs no host round trip.
// The step-dependent constants are computed on the host in double, as torch does with its Python floats.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) buffer Param { float param[]; };            // (N)
layout(std430, set = 0, binding = 1) readonly buffer Grad { float grad[]; };     // (N)
layout(std430, set = 0, binding = 2) buffer M { float m[]; };                    // (N)
layout(std430, set = 0, binding = 3) buffer V { float v[]; };                    // (N)
layout(std430, set = 0, binding = 4) readonly buffer Scale { float scale[]; };   // (2) = {norm, scale} or a dummy

layout(push_constant) uniform Push {
    uint N;
    uint has_scale;
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float decay;       // 1 - lr * weight_decay
    float step_size;   // lr / (1 - beta1^step)
    float bc2_sqrt;    // sqrt(1 - beta2^step)
    float eps;
} p;

void main() {
    uint i = iopo_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= p.N) return;
    float g = grad[i];
    if (p.has_scale != 0u) g *= scale[1];
    float mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
    float vi = p.beta2 * v[i] + p.one_minus_beta2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    float denom = sqrt(vi) / p.bc2_sqrt + p.eps;
    param[i] = param[i] * p.decay - p.step_size * (mi / denom);
}
