/* The check harness behind `iopo selftest` and the ctest suite. */
#include "check/check.h"
#include "util/half.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void check_print_header(void) {
    printf("%-14s %-26s %-34s %11s %11s  %s\n", "op", "shape", "check", "error", "tolerance", "result");
}

bool check_row(check_ctx *cc, const char *op, const char *shape, const char *what, double err, double tol, bool pass) {
    cc->rows++;
    if (!pass) cc->failures++;
    printf("%-14s %-26s %-34s %11.3e %11.3e  %s\n", op, shape, what, err, tol, pass ? "pass" : "FAIL");
    fflush(stdout);
    return pass;
}

bool check_close(check_ctx *cc, const char *op, const char *shape, const char *what, const float *got,
                 const float *ref, size_t n, double atol, double rtol) {
    /* Report the worst ratio of error to allowed error, so one number says how close to failing the row is. */
    double worst_ratio = 0, worst_err = 0, worst_tol = atol;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        double err = fabs(g - r), tol = atol + rtol * fabs(r);
        bool ok = err <= tol;   /* NaN compares false: a NaN fails */
        if (!ok && bad++ == 0) first_bad = i;
        double ratio = ok ? err / tol : INFINITY;
        if (ratio > worst_ratio || (!ok && bad == 1)) {
            worst_ratio = ratio;
            worst_err = isnan(err) ? INFINITY : err;
            worst_tol = tol;
        }
    }
    bool pass = bad == 0;
    if (!pass)
        printf("    %zu of %zu values out of tolerance; first at index %zu: got %.9g, expected %.9g\n", bad, n,
               first_bad, got[first_bad], ref[first_bad]);
    return check_row(cc, op, shape, what, worst_err, worst_tol, pass);
}

bool check_identical(check_ctx *cc, const char *op, const char *shape, const char *what, const void *a, const void *b,
                     size_t bytes) {
    size_t diff = 0;
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < bytes; i++) diff += x[i] != y[i];
    return check_row(cc, op, shape, what, (double)diff, 0, diff == 0);
}

bool check_fd(check_ctx *cc, const char *op, const char *shape, const char *what, float *x, size_t n,
              const float *analytic, check_scalar_fn eval, void *user, int samples, float h, double atol, double rtol) {
    size_t count = n <= (size_t)samples ? n : (size_t)samples;
    double worst_ratio = 0, worst_err = 0, worst_tol = atol;
    bool pass = true;
    for (size_t s = 0; s < count; s++) {
        size_t i = n <= (size_t)samples ? s : (size_t)(iopo_rng_u64(&cc->rng) % n);
        float saved = x[i];
        x[i] = saved + h;
        double fp = eval(user);
        x[i] = saved - h;
        double fm = eval(user);
        x[i] = saved;
        /* The step actually taken in float, not h, is what the difference quotient divides by. */
        double step = (double)(saved + h) - (double)(saved - h);
        double fd = (fp - fm) / step;
        double err = fabs(fd - (double)analytic[i]), tol = atol + rtol * fabs(fd);
        bool ok = err <= tol;
        if (!ok && pass)
            printf("    index %zu: finite difference %.9g, backward %.9g\n", i, fd, (double)analytic[i]);
        pass = pass && ok;
        double ratio = ok ? err / tol : INFINITY;
        if (ratio >= worst_ratio) {
            worst_ratio = ratio;
            worst_err = isnan(err) ? INFINITY : err;
            worst_tol = tol;
        }
    }
    return check_row(cc, op, shape, what, worst_err, worst_tol, pass);
}

float *check_randn(check_ctx *cc, size_t n, float std) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    iopo_rng_fill_normal(&cc->rng, x, n, 0.0f, std);
    return x;
}

float *check_randu(check_ctx *cc, size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    iopo_rng_fill_uniform(&cc->rng, x, n, lo, hi);
    return x;
}

int32_t *check_randi(check_ctx *cc, size_t n, int32_t lo, int32_t hi_exclusive) {
    int32_t *x = malloc((n ? n : 1) * sizeof *x);
    uint64_t span = (uint64_t)((int64_t)hi_exclusive - lo);
    for (size_t i = 0; i < n; i++) x[i] = (int32_t)(lo + (int64_t)(iopo_rng_u64(&cc->rng) % (span ? span : 1)));
    return x;
}

double check_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

iopo_tensor *check_tensor(iopo_ctx *ctx, iopo_dtype dt, const void *host, int ndim, const int64_t *shape) {
    iopo_tensor *t = iopo_tensor_new(ctx, dt, ndim, shape);
    if (host) iopo_tensor_upload(t, host);
    return t;
}

iopo_tensor *check_tensor1(iopo_ctx *ctx, iopo_dtype dt, const void *host, int64_t n) {
    return check_tensor(ctx, dt, host, 1, &n);
}

void *check_download(const iopo_tensor *t) {
    void *x = malloc(t->numel ? iopo_tensor_bytes(t) : 4);
    iopo_tensor_download(t, x);
    return x;
}

iopo_tensor *check_tensor_as(iopo_ctx *ctx, iopo_dtype dt, const float *host, int ndim, const int64_t *shape) {
    if (dt == IOPO_F32) return check_tensor(ctx, dt, host, ndim, shape);
    iopo_tensor *t = iopo_tensor_new(ctx, dt, ndim, shape);
    uint16_t *h = malloc((t->numel ? t->numel : 1) * sizeof *h);
    iopo_narrow_f32(h, dt, host, t->numel);
    iopo_tensor_upload(t, h);
    free(h);
    return t;
}

float *check_rounded(const float *host, size_t n, iopo_dtype dt) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (dt == IOPO_F32) {
        memcpy(x, host, n * sizeof *x);
        return x;
    }
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    iopo_narrow_f32(h, dt, host, n);
    iopo_widen_f32(x, h, dt, 0, n);
    free(h);
    return x;
}
