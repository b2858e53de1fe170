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
    /* One pass-1 dispatch per tensor: each writes its own slots of partials. */
    for (int i = 0; i < n; i++) {
        uint32_t groups = (uint32_t)optim_norm_groups(grads[i]->numel);
        if (groups == 0) continue;
        struct { uint32_t N, groups, offset; } p1 = {(uint32_t)grads[i]->numel, groups, offset};
        /* Each tensor's dispatch writes only its own slots: declaring them lets the passes run without barriers. */
        vk_arg a1[] = {VK_R(grads[i]), VK_W_PART(partials, (uint64_t)offset * 4, (uint64_t)groups * 4)};
        vk_dispatch_1d(ctx, "optim_norm_partial", &wg, 1, a1, 2, &p1, sizeof p1, groups);
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
    vk_dispatch_1d(ctx, "optim_adamw", &wg, 1, a, 5, &pc, sizeof pc, vk_div_up(N, wg));
}
