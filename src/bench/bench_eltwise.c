/* Benchmarks of the element-wise ops on an MLP-activation-sized vector (GPT-2 small: 1024 tokens x 3072 is 3M; 1M
 * keeps lavapipe runs short). Bytes: each tensor read once, each written once, a += target both. Flops: the
 * arithmetic per element of the shaders, counting exp and division as one each. */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct elt_bench {
    size_t n;
    iopo_tensor *x, *y, *out, *dout, *dx, *dy;
} elt_bench;

static void gelu_fwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_gelu_forward(ctx, e->out, e->x, e->n);
}
static void gelu_bwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_gelu_backward(ctx, e->dx, e->dout, e->x, e->n);
}
static void silu_fwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_silu_forward(ctx, e->out, e->x, e->n);
}
static void silu_bwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_silu_backward(ctx, e->dx, e->dout, e->x, e->n);
}
static void swiglu_fwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_swiglu_forward(ctx, e->out, e->x, e->y, e->n);
}
static void swiglu_bwd(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_swiglu_backward(ctx, e->dx, e->dy, e->dout, e->x, e->y, e->n);
}
static void add(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_add(ctx, e->out, e->x, e->y, e->n);
}
static void accumulate(iopo_ctx *ctx, void *u) {
    elt_bench *e = u;
    iopo_accumulate(ctx, e->dx, e->x, e->n);
}

void bench_eltwise(bench_ctx *bc) {
    elt_bench e;
    e.n = bc->quick ? (size_t)1 << 17 : (size_t)1 << 20;
    int64_t shape[1] = {(int64_t)e.n};
    e.x = bench_randn(bc, 1, shape);
    e.y = bench_randn(bc, 1, shape);
    e.out = bench_randn(bc, 1, shape);
    e.dout = bench_randn(bc, 1, shape);
    e.dx = bench_randn(bc, 1, shape);
    e.dy = bench_randn(bc, 1, shape);

    char s[32];
    snprintf(s, sizeof s, "N=%zu", e.n);
    double n = (double)e.n, f4 = 4.0 * n;
    bench_case(bc, "gelu_forward", s, gelu_fwd, &e, 12 * n, 2 * f4);
    bench_case(bc, "gelu_backward", s, gelu_bwd, &e, 22 * n, 4 * f4);
    bench_case(bc, "silu_forward", s, silu_fwd, &e, 6 * n, 2 * f4);
    bench_case(bc, "silu_backward", s, silu_bwd, &e, 10 * n, 4 * f4);
    bench_case(bc, "swiglu_forward", s, swiglu_fwd, &e, 7 * n, 3 * f4);
    bench_case(bc, "swiglu_backward", s, swiglu_bwd, &e, 15 * n, 7 * f4);
    bench_case(bc, "add", s, add, &e, n, 3 * f4);
    bench_case(bc, "accumulate", s, accumulate, &e, n, 3 * f4);

    iopo_tensor *all[] = {e.x, e.y, e.out, e.dout, e.dx, e.dy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
