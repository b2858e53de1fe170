/* Checks of LayerNorm and RMSNorm, forward and backward.
 *
 * Each op is run end to end (forward, then backward into gradients that start non-zero) on the device and on the CPU
 * reference with the same seeded inputs; the device's backward reads the CPU's saved statistics so that its rows
 * measure the backward alone. Rows per shape: device vs CPU for every output and gradient, bit-identical device
 * reruns, a rerun with some gradients NULL, and central finite differences of the CPU forward against the CPU
 * backward (whose += starting values are subtracted, so an op that overwrote instead of adding fails there). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

typedef struct norm_shape {
    int N, C;
} norm_shape;

/* Not multiples of any workgroup size, one GPT-2-small-wide case, and more rows (one workgroup each) than the 65535
 * workgroups per grid dimension that Vulkan guarantees, so that vk_dispatch_1d's folded grid is exercised (and the
 * column sums take several chunks). That last one is compared once, without reruns: 70k workgroups are slow on
 * lavapipe, very slow under AddressSanitizer. */
static const norm_shape NORM_SHAPES[] = {{1, 1}, {7, 33}, {33, 257}, {257, 768}, {70001, 3}};
#define NORM_RERUN_MAX_ROWS 65535
#define NORM_NSHAPES ((int)(sizeof NORM_SHAPES / sizeof NORM_SHAPES[0]))

#define LN_EPS 1e-5f
#define RMS_EPS 1e-6f
/* Rows get this offset so that a one-pass E[x^2] - E[x]^2 variance would show its cancellation. */
#define LN_OFFSET 4.0f

#define FD_SAMPLES 24
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 1e-2

/* Which gradients a backward run computes (the others are passed as NULL). */
enum { G_DINP = 1, G_DW = 2, G_DB = 4, G_ALL = 7 };

/* Host inputs of one case; g*0 are the gradients' starting values. */
typedef struct norm_case {
    int N, C;
    const float *x, *w, *b, *dout;       // (N,C), (C), (C), (N,C); b unused by RMSNorm
    const float *gx0, *gw0, *gb0;        // (N,C), (C), (C)
} norm_case;

/* Host outputs of one run (malloc'd; NULL where not computed). */
typedef struct norm_result {
    float *out, *mean, *rstd;            // (N,C), (N), (N); mean NULL for RMSNorm
    float *dinp, *dw, *db;               // (N,C), (C), (C)
} norm_result;

static void norm_result_free(norm_result *r) {
    free(r->out);
    free(r->mean);
    free(r->rstd);
    free(r->dinp);
    free(r->dw);
    free(r->db);
    memset(r, 0, sizeof *r);
}

static iopo_tensor *t2(iopo_ctx *ctx, const float *host, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    return check_tensor(ctx, IOPO_F32, host, 2, shape);
}

/* Runs LayerNorm (rms = false) or RMSNorm on ctx. The backward reads stats_mean/stats_rstd when given (the CPU's),
 * else the statistics this run's forward saved. */
