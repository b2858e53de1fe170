/* Checks of the per-head q/k RMSNorm (Qwen3's q_norm / k_norm), forward and backward.
 *
 * As check_norm.c: each case runs end to end (forward, then backward into gradients that start non-zero) on the
 * device and on the CPU reference; the device's backward reads the CPU's saved rstd. Rows per shape: the CPU forward
 * against a double-precision oracle written here (which heads get which weight, v heads copied), device vs CPU for
 * every output and gradient, bit-identical device reruns, the weight gradients alone (dinp NULL), and central finite
 * differences of the CPU forward against the CPU backward for dinp, dqw and dkw. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

typedef struct qk_shape {
    int N, NH, NKV, hd;
} qk_shape;

/* GQA throughout; head sizes 1, 3, 6, 10, 40 (not powers of two) and 128 (Qwen3's). Heads of 40 and 128 values take
 * 2 and 8 invocations each in the row shader (a segmented tree), the smaller ones one; 29 tokens of 10 heads leave
 * the last workgroup part empty. The last case's 32800 q head rows are more than one dispatch of the column-sum shader
 * takes with one invocation per column (16384 rows each, lavapipe's 32-invocation workgroups), so dqw is summed over
 * three chunks. (A grid folded past 65535 workgroups would need over 2M heads here; vk_dispatch_1d's folding is
 * exercised by the norm check and tests/test_runtime.c, and the shaders index with iopo_group_id() as norm's do.) */
static const qk_shape QK_SHAPES[] = {{1, 1, 1, 1},     {7, 4, 2, 6},     {33, 6, 2, 10},
                                     {29, 6, 2, 40},   {130, 8, 2, 128}, {8200, 4, 2, 3}};
#define QK_NSHAPES ((int)(sizeof QK_SHAPES / sizeof QK_SHAPES[0]))
#define QK_RERUN_MAX_TOKENS 1000

#define QK_EPS 1e-6f
#define FD_SAMPLES 24
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 1e-2

enum { G_DINP = 1, G_DQW = 2, G_DKW = 4, G_ALL = 7 };

static size_t qk_width(const qk_shape *s) { return (size_t)(s->NH + 2 * s->NKV) * s->hd; }

typedef struct qk_case {
    const qk_shape *s;
    const float *x, *qw, *kw, *dout;   // (N,W), (hd), (hd), (N,W)
    const float *gx0, *gq0, *gk0;      // starting gradients (N,W), (hd), (hd)
} qk_case;

typedef struct qk_result {
    float *out, *rstd, *dinp, *dqw, *dkw;
} qk_result;

static void qk_result_free(qk_result *r) {
    free(r->out);
    free(r->rstd);
    free(r->dinp);
    free(r->dqw);
    free(r->dkw);
    memset(r, 0, sizeof *r);
}

static void qk_run(iopo_ctx *ctx, const qk_case *qc, const float *stats_rstd, int grads, qk_result *res) {
    const qk_shape *s = qc->s;
    memset(res, 0, sizeof *res);
    int64_t shp[2] = {s->N, (int64_t)qk_width(s)}, rs[2] = {s->N, s->NH + s->NKV};
    iopo_tensor *x = check_tensor(ctx, IOPO_F32, qc->x, 2, shp), *out = check_tensor(ctx, IOPO_F32, NULL, 2, shp);
    iopo_tensor *rstd = check_tensor(ctx, IOPO_F32, NULL, 2, rs);
    iopo_tensor *qw = check_tensor1(ctx, IOPO_F32, qc->qw, s->hd), *kw = check_tensor1(ctx, IOPO_F32, qc->kw, s->hd);
    iopo_qk_rmsnorm_forward(ctx, out, rstd, x, qw, kw, s->N, s->NH, s->NKV, s->hd, QK_EPS);
    res->out = check_download(out);
    res->rstd = check_download(rstd);
    if (stats_rstd) iopo_tensor_upload(rstd, stats_rstd);

    iopo_tensor *dout = check_tensor(ctx, IOPO_F32, qc->dout, 2, shp);
    iopo_tensor *dinp = grads & G_DINP ? check_tensor(ctx, IOPO_F32, qc->gx0, 2, shp) : NULL;
    iopo_tensor *dqw = grads & G_DQW ? check_tensor1(ctx, IOPO_F32, qc->gq0, s->hd) : NULL;
    iopo_tensor *dkw = grads & G_DKW ? check_tensor1(ctx, IOPO_F32, qc->gk0, s->hd) : NULL;
    iopo_qk_rmsnorm_backward(ctx, dinp, dqw, dkw, dout, x, qw, kw, rstd, s->N, s->NH, s->NKV, s->hd);
    if (dinp) res->dinp = check_download(dinp);
    if (dqw) res->dqw = check_download(dqw);
    if (dkw) res->dkw = check_download(dkw);
    iopo_tensor *all[] = {x, out, rstd, qw, kw, dout, dinp, dqw, dkw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) iopo_tensor_free(all[i]);
}

