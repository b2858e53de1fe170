/* Benchmarks of LayerNorm and RMSNorm, forward and backward, at a GPT-2-small width.
 *
 * Bytes are the compulsory global traffic of each dispatch: every tensor it reads counted once, a += target twice
 * (read and write). The backward is two dispatches (input gradient by rows, weight gradients by columns) that each
 * read dout and inp. Flops count the arithmetic per element of the shaders, rounded. */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct norm_bench {
    int N, C;
    iopo_tensor *x, *w, *b, *out, *mean, *rstd, *dout, *dinp, *dw, *db;
} norm_bench;

static void ln_fwd(iopo_ctx *ctx, void *user) {
    norm_bench *nb = user;
    iopo_layernorm_forward(ctx, nb->out, nb->mean, nb->rstd, nb->x, nb->w, nb->b, nb->N, nb->C, 1e-5f);
}

static void ln_bwd(iopo_ctx *ctx, void *user) {
    norm_bench *nb = user;
    iopo_layernorm_backward(ctx, nb->dinp, nb->dw, nb->db, nb->dout, nb->x, nb->w, nb->mean, nb->rstd, nb->N, nb->C);
}

static void rms_fwd(iopo_ctx *ctx, void *user) {
    norm_bench *nb = user;
    iopo_rmsnorm_forward(ctx, nb->out, nb->rstd, nb->x, nb->w, nb->N, nb->C, 1e-6f);
}

static void rms_bwd(iopo_ctx *ctx, void *user) {
    norm_bench *nb = user;
    iopo_rmsnorm_backward(ctx, nb->dinp, nb->dw, nb->dout, nb->x, nb->w, nb->rstd, nb->N, nb->C);
}

void bench_norm(bench_ctx *bc) {
    norm_bench nb;
    nb.N = bc->quick ? 128 : 1024;
    nb.C = 768;
    int64_t nc[2] = {nb.N, nb.C}, c[1] = {nb.C}, n[1] = {nb.N};
    nb.x = bench_randn(bc, 2, nc);
    nb.w = bench_randn(bc, 1, c);
    nb.b = bench_randn(bc, 1, c);
    nb.out = bench_randn(bc, 2, nc);
    nb.mean = bench_randn(bc, 1, n);
    nb.rstd = bench_randn(bc, 1, n);
    nb.dout = bench_randn(bc, 2, nc);
    nb.dinp = bench_randn(bc, 2, nc);
    nb.dw = bench_randn(bc, 1, c);
    nb.db = bench_randn(bc, 1, c);

    char shape[48];
    snprintf(shape, sizeof shape, "N=%d C=%d", nb.N, nb.C);
    double NC = (double)nb.N * nb.C, C = nb.C, N = nb.N;
    // Forward stats must be real for the backward's inputs to be meaningful: run the forward first.
    bench_case(bc, "layernorm_forward", shape, ln_fwd, &nb, 8 * NC, 4 * (2 * NC + 2 * C + 2 * N));
    bench_case(bc, "layernorm_backward", shape, ln_bwd, &nb, 19 * NC, 4 * (6 * NC + 5 * C + 4 * N));
    bench_case(bc, "rmsnorm_forward", shape, rms_fwd, &nb, 4 * NC, 4 * (2 * NC + C + N));
    bench_case(bc, "rmsnorm_backward", shape, rms_bwd, &nb, 11 * NC, 4 * (6 * NC + 3 * C + 2 * N));

    iopo_tensor *all[] = {nb.x, nb.w, nb.b, nb.out, nb.mean, nb.rstd, nb.dout, nb.dinp, nb.dw, nb.db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
