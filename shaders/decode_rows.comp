// Row copies of KV-cache decoding (include/iopo/ops.h): one invocation per element, so no loop at all, whatever the
// row width. Two entry points, chosen by define:
// variant: scatter_rows -DROWS_SCATTER=1
// variant: gather_rows_add -DROWS_GATHER_ADD=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "half.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant) uniform Push {
    uint ngroups;   // workgroups that do work (vk_dispatch_1d may round the grid up)
    uint n;         // rows moved: B (scatter) or N (gather)
    uint rows;      // rows of the indexed tensor: Tmax (scatter's dst per sequence) or R (gather's table)
    uint C;         // row width
    // Tensors over one binding (src/vkops/decode.c). scatter: sequences lo <= b < lo + n, dst's and src's rows of them
    // bound as windows starting at index s0 and s1. gather: only the table rows lo <= r < hi, bound as a window
    // starting at index s1 (unsplit: lo = 0, hi = rows). Unsplit: all 0 but hi.
    uint lo, hi, s0, s1;
} p;

#if defined(ROWS_SCATTER)
layout(std430, set = 0, binding = 0) buffer Dst { float dst[]; };              // (B,Tmax,W): other rows kept
layout(std430, set = 0, binding = 1) readonly buffer Src { float src[]; };     // (B,W)
layout(std430, set = 0, binding = 2) readonly buffer Pos { int pos[]; };       // (B)

void main() {
    uint g = iopo_group_id();
    if (g >= p.ngroups) return;
    uint e = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;   // element of src
    if (e >= p.n * p.C) return;
    uint b = e / p.C, c = e % p.C;
    int t = pos[p.lo + b];
    if (t < 0 || uint(t) >= p.rows) return;   // skipped sequence
    dst[p.s0 + (b * p.rows + uint(t)) * p.C + c] = src[p.s1 + e];
}

#elif defined(ROWS_GATHER_ADD)
// The table may be 16-bit (kept in its checkpoint's precision): bound as uint words, widened exactly to fp32.
layout(constant_id = 1) const uint TABLE_DT = 0;   // DT_F32, DT_BF16 or DT_F16 (shaders/half.glsl)
layout(std430, set = 0, binding = 0) buffer Out { float out_[]; };             // (N,C) +=
layout(std430, set = 0, binding = 1) readonly buffer Table { uint table[]; };  // (R,C)
layout(std430, set = 0, binding = 2) readonly buffer Idx { int idx[]; };       // (N)

void main() {
    uint g = iopo_group_id();
    if (g >= p.ngroups) return;
    uint e = g * gl_WorkGroupSize.x + gl_LocalInvocationID.x;   // element of out
    if (e >= p.n * p.C) return;
    uint i = e / p.C, c = e % p.C;
    int r = idx[i];
    if (r < 0 || uint(r) >= p.rows) return;   // out-of-table index: adds nothing
    if (uint(r) < p.lo || uint(r) >= p.hi) return;   // another dispatch's table rows
    uint t = p.s1 + (uint(r) - p.lo) * p.C + c;
    out_[e] += iopo_widen(table[iopo_word_index(t, TABLE_DT)], t, TABLE_DT);
}
#endif
