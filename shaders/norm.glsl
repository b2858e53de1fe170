// Shared by the norm_*.comp shaders: fixed-order shared-memory tree reductions over the workgroup.
// The workgroup size (specialization constant 0, declared by the including shader before this file) must be a power
// of two; the recorders in src/vkops/norm.c ensure it. A fixed tree (instead of subgroup operations or atomics) gives
// the same sum on every run and every subgroup size.

layout(push_constant) uniform Push {
    uint N;          // rows
    uint C;          // columns (channels)
    float eps;
    uint groups;     // workgroups launched; vk_dispatch_1d may launch more, which return at once
    uint flags;      // NORM_HAS_* bits: which optional gradients are bound to real tensors
    uint row0;       // column-sum shader: first row of this dispatch's chunk (rows row0 .. N-1)
} p;

#define NORM_HAS_DW 1u
#define NORM_HAS_DB 2u

shared float red_a[gl_WorkGroupSize.x];
shared float red_b[gl_WorkGroupSize.x];

// Sum of v over the whole workgroup; every invocation gets the result. Must be reached in uniform control flow.
float norm_reduce1(float v) {
    uint lid = gl_LocalInvocationID.x;
    red_a[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) red_a[lid] += red_a[lid + s];
        barrier();
    }
    float total = red_a[0];
    barrier();   // the next reduction overwrites red_a
    return total;
}

// Two sums at once, sharing the barriers.
vec2 norm_reduce2(float a, float b) {
    uint lid = gl_LocalInvocationID.x;
    red_a[lid] = a;
    red_b[lid] = b;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) {
            red_a[lid] += red_a[lid + s];
            red_b[lid] += red_b[lid + s];
        }
        barrier();
    }
    vec2 total = vec2(red_a[0], red_b[0]);
    barrier();
    return total;
}
