/* Dispatch of rotary position embeddings to the CPU or Vulkan backend, and the host-side cos/sin tables. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

static void rope_shape(const char *op, int B, int T, int NH, int NKV, int hd, int npos) {
    op_require(B >= 0 && T >= 0, op, "needs B >= 0 and T >= 0");
    op_require(NH > 0 && NKV > 0, op, "needs NH > 0 and NKV > 0");
    op_require(hd > 0 && hd % 2 == 0, op, "needs an even head size hd > 0");
    op_require(npos > 0, op, "needs npos > 0 (the tables' positions)");
}

void iopo_rope_tables(const iopo_rope_config *cfg, int hd, int npos, float *cos_t, float *sin_t) {
    const char *op = "rope_tables";
    op_require(cfg && cos_t && sin_t, op, "needs a config and both tables");
    op_require(hd > 0 && hd % 2 == 0 && npos >= 0, op, "needs an even head size hd > 0 and npos >= 0");
    op_require(cfg->theta > 0, op, "needs theta > 0");
    op_require(cfg->scaling == IOPO_ROPE_DEFAULT || cfg->scaling == IOPO_ROPE_LLAMA3, op, "unknown scaling");
    if (cfg->scaling == IOPO_ROPE_LLAMA3)
        op_require(cfg->factor > 0 && cfg->low_freq_factor > 0 && cfg->high_freq_factor > cfg->low_freq_factor &&
                       cfg->original_max_position_embeddings > 0,
                   op, "llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                       "original_max_position_embeddings > 0");
    cpu_rope_tables(cfg, hd, npos, cos_t, sin_t);
}

void iopo_rope_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *cos_t,
                       const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                       int npos) {
    const char *op = "rope_forward";
    rope_shape(op, B, T, NH, NKV, hd, npos);
    size_t N = (size_t)B * (size_t)T, NW = N * (size_t)(NH + 2 * NKV) * (size_t)hd;
    size_t tab = (size_t)npos * (size_t)(hd / 2);
    op_check(ctx, op, "out", out, IOPO_F32, NW, false);
    op_check(ctx, op, "inp", inp, IOPO_F32, NW, false);
    op_check(ctx, op, "cos_t", cos_t, IOPO_F32, tab, false);
    op_check(ctx, op, "sin_t", sin_t, IOPO_F32, tab, false);
    op_check(ctx, op, "positions", positions, IOPO_I32, N, false);
    if (op_on_cpu(ctx))
        cpu_rope_forward(op_f32(out), op_f32(inp), op_f32(cos_t), op_f32(sin_t), op_i32(positions), B, T, NH, NKV, hd,
                         npos);
    else vkop_rope_forward(ctx, out, inp, cos_t, sin_t, positions, B, T, NH, NKV, hd, npos);
}

void iopo_rope_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *cos_t,
                        const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                        int npos) {
    const char *op = "rope_backward";
    rope_shape(op, B, T, NH, NKV, hd, npos);
    size_t N = (size_t)B * (size_t)T, NW = N * (size_t)(NH + 2 * NKV) * (size_t)hd;
    size_t tab = (size_t)npos * (size_t)(hd / 2);
    op_check(ctx, op, "dinp", dinp, IOPO_F32, NW, true);
    op_check(ctx, op, "dout", dout, IOPO_F32, NW, false);
    op_check(ctx, op, "cos_t", cos_t, IOPO_F32, tab, false);
    op_check(ctx, op, "sin_t", sin_t, IOPO_F32, tab, false);
    op_check(ctx, op, "positions", positions, IOPO_I32, N, false);
    if (!dinp) return;
    op_require(dinp != dout, op, "dinp must not be dout (not in place)");
    if (op_on_cpu(ctx))
        cpu_rope_backward(op_f32(dinp), op_f32(dout), op_f32(cos_t), op_f32(sin_t), op_i32(positions), B, T, NH, NKV,
                          hd, npos);
    else vkop_rope_backward(ctx, dinp, dout, cos_t, sin_t, positions, B, T, NH, NKV, hd, npos);
}
