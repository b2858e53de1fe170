/* Checks of the matmul family: iopo_gemm (all transposes, alpha/beta), iopo_matmul_forward/backward (both weight
 * layouts, with and without bias, partial gradients).
 *
 * Every CPU result is compared with a float64 triple loop (this is what catches a wrong BLAS argument in the
 * reference), the device with the CPU, the device with itself run twice, and the CPU backward with central finite
 * differences of the CPU forward.
 *
 * Tolerances. Inputs are N(0,1), so an output is a sum of K products of size ~1 and has magnitude ~sqrt(K). Rounding
 * one fp32 partial sum of size ~sqrt(k) costs ~eps*sqrt(k) (eps = 6e-8), and K such errors of random sign add to
 * ~eps*K/sqrt(2): 3.4e-5 at K = 768 for each implementation, whatever order (blocked, FMA) it sums in. The largest of
 * ~1e5 outputs is ~4.5 of those standard deviations, 2e-4 for the difference of two implementations. atol =
 * 1e-4*sqrt(K) (2.8e-3 at K = 768, 1e-4 at K = 1) leaves a 10x margin there and is still 1e-4 of the typical output,
 * while any indexing or tiling bug moves outputs by O(1). rtol = 1e-4 covers outputs that are larger than typical
 * (beta*C terms, a large alpha). K here is the length of the reduction: N for dinp, M for dw and dbias. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "vk/vk.h"

#define MM_RTOL 1e-4
static double mm_atol(int K) { return 1e-4 * sqrt((double)K); }

static iopo_tensor *tensor2(iopo_ctx *ctx, const float *host, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    return check_tensor(ctx, IOPO_F32, host, 2, shape);
}

static float *nan_array(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}

/* Element (i, j) of op(X) where op(X) is (R, C): X is stored (R, C), or (C, R) when trans. */
static double op_at(const float *x, int R, int C, bool trans, int i, int j) {
    return trans ? x[(size_t)j * R + i] : x[(size_t)i * C + j];
}

/* float64 reference: c (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * c0 (M,N) + bias (N); c0, bias may be NULL.
 * Returns a malloc'd (M,N) array. */
static float *ref_gemm(const float *a, const float *b, const float *c0, const float *bias, int M, int N, int K,
                       bool trans_a, bool trans_b, double alpha, double beta) {
    float *c = malloc((size_t)M * N * sizeof(float));
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += op_at(a, M, K, trans_a, m, k) * op_at(b, K, N, trans_b, k, n);
            double v = alpha * s;
            if (c0) v += beta * c0[(size_t)m * N + n];
            if (bias) v += bias[n];
            c[(size_t)m * N + n] = (float)v;
        }
    return c;
}

/* ---- iopo_gemm ---------------------------------------------------------------------------------------------- */

/* A (d0, d1) tensor of dtype dt holding host's values (exactly, when they are dt values widened). */
static iopo_tensor *tensor2_as(iopo_ctx *ctx, iopo_dtype dt, const float *host, int64_t d0, int64_t d1) {
    int64_t shape[2] = {d0, d1};
    return check_tensor_as(ctx, dt, host, 2, shape);
}

static const char *dt_suffix(iopo_dtype dt) { return dt == IOPO_BF16 ? " w:bf16" : dt == IOPO_F16 ? " w:f16" : ""; }

/* c (M,N) = alpha * op(a) @ op(b) + beta * c0 on ctx, b stored in b_dt; returns the downloaded result. */
static float *run_gemm(iopo_ctx *ctx, const float *a, const float *b, iopo_dtype b_dt, const float *c0, int M, int N,
                       int K, bool trans_a, bool trans_b, float alpha, float beta) {
    iopo_tensor *ta = trans_a ? tensor2(ctx, a, K, M) : tensor2(ctx, a, M, K);
    iopo_tensor *tb = trans_b ? tensor2_as(ctx, b_dt, b, N, K) : tensor2_as(ctx, b_dt, b, K, N);
    iopo_tensor *tc = tensor2(ctx, c0, M, N);
    iopo_gemm(ctx, tc, ta, tb, M, N, K, trans_a, trans_b, alpha, beta);
    float *out = check_download(tc);
    iopo_tensor_free(ta);
    iopo_tensor_free(tb);
    iopo_tensor_free(tc);
    return out;
}

