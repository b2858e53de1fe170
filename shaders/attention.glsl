// Shared by the attention shaders (attention_fwd.comp, attention_bwd.comp): the push constants, the specialization
// constant of channels per invocation, the index helpers of the fused qkv layout and a fixed-order workgroup
// reduction. Included after common.glsl and the layout(local_size_x_id) declaration; the includer defines
// ATT_LENGTHS_BINDING (where its lengths buffer sits) and ATT_REDUCE when it needs wg_reduce().

// Head channels each invocation owns (d = lid + c * WG, c < NCH): ceil(hd / WG), chosen by the recorder, so the
// per-channel accumulators live in registers whatever hd is.
layout(constant_id = 1) const uint NCH = 1;
IOPO_WINDOWED(2)

layout(push_constant) uniform Push {
    uint nrows;   // workgroups that do work: one per row (vk_dispatch_1d may round the grid up)
    uint B, T, NH, NKV, hd;
    uint group;   // NH / NKV: query heads per kv head
    float scale;  // 1 / sqrt(hd)
    // attention_bwd_kv only: the query heads g0 <= g < g1 of each kv group this dispatch adds into dk and dv (the
    // recorder splits a long loop over several dispatches, see src/vkops/attention.c)
    uint g0, g1;
    // Tensors over one binding (src/vkops/attention.c): each dispatch takes the sequences b0 <= b < b0 + B, their rows
    // of every (B, ...) tensor bound as windows, binding i's first element at index s<i> (b is the sequence in the
    // block; the index helpers below are relative to the block). Unsplit: all 0.
    uint b0;
    uint s0, s1, s2, s3, s4, s5;
} p;

layout(std430, set = 0, binding = ATT_LENGTHS_BINDING) readonly buffer Lengths { int lengths[]; };   // (B)

// Valid tokens of sequence b, clamped to [0, T] so a bad lengths entry cannot index out of bounds.
uint seq_len(uint b) { return uint(clamp(lengths[WIN(p.b0) + b], 0, int(p.T))); }

uint qkv_stride() { return (p.NH + 2u * p.NKV) * p.hd; }                 // qkv elements per token
uint q_off(uint b, uint t, uint h) { return (b * p.T + t) * qkv_stride() + h * p.hd; }
uint k_off(uint b, uint t, uint kvh) { return (b * p.T + t) * qkv_stride() + (p.NH + kvh) * p.hd; }
uint v_off(uint b, uint t, uint kvh) { return (b * p.T + t) * qkv_stride() + (p.NH + p.NKV + kvh) * p.hd; }
uint o_off(uint b, uint t, uint h) { return (b * p.T + t) * p.NH * p.hd + h * p.hd; }   // out / dout (B,T,NH*hd)
uint r_off(uint b, uint h, uint t) { return (b * p.NH + h) * p.T + t; }                 // lse / D (B,NH,T)

#ifdef ATT_REDUCE
// Tree reduction over the workgroup (size a power of two, as vk_group_size gives): the pairing is fixed, so the
// result is the same on every run, whatever the subgroup size.
shared float red[gl_WorkGroupSize.x];

float wg_reduce(float x, bool is_max) {
    uint lid = gl_LocalInvocationID.x;
    red[lid] = x;
    barrier();
    for (uint k = gl_WorkGroupSize.x / 2u; k > 0u; k >>= 1) {
        if (lid < k) red[lid] = is_max ? max(red[lid], red[lid + k]) : red[lid] + red[lid + k];
        barrier();
    }
    float r = red[0];
    barrier();   // nobody may overwrite red[] for the next reduction before everyone has read red[0]
    return r;
}
#endif
