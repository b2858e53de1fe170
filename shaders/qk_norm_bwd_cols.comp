// Weight gradient of the per-head q/k RMSNorm: dw (hd) += sum over head rows of dout * x * rstd, without atomics. The
// head rows are the nheads heads h0 .. h0+nheads-1 of every token, row r being head h0 + r % nheads of token
// r / nheads (dispatched once for q with qw's gradient, once for k with kw's). As norm_bwd_cols.comp: a workgroup owns
// COLS adjacent columns and splits the rows among RS = workgroup-size / COLS invocations per column, whose partial sums
// meet in a fixed tree; long inputs come as several dispatches over consecutive row chunks (src/vkops/qk_norm.c),
// each adding its chunk's sums in order, so that no invocation loops past lavapipe's 65535 iterations; tensors over
// one binding come as blocks of tokens bound as windows, cut into such chunks.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "qk_norm.glsl"

layout(constant_id = 1) const uint COLS = 32;   // power of two, dividing the workgroup size
IOPO_WINDOWED(2)

layout(std430, set = 0, binding = 0) buffer Dw { float dw[]; };                 // (hd)
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };    // (N,W)
layout(std430, set = 0, binding = 2) readonly buffer Inp { float inp[]; };      // (N,W)
layout(std430, set = 0, binding = 3) readonly buffer Rstd { float rstd_[]; };   // (N,NH+NKV)

void main() {
    uint grp = iopo_group_id();
    if (grp >= p.groups) return;   // uniform across the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint RS = gl_WorkGroupSize.x / COLS;
    uint cl = lid % COLS;
    uint rs = lid / COLS;
    uint col = grp * COLS + cl;
    uint S = p.NH + 2u * p.NKV, normed = p.NH + p.NKV;

    // Blocked partial sums, as norm_bwd_cols.comp, keep the rounding error near that of a pairwise sum.
    const uint ROW_BLOCK = 32;
    float aw = 0.0, bw = 0.0;
    uint k = 0;
    if (col < p.hd) {
        for (uint r = p.row0 + rs; r < p.row1; r += RS) {
            uint n = r / p.nheads;
            uint h = p.h0 + (r - n * p.nheads);
            uint ln = n - WIN(p.nbase);   // the token in the windows
            uint i = (ln * S + h) * p.hd + col;
            bw += dout[WIN(p.s1) + i] * (inp[WIN(p.s2) + i] * rstd_[WIN(p.s3) + ln * normed + h]);
            if (++k == ROW_BLOCK) {
                aw += bw;
                bw = 0.0;
                k = 0;
            }
        }
    }
    aw += bw;
    red_a[lid] = aw;
    barrier();
    for (uint s = RS / 2; s > 0; s >>= 1) {
        if (rs < s) red_a[lid] += red_a[lid + s * COLS];
        barrier();
    }
    if (rs == 0 && col < p.hd) dw[col] += red_a[lid];
}