/* b_dt 16-bit: b holds values of that dtype (rounded once here), so the fp64 reference and both backends multiply the
 * same numbers and the fp32 tolerances apply unchanged. */
static void gemm_case(check_ctx *cc, int M, int K, int N, bool trans_a, bool trans_b, float alpha, float beta,
                      bool twice, iopo_dtype b_dt) {
    char shape[96];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %c%c a=%g b=%g%s", M, K, N, trans_a ? 't' : 'n', trans_b ? 't' : 'n',
             (double)alpha, (double)beta, dt_suffix(b_dt));
    size_t nc = (size_t)M * N;
    float *a = check_randn(cc, (size_t)M * K, 1.0f);
    float *b0 = check_randn(cc, (size_t)K * N, 1.0f);
    float *b = check_rounded(b0, (size_t)K * N, b_dt);
    free(b0);
    /* beta == 0 must ignore C entirely: NaN there would propagate through any read of it. */
    float *c0 = beta != 0.0f ? check_randn(cc, nc, 1.0f) : nan_array(nc);
    float *ref = ref_gemm(a, b, beta != 0.0f ? c0 : NULL, NULL, M, N, K, trans_a, trans_b, alpha, beta);
    double atol = mm_atol(K);

    float *cpu = run_gemm(cc->cpu, a, b, b_dt, c0, M, N, K, trans_a, trans_b, alpha, beta);
    check_close(cc, "gemm", shape, "cpu vs fp64", cpu, ref, nc, atol, MM_RTOL);
    if (cc->dev) {
        float *got = run_gemm(cc->dev, a, b, b_dt, c0, M, N, K, trans_a, trans_b, alpha, beta);
        check_close(cc, "gemm", shape, "vulkan vs cpu", got, cpu, nc, atol, MM_RTOL);
        if (twice) {
            float *again = run_gemm(cc->dev, a, b, b_dt, c0, M, N, K, trans_a, trans_b, alpha, beta);
            check_identical(cc, "gemm", shape, "vulkan run twice", got, again, nc * sizeof(float));
            free(again);
        }
        free(got);
    }
    free(cpu);
    free(ref);
    free(a);
    free(b);
    free(c0);
}

/* ---- iopo_matmul_forward ------------------------------------------------------------------------------------ */

typedef struct mm_shape {
    int M, K, N;
} mm_shape;

static const char *layout_name(iopo_wlayout layout) { return layout == IOPO_W_KN ? "KN" : "NK"; }

/* out (M,N) = inp (M,K) @ W + bias on ctx, W (K,N) | (N,K) and bias stored in wdt; returns the downloaded out. */
static float *run_forward(iopo_ctx *ctx, const float *inp, const float *w, const float *bias, int M, int K, int N,
                          iopo_wlayout layout, iopo_dtype wdt) {
    iopo_tensor *ti = tensor2(ctx, inp, M, K);
    iopo_tensor *tw = layout == IOPO_W_KN ? tensor2_as(ctx, wdt, w, K, N) : tensor2_as(ctx, wdt, w, N, K);
    iopo_tensor *tbias = bias ? check_tensor_as(ctx, wdt, bias, 1, (int64_t[]){N}) : NULL;
    float *poison = nan_array((size_t)M * N);   /* the forward overwrites: the old contents must not matter */
    iopo_tensor *to = tensor2(ctx, poison, M, N);
    iopo_matmul_forward(ctx, to, ti, tw, tbias, M, K, N, layout);
    float *out = check_download(to);
    free(poison);
    iopo_tensor_free(ti);
    iopo_tensor_free(tw);
    iopo_tensor_free(tbias);
    iopo_tensor_free(to);
    return out;
}

