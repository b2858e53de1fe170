/* Vulkan recorders of the token + position embedding (shaders/embedding.comp). */
#include <stdint.h>
#include <string.h>

#include "core/context_internal.h"
#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

typedef struct emb_push {
    uint32_t ngroups, B, T, C, V, has_wpe;
    uint32_t bt_begin, bt_end;
    uint32_t v_begin, v_end, wte_shift, owns_oov;
    uint32_t bt0, s_rows, s_tok;   // split out / dout: the block's first position, its windows' first elements
} emb_push;

/* Positions one dwte dispatch walks per invocation. lavapipe silently stops a shader's loops after 65,535 iterations
 * per invocation, so longer batches are split into dispatches that each add their range, in order: the sum per element
 * is the same sequence of additions as one long loop. */
#define EMB_WTE_POSITIONS_PER_DISPATCH 16384u

// Element-wise work: any size the device allows; the shaders index with 32-bit integers.
static uint32_t emb_wg(iopo_ctx *ctx) {
    return vk_group_size(ctx, 256, 0);
}

static emb_push emb_push_make(uint64_t groups, int B, int T, int C, int V, bool has_wpe) {
    op_require((uint64_t)B * T * C <= UINT32_MAX && (uint64_t)V * C <= UINT32_MAX, "embedding",
               "tensors over 2^32 elements are not supported on Vulkan");
    return (emb_push){(uint32_t)groups, (uint32_t)B, (uint32_t)T, (uint32_t)C, (uint32_t)V, has_wpe ? 1u : 0u, 0, 0,
                      0, (uint32_t)V, 0, 1, 0, 0, 0};
}

/* Rows of wte (V,C) per piece when it exceeds one binding; V when it fits. Each piece binds its rows as a window. */
static uint32_t emb_rows_per_piece(iopo_ctx *ctx, const iopo_tensor *wte, int C, int V) {
    if (vk_fits(ctx, wte)) return (uint32_t)V;
    uint64_t rows = vk_window_elems(ctx, wte->dtype) / (uint64_t)C;
    if (rows == 0)
        iopo_fail("embedding: one row of wte (%d values) exceeds one storage binding (%llu bytes)", C,
                  (unsigned long long)vk_get_limits(ctx)->max_binding);
    return rows < (uint64_t)V ? (uint32_t)rows : (uint32_t)V;
}

void vkop_embedding_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *tokens, const iopo_tensor *wte,
                            const iopo_tensor *wpe, int B, int T, int C, int V) {
    // out (B,T,C), tokens (B,T) i32, wte (V,C), wpe (maxT,C) or NULL; the tables f32, bf16 or f16
    // one workgroup per position, about one invocation per channel
    uint32_t wg = emb_wg(ctx);
    uint32_t per_row = vk_div_up((uint64_t)C, 32) * 32;
    if (per_row < wg) wg = per_row;
    // 3: WINDOWED (shaders/common.glsl)
    uint32_t spec[4] = {wg, (uint32_t)wte->dtype, wpe ? (uint32_t)wpe->dtype : (uint32_t)IOPO_F32, 0};
    uint64_t BT = (uint64_t)B * T;
    emb_push pc = emb_push_make(BT, B, T, C, V, wpe != NULL);
    vk_arg all[] = {VK_W(out), VK_R(tokens), VK_R(wte), VK_R(wpe ? wpe : vk_dummy(ctx))};
    /* out over one binding: blocks of positions, out's and the tokens' rows of them bound as windows (the tables are
     * split, or not, below). */
    const uint64_t re[] = {(uint64_t)C, 1, 0, 0};
    uint64_t per = vk_rows_per_window(ctx, "embedding_fwd", all, re, 4);
    if (!per) per = BT;
    /* wte over one binding: one dispatch per range of its rows, each writing the positions whose token falls in it
     * (the first also the out-of-vocabulary ones), so every output element is computed once, as unsplit. */
    uint32_t rows = emb_rows_per_piece(ctx, wte, C, V);
    spec[3] = per < BT || rows < (uint32_t)V;
    uint64_t p0 = 0;
    do {   // at least once: an empty batch still dispatches (nothing), as unsplit
        uint64_t p1 = BT - p0 < per ? BT : p0 + per;
        vk_arg args[4];
        memcpy(args, all, sizeof args);
        if (per < BT) {
            uint32_t shift[4];
            vk_row_windows(ctx, all, re, 4, p0, p1, args, shift);
            pc.bt0 = (uint32_t)p0;
            pc.s_rows = shift[0];
            pc.s_tok = shift[1];
        }
        pc.ngroups = (uint32_t)(p1 - p0);
        uint32_t v0 = 0;
        do {   // at least once: with V = 0 every position is out of vocabulary and still written
            uint32_t v1 = (uint32_t)V - v0 < rows ? (uint32_t)V : v0 + rows;
            if (rows < (uint32_t)V) {
                vk_window w = vk_window_of(ctx, wte, false, (uint64_t)v0 * C, (uint64_t)v1 * C);
                args[2] = w.arg;
                pc.wte_shift = w.shift;
            }
            pc.v_begin = v0;
            pc.v_end = v1;
            pc.owns_oov = v0 == 0;
            vk_dispatch_1d(ctx, "embedding_fwd", spec, 4, args, 4, &pc, sizeof pc, p1 - p0);
            v0 = v1;
        } while (v0 < (uint32_t)V);
        p0 = p1;
    } while (p0 < BT);
}

