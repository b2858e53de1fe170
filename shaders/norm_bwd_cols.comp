// variant: norm_layernorm_bwd_cols -DLAYERNORM=1
// variant: norm_rmsnorm_bwd_cols -DRMSNORM=1
// Weight (and bias) gradients of LayerNorm / RMSNorm: column sums over the N rows, without atomics.
// A workgroup owns COLS adjacent columns and splits the rows among RS = workgroup-size / COLS invocations per column
// (invocation (rs, col) takes rows rs, rs+RS, ...; adjacent invocations read adjacent columns). The RS partial sums of
// a column then meet in a fixed tree, so the result is the same on every run. Long inputs come as several dispatches
// over consecutive row chunks (src/vkops/norm.c), each adding its chunk's sums, in order; tensors over one binding
// come as blocks of rows bound as windows, cut into such chunks.
//   LayerNorm: dw += sum_n dout * xhat,  db += sum_n dout
//   RMSNorm:   dw += sum_n dout * x * rstd
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "norm.glsl"

layout(constant_id = 1) const uint COLS = 32;   // power of two, dividing the workgroup size
IOPO_WINDOWED(2)

layout(std430, set = 0, binding = 0) buffer Dw { float dw[]; };                 // (C), or a dummy
#if LAYERNORM
layout(std430, set = 0, binding = 1) buffer Db { float db[]; };                 // (C), or a dummy
layout(std430, set = 0, binding = 2) readonly buffer Dout { float dout[]; };    // (N,C)
layout(std430, set = 0, binding = 3) readonly buffer Inp { float inp[]; };      // (N,C)
layout(std430, set = 0, binding = 4) readonly buffer Mean { float mean_[]; };   // (N)
layout(std430, set = 0, binding = 5) readonly buffer Rstd { float rstd_[]; };   // (N)
#else
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };    // (N,C)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,C)
layout(std430, set = 0, binding = 3) readonly buffer Rstd { float rstd_[]; };   // (N)
#endif

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;   // uniform across the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint RS = gl_WorkGroupSize.x / COLS;
    uint cl = lid % COLS;
    uint rs = lid / COLS;
    uint col = grp * COLS + cl;

    // Each invocation may sum thousands of rows: partial sums over blocks of ROW_BLOCK rows, added to the running
    // total block by block, keep the rounding error near that of a pairwise sum instead of growing with the row count.
    const uint ROW_BLOCK = 32;
    float aw = 0.0, ab = 0.0, bw = 0.0, bb = 0.0;
    uint k = 0;
    if (col < p.C) {
        for (uint n = p.row0 + rs; n < p.N; n += RS) {
            uint lr = n - WIN(p.rbase);   // the row in the windows
            uint i = lr * p.C + col;
#if LAYERNORM
            float dy = dout[WIN(p.s2) + i];
            bw += dy * ((inp[WIN(p.s3) + i] - mean_[WIN(p.s4) + lr]) * rstd_[WIN(p.s5) + lr]);
            bb += dy;
#else
            bw += dout[WIN(p.s1) + i] * (inp[WIN(p.s2) + i] * rstd_[WIN(p.s3) + lr]);
#endif
            if (++k == ROW_BLOCK) {
                aw += bw;
                ab += bb;
                bw = 0.0;
                bb = 0.0;
                k = 0;
            }
        }
    }
    aw += bw;
    ab += bb;
    red_a[lid] = aw;
    red_b[lid] = ab;
    barrier();
    for (uint s = RS / 2; s > 0; s >>= 1) {
        if (rs < s) {
            red_a[lid] += red_a[lid + s * COLS];
            red_b[lid] += red_b[lid + s * COLS];
        }
        barrier();
    }
    if (rs == 0 && col < p.C) {
#if LAYERNORM
        if ((p.flags & NORM_HAS_DW) != 0) dw[col] += red_a[lid];
        if ((p.flags & NORM_HAS_DB) != 0) db[col] += red_b[lid];
#else
        dw[col] += red_a[lid];
#endif
    }
}