static void norm_run(iopo_ctx *ctx, bool rms, const norm_case *nc, const float *stats_mean, const float *stats_rstd,
                     int grads, norm_result *res) {
    int N = nc->N, C = nc->C;
    memset(res, 0, sizeof *res);
    iopo_tensor *x = t2(ctx, nc->x, N, C);
    iopo_tensor *w = check_tensor1(ctx, IOPO_F32, nc->w, C);
    iopo_tensor *b = rms ? NULL : check_tensor1(ctx, IOPO_F32, nc->b, C);
    iopo_tensor *out = t2(ctx, NULL, N, C);
    iopo_tensor *mean = rms ? NULL : check_tensor1(ctx, IOPO_F32, NULL, N);
    iopo_tensor *rstd = check_tensor1(ctx, IOPO_F32, NULL, N);
    if (rms) iopo_rmsnorm_forward(ctx, out, rstd, x, w, N, C, RMS_EPS);
    else iopo_layernorm_forward(ctx, out, mean, rstd, x, w, b, N, C, LN_EPS);
    res->out = check_download(out);
    res->rstd = check_download(rstd);
    if (!rms) res->mean = check_download(mean);
    if (stats_rstd) {
        iopo_tensor_upload(rstd, stats_rstd);
        if (!rms) iopo_tensor_upload(mean, stats_mean);
    }

    iopo_tensor *dout = t2(ctx, nc->dout, N, C);
    iopo_tensor *dinp = grads & G_DINP ? t2(ctx, nc->gx0, N, C) : NULL;
    iopo_tensor *dw = grads & G_DW ? check_tensor1(ctx, IOPO_F32, nc->gw0, C) : NULL;
    iopo_tensor *db = !rms && (grads & G_DB) ? check_tensor1(ctx, IOPO_F32, nc->gb0, C) : NULL;
    if (rms) iopo_rmsnorm_backward(ctx, dinp, dw, dout, x, w, rstd, N, C);
    else iopo_layernorm_backward(ctx, dinp, dw, db, dout, x, w, mean, rstd, N, C);
    if (dinp) res->dinp = check_download(dinp);
    if (dw) res->dw = check_download(dw);
    if (db) res->db = check_download(db);

    iopo_tensor *all[] = {x, w, b, out, mean, rstd, dout, dinp, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) iopo_tensor_free(all[i]);
}

/* L = <forward(x, w, b), r> on CPU tensors; the finite differences perturb x, w or b through their data pointers. */
typedef struct norm_fd {
    iopo_ctx *cpu;
    bool rms;
    int N, C;
    iopo_tensor *x, *w, *b, *out, *mean, *rstd;
    const float *r;
} norm_fd;

static double norm_fd_eval(void *user) {
    norm_fd *f = user;
    if (f->rms) iopo_rmsnorm_forward(f->cpu, f->out, f->rstd, f->x, f->w, f->N, f->C, RMS_EPS);
    else iopo_layernorm_forward(f->cpu, f->out, f->mean, f->rstd, f->x, f->w, f->b, f->N, f->C, LN_EPS);
    return check_dot((const float *)f->out->data, f->r, (size_t)f->N * f->C);
}

/* analytic = got - start, the gradient the backward added. */
static float *added(const float *got, const float *start, size_t n) {
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = got[i] - start[i];
    return d;
}

