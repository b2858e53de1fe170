/* Benchmark harness: wall-clock timing of recorded ops, synced per batch, plus the two roofline probes. */
#include "bench/bench.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vk/vk.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per call of fn, repeating in growing batches until min_seconds have been spent. */
static double time_per_call(bench_ctx *bc, bench_fn fn, void *user) {
    fn(bc->ctx, user);   /* warm-up: creates pipelines, touches memory */
    iopo_sync(bc->ctx);
    long calls = 0, batch = 1;
    double spent = 0;
    do {   /* at least one timed batch, even with --min-time 0 */
        double t0 = now_seconds();
        for (long i = 0; i < batch; i++) fn(bc->ctx, user);
        iopo_sync(bc->ctx);
        spent += now_seconds() - t0;
        calls += batch;
        if (batch < 1024) batch *= 2;
    } while (spent < bc->min_seconds);
    return spent / (double)calls;
}

static void print_row(bench_ctx *bc, const char *op, const char *shape, double sec, double flops, double bytes) {
    double gflops = flops / sec * 1e-9, gbps = bytes / sec * 1e-9;
    char fl[32] = "-", bw[32] = "-", pf[32] = "-", pb[32] = "-";
    if (flops > 0) snprintf(fl, sizeof fl, "%.2f", gflops);
    if (bytes > 0) snprintf(bw, sizeof bw, "%.2f", gbps);
    if (flops > 0 && bc->peak_gflops > 0) snprintf(pf, sizeof pf, "%.1f%%", 100.0 * gflops / bc->peak_gflops);
    if (bytes > 0 && bc->peak_gbps > 0) snprintf(pb, sizeof pb, "%.1f%%", 100.0 * gbps / bc->peak_gbps);
    printf("%-22s %-28s %11.4f %10s %9s %10s %9s\n", op, shape, sec * 1e3, fl, pf, bw, pb);
    fflush(stdout);
}

void bench_case(bench_ctx *bc, const char *op, const char *shape, bench_fn fn, void *user, double flops,
                double bytes) {
    print_row(bc, op, shape, time_per_call(bc, fn, user), flops, bytes);
}

iopo_tensor *bench_randn(bench_ctx *bc, int ndim, const int64_t *shape) {
    iopo_tensor *t = iopo_tensor_new(bc->ctx, IOPO_F32, ndim, shape);
    float *h = malloc(iopo_tensor_bytes(t) + 4);
    iopo_rng_fill_normal(&bc->rng, h, t->numel, 0.0f, 1.0f);
    iopo_tensor_upload(t, h);
    free(h);
    return t;
}

iopo_tensor *bench_randi(bench_ctx *bc, int64_t n, int32_t hi) {
    iopo_tensor *t = iopo_tensor_new1(bc->ctx, IOPO_I32, n);
    int32_t *h = malloc((size_t)n * 4 + 4);
    for (int64_t i = 0; i < n; i++) h[i] = (int32_t)(iopo_rng_u64(&bc->rng) % (uint64_t)hi);
    iopo_tensor_upload(t, h);
    free(h);
    return t;
}

typedef struct {
    iopo_tensor *a, *b;
    uint32_t wg, groups, iterations, n_vec4;
} probe;

static void run_fma(iopo_ctx *ctx, void *user) {
    probe *p = user;
    uint32_t push[2] = {p->iterations, p->groups};
    vk_dispatch_1d(ctx, "bench_fma", &p->wg, 1, (vk_arg[]){VK_W(p->a)}, 1, push, sizeof push, p->groups);
}

static void run_copy(iopo_ctx *ctx, void *user) {
    probe *p = user;
    uint32_t push[2] = {p->n_vec4, p->groups};
    vk_dispatch_1d(ctx, "bench_copy", &p->wg, 1, (vk_arg[]){VK_R(p->a), VK_W(p->b)}, 2, push, sizeof push, p->groups);
}

typedef struct {
    float *a, *b, *c;
    int n;
    size_t bytes;
} cpu_probe;

static void run_cpu_sgemm(iopo_ctx *ctx, void *user) {
    (void)ctx;
    cpu_probe *p = user;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->n, p->n, p->n, 1.0f, p->a, p->n, p->b, p->n, 0.0f, p->c,
                p->n);
}