/* The forward of include/iopo/ops.h in double, independently of src/cpu/qk_norm.c. */
static void qk_oracle(const qk_case *qc, float *out, float *rstd) {
    const qk_shape *s = qc->s;
    size_t W = qk_width(s);
    for (int n = 0; n < s->N; n++)
        for (int h = 0; h < s->NH + 2 * s->NKV; h++) {
            const float *x = qc->x + (size_t)n * W + (size_t)h * s->hd;
            float *o = out + (size_t)n * W + (size_t)h * s->hd;
            if (h >= s->NH + s->NKV) {
                memcpy(o, x, (size_t)s->hd * sizeof *o);
                continue;
            }
            const float *w = h < s->NH ? qc->qw : qc->kw;
            double ss = 0;
            for (int c = 0; c < s->hd; c++) ss += (double)x[c] * x[c];
            double r = 1.0 / sqrt(ss / s->hd + QK_EPS);
            for (int c = 0; c < s->hd; c++) o[c] = (float)(x[c] * r * w[c]);
            rstd[(size_t)n * (s->NH + s->NKV) + h] = (float)r;
        }
}

typedef struct qk_fd {
    iopo_ctx *cpu;
    const qk_shape *s;
    iopo_tensor *x, *qw, *kw, *out, *rstd;
    const float *r;
} qk_fd;

static double qk_fd_eval(void *user) {
    qk_fd *f = user;
    const qk_shape *s = f->s;
    iopo_qk_rmsnorm_forward(f->cpu, f->out, f->rstd, f->x, f->qw, f->kw, s->N, s->NH, s->NKV, s->hd, QK_EPS);
    return check_dot((const float *)f->out->data, f->r, (size_t)s->N * qk_width(s));
}

static float *added(const float *got, const float *start, size_t n) {
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = got[i] - start[i];
    return d;
}

