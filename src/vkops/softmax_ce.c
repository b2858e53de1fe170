/* Vulkan recorders of the fused softmax + cross-entropy (shaders/softmax_ce_*.comp). */
#include "vk/vk.h"
#include "vkops/vk_ops.h"

#define SCE_HAS_DLOSS 1u
#define SCE_HAS_DSEQ 2u


void vkop_softmax_ce_forward(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *lse, iopo_tensor *seq_logp,
                             iopo_tensor *seq_count, const iopo_tensor *logits, const iopo_tensor *targets,
                             const iopo_tensor *mask, int B, int T, int V) {
    // loss (B,T), lse (B,T), seq_logp (B), seq_count (B), logits (B,T,V), targets (B,T) i32, mask (B,T)
    uint32_t rows = (uint32_t)B * (uint32_t)T;
    /* Two shared floats (running max, sum) per invocation. */
    uint32_t wg = vk_group_size(ctx, 256, 2 * sizeof(float));
    struct { uint32_t rows, V; } pf = {rows, (uint32_t)V};
    vk_arg fa[] = {VK_R(logits), VK_R(targets), VK_R(mask), VK_W(loss), VK_W(lse)};
    vk_dispatch_1d(ctx, "softmax_ce_fwd", &wg, 1, fa, 5, &pf, sizeof pf, rows);

    uint32_t wgs = vk_group_size(ctx, 64, 0);
    struct { uint32_t B, T; } ps = {(uint32_t)B, (uint32_t)T};
    vk_arg sa[] = {VK_R(loss), VK_R(mask), VK_W(seq_logp), VK_W(seq_count)};
    vk_dispatch_1d(ctx, "softmax_ce_seq", &wgs, 1, sa, 4, &ps, sizeof ps, vk_div_up((uint64_t)B, wgs));
}

void vkop_softmax_ce_backward(iopo_ctx *ctx, iopo_tensor *dlogits, const iopo_tensor *logits, const iopo_tensor *lse,
                              const iopo_tensor *targets, const iopo_tensor *mask, const iopo_tensor *dloss,
                              const iopo_tensor *dseq_logp, int B, int T, int V) {
    // dlogits (B,T,V), logits (B,T,V), lse (B,T), targets (B,T) i32, mask (B,T), dloss (B,T)|NULL, dseq_logp (B)|NULL
    uint32_t rows = (uint32_t)B * (uint32_t)T;
    uint32_t wg = vk_group_size(ctx, 256, 0);
    /* Up to 8 strides per workgroup: enough work per invocation to hide the per-row setup, and still ~25 workgroups
     * per row at GPT-2's vocabulary so a few rows fill a GPU. */
    uint32_t per = 8;
    uint32_t chunks = vk_div_up((uint64_t)V, (uint64_t)per * wg);
    struct {
        uint32_t rows, T, V, chunks, per, flags;
    } pb = {rows, (uint32_t)T, (uint32_t)V, chunks, per,
            (dloss ? SCE_HAS_DLOSS : 0u) | (dseq_logp ? SCE_HAS_DSEQ : 0u)};
    const iopo_tensor *dummy = vk_dummy(ctx);
    /* In place, dlogits and logits are the same tensor at bindings 0 and 6; each element is read and then written by
     * one invocation only (see the shader), so the aliasing is safe. */
    vk_arg a[] = {VK_R(logits), VK_R(lse), VK_R(targets), VK_R(mask), VK_R(dloss ? dloss : dummy),
                  VK_R(dseq_logp ? dseq_logp : dummy), VK_W(dlogits)};
    vk_dispatch_1d(ctx, "softmax_ce_bwd", &wg, 1, a, 7, &pb, sizeof pb, (uint64_t)rows * chunks);
}