/* The largest relative rounding error of a 16-bit format (half its ulp at 1): 2^-8 for bf16 (8 significant bits),
 * 2^-11 for fp16 (11), for values in fp16's normal range (all N(0,1) weights but about 1 in 20,000, whose absolute
 * error, below 2^-25, is smaller still). */
static double unit_roundoff(iopo_dtype dt) { return dt == IOPO_BF16 ? 0x1p-8 : 0x1p-11; }

/* wdt 16-bit: the weight and bias are stored in wdt (a checkpoint's weights kept as they are). The fp64 reference
 * multiplies the same widened values, so only the fp32 summation differs and the fp32 tolerances apply unchanged. One
 * more row compares with the product of the unrounded fp32 weights: each of the K + 1 terms then carries a relative
 * rounding error of at most u (unit_roundoff), of random sign, so the difference has a standard deviation below
 * u * sqrt((K + 1) / 3) (uniform errors on N(0,1) products); 6 of them bounds it over these outputs, while widening as
 * the wrong format, or dropping the rounding's lower half, moves outputs by far more. */
static void forward_case(check_ctx *cc, mm_shape s, iopo_wlayout layout, bool with_bias, bool twice, iopo_dtype wdt) {
    char shape[96];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s%s%s", s.M, s.K, s.N, layout_name(layout), with_bias ? " bias" : "",
             dt_suffix(wdt));
    size_t no = (size_t)s.M * s.N;
    float *inp = check_randn(cc, (size_t)s.M * s.K, 1.0f);
    float *w32 = check_randn(cc, (size_t)s.K * s.N, 1.0f);
    float *b32 = with_bias ? check_randn(cc, (size_t)s.N, 1.0f) : NULL;
    float *w = check_rounded(w32, (size_t)s.K * s.N, wdt);
    float *bias = with_bias ? check_rounded(b32, (size_t)s.N, wdt) : NULL;
    float *ref = ref_gemm(inp, w, NULL, bias, s.M, s.N, s.K, false, layout == IOPO_W_NK, 1.0, 0.0);
    double atol = mm_atol(s.K);

    float *cpu = run_forward(cc->cpu, inp, w, bias, s.M, s.K, s.N, layout, wdt);
    check_close(cc, "matmul_forward", shape, "cpu vs fp64", cpu, ref, no, atol, MM_RTOL);
    if (wdt != IOPO_F32) {
        float *ref32 = ref_gemm(inp, w32, NULL, b32, s.M, s.N, s.K, false, layout == IOPO_W_NK, 1.0, 0.0);
        double fmt_atol = atol + 6.0 * unit_roundoff(wdt) * sqrt((s.K + 1) / 3.0);
        check_close(cc, "matmul_forward", shape, "cpu vs fp64 of fp32 weights", cpu, ref32, no, fmt_atol, MM_RTOL);
        free(ref32);
    }
    if (cc->dev) {
        float *got = run_forward(cc->dev, inp, w, bias, s.M, s.K, s.N, layout, wdt);
        check_close(cc, "matmul_forward", shape, "vulkan vs cpu", got, cpu, no, atol, MM_RTOL);
        if (twice) {
            float *again = run_forward(cc->dev, inp, w, bias, s.M, s.K, s.N, layout, wdt);
            check_identical(cc, "matmul_forward", shape, "vulkan run twice", got, again, no * sizeof(float));
            free(again);
        }
        free(got);
    }
    free(cpu);
    free(ref);
    free(inp);
    free(w);
    free(bias);
    free(w32);
    free(b32);
}

/* ---- iopo_matmul_backward ----------------------------------------------------------------------------------- */

