/* Checks of rotary position embeddings: the host tables against the Hugging Face formulas evaluated here in double
 * (default and llama3 scaling, with every llama3 band present), the CPU forward against a double-precision oracle of
 * the rotate-half formula on the packed q | k | v layout, the device against the CPU (out of place and in place;
 * backward adding into a non-zero gradient), bit-identical device reruns, the CPU backward against finite differences
 * of the CPU forward, and backward(forward(x)) == x (the rotation is orthogonal, so its transpose undoes it). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

typedef struct rope_shape {
    int B, T, NH, NKV, hd, npos;
    iopo_rope_scaling scaling;
    bool out_of_range;   // put a few positions outside [0, npos): they must be clamped the same way on both backends
} rope_shape;

/* GQA throughout; head sizes not powers of two (6, 10) and Llama's 64; the last shape spans many workgroups (12288
 * pairs per sequence); sequences start at different offsets. */
static const rope_shape ROPE_SHAPES[] = {
    {1, 1, 1, 1, 2, 1, IOPO_ROPE_DEFAULT, false},  {2, 5, 4, 2, 6, 16, IOPO_ROPE_LLAMA3, false},
    {3, 17, 6, 2, 10, 64, IOPO_ROPE_DEFAULT, true}, {2, 64, 8, 2, 64, 160, IOPO_ROPE_LLAMA3, false},
    {4, 96, 8, 4, 64, 200, IOPO_ROPE_DEFAULT, false},
};
#define ROPE_NSHAPES ((int)(sizeof ROPE_SHAPES / sizeof ROPE_SHAPES[0]))

/* Llama 3.1's rope_scaling, with original_max_position_embeddings small enough that short tables see every band. */
static iopo_rope_config rope_cfg(iopo_rope_scaling scaling) {
    iopo_rope_config c = {500000.0f, scaling, 8.0f, 1.0f, 4.0f, 8192};
    if (scaling == IOPO_ROPE_DEFAULT) c.theta = 10000.0f;
    return c;
}

#define FD_SAMPLES 24
#define FD_H 1e-2f
#define FD_ATOL 1e-3
#define FD_RTOL 1e-3

static size_t rope_width(const rope_shape *s) { return (size_t)(s->NH + 2 * s->NKV) * s->hd; }

/* _compute_default_rope_parameters / _compute_llama3_parameters in double: each frequency's value and band. */
typedef enum { BAND_HIGH, BAND_MEDIUM, BAND_LOW } rope_band;
static double rope_inv_freq_double(const iopo_rope_config *c, int hd, int i, rope_band *band) {
    double inv = 1.0 / pow((double)c->theta, (double)(2 * i) / hd);
    *band = BAND_HIGH;
    if (c->scaling != IOPO_ROPE_LLAMA3) return inv;
    double orig = c->original_max_position_embeddings;
    double wavelen = 2.0 * M_PI / inv;
    double lo = orig / c->low_freq_factor, hi = orig / c->high_freq_factor;
    if (wavelen < hi) return inv;
    if (wavelen > lo) {
        *band = BAND_LOW;
        return inv / c->factor;
    }
    *band = BAND_MEDIUM;
    double smooth = (orig / wavelen - c->low_freq_factor) / (c->high_freq_factor - c->low_freq_factor);
    return (1.0 - smooth) * inv / c->factor + smooth * inv;
}

/* The tables against the double formulas. fp32 rounds inv_freq and the angle p * inv_freq (relative error a few
 * FLT_EPSILON each), so entry (p, i) may differ by a few FLT_EPSILON * angle: each entry gets that tolerance. The
 * llama3 table must also contain all three bands, its high-frequency columns must equal the default table's (same
 * theta) bit for bit, and its other columns must differ from it. */
