// variant: lora_cols -DOP_COLS=1
// variant: lora_dropout -DOP_DROPOUT=1
// The two element-wise pieces of a LoRA adapter that GEMM does not do (src/ops/lora.c):
//   lora_cols: dst[m, dc0 + j] (= or +=) alpha * src[m, sc0 + j] for m < M, j < n: an adapter's output added into
//     its columns of a fused q|k|v projection, and those columns of the output gradient read back;
//   lora_dropout: out[i] (= or +=) keep(seed, base + i) ? inp[i] * scale : 0, the keep mask a hash of the element's
//     index (no state; the backward recomputes the forward's mask; the CPU reference computes the same integers).
// One invocation per element; the host splits tensors over one binding by rows (shift: the window's start).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "lora.glsl"

layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) buffer B0 { float dst[]; };
layout(std430, set = 0, binding = 1) readonly buffer B1 { float src[]; };

#if OP_COLS
layout(push_constant) uniform Push {
    uint M, n;               // rows, columns moved per row
    uint dst_ld, dst_col0;   // dst (M, dst_ld): columns dst_col0 .. dst_col0 + n
    uint src_ld, src_col0;   // src (M, src_ld): columns src_col0 .. src_col0 + n
    float alpha;
    uint accumulate;         // 1: +=, 0: =
    uint groups;
    uint dst_shift, src_shift;
} p;

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;
    uint i = grp * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= p.M * p.n) return;
    uint m = i / p.n, j = i - m * p.n;
    uint d = p.dst_shift + m * p.dst_ld + p.dst_col0 + j;
    precise float v = p.alpha * src[p.src_shift + m * p.src_ld + p.src_col0 + j];   // no fused multiply-add
    dst[d] = p.accumulate != 0u ? dst[d] + v : v;
}
#elif OP_DROPOUT
layout(push_constant) uniform Push {
    uint n;            // elements in this dispatch
    uint base;         // index of its first element in the whole tensor (the mask's counter)
    uint seed, threshold;
    float scale;       // 1 / (1 - p)
    uint accumulate;
    uint groups;
    uint dst_shift, src_shift;
} p;

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;
    uint i = grp * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= p.n) return;
    precise float v = lora_keep(p.seed, p.base + i, p.threshold) ? src[p.src_shift + i] * p.scale : 0.0;
    uint d = p.dst_shift + i;
    dst[d] = p.accumulate != 0u ? dst[d] + v : v;
}
#else
#error "lora.comp: no OP_* defined"
#endif