/* Host arrays of one backward problem. The gradients start at g_* (non-zero) so that += is tested. */
typedef struct bwd_data {
    mm_shape s;
    iopo_wlayout layout;
    iopo_dtype wdt;            /* W's dtype (w holds values of it); the gradients are fp32 */
    float *dout, *inp, *w;     /* (M,N), (M,K), (K,N)|(N,K) */
    float *g_dinp, *g_dw, *g_dbias;
} bwd_data;

/* Gradients after one backward; a NULL array = that gradient was not requested. */
typedef struct bwd_result {
    float *dinp, *dw, *dbias;
} bwd_result;

static void bwd_result_free(bwd_result *r) {
    free(r->dinp);
    free(r->dw);
    free(r->dbias);
}

static iopo_tensor *weight_tensor(iopo_ctx *ctx, const float *host, const bwd_data *d, iopo_dtype dt) {
    return d->layout == IOPO_W_KN ? tensor2_as(ctx, dt, host, d->s.K, d->s.N)
                                  : tensor2_as(ctx, dt, host, d->s.N, d->s.K);
}

/* Runs the backward on ctx for the gradients selected; inputs the op does not need for them are passed as NULL,
 * as the API allows. */
static bwd_result run_backward(iopo_ctx *ctx, const bwd_data *d, bool want_dinp, bool want_dw, bool want_dbias) {
    int M = d->s.M, K = d->s.K, N = d->s.N;
    iopo_tensor *tdout = tensor2(ctx, d->dout, M, N);
    iopo_tensor *tinp = want_dw ? tensor2(ctx, d->inp, M, K) : NULL;
    iopo_tensor *tw = want_dinp ? weight_tensor(ctx, d->w, d, d->wdt) : NULL;
    iopo_tensor *tdinp = want_dinp ? tensor2(ctx, d->g_dinp, M, K) : NULL;
    iopo_tensor *tdw = want_dw ? weight_tensor(ctx, d->g_dw, d, IOPO_F32) : NULL;
    iopo_tensor *tdbias = want_dbias ? check_tensor1(ctx, IOPO_F32, d->g_dbias, N) : NULL;
    iopo_matmul_backward(ctx, tdinp, tdw, tdbias, tdout, tinp, tw, M, K, N, d->layout);
    bwd_result r = {tdinp ? check_download(tdinp) : NULL, tdw ? check_download(tdw) : NULL,
                    tdbias ? check_download(tdbias) : NULL};
    iopo_tensor_free(tdout);
    iopo_tensor_free(tinp);
    iopo_tensor_free(tw);
    iopo_tensor_free(tdinp);
    iopo_tensor_free(tdw);
    iopo_tensor_free(tdbias);
    return r;
}

/* float64 reference of the accumulated gradients. */
static bwd_result ref_backward(const bwd_data *d) {
    int M = d->s.M, K = d->s.K, N = d->s.N;
    bool kn = d->layout == IOPO_W_KN;
    bwd_result r;
    /* dinp (M,K) = g + dout (M,N) @ W^T, W^T being W (K,N) transposed or W (N,K) as stored */
    r.dinp = ref_gemm(d->dout, d->w, d->g_dinp, NULL, M, K, N, false, kn, 1.0, 1.0);
    /* dW = g + inp^T @ dout (K,N), or dout^T @ inp (N,K) */
    if (kn) r.dw = ref_gemm(d->inp, d->dout, d->g_dw, NULL, K, N, M, true, false, 1.0, 1.0);
    else r.dw = ref_gemm(d->dout, d->inp, d->g_dw, NULL, N, K, M, true, false, 1.0, 1.0);
    r.dbias = malloc((size_t)N * sizeof(float));
    for (int n = 0; n < N; n++) {
        double s = d->g_dbias[n];
        for (int m = 0; m < M; m++) s += d->dout[(size_t)m * N + n];
        r.dbias[n] = (float)s;
    }
    return r;
}

