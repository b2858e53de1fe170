/* Dispatch of the KV-cache decoding ops (attention of one new token, cache row scatter, row gather-add) to the CPU or
 * Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

void iopo_attention_decode(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *cache, const iopo_tensor *lengths,
                           int B, int Tmax, int NH, int NKV, int hd) {
    // out (B,NH*hd), cache (B,Tmax,(NH+2*NKV)*hd), lengths (B) i32
    const char *op = "attention_decode";
    op_require(B > 0 && Tmax > 0 && NH > 0 && NKV > 0 && hd > 0, op, "B, Tmax, NH, NKV and hd must be positive");
    op_require(NH % NKV == 0, op, "NKV must divide NH");
    op_check(ctx, op, "out", out, IOPO_F32, (size_t)B * NH * hd, false);
    op_check(ctx, op, "cache", cache, IOPO_F32, (size_t)B * Tmax * (NH + 2 * NKV) * hd, false);
    op_check(ctx, op, "lengths", lengths, IOPO_I32, (size_t)B, false);
    op_require(out != cache, op, "out and cache must be distinct tensors");
    if (op_on_cpu(ctx)) cpu_attention_decode(op_f32(out), op_f32(cache), op_i32(lengths), B, Tmax, NH, NKV, hd);
    else vkop_attention_decode(ctx, out, cache, lengths, B, Tmax, NH, NKV, hd);
}

void iopo_scatter_rows(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, const iopo_tensor *pos, int B,
                       int Tmax, int W) {
    // dst (B,Tmax,W), src (B,W), pos (B) i32
    const char *op = "scatter_rows";
    op_require(B > 0 && Tmax > 0 && W > 0, op, "B, Tmax and W must be positive");
    op_check(ctx, op, "dst", dst, IOPO_F32, (size_t)B * Tmax * W, false);
    op_check(ctx, op, "src", src, IOPO_F32, (size_t)B * W, false);
    op_check(ctx, op, "pos", pos, IOPO_I32, (size_t)B, false);
    op_require(dst != src, op, "dst and src must be distinct tensors");
    if (op_on_cpu(ctx)) cpu_scatter_rows(op_f32(dst), op_f32(src), op_i32(pos), B, Tmax, W);
    else vkop_scatter_rows(ctx, dst, src, pos, B, Tmax, W);
}

void iopo_gather_rows_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *table, const iopo_tensor *idx, int N,
                          int R, int C) {
    // out (N,C) +=, table (R,C), idx (N) i32
    const char *op = "gather_rows_add";
    op_require(N > 0 && R > 0 && C > 0, op, "N, R and C must be positive");
    op_check(ctx, op, "out", out, IOPO_F32, (size_t)N * C, false);
    op_check_float(ctx, op, "table", table, (size_t)R * C, false);
    op_check(ctx, op, "idx", idx, IOPO_I32, (size_t)N, false);
    op_require(out != table, op, "out and table must be distinct tensors");
    if (op_on_cpu(ctx)) cpu_gather_rows_add(op_f32(out), table->data, table->dtype, op_i32(idx), N, R, C);
    else vkop_gather_rows_add(ctx, out, table, idx, N, R, C);
}
