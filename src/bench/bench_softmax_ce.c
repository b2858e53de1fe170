/* Benchmarks of the fused softmax + cross-entropy at GPT-2's vocabulary. Both passes are bandwidth-bound: bytes count
 * the logits (read by the forward; read and written in place by the backward); the per-row vectors are negligible. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct sce_bench {
    int B, T, V;
    iopo_tensor *logits, *targets, *mask, *loss, *lse, *seq_logp, *seq_count, *dloss, *dseq;
} sce_bench;

static void sce_fwd(iopo_ctx *ctx, void *user) {
    sce_bench *s = user;
    iopo_softmax_ce_forward(ctx, s->loss, s->lse, s->seq_logp, s->seq_count, s->logits, s->targets, s->mask, s->B,
                            s->T, s->V);
}

// In place, as the trainer runs it. The logits it leaves are gradients, but their values do not change the cost
// (no branch depends on them); lse stays finite because exp of any float minus a finite lse is finite or inf.
static void sce_bwd(iopo_ctx *ctx, void *user) {
    sce_bench *s = user;
    iopo_softmax_ce_backward(ctx, s->logits, s->logits, s->lse, s->targets, s->mask, s->dloss, s->dseq, s->B, s->T,
                             s->V);
}

void bench_softmax_ce(bench_ctx *bc) {
    sce_bench s = {.B = 4, .T = bc->quick ? 8 : 64, .V = 50257};
    int64_t bt[2] = {s.B, s.T}, btv[3] = {s.B, s.T, s.V}, b1[1] = {s.B};
    size_t BT = (size_t)s.B * s.T;
    s.logits = bench_randn(bc, 3, btv);
    s.targets = bench_randi(bc, (int64_t)BT, s.V);
    s.mask = iopo_tensor_new2(bc->ctx, IOPO_F32, s.B, s.T);
    float *ones = malloc(BT * sizeof *ones);
    for (size_t i = 0; i < BT; i++) ones[i] = 1.0f;
    iopo_tensor_upload(s.mask, ones);
    free(ones);
    s.loss = iopo_tensor_new2(bc->ctx, IOPO_F32, s.B, s.T);
    s.lse = iopo_tensor_new2(bc->ctx, IOPO_F32, s.B, s.T);
    s.seq_logp = iopo_tensor_new1(bc->ctx, IOPO_F32, s.B);
    s.seq_count = iopo_tensor_new1(bc->ctx, IOPO_F32, s.B);
    s.dloss = bench_randn(bc, 2, bt);
    s.dseq = bench_randn(bc, 1, b1);

    char shape[64];
    snprintf(shape, sizeof shape, "B*T=%zu V=%d", BT, s.V);
    double n = (double)BT * s.V;
    // ~4 flops per logit in each direction (max/compare, subtract, exp, add or multiply).
    bench_case(bc, "softmax_ce_fwd", shape, sce_fwd, &s, 4 * n, 4 * n);
    sce_fwd(bc->ctx, &s);
    bench_case(bc, "softmax_ce_bwd", shape, sce_bwd, &s, 4 * n, 8 * n);

    iopo_tensor *all[] = {s.logits, s.targets, s.mask, s.loss, s.lse, s.seq_logp, s.seq_count, s.dloss, s.dseq};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