static void qk_cpu_rows(check_ctx *cc, const qk_case *qc, const qk_result *ref, const char *shape) {
    const qk_shape *s = qc->s;
    size_t NW = (size_t)s->N * qk_width(s), NR = (size_t)s->N * (s->NH + s->NKV), hd = (size_t)s->hd;
    float *want = malloc(NW * sizeof *want), *want_r = malloc(NR * sizeof *want_r);
    qk_oracle(qc, want, want_r);
    check_close(cc, "qk_rmsnorm_forward", shape, "cpu out vs double formula", ref->out, want, NW, 1e-6, 1e-6);
    check_close(cc, "qk_rmsnorm_forward", shape, "cpu rstd vs double formula", ref->rstd, want_r, NR, 0, 1e-6);
    free(want);
    free(want_r);

    int64_t shp[2] = {s->N, (int64_t)qk_width(s)}, rs[2] = {s->N, s->NH + s->NKV};
    qk_fd f = {cc->cpu, s, NULL, NULL, NULL, NULL, NULL, qc->dout};
    f.x = check_tensor(cc->cpu, IOPO_F32, qc->x, 2, shp);
    f.qw = check_tensor1(cc->cpu, IOPO_F32, qc->qw, s->hd);
    f.kw = check_tensor1(cc->cpu, IOPO_F32, qc->kw, s->hd);
    f.out = check_tensor(cc->cpu, IOPO_F32, NULL, 2, shp);
    f.rstd = check_tensor(cc->cpu, IOPO_F32, NULL, 2, rs);
    float *gx = added(ref->dinp, qc->gx0, NW), *gq = added(ref->dqw, qc->gq0, hd), *gk = added(ref->dkw, qc->gk0, hd);
    const char *op = "qk_rmsnorm_backward";
    check_fd(cc, op, shape, "cpu dinp vs finite diff", (float *)f.x->data, NW, gx, qk_fd_eval, &f, FD_SAMPLES, FD_H,
             FD_ATOL, FD_RTOL);
    check_fd(cc, op, shape, "cpu dqw vs finite diff", (float *)f.qw->data, hd, gq, qk_fd_eval, &f, FD_SAMPLES, FD_H,
             FD_ATOL, FD_RTOL);
    check_fd(cc, op, shape, "cpu dkw vs finite diff", (float *)f.kw->data, hd, gk, qk_fd_eval, &f, FD_SAMPLES, FD_H,
             FD_ATOL, FD_RTOL);
    free(gx);
    free(gq);
    free(gk);
    iopo_tensor *all[] = {f.x, f.qw, f.kw, f.out, f.rstd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

/* max over columns c of sum over tokens and heads h0 .. h0+nheads-1 of |dout * x * rstd|. */
static double qk_abs_sum(const qk_case *qc, const qk_result *ref, int h0, int nheads) {
    const qk_shape *s = qc->s;
    size_t W = qk_width(s);
    double worst = 0;
    for (int c = 0; c < s->hd; c++) {
        double a = 0;
        for (int n = 0; n < s->N; n++)
            for (int h = h0; h < h0 + nheads; h++) {
                size_t i = (size_t)n * W + (size_t)h * s->hd + c;
                a += fabs((double)qc->dout[i] * qc->x[i] * ref->rstd[(size_t)n * (s->NH + s->NKV) + h]);
            }
        worst = a > worst ? a : worst;
    }
    return worst;
}

static void qk_device_rows(check_ctx *cc, const qk_case *qc, const qk_result *ref, const char *shape) {
    const qk_shape *s = qc->s;
    size_t NW = (size_t)s->N * qk_width(s), NR = (size_t)s->N * (s->NH + s->NKV), hd = (size_t)s->hd;
    const char *fwd = "qk_rmsnorm_forward", *bwd = "qk_rmsnorm_backward";
    qk_result got, again = {0}, wq = {0}, wk = {0};
    qk_run(cc->dev, qc, ref->rstd, G_ALL, &got);
    check_close(cc, fwd, shape, "out vs cpu", got.out, ref->out, NW, 1e-5, 1e-5);
    check_close(cc, fwd, shape, "rstd vs cpu", got.rstd, ref->rstd, NR, 0, 1e-5);
    // Gradients start non-zero, so an op that overwrote them would fail here.
    check_close(cc, bwd, shape, "dinp += vs cpu", got.dinp, ref->dinp, NW, 2e-5, 2e-5);
    // The weight gradients are float sums over N*NH (N*NKV) head rows on the device and double sums on the CPU: allow
    // FLT_EPSILON times the sum of the terms' magnitudes (a lost or repeated chunk of rows is far larger).
    check_close(cc, bwd, shape, "dqw += vs cpu", got.dqw, ref->dqw, hd,
                2e-5 + FLT_EPSILON * qk_abs_sum(qc, ref, 0, s->NH), 2e-5);
    check_close(cc, bwd, shape, "dkw += vs cpu", got.dkw, ref->dkw, hd,
                2e-5 + FLT_EPSILON * qk_abs_sum(qc, ref, s->NH, s->NKV), 2e-5);
    if (s->N <= QK_RERUN_MAX_TOKENS) {
        qk_run(cc->dev, qc, ref->rstd, G_ALL, &again);
        check_identical(cc, fwd, shape, "out identical on rerun", got.out, again.out, NW * sizeof(float));
        check_identical(cc, fwd, shape, "rstd identical on rerun", got.rstd, again.rstd, NR * sizeof(float));
        check_identical(cc, bwd, shape, "dinp identical on rerun", got.dinp, again.dinp, NW * sizeof(float));
        check_identical(cc, bwd, shape, "dqw identical on rerun", got.dqw, again.dqw, hd * sizeof(float));
        check_identical(cc, bwd, shape, "dkw identical on rerun", got.dkw, again.dkw, hd * sizeof(float));
    }
    // Each weight gradient alone (the others NULL).
    qk_run(cc->dev, qc, ref->rstd, G_DQW, &wq);
    qk_run(cc->dev, qc, ref->rstd, G_DKW, &wk);
    check_identical(cc, bwd, shape, "dqw alone (dinp, dkw NULL)", wq.dqw, got.dqw, hd * sizeof(float));
    check_identical(cc, bwd, shape, "dkw alone (dinp, dqw NULL)", wk.dkw, got.dkw, hd * sizeof(float));
    qk_result_free(&got);
    qk_result_free(&again);
    qk_result_free(&wq);
    qk_result_free(&wk);
}

static void qk_check_shape(check_ctx *cc, const qk_shape *s) {
    size_t NW = (size_t)s->N * qk_width(s), hd = (size_t)s->hd;
    char shape[48];
    snprintf(shape, sizeof shape, "N=%d NH%d NKV%d hd%d", s->N, s->NH, s->NKV, s->hd);
    float *x = check_randn(cc, NW, 1.0f), *dout = check_randn(cc, NW, 1.0f), *gx0 = check_randn(cc, NW, 1.0f);
    // q and k weights from different ranges, so using one for the other shows.
    float *qw = check_randu(cc, hd, 0.5f, 1.5f), *kw = check_randu(cc, hd, -1.5f, -0.5f);
    float *gq0 = check_randn(cc, hd, 1.0f), *gk0 = check_randn(cc, hd, 1.0f);
    qk_case qc = {s, x, qw, kw, dout, gx0, gq0, gk0};
    qk_result ref;
    qk_run(cc->cpu, &qc, NULL, G_ALL, &ref);
    qk_cpu_rows(cc, &qc, &ref, shape);
    if (cc->dev) qk_device_rows(cc, &qc, &ref, shape);
    qk_result_free(&ref);
    free(x);
    free(dout);
    free(gx0);
    free(qw);
    free(kw);
    free(gq0);
    free(gk0);
}

void check_qk_norm(check_ctx *cc) {
    for (int i = 0; i < QK_NSHAPES; i++) qk_check_shape(cc, &QK_SHAPES[i]);
}
