/* Benchmarks of the token + position embedding (memory-bound: the bytes column is what matters). */
#include <stdio.h>

#include "bench/bench.h"
#include "iopo/ops.h"
#include "vk/vk.h"

typedef struct emb_bench {
    iopo_tensor *out, *tokens, *wte, *wpe, *dwte, *dwpe;   // (B,T,C), (B,T), (V,C), (T,C), (V,C), (T,C)
    int B, T, C, V;
} emb_bench;

static void emb_fwd(iopo_ctx *ctx, void *user) {
    emb_bench *e = user;
    iopo_embedding_forward(ctx, e->out, e->tokens, e->wte, e->wpe, e->B, e->T, e->C, e->V);
}

static void emb_bwd(iopo_ctx *ctx, void *user) {
    emb_bench *e = user;
    // e->out stands in for dout: the timing does not depend on the values
    iopo_embedding_backward(ctx, e->dwte, e->dwpe, e->out, e->tokens, e->B, e->T, e->C, e->V);
}

void bench_embedding(bench_ctx *bc) {
    emb_bench e = bc->quick ? (emb_bench){.B = 1, .T = 64, .C = 256, .V = 4096}
                            : (emb_bench){.B = 4, .T = 256, .C = 768, .V = 50257};
    if (!bc->quick && iopo_ctx_backend(bc->ctx) == IOPO_BACKEND_VULKAN) {
        // GPT-2's table (154 MB) exceeds what some devices bind as one buffer (lavapipe: 128 MiB): shrink V there
        uint64_t max_rows = vk_get_limits(bc->ctx)->max_storage_range / ((uint64_t)e.C * sizeof(float));
        if ((uint64_t)e.V > max_rows) e.V = (int)max_rows;
    }
    int64_t shp_btc[3] = {e.B, e.T, e.C}, shp_wte[2] = {e.V, e.C}, shp_wpe[2] = {e.T, e.C};
    e.out = bench_randn(bc, 3, shp_btc);
    e.tokens = bench_randi(bc, (int64_t)e.B * e.T, e.V);
    e.wte = bench_randn(bc, 2, shp_wte);
    e.wpe = bench_randn(bc, 2, shp_wpe);
    e.dwte = bench_randn(bc, 2, shp_wte);
    e.dwpe = bench_randn(bc, 2, shp_wpe);

    char shape[64];
    snprintf(shape, sizeof shape, "B%d T%d C%d V%d", e.B, e.T, e.C, e.V);
    double btc = (double)e.B * e.T * e.C, tc = (double)e.T * e.C, f = sizeof(float);
    // forward: tokens, one wte row and one wpe row per position (wpe rows reused across the batch), out written
    bench_case(bc, "embedding_forward", shape, emb_fwd, &e, btc, f * (e.B * e.T + 2 * btc + tc));
    // backward: dout read twice (dwte and dwpe passes), a dwte row read and written per position, dwpe read+written
    bench_case(bc, "embedding_backward", shape, emb_bwd, &e, 2 * btc, f * (e.B * e.T + 4 * btc + 2 * tc));

    iopo_tensor *all[] = {e.out, e.tokens, e.wte, e.wpe, e.dwte, e.dwpe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}