static void bwd_data_init(check_ctx *cc, bwd_data *d, mm_shape s, iopo_wlayout layout, float grad_start_std,
                          iopo_dtype wdt) {
    d->s = s;
    d->layout = layout;
    d->wdt = wdt;
    d->dout = check_randn(cc, (size_t)s.M * s.N, 1.0f);
    d->inp = check_randn(cc, (size_t)s.M * s.K, 1.0f);
    float *w = check_randn(cc, (size_t)s.K * s.N, 1.0f);
    d->w = check_rounded(w, (size_t)s.K * s.N, wdt);
    free(w);
    if (grad_start_std > 0) {
        d->g_dinp = check_randn(cc, (size_t)s.M * s.K, grad_start_std);
        d->g_dw = check_randn(cc, (size_t)s.K * s.N, grad_start_std);
        d->g_dbias = check_randn(cc, (size_t)s.N, grad_start_std);
    } else {
        d->g_dinp = calloc((size_t)s.M * s.K, sizeof(float));
        d->g_dw = calloc((size_t)s.K * s.N, sizeof(float));
        d->g_dbias = calloc((size_t)s.N, sizeof(float));
    }
}

static void bwd_data_free(bwd_data *d) {
    free(d->dout);
    free(d->inp);
    free(d->w);
    free(d->g_dinp);
    free(d->g_dw);
    free(d->g_dbias);
}

/* Compares the gradients present in got with those of ref (row per gradient). */
static void compare_grads(check_ctx *cc, const char *shape, const char *what, const bwd_data *d, const bwd_result *got,
                          const bwd_result *ref) {
    char label[64];
    int M = d->s.M, K = d->s.K, N = d->s.N;
    if (got->dinp) {
        snprintf(label, sizeof label, "dinp %s", what);
        check_close(cc, "matmul_backward", shape, label, got->dinp, ref->dinp, (size_t)M * K, mm_atol(N), MM_RTOL);
    }
    if (got->dw) {
        snprintf(label, sizeof label, "dw %s", what);
        check_close(cc, "matmul_backward", shape, label, got->dw, ref->dw, (size_t)K * N, mm_atol(M), MM_RTOL);
    }
    if (got->dbias) {
        snprintf(label, sizeof label, "dbias %s", what);
        check_close(cc, "matmul_backward", shape, label, got->dbias, ref->dbias, (size_t)N, mm_atol(M), MM_RTOL);
    }
}

/* wdt 16-bit: dinp reads the widened weight (the reference multiplies the same values); dw and dbias are fp32 all
 * the same (they do not read W). */
static void backward_case(check_ctx *cc, mm_shape s, iopo_wlayout layout, bool twice, iopo_dtype wdt) {
    char shape[96];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s%s", s.M, s.K, s.N, layout_name(layout), dt_suffix(wdt));
    bwd_data d;
    bwd_data_init(cc, &d, s, layout, 1.0f, wdt);
    bwd_result ref = ref_backward(&d);
    bwd_result cpu = run_backward(cc->cpu, &d, true, true, true);
    compare_grads(cc, shape, "cpu vs fp64 (+=)", &d, &cpu, &ref);
    if (cc->dev) {
        bwd_result got = run_backward(cc->dev, &d, true, true, true);
        compare_grads(cc, shape, "vulkan vs cpu (+=)", &d, &got, &cpu);
        if (twice) {
            bwd_result again = run_backward(cc->dev, &d, true, true, true);
            size_t nk = (size_t)s.M * s.K, nw = (size_t)s.K * s.N;
            bool same = memcmp(got.dinp, again.dinp, nk * sizeof(float)) == 0 &&
                        memcmp(got.dw, again.dw, nw * sizeof(float)) == 0 &&
                        memcmp(got.dbias, again.dbias, (size_t)s.N * sizeof(float)) == 0;
            check_row(cc, "matmul_backward", shape, "vulkan run twice (bits)", same ? 0 : 1, 0, same);
            bwd_result_free(&again);
        }
        bwd_result_free(&got);
    }
    bwd_result_free(&cpu);
    bwd_result_free(&ref);
    bwd_data_free(&d);
}

