// Bias gradient of a matmul: dbias (N) += column sums of dout (M,N).
// A workgroup owns CB adjacent columns and splits the rows into RS interleaved slices (slice s sums rows s, s+RS, ...
// in increasing order); the RS partial sums of a column are then combined by a fixed pairwise tree in shared memory.
// Both orders depend only on M and the spec constants, so the result is bit-identical run to run. A dout over one
// binding comes as blocks of rows, each dispatch adding its block's sums, in increasing rows.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;                      // = CB * RS (the recorder guarantees it)
layout(constant_id = 1) const uint CB = 32;          // columns per workgroup
layout(constant_id = 2) const uint RS = 8;           // row slices per column, a power of two

layout(std430, set = 0, binding = 0) buffer DBiasBuf { float dbias[]; };          // (N)
layout(std430, set = 0, binding = 1) readonly buffer DOutBuf { float dout[]; };   // (M,N)

layout(push_constant) uniform Push {
    uint M, N;
    uint ngroups;           // workgroups with work: groups past it (from folding the grid) exit
    // dout over one binding (src/vkops/matmul.c): each dispatch sums a block of M rows bound as a window, its first
    // element at index shift. Unsplit: 0.
    uint shift;
} p;

shared float part[RS * CB];

void main() {
    uint g = iopo_group_id();
    if (g >= p.ngroups) return;   // uniform across the workgroup
    uint tid = gl_LocalInvocationID.x;
    uint col = tid % CB;          // consecutive invocations read consecutive columns of a row: coalesced
    uint slice = tid / CB;
    uint n = g * CB + col;

    float s = 0.0;
    if (n < p.N)
        for (uint m = slice; m < p.M; m += RS) s += dout[p.shift + m * p.N + n];
    part[slice * CB + col] = s;
    barrier();
    [[unroll]] for (uint w = RS / 2; w > 0; w >>= 1) {
        if (slice < w) part[slice * CB + col] += part[(slice + w) * CB + col];
        barrier();
    }
    if (slice == 0 && n < p.N) dbias[n] += part[col];
}
