/* Dispatch of the preference-objective op (DPO, IOPO) to the CPU or Vulkan backend. */
#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

void iopo_pref_loss(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *z, iopo_tensor *dseq_logp, const iopo_tensor *seq_logp,
                    const iopo_tensor *ref_logp, const iopo_tensor *seq_count, int E, const iopo_pref_params *p) {
    const char *op = "pref_loss";
    op_require(p->group == 2 || p->group == 4, op, "group must be 2 (DPO) or 4 (IOPO)");
    op_require(p->type >= IOPO_PREF_SIGMOID && p->type <= IOPO_PREF_ROBUST, op, "unknown loss type");
    op_require(p->type != IOPO_PREF_ROBUST || p->label_smoothing < 0.5f, op, "robust loss needs label_smoothing < 0.5");
    size_t n = (size_t)E * (size_t)p->group;
    op_check(ctx, op, "loss", loss, IOPO_F32, (size_t)E, false);
    op_check(ctx, op, "z", z, IOPO_F32, (size_t)E, false);
    op_check(ctx, op, "dseq_logp", dseq_logp, IOPO_F32, n, false);
    op_check(ctx, op, "seq_logp", seq_logp, IOPO_F32, n, false);
    op_check(ctx, op, "ref_logp", ref_logp, IOPO_F32, n, false);
    op_check(ctx, op, "seq_count", seq_count, IOPO_F32, n, false);
    if (op_on_cpu(ctx))
        cpu_pref_loss(op_f32(loss), op_f32(z), op_f32(dseq_logp), op_f32(seq_logp), op_f32(ref_logp),
                      op_f32(seq_count), E, p);
    else vkop_pref_loss(ctx, loss, z, dseq_logp, seq_logp, ref_logp, seq_count, E, p);
}
