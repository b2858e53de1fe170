// Shared by the qk_norm_*.comp shaders (per-head RMSNorm of the q and k heads of packed qkv rows): their push
// constants, then the fixed-order tree reductions of reduce.glsl. A token's row holds S = NH + 2*NKV heads of hd
// values: q heads 0..NH-1 (weight qw), k heads NH..NH+NKV-1 (weight kw), v heads after them (passed through). rstd is
// (N, NH+NKV). The workgroup size must be a power of two (src/vkops/qk_norm.c ensures it).

layout(push_constant) uniform Push {
    uint N;          // tokens
    uint NH;         // q heads
    uint NKV;        // k heads (and v heads)
    uint hd;         // values per head
    float eps;
    uint groups;     // workgroups launched; vk_dispatch_1d may launch more, which return at once
    uint row0;       // column-sum shader: first head row of this dispatch's chunk
    uint row1;       // column-sum shader: end of the chunk (head rows row0 .. row1-1)
    uint h0;         // column-sum shader: first head summed (0 for q, NH for k)
    uint nheads;     // column-sum shader: heads per token summed (NH for q, NKV for k)
    // Tensors over one binding (src/vkops/qk_norm.c): each dispatch binds windows of a block of tokens starting at
    // token nbase (row shaders: their token 0), the block's first element at index s<i> of binding i. Unsplit: all 0.
    uint nbase;
    uint s0, s1, s2, s3, s4, s5;
} p;

#include "reduce.glsl"

// Sums of v over each segment of `lanes` consecutive invocations (a power of two dividing the workgroup size); every
// invocation gets its segment's sum. A fixed tree, as norm_reduce1. Must be reached in uniform control flow.
float qk_segment_sum(float v, uint lanes) {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid % lanes;
    red_a[lid] = v;
    barrier();
    for (uint s = lanes / 2; s > 0; s >>= 1) {
        if (lane < s) red_a[lid] += red_a[lid + s];
        barrier();
    }
    float total = red_a[lid - lane];
    barrier();   // the next reduction overwrites red_a
    return total;
}
