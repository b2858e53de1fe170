/* Checks of the optimizer ops.
 * Grad norm: the CPU against a plain double-precision sum of squares, the device against the CPU (norm and clip scale,
 * with clipping off, active and inactive), determinism, on many tensors of odd sizes.
 * AdamW: has no backward, so no finite differences; instead several steps in sequence are compared with the formula
 * of ops.h evaluated in double for sampled elements (CPU and device), and the device with the CPU on every element,
 * with and without weight decay and with the clip scale read from a grad-norm output on the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

/* ---- grad norm ------------------------------------------------------------------------------------------------ */

typedef struct norm_set {
    int n;
    iopo_tensor **grads;
    iopo_tensor *partials, *out;
} norm_set;

static norm_set norm_set_new(iopo_ctx *ctx, float *const *host, const size_t *sizes, int n) {
    norm_set s = {n, calloc((size_t)(n ? n : 1), sizeof(iopo_tensor *)), NULL, NULL};
    for (int i = 0; i < n; i++) s.grads[i] = check_tensor1(ctx, IOPO_F32, host[i], (int64_t)sizes[i]);
    s.partials = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)iopo_grad_norm_scratch_elems(n, s.grads));
    s.out = check_tensor1(ctx, IOPO_F32, NULL, 2);
    return s;
}

static void norm_set_free(norm_set *s) {
    for (int i = 0; i < s->n; i++) iopo_tensor_free(s->grads[i]);
    free(s->grads);
    iopo_tensor_free(s->partials);
    iopo_tensor_free(s->out);
}

static void norm_run(iopo_ctx *ctx, norm_set *s, float max_norm, float out[2]) {
    iopo_grad_norm(ctx, s->out, s->partials, s->grads, s->n, max_norm);
    iopo_tensor_download(s->out, out);
}

static void norm_case(check_ctx *cc, const char *shape, const size_t *sizes, int n) {
    const char *op = "grad_norm";
    char what[64];
    float **host = malloc((size_t)(n ? n : 1) * sizeof *host);
    double sumsq = 0;
    for (int i = 0; i < n; i++) {
        // Magnitudes 1e-3 .. 1 across tensors (varying from one cycle of sizes to the next), and one tensor of 2M
        // values near 1 that dominates the sum: its many equal-sized squares are what a plain fp32 running sum
        // rounds away.
        if (sizes[i] > 1000000) {
            host[i] = check_randu(cc, sizes[i], 0.9f, 1.1f);
        } else {
            host[i] = check_randn(cc, sizes[i], powf(10.0f, (float)((i / 5) % 4) - 3.0f));
        }
        for (size_t j = 0; j < sizes[i]; j++) sumsq += (double)host[i][j] * host[i][j];
    }
    double norm = sqrt(sumsq);

    norm_set cpu = norm_set_new(cc->cpu, host, sizes, n);
    norm_set dev = {0};
    if (cc->dev) dev = norm_set_new(cc->dev, host, sizes, n);
    // max_norm 0 (no clipping), half the norm (clips), twice the norm (does not clip).
    const float max_norms[3] = {0.0f, (float)(0.5 * norm), (float)(2.0 * norm)};
    for (int k = 0; k < (n ? 3 : 1); k++) {
        float mn = max_norms[k];
        double want_scale = mn > 0 && norm > mn ? mn / (norm + 1e-6) : 1.0;
        float ref[2], got[2];
        norm_run(cc->cpu, &cpu, mn, ref);
        double err_n = fabs(ref[0] - norm), err_s = fabs(ref[1] - want_scale);
        double tol_n = 1e-7 * norm + 1e-30, tol_s = 1e-6 * want_scale;
        snprintf(what, sizeof what, "cpu vs double, max_norm=%.3g", mn);
        check_row(cc, op, shape, what, err_n / tol_n > err_s / tol_s ? err_n : err_s,
                  err_n / tol_n > err_s / tol_s ? tol_n : tol_s, err_n <= tol_n && err_s <= tol_s);
        if (!cc->dev) continue;
        norm_run(cc->dev, &dev, mn, got);
        // Kahan per invocation + fixed trees: the fp32 device sum stays within a few ulp of the double sum.
        snprintf(what, sizeof what, "dev vs cpu {norm,scale}, max_norm=%.3g", mn);
        check_close(cc, op, shape, what, got, ref, 2, 0, 1e-5);
        if (k == (n ? 1 : 0)) {
            float again[2];
            norm_run(cc->dev, &dev, mn, again);
            check_identical(cc, op, shape, "dev run twice identical", got, again, sizeof got);
        }
    }
    norm_set_free(&cpu);
    if (cc->dev) norm_set_free(&dev);
    for (int i = 0; i < n; i++) free(host[i]);
    free(host);
}

