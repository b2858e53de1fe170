/* Vulkan recorders of rotary position embeddings (shaders/rope.comp): one dispatch over every (token, head, pair). */
#include <stdint.h>

#include "ops/op_check.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

/* Pairs per invocation; must match EPT in shaders/rope.comp. */
#define ROPE_EPT 4u

/* Push constants of shaders/rope.comp. */
typedef struct rope_push {
    uint32_t pairs, pairs_tok, rot_pairs, half, npos, groups;
} rope_push;

/* Whether two tensors are the same storage (the same tensor, or two handles of one sub-allocation). */
static bool same_storage(const iopo_tensor *x, const iopo_tensor *y) {
    if (x == y) return true;
    return x->vk && y->vk && x->vk->buffer == y->vk->buffer && x->vk->offset == y->vk->offset;
}

static void rope_dispatch(iopo_ctx *ctx, const char *shader, const vk_arg *args, int nargs, int B, int T, int NH,
                          int NKV, int hd, int npos) {
    uint64_t tokens = (uint64_t)B * (uint64_t)T;
    uint64_t pairs_tok = (uint64_t)(NH + 2 * NKV) * (uint64_t)(hd / 2);
    uint64_t pairs = tokens * pairs_tok;
    if (pairs == 0) return;
    uint32_t wg = vk_group_size(ctx, 256, 0);
    // The shader indexes values (2 per pair) with 32-bit unsigned ints, including the last workgroup's padding.
    op_require(2 * (pairs + (uint64_t)wg * ROPE_EPT) <= UINT32_MAX, shader, "more values than 32-bit indexing allows");
    uint64_t groups = vk_div_up(pairs, (uint64_t)wg * ROPE_EPT);
    rope_push pc = {(uint32_t)pairs, (uint32_t)pairs_tok, (uint32_t)((NH + NKV) * (hd / 2)), (uint32_t)(hd / 2),
                    (uint32_t)npos, (uint32_t)groups};
    uint32_t spec[1] = {wg};
    vk_dispatch_1d(ctx, shader, spec, 1, args, nargs, &pc, sizeof pc, groups);
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