static void rope_check_tables(check_ctx *cc, iopo_rope_scaling scaling, int hd, int npos) {
    const char *op = "rope_tables";
    iopo_rope_config cfg = rope_cfg(scaling);
    int half = hd / 2;
    size_t n = (size_t)npos * half;
    char shape[48];
    snprintf(shape, sizeof shape, "%s hd=%d npos=%d", scaling == IOPO_ROPE_LLAMA3 ? "llama3" : "default", hd, npos);
    float *ct = malloc(n * sizeof *ct), *st = malloc(n * sizeof *st);
    iopo_rope_tables(&cfg, hd, npos, ct, st);
    int bands[3] = {0, 0, 0};
    double worst_ratio = 0, worst_err = 0, worst_tol = 0;
    size_t bad = 0;
    for (int i = 0; i < half; i++) {
        rope_band band;
        double inv = rope_inv_freq_double(&cfg, hd, i, &band);
        bands[band]++;
        for (int p = 0; p < npos; p++) {
            double a = p * inv, tol = 1e-7 + 8.0 * FLT_EPSILON * a;
            size_t k = (size_t)p * half + i;
            double ec = fabs(ct[k] - cos(a)), es = fabs(st[k] - sin(a));
            double err = isnan(ec) || isnan(es) ? NAN : ec > es ? ec : es;
            bool ok = err <= tol;   // NaN compares false: a NaN fails
            if (!ok && bad++ == 0)
                printf("    first at p=%d i=%d: cos %.9g sin %.9g, expected %.9g %.9g\n", p, i, ct[k], st[k], cos(a),
                       sin(a));
            double ratio = ok ? err / tol : INFINITY;
            if (ratio >= worst_ratio) {
                worst_ratio = ratio;
                worst_err = isnan(err) ? INFINITY : err;
                worst_tol = tol;
            }
        }
    }
    // Per entry: 1e-7 + 8 * FLT_EPSILON * angle.
    check_row(cc, op, shape, "cos, sin vs double formula", worst_err, worst_tol, bad == 0);
    if (scaling == IOPO_ROPE_LLAMA3) {
        int low = bands[BAND_LOW], med = bands[BAND_MEDIUM], high = bands[BAND_HIGH];
        check_row(cc, op, shape, "has high, medium and low bands", (double)(high > 0) + (med > 0) + (low > 0), 3,
                  high > 0 && med > 0 && low > 0);
        // Default table with the same theta: the high band (the first `high` columns) is unscaled.
        iopo_rope_config plain = cfg;
        plain.scaling = IOPO_ROPE_DEFAULT;
        float *cd = malloc(n * sizeof *cd), *sd = malloc(n * sizeof *sd);
        iopo_rope_tables(&plain, hd, npos, cd, sd);
        size_t diff = 0, scaled_same = 0;
        for (int p = 1; p < npos; p++)
            for (int i = 0; i < half; i++) {
                size_t k = (size_t)p * half + i;
                if (i < high) diff += ct[k] != cd[k] || st[k] != sd[k];
                else scaled_same += ct[k] == cd[k] && st[k] == sd[k];
            }
        check_row(cc, op, shape, "high band == default table", (double)diff, 0, diff == 0);
        // And the other columns really are scaled: at most a few (tiny angles at small p) may round to the same values.
        size_t others = (size_t)(npos - 1) * (size_t)(half - high);
        check_row(cc, op, shape, "other bands differ from default", (double)scaled_same, (double)others / 8,
                  scaled_same <= others / 8);
        free(cd);
        free(sd);
    }
    free(ct);
    free(st);
}

typedef struct rope_case {
    const rope_shape *s;
    const float *cos_t, *sin_t;   // (npos, hd/2)
    const int32_t *pos;           // (B,T)
    const float *x, *dout, *g0;   // (B,T,W) each
} rope_case;

typedef struct rope_result {
    float *out, *out_inplace, *dinp;   // (B,T,W) each
} rope_result;

static void rope_result_free(rope_result *r) {
    free(r->out);
    free(r->out_inplace);
    free(r->dinp);
    memset(r, 0, sizeof *r);
}

