// Shared by the norm_*.comp shaders: their push constants, and (reduce.glsl) fixed-order shared-memory tree reductions
// over the workgroup. The workgroup size (specialization constant 0, declared by the including shader before this
// file) must be a power of two; the recorders in src/vkops/norm.c ensure it.

layout(push_constant) uniform Push {
    uint N;          // rows
    uint C;          // columns (channels)
    float eps;
    uint groups;     // workgroups launched; vk_dispatch_1d may launch more, which return at once
    uint flags;      // NORM_HAS_* bits: which optional gradients are bound to real tensors
    uint row0;       // column-sum shader: first row of this dispatch's chunk (rows row0 .. N-1)
    // Tensors over one binding (src/vkops/norm.c): each dispatch binds windows of a block of rows starting at row
    // rbase (row shaders: their row 0), the block's first element at index s<i> of binding i. Unsplit: all 0.
    uint rbase;
    uint s0, s1, s2, s3, s4, s5;
} p;

#define NORM_HAS_DW 1u
#define NORM_HAS_DB 2u

#include "reduce.glsl"