static void norm_fd_rows(check_ctx *cc, bool rms, const norm_case *nc, const norm_result *ref, const char *shape) {
    const char *op = rms ? "rmsnorm_backward" : "layernorm_backward";
    int N = nc->N, C = nc->C;
    size_t NC = (size_t)N * C;
    norm_fd f = {cc->cpu, rms, N, C, NULL, NULL, NULL, NULL, NULL, NULL, nc->dout};
    f.x = t2(cc->cpu, nc->x, N, C);
    f.w = check_tensor1(cc->cpu, IOPO_F32, nc->w, C);
    f.b = check_tensor1(cc->cpu, IOPO_F32, nc->b, C);
    f.out = t2(cc->cpu, NULL, N, C);
    f.mean = check_tensor1(cc->cpu, IOPO_F32, NULL, N);
    f.rstd = check_tensor1(cc->cpu, IOPO_F32, NULL, N);

    float *gx = added(ref->dinp, nc->gx0, NC);
    float *gw = added(ref->dw, nc->gw0, (size_t)C);
    check_fd(cc, op, shape, "cpu dinp vs finite diff", (float *)f.x->data, NC, gx, norm_fd_eval, &f, FD_SAMPLES, FD_H,
             FD_ATOL, FD_RTOL);
    check_fd(cc, op, shape, "cpu dw vs finite diff", (float *)f.w->data, (size_t)C, gw, norm_fd_eval, &f, FD_SAMPLES,
             FD_H, FD_ATOL, FD_RTOL);
    if (!rms) {
        float *gb = added(ref->db, nc->gb0, (size_t)C);
        check_fd(cc, op, shape, "cpu db vs finite diff", (float *)f.b->data, (size_t)C, gb, norm_fd_eval, &f,
                 FD_SAMPLES, FD_H, FD_ATOL, FD_RTOL);
        free(gb);
    }
    free(gx);
    free(gw);
    iopo_tensor *all[] = {f.x, f.w, f.b, f.out, f.mean, f.rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

/* Device vs CPU, reruns and the NULL-gradient path. */
static void norm_device_rows(check_ctx *cc, bool rms, const norm_case *nc, const norm_result *ref,
                             const char *shape) {
    const char *fwd = rms ? "rmsnorm_forward" : "layernorm_forward";
    const char *bwd = rms ? "rmsnorm_backward" : "layernorm_backward";
    size_t NC = (size_t)nc->N * nc->C, N = (size_t)nc->N, C = (size_t)nc->C;
    bool reruns = nc->N <= NORM_RERUN_MAX_ROWS;
    norm_result got, again = {0}, partial = {0};
    norm_run(cc->dev, rms, nc, ref->mean, ref->rstd, G_ALL, &got);

    // LayerNorm's (x - mean) loses the low bits of x when a row's spread is small against its offset; a one-ulp difference in the
    // mean (float tree vs double) then becomes ulp(|x|) * rstd * |w| in the output. That bounds the absolute error.
    float xmax = 0, rmax = 0, wmax = 0;
    for (size_t i = 0; i < NC; i++) xmax = fabsf(nc->x[i]) > xmax ? fabsf(nc->x[i]) : xmax;
    for (size_t i = 0; i < N; i++) rmax = ref->rstd[i] > rmax ? ref->rstd[i] : rmax;
    for (size_t i = 0; i < C; i++) wmax = fabsf(nc->w[i]) > wmax ? fabsf(nc->w[i]) : wmax;
    double out_atol = rms ? 1e-5 : 1e-5 + 4.0 * FLT_EPSILON * xmax * rmax * wmax;
    check_close(cc, fwd, shape, "out vs cpu", got.out, ref->out, NC, out_atol, 1e-5);
    if (!rms) check_close(cc, fwd, shape, "mean vs cpu", got.mean, ref->mean, N, 1e-6, 1e-6);
    check_close(cc, fwd, shape, "rstd vs cpu", got.rstd, ref->rstd, N, 0, 1e-5);
    // Gradients start at g0 != 0, so an op that overwrote them would fail here.
    check_close(cc, bwd, shape, "dinp += vs cpu", got.dinp, ref->dinp, NC, 2e-5, 2e-5);
    check_close(cc, bwd, shape, "dw += vs cpu", got.dw, ref->dw, C, 2e-5, 2e-5);
    if (!rms) check_close(cc, bwd, shape, "db += vs cpu", got.db, ref->db, C, 2e-5, 2e-5);

    if (reruns) {
        norm_run(cc->dev, rms, nc, ref->mean, ref->rstd, G_ALL, &again);
        check_identical(cc, fwd, shape, "out identical on rerun", got.out, again.out, NC * sizeof(float));
        check_identical(cc, fwd, shape, "rstd identical on rerun", got.rstd, again.rstd, N * sizeof(float));
        check_identical(cc, bwd, shape, "dinp identical on rerun", got.dinp, again.dinp, NC * sizeof(float));
        check_identical(cc, bwd, shape, "dw identical on rerun", got.dw, again.dw, C * sizeof(float));
        if (!rms) check_identical(cc, bwd, shape, "db identical on rerun", got.db, again.db, C * sizeof(float));

        // Only the last parameter gradient requested: the others are NULL (skipped shader, dummy binding).
        norm_run(cc->dev, rms, nc, ref->mean, ref->rstd, rms ? G_DW : G_DB, &partial);
        if (rms) check_identical(cc, bwd, shape, "dw alone (dinp NULL)", partial.dw, got.dw, C * sizeof(float));
        else check_identical(cc, bwd, shape, "db alone (dinp, dw NULL)", partial.db, got.db, C * sizeof(float));
    }

    norm_result_free(&got);
    norm_result_free(&again);
    norm_result_free(&partial);
}

static void norm_check_shape(check_ctx *cc, bool rms, norm_shape s) {
    int N = s.N, C = s.C;
    size_t NC = (size_t)N * C;
    char shape[48];
    snprintf(shape, sizeof shape, "N=%d C=%d", N, C);

    float *x = check_randn(cc, NC, 1.0f);
    if (!rms)
        for (size_t i = 0; i < NC; i++) x[i] += LN_OFFSET;
    float *w = check_randu(cc, (size_t)C, 0.5f, 1.5f);
    float *b = check_randn(cc, (size_t)C, 0.5f);
    float *dout = check_randn(cc, NC, 1.0f);
    float *gx0 = check_randn(cc, NC, 1.0f);
    float *gw0 = check_randn(cc, (size_t)C, 1.0f);
    float *gb0 = check_randn(cc, (size_t)C, 1.0f);
    norm_case nc = {N, C, x, w, b, dout, gx0, gw0, gb0};

    norm_result ref;
    norm_run(cc->cpu, rms, &nc, NULL, NULL, G_ALL, &ref);
    if (cc->dev) norm_device_rows(cc, rms, &nc, &ref, shape);
    norm_fd_rows(cc, rms, &nc, &ref, shape);

    norm_result_free(&ref);
    free(x);
    free(w);
    free(b);
    free(dout);
    free(gx0);
    free(gw0);
    free(gb0);
}

/* The CPU reference itself, against values worked out by hand for one row x = (1, 2, 3, 4) with w = 1, b = 0:
 * mean 2.5, biased variance 1.25; mean of squares 7.5. */
static void norm_check_known(check_ctx *cc) {
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, b[4] = {0, 0, 0, 0};
    iopo_tensor *tx = check_tensor1(cc->cpu, IOPO_F32, x, 4), *tw = check_tensor1(cc->cpu, IOPO_F32, w, 4);
    iopo_tensor *tb = check_tensor1(cc->cpu, IOPO_F32, b, 4), *out = check_tensor1(cc->cpu, IOPO_F32, NULL, 4);
    iopo_tensor *mean = check_tensor1(cc->cpu, IOPO_F32, NULL, 1), *rstd = check_tensor1(cc->cpu, IOPO_F32, NULL, 1);
    iopo_layernorm_forward(cc->cpu, out, mean, rstd, tx, tw, tb, 1, 4, 0.0f);
    float r = 0.894427191f;   // 1/sqrt(1.25)
    float want[4] = {-1.5f * r, -0.5f * r, 0.5f * r, 1.5f * r};
    check_close(cc, "layernorm_forward", "N=1 C=4", "cpu vs hand-computed", (const float *)out->data, want, 4, 1e-6,
                1e-6);
    iopo_rmsnorm_forward(cc->cpu, out, rstd, tx, tw, 1, 4, 0.0f);
    float rr = 0.365148372f;  // 1/sqrt(7.5)
    float want_rms[4] = {1 * rr, 2 * rr, 3 * rr, 4 * rr};
    check_close(cc, "rmsnorm_forward", "N=1 C=4", "cpu vs hand-computed", (const float *)out->data, want_rms, 4, 1e-6,
                1e-6);
    iopo_tensor *all[] = {tx, tw, tb, out, mean, rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

void check_norm(check_ctx *cc) {
    norm_check_known(cc);
    for (int rms = 0; rms <= 1; rms++)
        for (int i = 0; i < NORM_NSHAPES; i++) norm_check_shape(cc, rms != 0, NORM_SHAPES[i]);
}