/* Only some gradients requested, with the input the others would need passed as NULL. */
static void backward_partial_case(check_ctx *cc, mm_shape s, iopo_wlayout layout) {
    char shape[96];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s", s.M, s.K, s.N, layout_name(layout));
    bwd_data d;
    bwd_data_init(cc, &d, s, layout, 0.5f, IOPO_F32);
    bwd_result ref = ref_backward(&d);
    for (int pass = 0; pass < 2; pass++) {
        bool want_dinp = pass == 0;   /* pass 0: dinp alone (inp NULL); pass 1: dw and dbias (w NULL) */
        const char *tag = want_dinp ? "only, inp=NULL" : "only, w=NULL";
        char what[64];
        bwd_result cpu = run_backward(cc->cpu, &d, want_dinp, !want_dinp, !want_dinp);
        snprintf(what, sizeof what, "%s cpu vs fp64", tag);
        compare_grads(cc, shape, what, &d, &cpu, &ref);
        if (cc->dev) {
            bwd_result got = run_backward(cc->dev, &d, want_dinp, !want_dinp, !want_dinp);
            snprintf(what, sizeof what, "%s vulkan vs cpu", tag);
            compare_grads(cc, shape, what, &d, &got, &cpu);
            bwd_result_free(&got);
        }
        bwd_result_free(&cpu);
    }
    bwd_result_free(&ref);
    bwd_data_free(&d);
}

/* ---- finite differences of the CPU backward ----------------------------------------------------------------- */

typedef struct fd_user {
    check_ctx *cc;
    const bwd_data *d;
    iopo_tensor *out, *inp, *w, *bias;   /* CPU tensors: check_fd perturbs their data in place */
    const float *r;                      /* (M,N): L = <out, r>, so dL/dout = r */
} fd_user;

static double fd_loss(void *user) {
    fd_user *u = user;
    const mm_shape *s = &u->d->s;
    iopo_matmul_forward(u->cc->cpu, u->out, u->inp, u->w, u->bias, s->M, s->K, s->N, u->d->layout);
    return check_dot(u->out->data, u->r, (size_t)s->M * s->N);
}

/* L is linear in each input, so central differences have no truncation error and h only trades against the
 * rounding of the forward: a perturbation moves ~max(M,N) outputs of size ~sqrt(K), each rounded to ~eps*sqrt(K),
 * giving an FD error ~eps*sqrt(K*max(M,N))/h ~ 1e-5 at h = 0.05 for the shapes below, against gradients of
 * size ~sqrt(N) or ~sqrt(M). */
static void fd_case(check_ctx *cc, mm_shape s, iopo_wlayout layout, iopo_dtype wdt) {
    char shape[96];
    snprintf(shape, sizeof shape, "M=%d K=%d N=%d %s bias%s", s.M, s.K, s.N, layout_name(layout), dt_suffix(wdt));
    bwd_data d;
    bwd_data_init(cc, &d, s, layout, 0.0f, wdt);   /* zero start: the analytic gradient is the result itself */
    float *bias = check_randn(cc, (size_t)s.N, 1.0f);
    bwd_result g = run_backward(cc->cpu, &d, true, true, true);   /* dout = r */

    fd_user u = {cc, &d, tensor2(cc->cpu, NULL, s.M, s.N), tensor2(cc->cpu, d.inp, s.M, s.K),
                 weight_tensor(cc->cpu, d.w, &d, wdt), check_tensor1(cc->cpu, IOPO_F32, bias, s.N), d.dout};
    const float h = 0.05f;
    const double atol = 1e-3, rtol = 1e-3;
    check_fd(cc, "matmul_backward", shape, "dinp vs fd (cpu)", u.inp->data, (size_t)s.M * s.K, g.dinp, fd_loss, &u, 24,
             h, atol, rtol);
    /* a 16-bit W cannot take an fp32 step; its dw is the same product as for fp32 (it does not read W) */
    if (wdt == IOPO_F32)
        check_fd(cc, "matmul_backward", shape, "dw vs fd (cpu)", u.w->data, (size_t)s.K * s.N, g.dw, fd_loss, &u, 24,
                 h, atol, rtol);
    check_fd(cc, "matmul_backward", shape, "dbias vs fd (cpu)", u.bias->data, (size_t)s.N, g.dbias, fd_loss, &u, 24, h,
             atol, rtol);
    iopo_tensor_free(u.out);
    iopo_tensor_free(u.inp);
    iopo_tensor_free(u.w);
    iopo_tensor_free(u.bias);
    bwd_result_free(&g);
    bwd_data_free(&d);
    free(bias);
}

