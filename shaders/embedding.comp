// Token + position embedding (include/iopo/ops.h). Three entry points, chosen by define:
// variant: embedding_fwd -DEMB_FWD=1
// variant: embedding_bwd_wte -DEMB_BWD_WTE=1
// variant: embedding_bwd_wpe -DEMB_BWD_WPE=1
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "half.glsl"

layout(local_size_x_id = 0) in;
IOPO_WINDOWED(3)

layout(push_constant) uniform Push {
    uint ngroups;   // workgroups that do work (vk_dispatch_1d may round the grid up)
    uint B, T, C, V;
    uint has_wpe;   // 0: binding 3 is a dummy and must not be read
    uint bt_begin, bt_end;   // embedding_bwd_wte: the positions this dispatch adds (the recorder splits long batches)
    // wte / dwte over one binding: each dispatch binds the rows [v_begin, v_end) (from element wte_shift of its
    // binding) and handles only the tokens with those ids; owns_oov: it also writes the out-of-vocabulary positions.
    // Unsplit: [0, V), shift 0, owns_oov 1.
    uint v_begin, v_end, wte_shift, owns_oov;
    // out / dout (B,T,C) over one binding: each dispatch takes the positions from bt0 on (embedding_bwd_wpe: the
    // sequences from bt0 / T on, B of them), their rows of out or dout bound from element s_rows of its window and
    // their tokens from element s_tok of the tokens' window. Unsplit: all 0.
    uint bt0, s_rows, s_tok;
} p;

#if defined(EMB_FWD)
// The tables may be 16-bit (kept in their checkpoint's precision): bound as uint words, widened exactly to fp32.
layout(constant_id = 1) const uint WTE_DT = 0;   // DT_F32, DT_BF16 or DT_F16 (shaders/half.glsl)
layout(constant_id = 2) const uint WPE_DT = 0;
layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };   // (B,T,C)
layout(std430, set = 0, binding = 1) readonly buffer Tok { int tokens[]; };    // (B,T)
layout(std430, set = 0, binding = 2) readonly buffer Wte { uint wte[]; };      // (V,C)
layout(std430, set = 0, binding = 3) readonly buffer Wpe { uint wpe[]; };      // (maxT,C)

float load_wte(uint i) { return iopo_widen(wte[iopo_word_index(i, WTE_DT)], i, WTE_DT); }
float load_wpe(uint i) { return iopo_widen(wpe[iopo_word_index(i, WPE_DT)], i, WPE_DT); }

// One workgroup per position (b, t), its invocations over the channels: the token id is read once per row and no
// invocation divides by C or T (integer division is slow, and scalarised, on CPU implementations such as lavapipe).
void main() {
    uint bt = iopo_group_id();
    if (bt >= p.ngroups) return;
    int tok = tokens[WIN(p.s_tok) + bt];   // bt: the position in this dispatch's block
    // out-of-vocabulary ids (e.g. -100 padding) give a zero token row instead of an out-of-bounds read
    bool in_vocab = tok >= 0 && uint(tok) < p.V;
    if (in_vocab ? (uint(tok) < WIN(p.v_begin) || uint(tok) >= p.v_end) : p.owns_oov == 0u) return;   // another piece's
    uint row = WIN(p.s_rows) + bt * p.C;
    uint wte_row = in_vocab ? (uint(tok) - WIN(p.v_begin)) * p.C + WIN(p.wte_shift) : 0u;
    uint wpe_row = ((WIN(p.bt0) + bt) % p.T) * p.C;
    for (uint c = gl_LocalInvocationID.x; c < p.C; c += gl_WorkGroupSize.x) {
        float x = in_vocab ? load_wte(wte_row + c) : 0.0;
        if (p.has_wpe != 0u) x += load_wpe(wpe_row + c);
        out_[row + c] = x;
    }
}

#elif defined(EMB_BWD_WTE)
layout(std430, set = 0, binding = 0) buffer Dwte { float dwte[]; };            // (V,C)
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };   // (B,T,C)
layout(std430, set = 0, binding = 2) readonly buffer Tok { int tokens[]; };    // (B,T)

// Repeated tokens make rows collide, so invocations split the channels instead: each owns one channel c of every
// row and walks the positions in order, so every dwte element is written by one invocation in a fixed order (no
// atomics, deterministic). Neighbouring invocations touch neighbouring channels, so the accesses coalesce.
void main() {
    uint gid = iopo_group_id();
    if (gid >= p.ngroups) return;
    uint c = gid * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (c >= p.C) return;
    for (uint bt = p.bt_begin; bt < p.bt_end; bt++) {
        uint lb = bt - WIN(p.bt0);   // the position in the windows of dout and tokens
        int tok = tokens[WIN(p.s_tok) + lb];
        // out of vocabulary, or of this piece
        if (tok < 0 || uint(tok) < WIN(p.v_begin) || uint(tok) >= p.v_end) continue;
        dwte[(uint(tok) - WIN(p.v_begin)) * p.C + WIN(p.wte_shift) + c] += dout[WIN(p.s_rows) + lb * p.C + c];
    }
}

#elif defined(EMB_BWD_WPE)
layout(std430, set = 0, binding = 0) buffer Dwpe { float dwpe[]; };            // (maxT,C)
layout(std430, set = 0, binding = 1) readonly buffer Dout { float dout[]; };   // (B,T,C)

void main() {
    uint gid = iopo_group_id();
    if (gid >= p.ngroups) return;
    uint tc = gid * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint TC = p.T * p.C;
    if (tc >= TC) return;
    float s = 0.0;
    for (uint b = 0; b < p.B; b++) s += dout[WIN(p.s_rows) + b * TC + tc];
    dwpe[tc] += s;
}
#endif
