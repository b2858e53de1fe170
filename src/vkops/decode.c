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
    uint32_t b0, scache, sout;   // split: the block's first sequence, its first element in the cache and out windows
} dec_push;

typedef struct rows_push {
    uint32_t ngroups, n, rows, C;
    uint32_t lo, hi, s0, s1;   // split: the block (see shaders/decode_rows.comp) and windows' first elements
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
    /* A cache (or out) over one binding: blocks of whole sequences, each bound as windows, the scratch sized for one
     * block and reused by the next (the stream orders the reuse). Every sequence is computed as unsplit. */
    vk_arg rows_args[] = {VK_W(out), VK_R(cache), VK_R(lengths)};
    const uint64_t re[] = {(uint64_t)NH * hd, (uint64_t)Tmax * (NH + 2 * NKV) * hd, 0};
    uint64_t per = vk_rows_per_window(ctx, "attention_decode (split by sequence)", rows_args, re, 3);
    if (per) {
        uint64_t widest = (uint64_t)hd + 2 > L ? (uint64_t)hd + 2 : L;   // part's and scores' values per (b,h,chunk)
        uint64_t scratch_per = vk_window_elems(ctx, IOPO_F32) / ((uint64_t)NH * nchunks * widest);
        if (scratch_per < per) per = scratch_per;
        op_require(per > 0, op, "one sequence's scratch exceeds one storage binding");
    }
    uint64_t blk = per && per < (uint64_t)B ? per : (uint64_t)B;   // sequences per block
    // Scratch for this call only: freeing while recording defers the release until the stream has run.
    iopo_tensor *scores = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)(blk * NH * nchunks * L));
    iopo_tensor *part = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)(blk * NH * nchunks * ((uint64_t)hd + 2)));

    dec_push pc = {.ngroups = (uint32_t)(bh * nchunks), .B = (uint32_t)B, .Tmax = (uint32_t)Tmax,
                   .NH = (uint32_t)NH, .NKV = (uint32_t)NKV, .hd = (uint32_t)hd, .group = (uint32_t)(NH / NKV),
                   .scale = 1.0f / sqrtf((float)hd),   // the same float the CPU reference computes
                   .chunk = (uint32_t)L, .nchunks = (uint32_t)nchunks};
    for (uint64_t b0 = 0; b0 < (uint64_t)B; b0 += blk) {
        uint64_t b1 = (uint64_t)B - b0 < blk ? (uint64_t)B : b0 + blk;
        vk_arg w[3];
        uint32_t shift[3] = {0, 0, 0};
        const vk_arg *bound = rows_args;
        if (blk < (uint64_t)B) {
            vk_row_windows(ctx, rows_args, re, 3, b0, b1, w, shift);
            bound = w;
        }
        uint64_t nbh = (b1 - b0) * NH;
        pc.B = (uint32_t)(b1 - b0);
        pc.b0 = (uint32_t)b0;
        pc.sout = shift[0];
        pc.scache = shift[1];
        pc.ngroups = (uint32_t)(nbh * nchunks);
        vk_arg pargs[] = {VK_W(part), VK_W(scores), bound[1], VK_R(lengths)};
        vk_dispatch_1d(ctx, "attention_decode_part", &wg, 1, pargs, 4, &pc, sizeof pc, nbh * nchunks);

        pc.ngroups = (uint32_t)nbh;
        vk_arg margs[] = {bound[0], VK_R(part), VK_R(lengths)};
        vk_dispatch_1d(ctx, "attention_decode_merge", &wg2, 1, margs, 3, &pc, sizeof pc, nbh);
    }

    iopo_tensor_free(scores);
    iopo_tensor_free(part);
}

// One invocation per element of n rows of C; `indexed` elements in the tensor the rows index (dst or table). A gather
// passes its table (whose dtype is specialization constant 1), a scatter NULL.
static rows_push rows_push_make(const char *shader, uint32_t wg, uint64_t n, int rows, int C, uint64_t indexed) {
    uint64_t elems = n * (uint64_t)C;
    op_require(elems <= UINT32_MAX && indexed <= UINT32_MAX, shader,
               "tensors over 2^32 elements are not supported on Vulkan");
    uint64_t groups = vk_div_up64(elems, wg);
    return (rows_push){(uint32_t)groups, (uint32_t)n, (uint32_t)rows, (uint32_t)C, 0, (uint32_t)rows, 0, 0};
}

void vkop_scatter_rows(iopo_ctx *ctx, iopo_tensor *dst, const iopo_tensor *src, const iopo_tensor *pos, int B,
                       int Tmax, int W) {
    // dst (B,Tmax,W), src (B,W), pos (B) i32
    uint32_t wg = vk_group_size(ctx, 256, 0);
    vk_arg args[] = {VK_W(dst), VK_R(src), VK_R(pos)};
    /* A cache over one binding: blocks of whole sequences, dst's and src's rows of them bound as windows. */
    const uint64_t re[] = {(uint64_t)Tmax * W, (uint64_t)W, 0};
    uint64_t per = vk_rows_per_window(ctx, "scatter_rows (split by sequence)", args, re, 3);
    if (!per) per = (uint64_t)B;
    for (uint64_t b0 = 0; b0 < (uint64_t)B; b0 += per) {
        uint64_t b1 = (uint64_t)B - b0 < per ? (uint64_t)B : b0 + per;
        rows_push pc = rows_push_make("scatter_rows", wg, b1 - b0, Tmax, W, (uint64_t)B * Tmax * W);
        vk_arg part[3];
        const vk_arg *bound = args;
        if (per < (uint64_t)B) {
            uint32_t shift[3];
            vk_row_windows(ctx, args, re, 3, b0, b1, part, shift);
            pc.lo = (uint32_t)b0;
            pc.s0 = shift[0];
            pc.s1 = shift[1];
            bound = part;
        }
        vk_dispatch_1d(ctx, "scatter_rows", &wg, 1, bound, 3, &pc, sizeof pc, pc.ngroups);
    }
}

void vkop_gather_rows_add(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *table, const iopo_tensor *idx, int N,
                          int R, int C) {
    // out (N,C) +=, table (R,C) f32, bf16 or f16, idx (N) i32
    uint32_t spec[2] = {vk_group_size(ctx, 256, 0), (uint32_t)table->dtype};
    vk_arg args[] = {VK_W(out), VK_R(table), VK_R(idx)};
    rows_push pc = rows_push_make("gather_rows_add", spec[0], (uint64_t)N, R, C, (uint64_t)R * C);
    /* A table over one binding: one dispatch per range of its rows, each adding the rows whose index falls in it, so
     * every output element gets its one addition, as unsplit. */
    const uint64_t re[] = {0, (uint64_t)C, 0};
    uint64_t per = vk_rows_per_window(ctx, "gather_rows_add", args, re, 3);
    if (!per) {
        vk_dispatch_1d(ctx, "gather_rows_add", spec, 2, args, 3, &pc, sizeof pc, pc.ngroups);
        return;
    }
    for (uint64_t r0 = 0; r0 < (uint64_t)R; r0 += per) {
        uint64_t r1 = (uint64_t)R - r0 < per ? (uint64_t)R : r0 + per;
        vk_arg part[3];
        uint32_t shift[3];
        vk_row_windows(ctx, args, re, 3, r0, r1, part, shift);
        pc.lo = (uint32_t)r0;
        pc.hi = (uint32_t)r1;
        pc.s1 = shift[1];
        vk_dispatch_1d(ctx, "gather_rows_add", spec, 2, part, 3, &pc, sizeof pc, pc.ngroups);
    }
}
