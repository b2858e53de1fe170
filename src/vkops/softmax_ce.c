/* Vulkan recorders of the fused softmax + cross-entropy (shaders/softmax_ce_*.comp). */
#include "core/context_internal.h"
#include "vk/vk.h"
#include "vkops/vk_ops.h"

#define SCE_HAS_DLOSS 1u
#define SCE_HAS_DSEQ 2u

/* Rows of (B*T, V) logits per dispatch: all of them when the tensors fit one binding, else as many as a window holds.
 * Rows are independent (each workgroup reads one row), so every value is computed as unsplit. */
static uint32_t sce_rows_per_piece(iopo_ctx *ctx, const iopo_tensor *logits, const iopo_tensor *dlogits,
                                   uint32_t rows, int V) {
    if (vk_fits(ctx, logits) && (!dlogits || vk_fits(ctx, dlogits))) return rows;
    uint64_t per = vk_window_elems(ctx, IOPO_F32) / (uint64_t)V;
    if (per == 0)
        iopo_fail("softmax_ce: one row of %d logits (%llu bytes) exceeds one storage binding (%llu bytes)", V,
                  (unsigned long long)V * 4, (unsigned long long)vk_get_limits(ctx)->max_binding);
    return per < rows ? (uint32_t)per : rows;
}

void vkop_softmax_ce_forward(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *lse, iopo_tensor *seq_logp,
                             iopo_tensor *seq_count, const iopo_tensor *logits, const iopo_tensor *targets,
                             const iopo_tensor *mask, int B, int T, int V) {
    // loss (B,T), lse (B,T), seq_logp (B), seq_count (B), logits (B,T,V), targets (B,T) i32, mask (B,T)
    uint32_t rows = (uint32_t)B * (uint32_t)T;
    /* Two shared floats (running max, sum) per invocation. */
    uint32_t wg = vk_group_size(ctx, 256, 2 * sizeof(float));
    vk_arg fa[] = {VK_R(logits), VK_R(targets), VK_R(mask), VK_W(loss), VK_W(lse)};
    uint32_t per = sce_rows_per_piece(ctx, logits, NULL, rows, V);
    for (uint32_t r0 = 0; r0 < rows; r0 += per) {
        uint32_t r1 = rows - r0 < per ? rows : r0 + per;
        struct { uint32_t rows, V, row0, lshift; } pf = {r1, (uint32_t)V, r0, 0};
        if (per < rows) {
            vk_window w = vk_window_of(ctx, logits, false, (uint64_t)r0 * V, (uint64_t)r1 * V);
            fa[0] = w.arg;
            pf.lshift = w.shift;
        }
        vk_dispatch_1d(ctx, "softmax_ce_fwd", &wg, 1, fa, 5, &pf, sizeof pf, r1 - r0);
    }

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
        uint32_t rows, T, V, chunks, per, flags, row0, lshift;
    } pb = {rows, (uint32_t)T, (uint32_t)V, chunks, per,
            (dloss ? SCE_HAS_DLOSS : 0u) | (dseq_logp ? SCE_HAS_DSEQ : 0u), 0, 0};
    const iopo_tensor *dummy = vk_dummy(ctx);
    /* In place, dlogits and logits are the same tensor at bindings 0 and 6; each element is read and then written by
     * one invocation only (see the shader), so the aliasing is safe. */
    vk_arg a[] = {VK_R(logits), VK_R(lse), VK_R(targets), VK_R(mask), VK_R(dloss ? dloss : dummy),
                  VK_R(dseq_logp ? dseq_logp : dummy), VK_W(dlogits)};
    uint32_t piece = sce_rows_per_piece(ctx, logits, dlogits, rows, V);
    for (uint32_t r0 = 0; r0 < rows; r0 += piece) {
        uint32_t r1 = rows - r0 < piece ? rows : r0 + piece;
        pb.rows = r1;
        pb.row0 = r0;
        if (piece < rows) {
            /* Both tensors' slices start aligned, so the rows' first element has the same shift in both windows. */
            vk_window wl = vk_window_of(ctx, logits, false, (uint64_t)r0 * V, (uint64_t)r1 * V);
            vk_window wd = vk_window_of(ctx, dlogits, true, (uint64_t)r0 * V, (uint64_t)r1 * V);
            a[0] = wl.arg;
            a[6] = wd.arg;
            pb.lshift = wl.shift;
        }
        vk_dispatch_1d(ctx, "softmax_ce_bwd", &wg, 1, a, 7, &pb, sizeof pb, (uint64_t)(r1 - r0) * chunks);
    }
}
