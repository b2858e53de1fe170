/* Checks of the preference-objective op: the CPU reference against the formulas of REFERENCE.md section 1 written
 * independently here (IOPO through Pi1 and Pi2), its gradient against finite differences, and the device against
 * the CPU (and against itself: bit-identical reruns). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"

typedef struct pref_case {
    const char *name;
    iopo_pref_params p;
} pref_case;

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* The paper's and TRL's formulas, one example, in double. */
static double oracle_loss(const iopo_pref_params *p, const float *lp, const float *rp, const float *cnt) {
    double beta = p->beta, eps = p->label_smoothing, z, l;
    if (p->group == 4) {
        double r11 = lp[0] - rp[0], r12 = lp[1] - rp[1], r22 = lp[2] - rp[2], r21 = lp[3] - rp[3];
        double pi1 = 2 * r11 - r12 - r21, pi2 = 2 * r22 - r21 - r12;
        z = 0.5 * (pi1 + pi2);
        l = (1 - eps) * softplus(-beta * z) + eps * softplus(beta * z);
        l += p->pref_ftx * (-lp[0] / cnt[0] - lp[2] / cnt[2]);
        return l;
    }
    z = (lp[0] - rp[0]) - (lp[1] - rp[1]);
    switch (p->type) {
    case IOPO_PREF_IPO: l = pow(z - 1 / (2 * beta), 2); break;
    case IOPO_PREF_HINGE: l = fmax(0, 1 - beta * z); break;
    case IOPO_PREF_ROBUST: l = ((1 - eps) * softplus(-beta * z) - eps * softplus(beta * z)) / (1 - 2 * eps); break;
    default: l = (1 - eps) * softplus(-beta * z) + eps * softplus(beta * z); break;
    }
    return l + p->pref_ftx * (-lp[0] / cnt[0]);
}

typedef struct fd_ctx {
    const iopo_pref_params *p;
    float *lp;
    const float *rp, *cnt;
    int E;
} fd_ctx;

static double fd_total(void *user) {
    fd_ctx *f = user;
    size_t n = (size_t)f->E * f->p->group;
    float *loss = malloc((size_t)f->E * sizeof *loss), *z = malloc((size_t)f->E * sizeof *z);
    float *d = malloc(n * sizeof *d);
    cpu_pref_loss(loss, z, d, f->lp, f->rp, f->cnt, f->E, f->p);
    double s = 0;
    for (int e = 0; e < f->E; e++) s += f->p->scale * (double)loss[e];
    free(loss), free(z), free(d);
    return s;
}

