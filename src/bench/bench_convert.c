/* Benchmarks of iopo_convert (memory-bound: the bytes column is what matters): a 768 x 3072 weight narrowed from fp32
 * to BF16 and F16 and widened back, as loading or saving a checkpoint's 16-bit weights does. */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct cvt_bench {
    iopo_tensor *dst, *src;
} cvt_bench;

static void cvt_run(iopo_ctx *ctx, void *user) {
    cvt_bench *c = user;
    iopo_convert(ctx, c->dst, c->src, c->src->numel);
}

void bench_convert(bench_ctx *bc) {
    int64_t shape[2] = {768, bc->quick ? 256 : 3072};
    char label[64];
    snprintf(label, sizeof label, "%lld x %lld", (long long)shape[0], (long long)shape[1]);
    const iopo_dtype dts[2] = {IOPO_BF16, IOPO_F16};
    for (int i = 0; i < 2; i++) {
        iopo_tensor *f32 = bench_randn(bc, 2, shape), *h = iopo_tensor_new(bc->ctx, dts[i], 2, shape);
        double n = (double)f32->numel, bytes = n * (4 + 2);
        char op[48];
        cvt_bench narrow = {h, f32}, widen = {f32, h};
        snprintf(op, sizeof op, "convert f32->%s", iopo_dtype_name(dts[i]));
        bench_case(bc, op, label, cvt_run, &narrow, 0, bytes);
        snprintf(op, sizeof op, "convert %s->f32", iopo_dtype_name(dts[i]));
        bench_case(bc, op, label, cvt_run, &widen, 0, bytes);
        iopo_tensor_free(f32);
        iopo_tensor_free(h);
    }
}
