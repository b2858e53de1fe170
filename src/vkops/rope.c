/* Vulkan recorders of rotary position embeddings (shaders/rope.comp): one dispatch over every (token, head, pair), or
 * one per block of tokens when a tensor exceeds one storage binding. */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* Pairs per invocation; must match EPT in shaders/rope.comp. */
#define ROPE_EPT 4u

/* Push constants of shaders/rope.comp. */
typedef struct rope_push {
    uint32_t pairs, pairs_tok, rot_pairs, half, npos, groups;
    uint32_t s0, s1, spos;   // split: first element of the block in the windows of bindings 0, 1 and positions
} rope_push;

/* Whether two tensors are the same storage (the same tensor, or two handles of one sub-allocation). */
static bool same_storage(const iopo_tensor *x, const iopo_tensor *y) {
    if (x == y) return true;
    return x->vk && y->vk && x->vk->buffer == y->vk->buffer && x->vk->offset == y->vk->offset;
}

/* args: the (B*T,W) tensor(s) first (one in place, two otherwise), then cos_t, sin_t and positions. Tensors over one
 * binding: blocks of tokens, each bound as windows (the cos/sin tables whole, since any token may read any row of
 * them); every pair is computed as unsplit. */
static void rope_dispatch(iopo_ctx *ctx, const char *shader, const vk_arg *args, int nargs, int B, int T, int NH,
                          int NKV, int hd, int npos) {
    uint64_t tokens = (uint64_t)B * (uint64_t)T;
    uint64_t pairs_tok = (uint64_t)(NH + 2 * NKV) * (uint64_t)(hd / 2);
    uint64_t pairs = tokens * pairs_tok;
    if (pairs == 0) return;
    uint32_t wg = vk_group_size(ctx, 256, 0);
    // The shader indexes values (2 per pair) with 32-bit unsigned ints, including the last workgroup's padding.
    op_require(2 * (pairs + (uint64_t)wg * ROPE_EPT) <= UINT32_MAX, shader, "more values than 32-bit indexing allows");
    uint32_t spec[2] = {wg, 0};   // 1: WINDOWED (shaders/common.glsl)
    int nrow = nargs - 3;   // the (B*T,W) operands
    uint64_t re[5] = {0};
    for (int i = 0; i < nrow; i++) re[i] = 2 * pairs_tok;
    re[nargs - 1] = 1;
    uint64_t per = vk_rows_per_window(ctx, shader, args, re, nargs);
    if (!per) per = tokens;
    spec[1] = per < tokens;
    for (uint64_t t0 = 0; t0 < tokens; t0 += per) {
        uint64_t t1 = tokens - t0 < per ? tokens : t0 + per;
        uint64_t np = (t1 - t0) * pairs_tok;
        uint64_t groups = vk_div_up(np, (uint64_t)wg * ROPE_EPT);
        rope_push pc = {(uint32_t)np, (uint32_t)pairs_tok, (uint32_t)((NH + NKV) * (hd / 2)), (uint32_t)(hd / 2),
                        (uint32_t)npos, (uint32_t)groups, 0, 0, 0};
        vk_arg part[5];
        const vk_arg *bound = args;
        if (per < tokens) {
            uint32_t shift[5];
            vk_row_windows(ctx, args, re, nargs, t0, t1, part, shift);
            pc.s0 = shift[0];
            pc.s1 = nrow > 1 ? shift[1] : 0;
            pc.spos = shift[nargs - 1];
            bound = part;
        }
        vk_dispatch_1d(ctx, shader, spec, 2, bound, nargs, &pc, sizeof pc, groups);
    }
}

void vkop_rope_forward(iopo_ctx *ctx, iopo_tensor *out, const iopo_tensor *inp, const iopo_tensor *cos_t,
                       const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                       int npos) {
    // out (B,T,W), inp (B,T,W), cos_t, sin_t (npos, hd/2), positions (B,T). In place (out is inp), one binding is
    // read and written: the v heads are then already in place.
    if (same_storage(out, inp)) {
        vk_arg args[] = {VK_W(out), VK_R(cos_t), VK_R(sin_t), VK_R(positions)};
        rope_dispatch(ctx, "rope_fwd_inplace", args, 4, B, T, NH, NKV, hd, npos);
    } else {
        vk_arg args[] = {VK_W(out), VK_R(inp), VK_R(cos_t), VK_R(sin_t), VK_R(positions)};
        rope_dispatch(ctx, "rope_fwd", args, 5, B, T, NH, NKV, hd, npos);
    }
}

void vkop_rope_backward(iopo_ctx *ctx, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *cos_t,
                        const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T, int NH, int NKV, int hd,
                        int npos) {
    // dinp (B,T,W) +=, dout (B,T,W), cos_t, sin_t (npos, hd/2), positions (B,T)
    op_require(!same_storage(dinp, dout), "rope_backward", "dinp must not be dout (not in place)");
    vk_arg args[] = {VK_W(dinp), VK_R(dout), VK_R(cos_t), VK_R(sin_t), VK_R(positions)};
    rope_dispatch(ctx, "rope_bwd", args, 5, B, T, NH, NKV, hd, npos);
}
