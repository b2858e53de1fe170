/* Vulkan recorders of the KV-cache decoding ops (shaders/attention_decode.comp, shaders/decode_rows.comp). */
#include <math.h>
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct dec_push {
    uint32_t ngroups, B, Tmax, NH, NKV, hd, group;
    float scale;
    uint32_t chunk, nchunks;
} dec_push;

typedef struct rows_push {
    uint32_t ngroups, n, rows, C;
} rows_push;

/* lavapipe silently ends a shader's loops after 65,535 iterations in total per invocation. The decode splits the
 * cache into chunks of keys so that every invocation of either pass stays under this budget (half of that limit,
 * counting every loop back-edge the shader takes, inner loops included); a shape that cannot is refused. */
#define DEC_LOOP_BUDGET 32768u


// Worst-case loop iterations of one attention_decode_part invocation over a chunk of L keys (see the shader).
static uint64_t part_iters(uint64_t L, uint32_t wg, int hd) {
    uint64_t keys = vk_div_up64(L, wg);   // keys per invocation
    return keys * ((uint64_t)hd + 1) + keys + 2 * (uint64_t)vk_log2u(wg) +
           vk_div_up64((uint64_t)hd, wg) * (1 + keys * (1 + (uint64_t)wg)) + vk_div_up64((uint64_t)hd + 2, wg);
}

// ... and of one attention_decode_merge invocation over nchunks chunks.
static uint64_t merge_iters(uint64_t nchunks, uint32_t wg, int hd) {
    return 2 * nchunks + vk_div_up64((uint64_t)hd, wg) * (1 + nchunks);
}

void vkop_attention_decode(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *cache, const iopo_tensor *lengths,
                           int B, int Tmax, int NH, int NKV, int hd) {
    // out (B,NH*hd), cache (B,Tmax,(NH+2*NKV)*hd), lengths (B) i32
    const char *op = "attention_decode";
    // part: invocations over keys (up to 128 a chunk), two floats of shared memory each (reduction, probability tile)
    uint32_t wg = vk_group_size(ctx, 128, 2 * sizeof(float));
    uint32_t want2 = 32;   // merge: invocations over channels
    while (want2 < 128 && want2 < (uint32_t)hd) want2 *= 2;
    uint32_t wg2 = vk_group_size(ctx, want2, 0);

    // Chunks of 256 keys (at least one workgroup's worth), doubled while the merge would loop too long.
    uint64_t L = wg >= 256 ? wg : 256 / wg * wg;
    while (merge_iters(vk_div_up64((uint64_t)Tmax, L), wg2, hd) > DEC_LOOP_BUDGET &&
           part_iters(2 * L, wg, hd) <= DEC_LOOP_BUDGET)
        L *= 2;
    if (L > (uint64_t)Tmax) L = (uint64_t)Tmax;
    uint64_t nchunks = vk_div_up64((uint64_t)Tmax, L);
    op_require(part_iters(L, wg, hd) <= DEC_LOOP_BUDGET && merge_iters(nchunks, wg2, hd) <= DEC_LOOP_BUDGET, op,
               "cache too long or heads too wide for the device's loop limit");

    uint64_t bh = (uint64_t)B * NH, nscores = bh * nchunks * L, npart = bh * nchunks * ((uint64_t)hd + 2);
    op_require((uint64_t)B * Tmax * (NH + 2 * NKV) * hd <= UINT32_MAX && nscores <= UINT32_MAX &&
                   npart <= UINT32_MAX,
               op, "tensors over 2^32 elements are not supported on Vulkan");
    // Scratch for this call only: freeing while recording defers the release until the stream has run.
    iopo_tensor *scores = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)nscores);
    iopo_tensor *part = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)npart);

    dec_push pc = {.ngroups = (uint32_t)(bh * nchunks), .B = (uint32_t)B, .Tmax = (uint32_t)Tmax,
                   .NH = (uint32_t)NH, .NKV = (uint32_t)NKV, .hd = (uint32_t)hd, .group = (uint32_t)(NH / NKV),
                   .scale = 1.0f / sqrtf((float)hd),   // the same float the CPU reference computes
                   .chunk = (uint32_t)L, .nchunks = (uint32_t)nchunks};
    vk_arg pargs[] = {VK_W(part), VK_W(scores), VK_R(cache), VK_R(lengths)};
    vk_dispatch_1d(ctx, "attention_decode_part", &wg, 1, pargs, 4, &pc, sizeof pc, bh * nchunks);

    pc.ngroups = (uint32_t)bh;
    vk_arg margs[] = {VK_W(out), VK_R(part), VK_R(lengths)};
    vk_dispatch_1d(ctx, "attention_decode_merge", &wg2, 1, margs, 3, &pc, sizeof pc, bh);

    iopo_tensor_free(scores);
    iopo_tensor_free(part);
}

// One invocation per element of n rows of C; `indexed` elements in the tensor the rows index (dst or table). A gather
// passes its table (whose dtype is specialization constant 1), a scatter NULL.
static void rows_dispatch(iopo_ctx *ctx, const char *shader, vk_arg *args, int n, int rows, int C, uint64_t indexed,
                          const iopo_tensor *table) {
    uint32_t spec[2] = {vk_group_size(ctx, 256, 0), table ? (uint32_t)table->dtype : 0u};
    uint32_t wg = spec[0];
    uint64_t elems = (uint64_t)n * C;
    op_require(elems <= UINT32_MAX && indexed <= UINT32_MAX, shader,
               "tensors over 2^32 elements are not supported on Vulkan");
    uint64_t groups = vk_div_up64(elems, wg);
    rows_push pc = {(uint32_t)groups, (uint32_t)n, (uint32_t)rows, (uint32_t)C};
    vk_dispatch_1d(ctx, shader, spec, table ? 2 : 1, args, 3, &pc, sizeof pc, groups);
}

void vkop_scatter_rows(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, const iopo_tensor *pos, int B,
                       int Tmax, int W) {
    // dst (B,Tmax,W), src (B,W), pos (B) i32
    vk_arg args[] = {VK_W(dst), VK_R(src), VK_R(pos)};
    rows_dispatch(ctx, "scatter_rows", args, B, Tmax, W, (uint64_t)B * Tmax * W, NULL);
}

void vkop_gather_rows_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *table, const iopo_tensor *idx, int N,
                          int R, int C) {
    // out (N,C) +=, table (R,C) f32, bf16 or f16, idx (N) i32
    vk_arg args[] = {VK_W(out), VK_R(table), VK_R(idx)};
    rows_dispatch(ctx, "gather_rows_add", args, N, R, C, (uint64_t)R * C, table);
}
