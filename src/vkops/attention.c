/* Vulkan recorders of causal grouped-query attention, flash-style (shaders/attention_fwd.comp,
 * shaders/attention_bwd.comp): no (T,T) buffer; the backward recomputes the probabilities from the forward's lse.
 * Tensors over one storage binding split into blocks of whole sequences. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/context_internal.h"
#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct att_push {
    uint32_t nrows, B, T, NH, NKV, hd, group;
    float scale;
    uint32_t g0, g1;   // attention_bwd_kv: the query heads [g0, g1) of each kv group this dispatch adds
    uint32_t b0, shift[6];   // split: the block's first sequence, and binding i's first element in its window
} att_push;

/* lavapipe silently ends a shader's loops after 65,535 iterations in total per invocation (all loops together).
 * Every invocation of these shaders stays under half of that, counting each loop iteration the shader can take
 * (inner loops included, single-trip ones too), as the decode does. A row's key loop (forward, dq) is one
 * invocation's: a row longer than the budget allows is refused with a message naming the limit. The dk/dv loop
 * over the queries of all heads of a kv group (heads x queries: the long one) is split over dispatches instead. */
#define ATT_LOOP_BUDGET 32768u


typedef struct att_plan {
    uint32_t spec[2];   // workgroup size WG, channels per invocation NCH = ceil(hd / WG)
} att_plan;

// Invocations over keys (or queries): about one each up to 128, a power of two for the tree reduction, within the
// device's limits (shared memory holds two floats per invocation: a reduction and a tile, or two tiles).
static att_plan att_plan_make(iopo_ctx *ctx, int T, int hd) {
    uint32_t want = 32;
    while (want < 128 && want < (uint32_t)T) want *= 2;
    uint32_t wg = vk_group_size(ctx, want, 2 * sizeof(float));
    att_plan pl = {{wg, (uint32_t)vk_div_up64((uint64_t)hd, wg)}};
    return pl;
}

// Loop iterations of one tile of WG keys in attention_fwd (tile loop, dot product, max reduction, output update),
// of one in attention_bwd_q (tile loop, the two dot products' loop, dq update), and of one tile of WG queries in
// attention_bwd_kv (tile loop, dot products' loop, dk/dv update).
static uint64_t fwd_tile(const att_plan *pl, int hd) {
    return 1 + (uint64_t)hd + vk_log2u(pl->spec[0]) + (uint64_t)pl->spec[1] * (1 + pl->spec[0]);
}
static uint64_t bwd_tile(const att_plan *pl, int hd) {
    return 1 + (uint64_t)hd + (uint64_t)pl->spec[1] * (1 + pl->spec[0]);
}

// Worst case of a whole invocation: rows of T keys.
static uint64_t fwd_iters(const att_plan *pl, int T, int hd) {
    uint32_t nch = pl->spec[1];
    return vk_div_up64((uint64_t)T, pl->spec[0]) * fwd_tile(pl, hd) + vk_log2u(pl->spec[0]) + 2 * (uint64_t)nch;
}
static uint64_t bwd_q_iters(const att_plan *pl, int T, int hd) {
    uint32_t nch = pl->spec[1];
    return 3 * (uint64_t)nch + vk_log2u(pl->spec[0]) + vk_div_up64((uint64_t)T, pl->spec[0]) * bwd_tile(pl, hd);
}
// attention_bwd_kv over ng query heads of T queries.
static uint64_t bwd_kv_iters(const att_plan *pl, int T, int hd, uint64_t ng) {
    return 2 * (uint64_t)pl->spec[1] + ng * (1 + vk_div_up64((uint64_t)T, pl->spec[0]) * bwd_tile(pl, hd));
}

static void att_require_loops(const char *op, uint64_t iters, int T, int hd) {
    if (iters <= ATT_LOOP_BUDGET) return;
    iopo_fail("%s: a row of %d keys at head size %d needs %llu loop iterations in one shader invocation, over the "
              "budget of %u kept under lavapipe's limit of 65,535 loop iterations per invocation; use a shorter "
              "sequence (or the CPU backend)",
              op, T, hd, (unsigned long long)iters, ATT_LOOP_BUDGET);
}

static att_push att_push_make(uint64_t nrows, int B, int T, int NH, int NKV, int hd) {
    op_require((uint64_t)B * T * (NH + 2 * NKV) * hd <= UINT32_MAX, "attention",
               "tensors over 2^32 elements are not supported on Vulkan");
    att_push pc = {.nrows = (uint32_t)nrows, .B = (uint32_t)B, .T = (uint32_t)T, .NH = (uint32_t)NH,
                   .NKV = (uint32_t)NKV, .hd = (uint32_t)hd, .group = (uint32_t)(NH / NKV),
                   .scale = 1.0f / sqrtf((float)hd),   // the same float the CPU reference computes
                   .g0 = 0, .g1 = (uint32_t)(NH / NKV)};
    return pc;
}

/* Tensors over one binding split into blocks of whole sequences (a query attends only to keys of its own sequence):
 * re holds each operand's values per sequence (0 for lengths, bound whole). Returns the sequences per block (B when
 * everything fits); one sequence that no window holds goes to the failure handler. */
static uint64_t att_seqs_per_block(iopo_ctx *ctx, const char *op, const vk_arg *args, const uint64_t *re, int n,
                                   int B) {
    uint64_t per = vk_rows_per_window(ctx, op, args, re, n);
    return per ? per : (uint64_t)B;
}