static void run_case(check_ctx *cc, const pref_case *pc, int E) {
    const iopo_pref_params *p = &pc->p;
    size_t n = (size_t)E * p->group;
    char shape[48];
    snprintf(shape, sizeof shape, "E=%d group=%d", E, p->group);
    float *lp = check_randu(cc, n, -60.0f, -5.0f), *rp = malloc(n * sizeof *rp), *cnt = malloc(n * sizeof *cnt);
    /* References near the policy so beta*z spans both signs and the hinge's kink region. */
    float *noise = check_randn(cc, n, 4.0f);
    for (size_t i = 0; i < n; i++) {
        rp[i] = lp[i] + noise[i];
        cnt[i] = (float)(1 + (int)(iopo_rng_u64(&cc->rng) % 20));
    }
    float *loss = malloc((size_t)E * sizeof *loss), *z = malloc((size_t)E * sizeof *z), *d = malloc(n * sizeof *d);
    cpu_pref_loss(loss, z, d, lp, rp, cnt, E, p);
    double worst = 0;
    bool ok = true;
    for (int e = 0; e < E; e++) {
        double ref = oracle_loss(p, lp + (size_t)e * p->group, rp + (size_t)e * p->group, cnt + (size_t)e * p->group);
        double err = fabs(loss[e] - ref);
        worst = fmax(worst, err);
        ok = ok && err <= 1e-5 + 1e-5 * fabs(ref);
    }
    char what[80];
    snprintf(what, sizeof what, "%s: cpu loss vs formula", pc->name);
    check_row(cc, "pref_loss", shape, what, worst, 1e-5, ok);

    fd_ctx f = {p, lp, rp, cnt, E};
    snprintf(what, sizeof what, "%s: cpu dseq vs finite diff", pc->name);
    check_fd(cc, "pref_loss", shape, what, lp, n, d, fd_total, &f, 24, 1e-2f, 2e-5, 2e-3);

    if (cc->dev) {
        iopo_tensor *tlp = check_tensor1(cc->dev, IOPO_F32, lp, (int64_t)n);
        iopo_tensor *trp = check_tensor1(cc->dev, IOPO_F32, rp, (int64_t)n);
        iopo_tensor *tc = check_tensor1(cc->dev, IOPO_F32, cnt, (int64_t)n);
        iopo_tensor *tl = check_tensor1(cc->dev, IOPO_F32, NULL, E), *tz = check_tensor1(cc->dev, IOPO_F32, NULL, E);
        iopo_tensor *td = check_tensor1(cc->dev, IOPO_F32, NULL, (int64_t)n);
        float nan = NAN;
        float *fill = malloc(n * sizeof *fill);
        for (size_t i = 0; i < n; i++) fill[i] = nan;
        iopo_tensor_upload(td, fill);   /* dseq is overwritten: stale contents must not leak through */
        iopo_pref_loss(cc->dev, tl, tz, td, tlp, trp, tc, E, p);
        float *gl = check_download(tl), *gz = check_download(tz), *gd = check_download(td);
        snprintf(what, sizeof what, "%s: dev loss vs cpu", pc->name);
        check_close(cc, "pref_loss", shape, what, gl, loss, (size_t)E, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s: dev z vs cpu", pc->name);
        check_close(cc, "pref_loss", shape, what, gz, z, (size_t)E, 1e-4, 1e-5);
        snprintf(what, sizeof what, "%s: dev dseq vs cpu", pc->name);
        check_close(cc, "pref_loss", shape, what, gd, d, n, 1e-7, 1e-4);
        iopo_pref_loss(cc->dev, tl, tz, td, tlp, trp, tc, E, p);
        float *gd2 = check_download(td);
        snprintf(what, sizeof what, "%s: dev run twice identical", pc->name);
        check_identical(cc, "pref_loss", shape, what, gd, gd2, n * sizeof *gd);
        free(gl), free(gz), free(gd), free(gd2), free(fill);
        iopo_tensor_free(tlp), iopo_tensor_free(trp), iopo_tensor_free(tc);
        iopo_tensor_free(tl), iopo_tensor_free(tz), iopo_tensor_free(td);
    }
    free(lp), free(rp), free(cnt), free(noise), free(loss), free(z), free(d);
}

void check_pref(check_ctx *cc) {
    const pref_case cases[] = {
        {"dpo sigmoid", {2, IOPO_PREF_SIGMOID, 0.1f, 0.0f, 0.0f, 1.0f / 37}},
        {"dpo sigmoid ls=0.1 ftx", {2, IOPO_PREF_SIGMOID, 0.2f, 0.1f, 0.5f, 1.0f / 37}},
        {"dpo ipo", {2, IOPO_PREF_IPO, 0.1f, 0.0f, 0.0f, 1.0f / 37}},
        {"dpo hinge", {2, IOPO_PREF_HINGE, 0.3f, 0.0f, 0.0f, 1.0f / 37}},
        {"dpo robust ls=0.2", {2, IOPO_PREF_ROBUST, 0.1f, 0.2f, 0.0f, 1.0f / 37}},
        {"iopo", {4, IOPO_PREF_SIGMOID, 0.1f, 0.0f, 0.0f, 1.0f / 37}},
        {"iopo ls=0.1 ftx=0.3", {4, IOPO_PREF_SIGMOID, 0.1f, 0.1f, 0.3f, 0.5f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(cc, &cases[i], 37);
    run_case(cc, &cases[5], 1);
}
