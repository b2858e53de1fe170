/* `iopo bench ops`: times each op on the chosen device and reports it against that device's own roofline, measured
 * in the same run by a peak-FMA shader and a bandwidth-copy shader. */
#ifndef IOPO_BENCH_H
#define IOPO_BENCH_H

#include "iopo/context.h"
#include "iopo/rng.h"

typedef struct bench_ctx {
    iopo_ctx *ctx;
    iopo_rng rng;
    double peak_gflops;     /* measured by the peak-FMA shader (0 before it ran) */
    double peak_gbps;       /* measured by the copy shader */
    double min_seconds;     /* keep repeating a case until this much time has been spent */
    bool quick;             /* smaller shapes, for tests */
} bench_ctx;

/* Records the op (fn) on bc->ctx, once for warm-up, then repeatedly (syncing after each batch) until min_seconds,
 * and prints a row: op, shape, ms per call, GFLOPS (flops per call) and GB/s (bytes per call), and their ratio to the
 * measured peaks. flops or bytes may be 0 when not meaningful. */
typedef void (*bench_fn)(iopo_ctx *ctx, void *user);
void bench_case(bench_ctx *bc, const char *op, const char *shape, bench_fn fn, void *user, double flops,
                double bytes);

/* Random fp32 tensor on bc->ctx (normal, std 1) and an i32 tensor uniform in [0, hi). */
iopo_tensor *bench_randn(bench_ctx *bc, int ndim, const int64_t *shape);
iopo_tensor *bench_randi(bench_ctx *bc, int64_t n, int32_t hi);

/* Runs the roofline probes and stores their rates in bc; prints their rows. On Vulkan: a peak-FMA shader and a copy
 * shader. On the CPU backend: OpenBLAS sgemm on square matrices and memcpy. */
void bench_measure_peaks(bench_ctx *bc);
void bench_print_header(void);

typedef struct bench_entry {
    const char *name;
    void (*run)(bench_ctx *bc);
} bench_entry;

extern const bench_entry bench_registry[];
extern const int bench_registry_count;

#endif
