/* Benchmarks of the LoRA element-wise pieces at a Qwen2-7B-shaped fused projection (q|k|v = 3584 + 512 + 512
 * columns) over 2,048 rows: the k adapter's output added into its 512 columns, those columns of a gradient read
 * back, and dropout over the projection's (2048, 3584) input. Bytes: each element read once, a += target twice. */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct lora_bench {
    int M, W, n, C;
    iopo_tensor *fused, *part, *x, *xd;
} lora_bench;

static void cols_add(iopo_ctx *ctx, void *u) {
    lora_bench *b = u;
    iopo_lora_cols(ctx, b->fused, b->part, b->M, b->n, b->W, 3584, b->n, 0, 0.5f, true);
}

static void cols_read(iopo_ctx *ctx, void *u) {
    lora_bench *b = u;
    iopo_lora_cols(ctx, b->part, b->fused, b->M, b->n, b->n, 0, b->W, 3584, 1.0f, false);
}

static void dropout(iopo_ctx *ctx, void *u) {
    lora_bench *b = u;
    iopo_lora_dropout(ctx, b->xd, b->x, (size_t)b->M * b->C, 7u, 0.1f, false);
}

void bench_lora(bench_ctx *bc) {
    lora_bench b = {.M = bc->quick ? 256 : 2048, .W = 4608, .n = 512, .C = 3584};
    int64_t fs[2] = {b.M, b.W}, ps[2] = {b.M, b.n}, xs[2] = {b.M, b.C};
    b.fused = bench_randn(bc, 2, fs);
    b.part = bench_randn(bc, 2, ps);
    b.x = bench_randn(bc, 2, xs);
    b.xd = bench_randn(bc, 2, xs);
    char shape[64];
    snprintf(shape, sizeof shape, "M=%d W%d n%d", b.M, b.W, b.n);
    double f = sizeof(float), mn = (double)b.M * b.n, mc = (double)b.M * b.C;
    bench_case(bc, "lora_cols +=", shape, cols_add, &b, 2 * mn, f * 3 * mn);
    bench_case(bc, "lora_cols =", shape, cols_read, &b, mn, f * 2 * mn);
    snprintf(shape, sizeof shape, "N=%d x %d p0.1", b.M, b.C);
    bench_case(bc, "lora_dropout", shape, dropout, &b, mc, f * 2 * mc);
    iopo_tensor *all[] = {b.fused, b.part, b.x, b.xd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