/* ---- a grid past maxComputeWorkGroupCount ------------------------------------------------------------------- */

/* M = K = 1 with N large enough that the GEMM's tiles along N and the bias kernel's workgroups (32 columns each)
 * outnumber maxComputeWorkGroupCount[0], so vk_dispatch_1d must fold the grid. A single-row product takes the skinny
 * 8 x 64 tiling (src/vkops/matmul.c), so (limit + 1) * 64 columns are enough. Cheap only where that limit is small
 * (lavapipe: 65535); elsewhere the buffers would exceed 64 MiB and it is skipped. */
static void fold_case(check_ctx *cc) {
    if (!cc->dev || iopo_ctx_backend(cc->dev) != IOPO_BACKEND_VULKAN) return;
    uint64_t groups = vk_get_limits(cc->dev)->max_group_count[0];
    uint64_t n64 = (groups + 1) * 64 + 5;
    if (n64 * sizeof(float) > (64u << 20)) return;
    int N = (int)n64;
    mm_shape s = {1, 1, N};
    char shape[96];
    snprintf(shape, sizeof shape, "M=1 K=1 N=%d KN bias (folded grid)", N);

    float *inp = check_randn(cc, 1, 1.0f), *w = check_randn(cc, (size_t)N, 1.0f), *bias = check_randn(cc, N, 1.0f);
    float *cpu = run_forward(cc->cpu, inp, w, bias, 1, 1, N, IOPO_W_KN, IOPO_F32);
    float *got = run_forward(cc->dev, inp, w, bias, 1, 1, N, IOPO_W_KN, IOPO_F32);
    check_close(cc, "matmul_forward", shape, "vulkan vs cpu", got, cpu, (size_t)N, mm_atol(1), MM_RTOL);
    free(inp);
    free(w);
    free(bias);
    free(cpu);
    free(got);

    bwd_data d;
    bwd_data_init(cc, &d, s, IOPO_W_KN, 1.0f, IOPO_F32);
    /* dbias alone: dw would be one more folded GEMM, the same shader code as the forward's */
    bwd_result cpub = run_backward(cc->cpu, &d, false, false, true);
    bwd_result gotb = run_backward(cc->dev, &d, false, false, true);
    compare_grads(cc, shape, "vulkan vs cpu", &d, &gotb, &cpub);
    bwd_result_free(&cpub);
    bwd_result_free(&gotb);
    bwd_data_free(&d);
}