static void run_cpu_copy(iopo_ctx *ctx, void *user) {
    (void)ctx;
    cpu_probe *p = user;
    memcpy(p->b, p->a, p->bytes);
}

/* The CPU backend's roofline: OpenBLAS sgemm on square matrices (the best its matmul can do) and memcpy. */
static void measure_cpu_peaks(bench_ctx *bc) {
    cpu_probe p = {.n = bc->quick ? 256 : 1024};
    size_t nn = (size_t)p.n * (size_t)p.n;
    p.a = calloc(nn, 4), p.b = calloc(nn, 4), p.c = calloc(nn, 4);
    double sec = time_per_call(bc, run_cpu_sgemm, &p);
    double flops = 2.0 * (double)nn * p.n;
    bc->peak_gflops = flops / sec * 1e-9;
    char shape[64];
    snprintf(shape, sizeof shape, "sgemm %d^3", p.n);
    print_row(bc, "peak sgemm (probe)", shape, sec, flops, 0);
    free(p.a), free(p.b), free(p.c);

    p.bytes = bc->quick ? (16u << 20) : (256u << 20);
    p.a = malloc(p.bytes), p.b = malloc(p.bytes);
    memset(p.a, 1, p.bytes), memset(p.b, 0, p.bytes);
    sec = time_per_call(bc, run_cpu_copy, &p);
    bc->peak_gbps = 2.0 * (double)p.bytes / sec * 1e-9;
    snprintf(shape, sizeof shape, "memcpy %.0f MiB", (double)p.bytes / (1 << 20));
    print_row(bc, "copy bandwidth (probe)", shape, sec, 0, 2.0 * (double)p.bytes);
    free(p.a), free(p.b);
}

void bench_measure_peaks(bench_ctx *bc) {
    if (iopo_ctx_backend(bc->ctx) != IOPO_BACKEND_VULKAN) {
        measure_cpu_peaks(bc);
        return;
    }
    const vk_limits *l = vk_get_limits(bc->ctx);
    probe p = {.wg = l->max_invocations < 256 ? l->max_invocations : 256};
    /* Enough invocations to fill a large GPU; each does iterations * 8 vec4 FMAs = 64 flops per iteration. */
    p.groups = bc->quick ? 64 : 4096;
    p.iterations = bc->quick ? 256 : 2048;
    p.a = iopo_tensor_new1(bc->ctx, IOPO_F32, (int64_t)p.groups * p.wg * 4);
    double sec = time_per_call(bc, run_fma, &p);
    double flops = (double)p.groups * p.wg * p.iterations * 64.0;
    bc->peak_gflops = flops / sec * 1e-9;
    print_row(bc, "peak fma (probe)", "vec4 x8 chains", sec, flops, 0);
    iopo_tensor_free(p.a);

    /* Copy probe: as large as one binding allows, up to 256 MiB (16 MiB when quick). */
    uint64_t bytes = bc->quick ? (16u << 20) : (256u << 20);
    if (bytes > l->max_storage_range) bytes = l->max_storage_range / 16 * 16;
    p.n_vec4 = (uint32_t)(bytes / 16);
    p.groups = vk_div_up(p.n_vec4, p.wg);
    p.a = iopo_tensor_new1(bc->ctx, IOPO_F32, (int64_t)p.n_vec4 * 4);
    p.b = iopo_tensor_new1(bc->ctx, IOPO_F32, (int64_t)p.n_vec4 * 4);
    sec = time_per_call(bc, run_copy, &p);
    bc->peak_gbps = 2.0 * (double)bytes / sec * 1e-9;
    char shape[64];
    snprintf(shape, sizeof shape, "%.0f MiB", (double)bytes / (1 << 20));
    print_row(bc, "copy bandwidth (probe)", shape, sec, 0, 2.0 * (double)bytes);
    iopo_tensor_free(p.a);
    iopo_tensor_free(p.b);
}

void bench_print_header(void) {
    printf("%-22s %-28s %11s %10s %9s %10s %9s\n", "op", "shape", "ms/call", "GFLOPS", "of peak", "GB/s", "of peak");
}
