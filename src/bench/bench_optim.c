/* Benchmarks of the optimizer ops: AdamW on one large tensor and the global gradient norm over a model's gradient
 * list (GPT-2 small's 148 tensors, 124M values, wte split in two; quick: 1M in a few tensors). Both are bandwidth-bound. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iopo/ops.h"

typedef struct adamw_bench {
    size_t N;
    iopo_tensor *p, *g, *m, *v, *scale;
    iopo_adamw_params hp;
} adamw_bench;

static void adamw_run(iopo_ctx *ctx, void *user) {
    adamw_bench *a = user;
    iopo_adamw_update(ctx, a->p, a->g, a->m, a->v, a->scale, a->N, &a->hp);
}

typedef struct norm_bench {
    int n;
    iopo_tensor **grads;
    iopo_tensor *partials, *out;
} norm_bench;

static void norm_run(iopo_ctx *ctx, void *user) {
    norm_bench *nb = user;
    iopo_grad_norm(ctx, nb->out, nb->partials, nb->grads, nb->n, 1.0f);
}

static void bench_adamw(bench_ctx *bc) {
    adamw_bench a = {.N = bc->quick ? 1000000 : 10000000};
    int64_t shp[1] = {(int64_t)a.N}, two[1] = {2};
    a.p = bench_randn(bc, 1, shp);
    a.g = bench_randn(bc, 1, shp);
    a.m = bench_randn(bc, 1, shp);
    a.v = iopo_tensor_new1(bc->ctx, IOPO_F32, (int64_t)a.N);
    iopo_tensor_zero(a.v);
    a.scale = bench_randn(bc, 1, two);   // element 1 is the clip scale; its value does not change the cost
    a.hp = (iopo_adamw_params){.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                               .step = 10};
    char shape[64];
    snprintf(shape, sizeof shape, "N=%zu", a.N);
    // Reads p, g, m, v and writes p, m, v; ~12 flops per element.
    bench_case(bc, "adamw", shape, adamw_run, &a, 12.0 * a.N, 7.0 * 4 * a.N);
    iopo_tensor *all[] = {a.p, a.g, a.m, a.v, a.scale};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

static void bench_grad_norm(bench_ctx *bc) {
    /* GPT-2 small's parameter shapes: wte, wpe, 12 blocks of 12 tensors, ln_f. wte (154 MB) is split in two because
     * some devices (lavapipe among them) cannot bind more than 128 MiB as one storage buffer. */
    enum { C = 768, L = 12 };
    size_t sizes[3 + 12 * L + 2];
    int n = 0;
    if (bc->quick) {
        static const size_t q[] = {589824, 2304, 196608, 768, 131072, 768, 77824};   // 1M in all
        for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) sizes[n++] = q[i];
    } else {
        sizes[n++] = (size_t)25128 * C;
        sizes[n++] = (size_t)25129 * C;
        sizes[n++] = (size_t)1024 * C;
        for (int l = 0; l < L; l++) {
            size_t blk[12] = {C, C, (size_t)C * 3 * C, 3 * C, (size_t)C * C, C, C, C, (size_t)C * 4 * C, 4 * C,
                              (size_t)4 * C * C, C};
            for (int k = 0; k < 12; k++) sizes[n++] = blk[k];
        }
        sizes[n++] = C;
        sizes[n++] = C;
    }
    norm_bench nb = {n, malloc((size_t)n * sizeof(iopo_tensor *)), NULL, NULL};
    double total = 0;
    for (int i = 0; i < n; i++) {
        int64_t shp[1] = {(int64_t)sizes[i]};
        nb.grads[i] = bench_randn(bc, 1, shp);
        total += (double)sizes[i];
    }
    nb.partials = iopo_tensor_new1(bc->ctx, IOPO_F32, (int64_t)iopo_grad_norm_scratch_elems(n, nb.grads));
    nb.out = iopo_tensor_new1(bc->ctx, IOPO_F32, 2);
    char shape[64];
    snprintf(shape, sizeof shape, "%d tensors, %.1fM", n, total / 1e6);
    bench_case(bc, "grad_norm", shape, norm_run, &nb, 2.0 * total, 4.0 * total);
    for (int i = 0; i < n; i++) iopo_tensor_free(nb.grads[i]);
    free(nb.grads);
    iopo_tensor_free(nb.partials);
    iopo_tensor_free(nb.out);
}

void bench_optim(bench_ctx *bc) {
    bench_adamw(bc);
    bench_grad_norm(bc);
}
