/* Benchmarks of rotary position embeddings at Llama-3.2-1B head shapes (32 q heads, 8 kv heads, hd 64) with llama3
 * scaling tables.
 *
 * Bytes are the compulsory global traffic: the qkv rows read and written (a += target twice), the positions, and the
 * table rows of the T distinct positions. Flops: 3 per rotated value (a pair is 4 products and 2 sums). */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct rope_bench {
    int B, T, NH, NKV, hd, npos;
    iopo_tensor *x, *out, *dout, *dinp, *cos_t, *sin_t, *pos;
} rope_bench;

static void rope_fwd(iopo_ctx *ctx, void *user) {
    rope_bench *r = user;
    iopo_rope_forward(ctx, r->out, r->x, r->cos_t, r->sin_t, r->pos, r->B, r->T, r->NH, r->NKV, r->hd, r->npos);
}

static void rope_fwd_inplace(iopo_ctx *ctx, void *user) {
    rope_bench *r = user;
    iopo_rope_forward(ctx, r->x, r->x, r->cos_t, r->sin_t, r->pos, r->B, r->T, r->NH, r->NKV, r->hd, r->npos);
}

static void rope_bwd(iopo_ctx *ctx, void *user) {
    rope_bench *r = user;
    iopo_rope_backward(ctx, r->dinp, r->dout, r->cos_t, r->sin_t, r->pos, r->B, r->T, r->NH, r->NKV, r->hd, r->npos);
}

void bench_rope(bench_ctx *bc) {
    rope_bench r = {.B = bc->quick ? 1 : 4, .T = bc->quick ? 128 : 256, .NH = 32, .NKV = 8, .hd = 64};
    r.npos = r.T;
    int half = r.hd / 2, N = r.B * r.T;
    int64_t shp[3] = {r.B, r.T, (int64_t)(r.NH + 2 * r.NKV) * r.hd}, tab[2] = {r.npos, half};
    r.x = bench_randn(bc, 3, shp);
    r.out = bench_randn(bc, 3, shp);
    r.dout = bench_randn(bc, 3, shp);
    r.dinp = bench_randn(bc, 3, shp);
    r.cos_t = iopo_tensor_new(bc->ctx, IOPO_F32, 2, tab);
    r.sin_t = iopo_tensor_new(bc->ctx, IOPO_F32, 2, tab);
    r.pos = iopo_tensor_new1(bc->ctx, IOPO_I32, N);
    iopo_rope_config cfg = {500000.0f, IOPO_ROPE_LLAMA3, 32.0f, 1.0f, 4.0f, 8192};   // Llama 3.2's rope_scaling
    float *ct = malloc((size_t)r.npos * half * sizeof *ct), *st = malloc((size_t)r.npos * half * sizeof *st);
    int32_t *pos = malloc((size_t)N * sizeof *pos);
    iopo_rope_tables(&cfg, r.hd, r.npos, ct, st);
    for (int i = 0; i < N; i++) pos[i] = i % r.T;
    iopo_tensor_upload(r.cos_t, ct);
    iopo_tensor_upload(r.sin_t, st);
    iopo_tensor_upload(r.pos, pos);
    free(ct);
    free(st);
    free(pos);

    char shape[64];
    snprintf(shape, sizeof shape, "B%d T%d NH%d NKV%d hd%d", r.B, r.T, r.NH, r.NKV, r.hd);
    double f = sizeof(float), NW = (double)N * (r.NH + 2 * r.NKV) * r.hd, rot = (double)N * (r.NH + r.NKV) * r.hd;
    double side = N + (double)r.T * r.hd;   // positions, and the cos and sin rows of T positions
    bench_case(bc, "rope_forward", shape, rope_fwd, &r, 3 * rot, f * (2 * NW + side));
    // In place the v heads are not touched: only the rotated values are read and written.
    bench_case(bc, "rope_forward_inplace", shape, rope_fwd_inplace, &r, 3 * rot, f * (2 * rot + side));
    bench_case(bc, "rope_backward", shape, rope_bwd, &r, 3 * rot + (NW - rot), f * (3 * NW + side));

    iopo_tensor *all[] = {r.x, r.out, r.dout, r.dinp, r.cos_t, r.sin_t, r.pos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
