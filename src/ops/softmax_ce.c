/* Dispatch of the fused softmax + cross-entropy to the CPU or Vulkan backend.
 * Targets: a row with mask == 0 never reads its target (it may be -100 or anything). A target outside [0, V) on a row
 * with mask != 0 is a caller bug that is not diagnosed here (checking would need a device read-back); both backends
 * clamp it into [0, V) so that nothing outside the row is read, and forward and backward agree on the clamped label. */
#include <stdint.h>

#include "cpu/cpu_ops.h"
#include "ops/op_check.h"
#include "vkops/vk_ops.h"

/* The shaders index with 32-bit unsigned integers. */
static void sce_check_dims(const char *op, int B, int T, int V) {
    op_require(B > 0 && T > 0 && V > 0, op, "B, T and V must be positive");
    op_require((uint64_t)B * (uint64_t)T * (uint64_t)V < ((uint64_t)1 << 32), op, "B*T*V must be below 2^32");
}

void iopo_softmax_ce_forward(iopo_ctx *ctx, iopo_tensor *loss, iopo_tensor *lse, iopo_tensor *seq_logp,
                             iopo_tensor *seq_count, const iopo_tensor *logits, const iopo_tensor *targets,
                             const iopo_tensor *mask, int B, int T, int V) {
    const char *op = "softmax_ce_forward";
    sce_check_dims(op, B, T, V);
    size_t BT = (size_t)B * T;
    op_check(ctx, op, "loss", loss, IOPO_F32, BT, false);
    op_check(ctx, op, "lse", lse, IOPO_F32, BT, false);
    op_check(ctx, op, "seq_logp", seq_logp, IOPO_F32, (size_t)B, false);
    op_check(ctx, op, "seq_count", seq_count, IOPO_F32, (size_t)B, false);
    op_check(ctx, op, "logits", logits, IOPO_F32, BT * V, false);
    op_check(ctx, op, "targets", targets, IOPO_I32, BT, false);
    op_check(ctx, op, "mask", mask, IOPO_F32, BT, false);
    if (op_on_cpu(ctx))
        cpu_softmax_ce_forward(op_f32(loss), op_f32(lse), op_f32(seq_logp), op_f32(seq_count), op_f32(logits),
                               op_i32(targets), op_f32(mask), B, T, V);
    else vkop_softmax_ce_forward(ctx, loss, lse, seq_logp, seq_count, logits, targets, mask, B, T, V);
}

void iopo_softmax_ce_backward(iopo_ctx *ctx, iopo_tensor *dlogits, const iopo_tensor *logits, const iopo_tensor *lse,
                              const iopo_tensor *targets, const iopo_tensor *mask, const iopo_tensor *dloss,
                              const iopo_tensor *dseq_logp, int B, int T, int V) {
    const char *op = "softmax_ce_backward";
    sce_check_dims(op, B, T, V);
    size_t BT = (size_t)B * T;
    op_check(ctx, op, "dlogits", dlogits, IOPO_F32, BT * V, false);
    op_check(ctx, op, "logits", logits, IOPO_F32, BT * V, false);
    op_check(ctx, op, "lse", lse, IOPO_F32, BT, false);
    op_check(ctx, op, "targets", targets, IOPO_I32, BT, false);
    op_check(ctx, op, "mask", mask, IOPO_F32, BT, false);
    op_check(ctx, op, "dloss", dloss, IOPO_F32, BT, true);
    op_check(ctx, op, "dseq_logp", dseq_logp, IOPO_F32, (size_t)B, true);
    if (op_on_cpu(ctx))
        cpu_softmax_ce_backward(op_f32(dlogits), op_f32(logits), op_f32(lse), op_i32(targets), op_f32(mask),
                                op_f32(dloss), op_f32(dseq_logp), B, T, V);
    else vkop_softmax_ce_backward(ctx, dlogits, logits, lse, targets, mask, dloss, dseq_logp, B, T, V);
}
