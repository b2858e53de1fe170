/* Benchmarks of causal grouped-query attention (flash-style: no (T,T) buffer) at GPT-2-small and Qwen2-0.5B head
 * shapes, and one long row. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct att_bench {
    iopo_tensor *qkv, *out, *lse, *dout, *dqkv, *scratch, *lengths;
    int B, T, NH, NKV, hd;
} att_bench;

static void att_fwd(iopo_ctx *ctx, void *user) {
    att_bench *a = user;
    iopo_attention_forward(ctx, a->out, a->lse, a->qkv, a->lengths, a->B, a->T, a->NH, a->NKV, a->hd);
}

static void att_bwd(iopo_ctx *ctx, void *user) {
    att_bench *a = user;
    iopo_attention_backward(ctx, a->dqkv, a->scratch, a->dout, a->qkv, a->out, a->lse, a->lengths, a->B, a->T, a->NH,
                            a->NKV, a->hd);
}

static void att_bench_shape(bench_ctx *bc, int B, int T, int NH, int NKV, int hd) {
    att_bench a = {.B = B, .T = T, .NH = NH, .NKV = NKV, .hd = hd};
    int64_t shp_qkv[3] = {B, T, (int64_t)(NH + 2 * NKV) * hd}, shp_out[3] = {B, T, (int64_t)NH * hd};
    int64_t shp_rows[3] = {B, NH, T};
    a.qkv = bench_randn(bc, 3, shp_qkv);
    a.out = bench_randn(bc, 3, shp_out);
    a.lse = bench_randn(bc, 3, shp_rows);
    a.dout = bench_randn(bc, 3, shp_out);
    a.dqkv = bench_randn(bc, 3, shp_qkv);
    a.scratch = bench_randn(bc, 3, shp_rows);
    a.lengths = iopo_tensor_new1(bc->ctx, IOPO_I32, B);
    int32_t *lens = malloc((size_t)B * sizeof *lens);
    for (int b = 0; b < B; b++) lens[b] = T;   // no padding: the full causal work
    iopo_tensor_upload(a.lengths, lens);
    free(lens);
    att_fwd(bc->ctx, &a);   // the real out and lse for the backward

    char shape[64];
    snprintf(shape, sizeof shape, "B%d T%d NH%d NKV%d hd%d", B, T, NH, NKV, hd);
    double f = sizeof(float), rows = (double)B * NH * T, qkv = (double)B * T * (NH + 2 * NKV) * hd;
    double o = (double)B * T * NH * hd;
    // flops as for dense attention (q.k and p.v: 2 products of 2*T*T*hd per head), as before the flash version, so
    // the rows compare; the causal mask halves the work actually done
    double flops = 4.0 * B * NH * T * T * hd;
    // bytes: each tensor once (K and V re-read per query row are counted as cached)
    bench_case(bc, "attention_forward", shape, att_fwd, &a, flops, f * (qkv + o + rows));
    // backward counted as 4 products (dp, dq, dk, dv), the dense convention; the kernels also recompute q.k (and the
    // device's two passes compute q.k and dout.v each)
    bench_case(bc, "attention_backward", shape, att_bwd, &a, 2 * flops, f * (3 * qkv + 2 * o + 3 * rows));

    iopo_tensor *all[] = {a.qkv, a.out, a.lse, a.dout, a.dqkv, a.scratch, a.lengths};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

void bench_attention(bench_ctx *bc) {
    if (bc->quick) {
        att_bench_shape(bc, 1, 64, 12, 12, 64);
    } else {
        att_bench_shape(bc, 4, 256, 12, 12, 64);   // GPT-2 small
        att_bench_shape(bc, 4, 256, 14, 2, 64);    // Qwen2-0.5B-like grouped-query heads
        att_bench_shape(bc, 1, 2048, 4, 2, 64);    // a long row: memory O(B*NH*T), no (T,T) buffer
    }
}
