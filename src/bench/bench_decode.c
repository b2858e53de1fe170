/* Benchmarks of KV-cache decoding at Llama-3-8B head shapes (32 q heads, 8 kv heads, hd 128): one new token per
 * sequence against a full cache of Tmax positions. Memory-bound: the bytes are the compulsory cache traffic (the k
 * and v rows of every position once, the new token's q) and the output, so the GB/s column against the copy probe
 * says how close to the bandwidth roofline the decode runs. Flops: q.k and p.v, 2*hd each per head and key. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iopo/ops.h"
#include "vk/vk.h"

typedef struct dec_bench {
    iopo_tensor *cache, *out, *lengths, *src, *pos, *emb, *wpe, *idx;
    int B, Tmax, NH, NKV, hd, C, R;
} dec_bench;

static void dec_attn(iopo_ctx *ctx, void *user) {
    dec_bench *d = user;
    iopo_attention_decode(ctx, d->out, d->cache, d->lengths, d->B, d->Tmax, d->NH, d->NKV, d->hd);
}

static void dec_scatter(iopo_ctx *ctx, void *user) {
    dec_bench *d = user;
    iopo_scatter_rows(ctx, d->cache, d->src, d->pos, d->B, d->Tmax, (d->NH + 2 * d->NKV) * d->hd);
}

static void dec_gather(iopo_ctx *ctx, void *user) {
    dec_bench *d = user;
    iopo_gather_rows_add(ctx, d->emb, d->wpe, d->idx, d->B, d->R, d->C);
}

void bench_decode(bench_ctx *bc) {
    dec_bench d = {.B = bc->quick ? 1 : 8, .Tmax = bc->quick ? 256 : 2048, .NH = 32, .NKV = 8, .hd = 128,
                   .C = 768, .R = 1024};   // gather: GPT-2's position table
    uint64_t row = (uint64_t)(d.NH + 2 * d.NKV) * d.hd * sizeof(float);
    if (iopo_ctx_backend(bc->ctx) == IOPO_BACKEND_VULKAN) {
        // the cache (B*Tmax rows) must fit one binding (lavapipe: 128 MiB, 2 sequences here): fewer sequences there
        uint64_t max_b = vk_get_limits(bc->ctx)->max_storage_range / ((uint64_t)d.Tmax * row);
        if ((uint64_t)d.B > max_b) d.B = max_b ? (int)max_b : 1;
    }
    int W = (d.NH + 2 * d.NKV) * d.hd;
    int64_t shp_cache[3] = {d.B, d.Tmax, W}, shp_out[2] = {d.B, (int64_t)d.NH * d.hd}, shp_src[2] = {d.B, W};
    int64_t shp_emb[2] = {d.B, d.C}, shp_wpe[2] = {d.R, d.C};
    d.cache = bench_randn(bc, 3, shp_cache);
    d.out = bench_randn(bc, 2, shp_out);
    d.src = bench_randn(bc, 2, shp_src);
    d.emb = bench_randn(bc, 2, shp_emb);
    d.wpe = bench_randn(bc, 2, shp_wpe);
    d.lengths = iopo_tensor_new1(bc->ctx, IOPO_I32, d.B);
    d.pos = iopo_tensor_new1(bc->ctx, IOPO_I32, d.B);
    d.idx = iopo_tensor_new1(bc->ctx, IOPO_I32, d.B);
    int32_t *v = malloc((size_t)d.B * sizeof *v);
    for (int b = 0; b < d.B; b++) v[b] = d.Tmax;   // a full cache: the most work one step does
    iopo_tensor_upload(d.lengths, v);
    for (int b = 0; b < d.B; b++) v[b] = d.Tmax - 1 - b;   // distinct rows
    iopo_tensor_upload(d.pos, v);
    iopo_tensor_upload(d.idx, v);
    free(v);

    char shape[64];
    snprintf(shape, sizeof shape, "B%d Tmax%d NH%d NKV%d hd%d", d.B, d.Tmax, d.NH, d.NKV, d.hd);
    double f = sizeof(float), kv = (double)d.B * d.Tmax * 2 * d.NKV * d.hd, q = (double)d.B * d.NH * d.hd;
    bench_case(bc, "attention_decode", shape, dec_attn, &d, 4.0 * d.B * d.NH * d.Tmax * d.hd, f * (kv + 2 * q));
    // scatter: a row read and written per sequence; gather-add: a table row read, an out row read and written
    bench_case(bc, "scatter_rows", shape, dec_scatter, &d, 0, f * 2.0 * d.B * W);
    snprintf(shape, sizeof shape, "N%d R%d C%d", d.B, d.R, d.C);
    bench_case(bc, "gather_rows_add", shape, dec_gather, &d, (double)d.B * d.C, f * 3.0 * d.B * d.C);

    iopo_tensor *all[] = {d.cache, d.out, d.lengths, d.src, d.pos, d.emb, d.wpe, d.idx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
