// Shared by the qk_norm_*.comp shaders (per-head RMSNorm of the q and k heads of packed qkv rows): their push
// constants, then the fixed-order tree reductions of reduce.glsl. A token's row holds S = NH + 2*NKV heads of hd values:
// q heads 0..NH-1 (weight qw), k heads NH..NH+NKV-1 (weight kw), v heads after them (passed through). rstd is
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
} p;

#include "reduce.glsl"