void check_matmul(check_ctx *cc) {
    /* Sizes that are not multiples of any tile (1, 7, 33, 257, ...), M or N = 1, and one GPT-2-like product whose
     * sizes are multiples of every tile (the interior path without edges). With the tile choice of src/vkops/matmul.c
     * they cover every tiling: the skinny ones (M or N small), 32 x 32 (257,64,129 and the GPT-2-like one), 64 x 64
     * (250,24,760) and 128 x 128 (520,40,1030). The backward's products add more (M,N) pairs. */
    static const mm_shape shapes[] = {{1, 1, 1},      {7, 33, 5},     {33, 257, 65},  {257, 64, 129}, {1, 64, 300},
                                      {300, 65, 1},   {250, 24, 760}, {520, 40, 1030}, {128, 768, 256}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const int large = nshapes - 1;

    for (int i = 0; i < nshapes; i++)
        for (int t = 0; t < 4; t++) {
            bool ta = t & 2, tb = t & 1;
            gemm_case(cc, shapes[i].M, shapes[i].K, shapes[i].N, ta, tb, 1.0f, 0.0f, false, IOPO_F32);
            gemm_case(cc, shapes[i].M, shapes[i].K, shapes[i].N, ta, tb, -0.75f, 1.5f, i == 2 || i == large, IOPO_F32);
        }

    for (int i = 0; i < nshapes; i++)
        for (int l = 0; l < 2; l++) {
            iopo_wlayout layout = l ? IOPO_W_NK : IOPO_W_KN;
            forward_case(cc, shapes[i], layout, true, i == 2 || i == large, IOPO_F32);
            if (i != large) forward_case(cc, shapes[i], layout, false, false, IOPO_F32);
            backward_case(cc, shapes[i], layout, i == 2 || i == large, IOPO_F32);
        }
    backward_partial_case(cc, (mm_shape){33, 257, 65}, IOPO_W_NK);
    backward_partial_case(cc, (mm_shape){7, 33, 5}, IOPO_W_KN);

    for (int l = 0; l < 2; l++) {
        iopo_wlayout layout = l ? IOPO_W_NK : IOPO_W_KN;
        fd_case(cc, (mm_shape){7, 33, 5}, layout, IOPO_F32);
        fd_case(cc, (mm_shape){33, 65, 17}, layout, IOPO_F32);
    }

    fold_case(cc);

    /* 16-bit weights (BF16, F16) in both layouts, with a 16-bit bias and without, over shapes that take the skinny and
     * square tilings (odd sizes put elements on both halves of a 32-bit word), the GEMM's transposes, and the
     * backward. fp16 runs a subset: its shader path differs from bf16's only in the widening itself, and every new
     * (tiling, dtype) pair costs lavapipe a pipeline compilation. K = 4096 makes the CPU widen W in several blocks of
     * columns (4 MiB of fp32 scratch: 256 columns of 4096), in the forward and in dinp (N = 600 there: 1747 columns),
     * both layouts. */
    static const mm_shape s16[] = {{1, 1, 1}, {7, 33, 5}, {33, 257, 65}, {1, 64, 300}, {3, 4096, 600},
                                   {128, 768, 256}};
    const int n16 = (int)(sizeof s16 / sizeof s16[0]);
    const iopo_dtype dts[2] = {IOPO_BF16, IOPO_F16};
    for (int d = 0; d < 2; d++) {
        for (int i = d; i < n16; i++)
            for (int l = 0; l < 2; l++) {
                iopo_wlayout layout = l ? IOPO_W_NK : IOPO_W_KN;
                if (d == 1 && i == n16 - 1 && layout == IOPO_W_KN) continue;
                forward_case(cc, s16[i], layout, true, i == n16 - 1, dts[d]);
                if (i < 2) forward_case(cc, s16[i], layout, false, false, dts[d]);
                backward_case(cc, s16[i], layout, i == n16 - 1, dts[d]);
            }
        for (int t = d; t < 4; t += 1 + d)
            gemm_case(cc, 33, 257, 65, t & 2, t & 1, -0.75f, 1.5f, t == 3, dts[d]);
        fd_case(cc, (mm_shape){7, 33, 5}, IOPO_W_KN, dts[d]);
        fd_case(cc, (mm_shape){33, 65, 17}, IOPO_W_NK, dts[d]);
    }
}
