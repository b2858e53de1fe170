// Fixed-order shared-memory tree reductions over the workgroup, shared by the norm_*.comp and qk_norm_*.comp shaders.
// The workgroup size (specialization constant 0, declared by the including shader before this file) must be a power
// of two; the recorders in src/vkops/ ensure it. A fixed tree (instead of subgroup operations or atomics) gives the
// same sum on every run and every subgroup size.

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