void vkop_embedding_backward(iopo_ctx *ctx, iopo_tensor *dwte, iopo_tensor *dwpe, const iopo_tensor *dout,
                             const iopo_tensor *tokens, int B, int T, int C, int V) {
    // dwte (V,C) +=, dwpe (maxT,C) +=, dout (B,T,C), tokens (B,T) i32
    uint32_t wg = emb_wg(ctx);
    if (dwte) {
        // one invocation per channel, each walking all positions in order (see the shader)
        uint64_t groups = vk_div_up((uint64_t)C, wg);
        emb_push pc = emb_push_make(groups, B, T, C, V, false);
        vk_arg all[] = {VK_W(dwte), VK_R(dout), VK_R(tokens)};
        uint32_t BT = (uint32_t)B * (uint32_t)T;
        /* dout over one binding: blocks of positions, dout's and the tokens' rows of them bound as windows. dwte over
         * one binding: one pass over the positions per range of its rows, each adding only the tokens in its range.
         * Either way every element receives the same additions in the same order (positions ascending) as unsplit. */
        const uint64_t re[] = {0, (uint64_t)C, 1};
        uint64_t per = vk_rows_per_window(ctx, "embedding_bwd_wte", all, re, 3);
        if (!per) per = BT;
        uint32_t rows = emb_rows_per_piece(ctx, dwte, C, V);
        uint32_t spec[4] = {wg, 0, 0, per < BT || rows < (uint32_t)V};   // 3: WINDOWED (shaders/common.glsl)
        for (uint64_t p0 = 0; p0 < BT; p0 += per) {
            uint64_t p1 = BT - p0 < per ? BT : p0 + per;
            vk_arg args[3];
            memcpy(args, all, sizeof args);
            if (per < BT) {
                uint32_t shift[3];
                vk_row_windows(ctx, all, re, 3, p0, p1, args, shift);
                pc.bt0 = (uint32_t)p0;
                pc.s_rows = shift[1];
                pc.s_tok = shift[2];
            }
            for (uint32_t v0 = 0; v0 < (uint32_t)V; v0 += rows) {
                uint32_t v1 = (uint32_t)V - v0 < rows ? (uint32_t)V : v0 + rows;
                if (rows < (uint32_t)V) {
                    vk_window w = vk_window_of(ctx, dwte, true, (uint64_t)v0 * C, (uint64_t)v1 * C);
                    args[0] = w.arg;
                    pc.wte_shift = w.shift;
                }
                pc.v_begin = v0;
                pc.v_end = v1;
                for (uint64_t begin = p0; begin < p1; begin += EMB_WTE_POSITIONS_PER_DISPATCH) {
                    uint64_t end = begin + EMB_WTE_POSITIONS_PER_DISPATCH;
                    pc.bt_begin = (uint32_t)begin;
                    pc.bt_end = (uint32_t)(end < p1 ? end : p1);
                    vk_dispatch_1d(ctx, "embedding_bwd_wte", spec, 4, args, 3, &pc, sizeof pc, groups);
                }
            }
        }
    }
    if (dwpe) {
        uint64_t groups = vk_div_up((uint64_t)T * C, wg);
        emb_push pc = emb_push_make(groups, B, T, C, V, true);
        vk_arg args[] = {VK_W(dwpe), VK_R(dout)};
        /* dout over one binding: blocks of whole sequences, each dispatch adding its block's sums over them in order
         * (deterministic; the per-block partial sums round differently from unsplit). */
        const uint64_t re[] = {0, (uint64_t)T * C};
        uint64_t per = vk_rows_per_window(ctx, "embedding_bwd_wpe (split by sequence)", args, re, 2);
        if (!per) {
            uint32_t unsplit[4] = {wg, 0, 0, 0};   // 3: WINDOWED (shaders/common.glsl)
            vk_dispatch_1d(ctx, "embedding_bwd_wpe", unsplit, 4, args, 2, &pc, sizeof pc, groups);
            return;
        }
        uint32_t split[4] = {wg, 0, 0, 1};
        for (uint64_t b0 = 0; b0 < (uint64_t)B; b0 += per) {
            uint64_t b1 = (uint64_t)B - b0 < per ? (uint64_t)B : b0 + per;
            vk_arg part[2];
            uint32_t shift[2];
            vk_row_windows(ctx, args, re, 2, b0, b1, part, shift);
            pc.B = (uint32_t)(b1 - b0);
            pc.bt0 = (uint32_t)(b0 * T);
            pc.s_rows = shift[1];
            vk_dispatch_1d(ctx, "embedding_bwd_wpe", split, 4, part, 2, &pc, sizeof pc, groups);
        }
    }
}