/* One dispatch per block of sequences [b0, b0 + per): the block's windows and shifts, B and the row count per block
 * (rows_per_seq rows each). Every row is computed as unsplit: its workgroup reads only its own sequence. */
static void att_dispatch_blocks(iopo_ctx *ctx, const char *shader, const uint32_t *spec, const vk_arg *args,
                                const uint64_t *re, int n, att_push pc, int B, uint64_t per, uint64_t rows_per_seq) {
    uint32_t sp[3] = {spec[0], spec[1], per < (uint64_t)B};   // 2: WINDOWED (shaders/common.glsl)
    for (uint64_t b0 = 0; b0 < (uint64_t)B; b0 += per) {
        uint64_t b1 = (uint64_t)B - b0 < per ? (uint64_t)B : b0 + per;
        vk_arg part[7];
        const vk_arg *bound = args;
        if (per < (uint64_t)B) {
            uint32_t shift[7] = {0};   // lengths, the last argument, is bound whole: its shift (0) is not pushed
            vk_row_windows(ctx, args, re, n, b0, b1, part, shift);
            memcpy(pc.shift, shift, sizeof pc.shift);
            pc.b0 = (uint32_t)b0;
            pc.B = (uint32_t)(b1 - b0);
            pc.nrows = (uint32_t)((b1 - b0) * rows_per_seq);
            bound = part;
        }
        vk_dispatch_1d(ctx, shader, sp, 3, bound, n, &pc, sizeof pc, (b1 - b0) * rows_per_seq);
    }
}

void vkop_attention_forward(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *lse, const iopo_tensor *qkv,
                            const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd) {
    // out (B,T,NH*hd), lse (B,NH,T), qkv (B,T,(NH+2*NKV)*hd), lengths (B) i32
    att_plan pl = att_plan_make(ctx, T, hd);
    att_require_loops("attention_forward", fwd_iters(&pl, T, hd), T, hd);
    uint64_t rows = (uint64_t)B * NH * T;   // one workgroup per query row
    att_push pc = att_push_make(rows, B, T, NH, NKV, hd);
    vk_arg args[] = {VK_W(out), VK_W(lse), VK_R(qkv), VK_R(lengths)};
    uint64_t t = (uint64_t)T, w = (uint64_t)(NH + 2 * NKV) * hd;
    const uint64_t re[] = {t * NH * hd, (uint64_t)NH * t, t * w, 0};
    uint64_t per = att_seqs_per_block(ctx, "attention_fwd (split by sequence)", args, re, 4, B);
    att_dispatch_blocks(ctx, "attention_fwd", pl.spec, args, re, 4, pc, B, per, (uint64_t)NH * T);
}

void vkop_attention_backward(iopo_ctx *ctx, iopo_tensor *dqkv, iopo_tensor *scratch, const iopo_tensor *dout,
                             const iopo_tensor *qkv, const iopo_tensor *out, const iopo_tensor *lse,
                             const iopo_tensor *lengths, int B, int T, int NH, int NKV, int hd) {
    // dqkv (B,T,(NH+2*NKV)*hd) +=, scratch (B,NH,T) = D, dout (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd),
    // out (B,T,NH*hd), lse (B,NH,T), lengths (B) i32
    att_plan pl = att_plan_make(ctx, T, hd);
    att_require_loops("attention_backward", bwd_q_iters(&pl, T, hd), T, hd);
    const uint64_t group = (uint64_t)(NH / NKV);

    uint64_t qrows = (uint64_t)B * NH * T;    // pass 1: one workgroup per query row: D, then dq
    att_push pq = att_push_make(qrows, B, T, NH, NKV, hd);
    vk_arg qargs[] = {VK_W(dqkv), VK_W(scratch), VK_R(dout), VK_R(qkv), VK_R(out), VK_R(lse), VK_R(lengths)};
    uint64_t t = (uint64_t)T, w = (uint64_t)(NH + 2 * NKV) * hd, r = (uint64_t)NH * t, o = t * NH * hd;
    const uint64_t re[] = {t * w, r, o, t * w, o, r, 0};
    uint64_t per = att_seqs_per_block(ctx, "attention_bwd (split by sequence)", qargs, re, 7, B);
    att_dispatch_blocks(ctx, "attention_bwd_q", pl.spec, qargs, re, 7, pq, B, per, (uint64_t)NH * T);

    // Pass 2: one workgroup per key row, dk and dv over the group's query heads and their queries. All heads in one
    // dispatch when that loop fits the budget, else as many whole heads as fit per dispatch; the dispatches add into
    // dqkv one after the other (the stream orders them), heads ascending: a fixed order. One head always fits: its
    // loop over T queries costs no more than the dq pass's over T keys, checked above.
    uint64_t kvrows = (uint64_t)B * NKV * T;
    att_push pkv = att_push_make(kvrows, B, T, NH, NKV, hd);
    vk_arg kvargs[] = {VK_W(dqkv), VK_R(scratch), VK_R(dout), VK_R(qkv), VK_R(out), VK_R(lse), VK_R(lengths)};
    uint64_t heads_per = group;
    while (heads_per > 1 && bwd_kv_iters(&pl, T, hd, heads_per) > ATT_LOOP_BUDGET) heads_per--;
    for (uint64_t g0 = 0; g0 < group; g0 += heads_per) {
        pkv.g0 = (uint32_t)g0;
        pkv.g1 = (uint32_t)(g0 + heads_per < group ? g0 + heads_per : group);
        att_dispatch_blocks(ctx, "attention_bwd_kv", pl.spec, kvargs, re, 7, pkv, B, per, (uint64_t)NKV * T);
    }
}
