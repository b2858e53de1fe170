/* Benchmarks of the per-head q/k RMSNorm at Qwen3-0.6B head shapes (16 q heads, 8 kv heads, hd 128).
 *
 * Bytes are the compulsory global traffic of the dispatches, as bench_norm.c counts them: every tensor a dispatch
 * reads once, a += target twice. The backward is three dispatches: the input gradient by (token, head) rows, then the
 * column sums of dqw over the q heads and of dkw over the k heads, each reading its heads of dout and inp. Flops are
 * the arithmetic per normalised value of the shaders, rounded. */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct qk_bench {
    int N, NH, NKV, hd;
    iopo_tensor *x, *qw, *kw, *out, *rstd, *dout, *dinp, *dqw, *dkw;
} qk_bench;

static void qk_fwd(iopo_ctx *ctx, void *user) {
    qk_bench *q = user;
    iopo_qk_rmsnorm_forward(ctx, q->out, q->rstd, q->x, q->qw, q->kw, q->N, q->NH, q->NKV, q->hd, 1e-6f);
}

static void qk_bwd(iopo_ctx *ctx, void *user) {
    qk_bench *q = user;
    iopo_qk_rmsnorm_backward(ctx, q->dinp, q->dqw, q->dkw, q->dout, q->x, q->qw, q->kw, q->rstd, q->N, q->NH, q->NKV,
                             q->hd);
}

void bench_qk_norm(bench_ctx *bc) {
    qk_bench q = {.N = bc->quick ? 128 : 1024, .NH = 16, .NKV = 8, .hd = 128};
    int64_t shp[2] = {q.N, (int64_t)(q.NH + 2 * q.NKV) * q.hd}, rs[2] = {q.N, q.NH + q.NKV}, w[1] = {q.hd};
    q.x = bench_randn(bc, 2, shp);
    q.out = bench_randn(bc, 2, shp);
    q.dout = bench_randn(bc, 2, shp);
    q.dinp = bench_randn(bc, 2, shp);
    q.rstd = bench_randn(bc, 2, rs);
    q.qw = bench_randn(bc, 1, w);
    q.kw = bench_randn(bc, 1, w);
    q.dqw = bench_randn(bc, 1, w);
    q.dkw = bench_randn(bc, 1, w);

    char shape[64];
    snprintf(shape, sizeof shape, "N=%d NH%d NKV%d hd%d", q.N, q.NH, q.NKV, q.hd);
    double f = sizeof(float), NW = (double)q.N * (q.NH + 2 * q.NKV) * q.hd;
    double normed = (double)q.N * (q.NH + q.NKV) * q.hd, NR = (double)q.N * (q.NH + q.NKV), hd = q.hd;
    // Forward stats must be real for the backward's inputs to be meaningful: run the forward first.
    bench_case(bc, "qk_rmsnorm_forward", shape, qk_fwd, &q, 4 * normed, f * (2 * NW + NR + 2 * hd));
    bench_case(bc, "qk_rmsnorm_backward", shape, qk_bwd, &q, 10 * normed,
               f * (4 * NW + 2 * NR + 2 * hd + 2 * normed + NR + 4 * hd));

    iopo_tensor *all[] = {q.x, q.qw, q.kw, q.out, q.rstd, q.dout, q.dinp, q.dqw, q.dkw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