/* Forward out of place, forward in place (on a copy of x), backward into g0. */
static void rope_run(iopo_ctx *ctx, const rope_case *rc, rope_result *res) {
    const rope_shape *s = rc->s;
    int half = s->hd / 2;
    int64_t shp[3] = {s->B, s->T, (int64_t)rope_width(s)}, tab[2] = {s->npos, half}, ps[2] = {s->B, s->T};
    iopo_tensor *ct = check_tensor(ctx, IOPO_F32, rc->cos_t, 2, tab);
    iopo_tensor *st = check_tensor(ctx, IOPO_F32, rc->sin_t, 2, tab);
    iopo_tensor *pos = check_tensor(ctx, IOPO_I32, rc->pos, 2, ps);
    iopo_tensor *x = check_tensor(ctx, IOPO_F32, rc->x, 3, shp), *out = check_tensor(ctx, IOPO_F32, NULL, 3, shp);
    iopo_tensor *xi = check_tensor(ctx, IOPO_F32, rc->x, 3, shp);
    iopo_tensor *dout = check_tensor(ctx, IOPO_F32, rc->dout, 3, shp);
    iopo_tensor *dinp = check_tensor(ctx, IOPO_F32, rc->g0, 3, shp);
    iopo_rope_forward(ctx, out, x, ct, st, pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    iopo_rope_forward(ctx, xi, xi, ct, st, pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    iopo_rope_backward(ctx, dinp, dout, ct, st, pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    res->out = check_download(out);
    res->out_inplace = check_download(xi);
    res->dinp = check_download(dinp);
    iopo_tensor *all[] = {ct, st, pos, x, out, xi, dout, dinp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

/* The formula of include/iopo/ops.h in double, independently of src/cpu/rope.c: q and k heads rotated, v copied. */
static float *rope_oracle(const rope_case *rc) {
    const rope_shape *s = rc->s;
    size_t W = rope_width(s), N = (size_t)s->B * s->T;
    int half = s->hd / 2;
    float *o = malloc(N * W * sizeof *o);
    for (size_t n = 0; n < N; n++) {
        int p = rc->pos[n] < 0 ? 0 : rc->pos[n] >= s->npos ? s->npos - 1 : rc->pos[n];
        for (int h = 0; h < s->NH + 2 * s->NKV; h++)
            for (int i = 0; i < s->hd; i++) {
                size_t e = n * W + (size_t)h * s->hd + i;
                if (h >= s->NH + s->NKV) {
                    o[e] = rc->x[e];
                    continue;
                }
                int j = i % half;
                double c = rc->cos_t[(size_t)p * half + j], sn = rc->sin_t[(size_t)p * half + j];
                double a = rc->x[n * W + (size_t)h * s->hd + j], b = rc->x[n * W + (size_t)h * s->hd + j + half];
                o[e] = (float)(i < half ? a * c - b * sn : b * c + a * sn);
            }
    }
    return o;
}

typedef struct rope_fd {
    iopo_ctx *cpu;
    const rope_shape *s;
    iopo_tensor *x, *out, *ct, *st, *pos;
    const float *r;
} rope_fd;

static double rope_fd_eval(void *user) {
    rope_fd *f = user;
    const rope_shape *s = f->s;
    iopo_rope_forward(f->cpu, f->out, f->x, f->ct, f->st, f->pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    return check_dot((const float *)f->out->data, f->r, (size_t)s->B * s->T * rope_width(s));
}

static void rope_cpu_rows(check_ctx *cc, const rope_case *rc, const rope_result *ref, const char *shape) {
    const rope_shape *s = rc->s;
    size_t NW = (size_t)s->B * s->T * rope_width(s);
    int half = s->hd / 2;
    float *want = rope_oracle(rc);
    check_close(cc, "rope_forward", shape, "cpu vs double formula", ref->out, want, NW, 1e-6, 1e-6);
    check_identical(cc, "rope_forward", shape, "cpu in place == out of place", ref->out_inplace, ref->out,
                    NW * sizeof(float));

    // Finite differences of L = <forward(x), dout> against the gradient the CPU backward added.
    int64_t shp[3] = {s->B, s->T, (int64_t)rope_width(s)}, tab[2] = {s->npos, half}, ps[2] = {s->B, s->T};
    rope_fd f = {cc->cpu, s, NULL, NULL, NULL, NULL, NULL, rc->dout};
    f.x = check_tensor(cc->cpu, IOPO_F32, rc->x, 3, shp);
    f.out = check_tensor(cc->cpu, IOPO_F32, NULL, 3, shp);
    f.ct = check_tensor(cc->cpu, IOPO_F32, rc->cos_t, 2, tab);
    f.st = check_tensor(cc->cpu, IOPO_F32, rc->sin_t, 2, tab);
    f.pos = check_tensor(cc->cpu, IOPO_I32, rc->pos, 2, ps);
    float *gx = malloc(NW * sizeof *gx);
    for (size_t i = 0; i < NW; i++) gx[i] = ref->dinp[i] - rc->g0[i];
    check_fd(cc, "rope_backward", shape, "cpu dinp vs finite diff", (float *)f.x->data, NW, gx, rope_fd_eval, &f,
             FD_SAMPLES, FD_H, FD_ATOL, FD_RTOL);

    // backward(forward(x)) into zeros gives x back: R^T R = I needs cos^2 + sin^2 = 1 and matching signs.
    iopo_tensor *back = check_tensor(cc->cpu, IOPO_F32, NULL, 3, shp);
    iopo_rope_forward(cc->cpu, f.out, f.x, f.ct, f.st, f.pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    iopo_rope_backward(cc->cpu, back, f.out, f.ct, f.st, f.pos, s->B, s->T, s->NH, s->NKV, s->hd, s->npos);
    check_close(cc, "rope_backward", shape, "cpu backward(forward(x)) == x", (const float *)back->data, rc->x, NW, 1e-5,
                1e-5);
    free(gx);
    free(want);
    iopo_tensor *all[] = {f.x, f.out, f.ct, f.st, f.pos, back};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
}

static void rope_device_rows(check_ctx *cc, const rope_case *rc, const rope_result *ref, const char *shape) {
    const rope_shape *s = rc->s;
    size_t NW = (size_t)s->B * s->T * rope_width(s);
    rope_result got, again;
    rope_run(cc->dev, rc, &got);
    rope_run(cc->dev, rc, &again);
    check_close(cc, "rope_forward", shape, "out vs cpu", got.out, ref->out, NW, 1e-6, 1e-6);
    check_close(cc, "rope_forward", shape, "in place vs cpu", got.out_inplace, ref->out, NW, 1e-6, 1e-6);
    check_close(cc, "rope_backward", shape, "dinp += vs cpu", got.dinp, ref->dinp, NW, 1e-6, 1e-6);
    check_identical(cc, "rope_forward", shape, "out identical on rerun", got.out, again.out, NW * sizeof(float));
    check_identical(cc, "rope_backward", shape, "dinp identical on rerun", got.dinp, again.dinp, NW * sizeof(float));
    rope_result_free(&got);
    rope_result_free(&again);
}

static void rope_check_shape(check_ctx *cc, const rope_shape *s) {
    size_t N = (size_t)s->B * s->T, NW = N * rope_width(s);
    int half = s->hd / 2;
    char shape[64];
    snprintf(shape, sizeof shape, "B%d T%d NH%d NKV%d hd%d %s", s->B, s->T, s->NH, s->NKV, s->hd,
             s->scaling == IOPO_ROPE_LLAMA3 ? "llama3" : "default");
    iopo_rope_config cfg = rope_cfg(s->scaling);
    float *ct = malloc((size_t)s->npos * half * sizeof *ct), *st = malloc((size_t)s->npos * half * sizeof *st);
    iopo_rope_tables(&cfg, s->hd, s->npos, ct, st);
    // Each sequence starts at its own offset (as a KV-cache continuation or a packed batch would); the last slots of
    // every sequence but the first hold arbitrary in-range positions, as padding may.
    int32_t *pos = malloc(N * sizeof *pos);
    for (int b = 0; b < s->B; b++) {
        int off = (int)(iopo_rng_u64(&cc->rng) % (uint64_t)(s->npos - s->T + 1));
        for (int t = 0; t < s->T; t++) pos[(size_t)b * s->T + t] = off + t;
        if (b > 0 && s->T > 2)
            for (int t = s->T - 2; t < s->T; t++)
                pos[(size_t)b * s->T + t] = (int32_t)(iopo_rng_u64(&cc->rng) % (uint64_t)s->npos);
    }
    if (s->out_of_range) {
        pos[0] = -5;
        pos[N - 1] = s->npos + 3;
    }
    float *x = check_randn(cc, NW, 1.0f), *dout = check_randn(cc, NW, 1.0f), *g0 = check_randn(cc, NW, 1.0f);
    rope_case rc = {s, ct, st, pos, x, dout, g0};

    rope_result ref;
    rope_run(cc->cpu, &rc, &ref);
    rope_cpu_rows(cc, &rc, &ref, shape);
    if (cc->dev) rope_device_rows(cc, &rc, &ref, shape);
    rope_result_free(&ref);
    free(ct);
    free(st);
    free(pos);
    free(x);
    free(dout);
    free(g0);
}

void check_rope(check_ctx *cc) {
    rope_check_tables(cc, IOPO_ROPE_DEFAULT, 10, 300);
    rope_check_tables(cc, IOPO_ROPE_DEFAULT, 128, 4096);
    rope_check_tables(cc, IOPO_ROPE_LLAMA3, 128, 4096);
    rope_check_tables(cc, IOPO_ROPE_LLAMA3, 64, 1024);
    for (int i = 0; i < ROPE_NSHAPES; i++) rope_check_shape(cc, &ROPE_SHAPES[i]);
}
