/* Vulkan recorders of the optimizer ops: global gradient norm with clip scale, AdamW (shaders/optim_*.comp). */
#include <math.h>

#include "vk/vk.h"
#include "vkops/vk_ops.h"

size_t optim_norm_groups(size_t numel);   /* src/ops/optim.c: workgroups of pass 1 for one tensor */

void vkop_grad_norm(iopo_ctx *ctx, iopo_tensor *out, iopo_tensor *partials, iopo_tensor *const *grads, int n,
                    float max_norm) {
    // out (2) = {norm, scale}; partials (>= iopo_grad_norm_scratch_elems); grads[i] (any size)
    uint32_t wg = vk_group_size(ctx, 256, sizeof(float));
    uint32_t offset = 0;
    /* One pass-1 dispatch per tensor: each writes its own slots of partials. A tensor over one binding runs in
     * pieces of max_binding bytes, in order, the later ones adding to the slots the first wrote (the same slots, so
     * the scratch size does not depend on the device; a fixed order, so the sum is deterministic). */
    size_t piece = (size_t)(vk_get_limits(ctx)->max_binding / 4);
    for (int i = 0; i < n; i++) {
        size_t numel = grads[i]->numel;
        uint32_t groups = (uint32_t)optim_norm_groups(numel);
        if (groups == 0) continue;
        bool split = !vk_fits(ctx, grads[i]);
        for (size_t begin = 0; begin < numel; begin += split ? piece : numel) {
            size_t end = !split || numel - begin < piece ? numel : begin + piece;
            struct { uint32_t N, groups, offset, accumulate; } p1 = {(uint32_t)(end - begin), groups, offset,
                                                                     begin > 0};
            /* Each tensor's dispatches touch only its own slots: declaring them lets the tensors' passes run
             * without barriers (the pieces of one tensor still meet one: they share slots). */
            vk_arg a1[] = {split ? vk_window_of(ctx, grads[i], false, begin, end).arg : VK_R(grads[i]),
                           VK_W_PART(partials, (uint64_t)offset * 4, (uint64_t)groups * 4)};
            vk_dispatch_1d(ctx, "optim_norm_partial", &wg, 1, a1, 2, &p1, sizeof p1, groups);
        }
        offset += groups;
    }
    struct { uint32_t N; float max_norm; } p2 = {offset, max_norm};
    /* With no elements at all the final pass still runs (on an unread dummy) and writes {0, 1}. */
    vk_arg a2[] = {VK_R(offset ? partials : vk_dummy(ctx)), VK_W(out)};
    vk_dispatch(ctx, "optim_norm_final", &wg, 1, a2, 2, &p2, sizeof p2, 1, 1, 1);
}

void vkop_adamw_update(iopo_ctx *ctx, iopo_tensor *param, const iopo_tensor *grad, iopo_tensor *m, iopo_tensor *v,
                       const iopo_tensor *scale, size_t N, const iopo_adamw_params *p) {
    // param, grad, m, v (N); scale (2) = {norm, scale} or NULL
    if (N == 0) return;
    uint32_t wg = vk_group_size(ctx, 256, 0);
    /* Host constants in double, rounded once, as torch computes them from Python floats; cpu_adamw_update uses the
     * same expressions so both backends see identical constants. */
    struct {
        uint32_t N, has_scale;
        float beta1, one_minus_beta1, beta2, one_minus_beta2, decay, step_size, bc2_sqrt, eps;
    } pc = {
        (uint32_t)N,
        scale != NULL,
        p->beta1,
        (float)(1.0 - (double)p->beta1),
        p->beta2,
        (float)(1.0 - (double)p->beta2),
        (float)(1.0 - (double)p->lr * (double)p->weight_decay),
        (float)((double)p->lr / (1.0 - pow((double)p->beta1, p->step))),
        (float)sqrt(1.0 - pow((double)p->beta2, p->step)),
        p->eps,
    };
    vk_arg a[] = {VK_W(param), VK_R(grad), VK_W(m), VK_W(v), VK_R(scale ? scale : vk_dummy(ctx))};
    if (vk_fits(ctx, param) && vk_fits(ctx, grad) && vk_fits(ctx, m) && vk_fits(ctx, v)) {
        vk_dispatch_1d(ctx, "optim_adamw", &wg, 1, a, 5, &pc, sizeof pc, vk_div_up(N, wg));
        return;
    }
    /* Over one binding: pieces of max_binding bytes, each binding the same elements of the four vectors (element-wise,
     * so every element is computed as unsplit). */
    size_t piece = (size_t)(vk_get_limits(ctx)->max_binding / 4);
    for (size_t begin = 0; begin < N; begin += piece) {
        size_t end = N - begin < piece ? N : begin + piece;
        pc.N = (uint32_t)(end - begin);
        for (int i = 0; i < 4; i++) a[i] = vk_window_of(ctx, a[i].t, a[i].write, begin, end).arg;
        vk_dispatch_1d(ctx, "optim_adamw", &wg, 1, a, 5, &pc, sizeof pc, vk_div_up(end - begin, wg));
    }
}