/* ---- AdamW ---------------------------------------------------------------------------------------------------- */

#define ADAMW_STEPS 3
#define ADAMW_SAMPLES 16

typedef struct adamw_state {
    iopo_tensor *p, *g, *m, *v;   // (N)
    iopo_tensor *gn_out, *gn_partials;
} adamw_state;

static adamw_state adamw_state_new(iopo_ctx *ctx, const float *p0, size_t N) {
    adamw_state s;
    s.p = check_tensor1(ctx, IOPO_F32, p0, (int64_t)N);
    s.g = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)N);
    s.m = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)N);   // fresh optimizer state: zeros, as torch
    s.v = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)N);
    s.gn_out = check_tensor1(ctx, IOPO_F32, NULL, 2);
    s.gn_partials = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)iopo_grad_norm_scratch_elems(1, &s.g));
    return s;
}

static void adamw_state_free(adamw_state *s) {
    iopo_tensor *all[] = {s->p, s->g, s->m, s->v, s->gn_out, s->gn_partials};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

// One step on ctx with gradient g (host): when max_norm > 0 the gradient is clipped through grad_norm's scale, read
// on the device. Returns the scale used (1 without clipping).
static float adamw_step(adamw_state *s, const float *g, float max_norm, const iopo_adamw_params *hp) {
    iopo_ctx *ctx = s->p->ctx;
    iopo_tensor_upload(s->g, g);
    const iopo_tensor *scale = NULL;
    if (max_norm > 0) {
        iopo_grad_norm(ctx, s->gn_out, s->gn_partials, &s->g, 1, max_norm);
        scale = s->gn_out;
    }
    iopo_adamw_update(ctx, s->p, s->g, s->m, s->v, scale, s->p->numel, hp);
    float out[2] = {0, 1};
    if (scale) iopo_tensor_download(s->gn_out, out);
    return out[1];
}

// Worst |got - ref| / (atol + rtol*|ref|) over the sampled elements of p, m and v.
static double adamw_ratio(const float *p, const float *m, const float *v, const size_t *idx, const double *rp,
                          const double *rm, const double *rv) {
    double worst = 0;
    for (int k = 0; k < ADAMW_SAMPLES; k++) {
        size_t i = idx[k];
        // p ~ N(0,1) moves by ~lr per step; m, v are much smaller, hence their own absolute floors.
        double e[3] = {fabs(p[i] - rp[k]) / (1e-6 + 1e-5 * fabs(rp[k])), fabs(m[i] - rm[k]) / (1e-8 + 1e-5 * fabs(rm[k])),
                       fabs(v[i] - rv[k]) / (1e-10 + 1e-5 * fabs(rv[k]))};
        for (int j = 0; j < 3; j++) {
            double x = isnan(e[j]) ? INFINITY : e[j];   // a NaN must fail
            if (x > worst) worst = x;
        }
    }
    return worst;
}

static void adamw_case(check_ctx *cc, size_t N, float weight_decay, bool clip) {
    const char *op = "adamw";
    char shape[64], what[80];
    snprintf(shape, sizeof shape, "N=%zu wd=%g %s", N, weight_decay, clip ? "clip" : "no-scale");
    // A large eps and beta2 = 0.99 make the eps placement and the bias corrections change the result visibly.
    iopo_adamw_params hp = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-3f, .weight_decay = weight_decay};
    float *p0 = check_randn(cc, N, 1.0f);
    float *grads[ADAMW_STEPS];
    for (int k = 0; k < ADAMW_STEPS; k++) {
        grads[k] = check_randn(cc, N, 0.5f);
        for (size_t i = k; i < N; i += 97) grads[k][i] = 0.0f;   // some zero gradients: only eps keeps denom > 0
    }
    size_t idx[ADAMW_SAMPLES];
    for (int k = 0; k < ADAMW_SAMPLES; k++) idx[k] = k == 0 ? 0 : (size_t)(iopo_rng_u64(&cc->rng) % N);
    double rp[ADAMW_SAMPLES], rm[ADAMW_SAMPLES] = {0}, rv[ADAMW_SAMPLES] = {0};
    for (int k = 0; k < ADAMW_SAMPLES; k++) rp[k] = p0[idx[k]];

    adamw_state cpu = adamw_state_new(cc->cpu, p0, N), dev = {0};
    if (cc->dev) dev = adamw_state_new(cc->dev, p0, N);
    for (int step = 1; step <= ADAMW_STEPS; step++) {
        const float *g = grads[step - 1];
        hp.step = step;
        // Clip at a third of this gradient's norm, so the scale is well below 1.
        float max_norm = 0;
        if (clip) {
            double ss = 0;
            for (size_t i = 0; i < N; i++) ss += (double)g[i] * g[i];
            max_norm = (float)(sqrt(ss) / 3.0);
        }
        float scale = adamw_step(&cpu, g, max_norm, &hp);

        // The formula of ops.h in double, from the same gradient and the CPU's clip scale.
        double b1 = hp.beta1, b2 = hp.beta2, lr = hp.lr, wd = hp.weight_decay, eps = hp.eps;
        for (int k = 0; k < ADAMW_SAMPLES; k++) {
            double gi = (double)g[idx[k]] * scale;
            rp[k] *= 1 - lr * wd;
            rm[k] = b1 * rm[k] + (1 - b1) * gi;
            rv[k] = b2 * rv[k] + (1 - b2) * gi * gi;
            rp[k] -= (lr / (1 - pow(b1, step))) * rm[k] / (sqrt(rv[k]) / sqrt(1 - pow(b2, step)) + eps);
        }
        float *cp = check_download(cpu.p), *cm = check_download(cpu.m), *cv = check_download(cpu.v);
        double r = adamw_ratio(cp, cm, cv, idx, rp, rm, rv);
        snprintf(what, sizeof what, "cpu vs double formula step %d", step);
        check_row(cc, op, shape, what, r, 1.0, r <= 1.0);

        if (cc->dev) {
            if (step == 1) {
                // Determinism: the same step from the same state on a second set of tensors.
                adamw_state twin = adamw_state_new(cc->dev, p0, N);
                adamw_step(&twin, g, max_norm, &hp);
                adamw_step(&dev, g, max_norm, &hp);
                float *a = check_download(dev.p), *b = check_download(twin.p);
                check_identical(cc, op, shape, "dev step run twice identical", a, b, N * sizeof(float));
                free(a);
                free(b);
                adamw_state_free(&twin);
            } else {
                adamw_step(&dev, g, max_norm, &hp);
            }
            float *dp = check_download(dev.p), *dm = check_download(dev.m), *dv = check_download(dev.v);
            // Device sqrt and division are within ~3 ulp, so the update (~lr) differs from the CPU's in its last
            // bits; atol 1e-6 is far below the effect of any term of the formula (lr * eps-placement, decay, ...).
            snprintf(what, sizeof what, "dev vs cpu param step %d", step);
            check_close(cc, op, shape, what, dp, cp, N, 1e-6, 1e-5);
            if (step == ADAMW_STEPS) {
                check_close(cc, op, shape, "dev vs cpu m step 3", dm, cm, N, 1e-8, 1e-5);
                check_close(cc, op, shape, "dev vs cpu v step 3", dv, cv, N, 1e-10, 1e-5);
                r = adamw_ratio(dp, dm, dv, idx, rp, rm, rv);
                check_row(cc, op, shape, "dev vs double formula step 3", r, 1.0, r <= 1.0);
            }
            free(dp);
            free(dm);
            free(dv);
        }
        free(cp);
        free(cm);
        free(cv);
    }
    adamw_state_free(&cpu);
    if (cc->dev) adamw_state_free(&dev);
    for (int k = 0; k < ADAMW_STEPS; k++) free(grads[k]);
    free(p0);
}

void check_optim(check_ctx *cc) {
    // Many tensors of odd sizes (as a model's gradient list), plus one of ~2M values near 1.
    enum { NMANY = 46 };
    size_t many[NMANY];
    static const size_t cycle[5] = {1, 7, 33, 257, 100003};
    for (int i = 0; i < NMANY - 1; i++) many[i] = cycle[i % 5];
    many[NMANY - 1] = 2000003;
    norm_case(cc, "46 tensors, 2.9M elems", many, NMANY);
    static const size_t one[1] = {1};
    norm_case(cc, "1 tensor of 1", one, 1);
    norm_case(cc, "empty list", NULL, 0);

    adamw_case(cc, 100003, 0.0f, false);
    adamw_case(cc, 100003, 0.1f, true);
    adamw_case(cc, 7, 0.1f, false);
}
