/* Vulkan recorder of the preference-objective op (shaders/pref.comp). */
#include "vk/vk.h"
#include "vkops/vk_ops.h"

void vkop_pref_loss(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *z, iopo_tensor *dseq_logp,
                    const iopo_tensor *seq_logp, const iopo_tensor *ref_logp, const iopo_tensor *seq_count, int E,
                    const iopo_pref_params *p) {
    // loss (E), z (E), dseq_logp / seq_logp / ref_logp / seq_count (E*group)
    if (E <= 0) return;
    uint32_t wg = vk_group_size(ctx, 64, 0);
    uint32_t groups = vk_div_up((uint64_t)E, wg);
    struct {
        uint32_t E, G, type, groups;
        float beta, eps, gamma, scale;
    } pc = {(uint32_t)E, (uint32_t)p->group, (uint32_t)p->type, groups, p->beta, p->label_smoothing, p->pref_ftx,
            p->scale};
    vk_arg a[] = {VK_W(loss), VK_W(z), VK_W(dseq_logp), VK_R(seq_logp), VK_R(ref_logp), VK_R(seq_count)};
    vk_dispatch_1d(ctx, "pref", &wg, 1, a, 6, &pc, sizeof pc, groups);
}
