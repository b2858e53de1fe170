/* Checks of the element-wise ops: GELU, SiLU, SwiGLU (forward and backward), residual add (also in place) and
 * gradient accumulation.
 *
 * Rows per size: device vs CPU for every output, bit-identical device reruns, backward gradients starting non-zero
 * (+= semantics) on both backends, and central finite differences of the CPU forward against the CPU backward (minus
 * the gradient's starting value). Inputs include large-magnitude values where a naive tanh or sigmoid overflows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check/check.h"

/* Not multiples of any workgroup size; the last spans several workgroups and a partial one. */
static const size_t ELT_SIZES[] = {1, 7, 33, 257, 100003};
#define ELT_NSIZES ((int)(sizeof ELT_SIZES / sizeof ELT_SIZES[0]))

#define FD_SAMPLES 32
#define FD_H 1e-2f
#define FD_ATOL 1e-3
#define FD_RTOL 1e-2

/* Device vs CPU tolerance: the device may use its own exp and contract multiply-adds. */
#define ELT_ATOL 1e-5
#define ELT_RTOL 1e-5

typedef enum { ACT_GELU, ACT_SILU, ACT_SWIGLU } act_kind;
static const char *const ACT_FWD[] = {"gelu_forward", "silu_forward", "swiglu_forward"};
static const char *const ACT_BWD[] = {"gelu_backward", "silu_backward", "swiglu_backward"};

static void free_all(iopo_tensor **t, int n) {
    for (int i = 0; i < n; i++)
        if (t[i]) iopo_tensor_free(t[i]);
}

/* Random activations with some values where exp(|x|) or exp(2|x|) overflows fp32, and exact zeros. */
static float *act_input(check_ctx *cc, size_t n) {
    float *x = check_randn(cc, n, 3.0f);
    static const float special[] = {-60.0f, 60.0f, 0.0f, -12.0f, 12.0f, -100.0f, 100.0f};
    for (size_t i = 0; i < n && i < sizeof special / sizeof special[0]; i++) x[(i * 7919) % n] = special[i];
    return x;
}

/* Host inputs of one activation case; up is used by SwiGLU only. g0 are the gradients' starting values. */
typedef struct act_case {
    act_kind kind;
    size_t n;
    const float *x, *up, *dout, *gx0, *gup0;
} act_case;

typedef struct act_result {
    float *out, *dx, *dup;   // dx: dinp, or dgate for SwiGLU
} act_result;

static void act_result_free(act_result *r) {
    free(r->out);
    free(r->dx);
    free(r->dup);
}

static void act_forward(iopo_ctx *ctx, act_kind k, iopo_tensor *out, iopo_tensor *x, iopo_tensor *up, size_t n) {
    if (k == ACT_GELU) iopo_gelu_forward(ctx, out, x, n);
    else if (k == ACT_SILU) iopo_silu_forward(ctx, out, x, n);
    else iopo_swiglu_forward(ctx, out, x, up, n);
}

/* Forward, then backward into gradients holding g0. with_dx / with_dup select SwiGLU's gradients (NULL otherwise). */
static void act_run(iopo_ctx *ctx, const act_case *ac, bool with_dx, bool with_dup, act_result *res) {
    size_t n = ac->n;
    bool swiglu = ac->kind == ACT_SWIGLU;
    iopo_tensor *x = check_tensor1(ctx, IOPO_F32, ac->x, (int64_t)n);
    iopo_tensor *up = swiglu ? check_tensor1(ctx, IOPO_F32, ac->up, (int64_t)n) : NULL;
    iopo_tensor *out = check_tensor1(ctx, IOPO_F32, NULL, (int64_t)n);
    iopo_tensor *dout = check_tensor1(ctx, IOPO_F32, ac->dout, (int64_t)n);
    iopo_tensor *dx = with_dx ? check_tensor1(ctx, IOPO_F32, ac->gx0, (int64_t)n) : NULL;
    iopo_tensor *dup = swiglu && with_dup ? check_tensor1(ctx, IOPO_F32, ac->gup0, (int64_t)n) : NULL;
    act_forward(ctx, ac->kind, out, x, up, n);
    if (ac->kind == ACT_GELU) iopo_gelu_backward(ctx, dx, dout, x, n);
    else if (ac->kind == ACT_SILU) iopo_silu_backward(ctx, dx, dout, x, n);
    else iopo_swiglu_backward(ctx, dx, dup, dout, x, up, n);
    res->out = check_download(out);
    res->dx = dx ? check_download(dx) : NULL;
    res->dup = dup ? check_download(dup) : NULL;
    iopo_tensor *all[] = {x, up, out, dout, dx, dup};
    free_all(all, 6);
}

/* L = <forward(x, up), r> on CPU tensors whose data the finite differences perturb. */
typedef struct act_fd {
    iopo_ctx *cpu;
    act_kind kind;
    size_t n;
    iopo_tensor *x, *up, *out;
    const float *r;
} act_fd;

static double act_fd_eval(void *user) {
    act_fd *f = user;
    act_forward(f->cpu, f->kind, f->out, f->x, f->up, f->n);
    return check_dot((const float *)f->out->data, f->r, f->n);
}

static float *added(const float *got, const float *start, size_t n) {
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = got[i] - start[i];
    return d;
}

static void act_check(check_ctx *cc, act_kind kind, size_t n) {
    char shape[32];
    snprintf(shape, sizeof shape, "N=%zu", n);
    const char *fwd = ACT_FWD[kind], *bwd = ACT_BWD[kind];
    bool swiglu = kind == ACT_SWIGLU;
    const char *dx_name = swiglu ? "dgate" : "dinp";
    char what[64];

    float *x = act_input(cc, n);
    float *up = check_randn(cc, n, 1.0f);
    float *dout = check_randn(cc, n, 1.0f);
    float *gx0 = check_randn(cc, n, 1.0f);
    float *gup0 = check_randn(cc, n, 1.0f);
    act_case ac = {kind, n, x, up, dout, gx0, gup0};

    act_result ref = {0};
    act_run(cc->cpu, &ac, true, true, &ref);
    if (cc->dev) {
        act_result got = {0}, again = {0};
        act_run(cc->dev, &ac, true, true, &got);
        act_run(cc->dev, &ac, true, true, &again);
        check_close(cc, fwd, shape, "out vs cpu", got.out, ref.out, n, ELT_ATOL, ELT_RTOL);
        check_identical(cc, fwd, shape, "out identical on rerun", got.out, again.out, n * sizeof(float));
        snprintf(what, sizeof what, "%s += vs cpu", dx_name);
        check_close(cc, bwd, shape, what, got.dx, ref.dx, n, ELT_ATOL, ELT_RTOL);
        snprintf(what, sizeof what, "%s identical on rerun", dx_name);
        check_identical(cc, bwd, shape, what, got.dx, again.dx, n * sizeof(float));
        if (swiglu) {
            check_close(cc, bwd, shape, "dup += vs cpu", got.dup, ref.dup, n, ELT_ATOL, ELT_RTOL);
            check_identical(cc, bwd, shape, "dup identical on rerun", got.dup, again.dup, n * sizeof(float));
            // Each gradient alone, the other NULL (dummy binding): same bits as computed together.
            act_result only_g = {0}, only_u = {0};
            act_run(cc->dev, &ac, true, false, &only_g);
            act_run(cc->dev, &ac, false, true, &only_u);
            check_identical(cc, bwd, shape, "dgate alone (dup NULL)", only_g.dx, got.dx, n * sizeof(float));
            check_identical(cc, bwd, shape, "dup alone (dgate NULL)", only_u.dup, got.dup, n * sizeof(float));
            act_result_free(&only_g);
            act_result_free(&only_u);
        }
        act_result_free(&got);
        act_result_free(&again);
    }

    act_fd f = {cc->cpu, kind, n, NULL, NULL, NULL, dout};
    f.x = check_tensor1(cc->cpu, IOPO_F32, x, (int64_t)n);
    f.up = swiglu ? check_tensor1(cc->cpu, IOPO_F32, up, (int64_t)n) : NULL;
    f.out = check_tensor1(cc->cpu, IOPO_F32, NULL, (int64_t)n);
    float *gx = added(ref.dx, gx0, n);
    snprintf(what, sizeof what, "cpu %s vs finite diff", dx_name);
    check_fd(cc, bwd, shape, what, (float *)f.x->data, n, gx, act_fd_eval, &f, FD_SAMPLES, FD_H, FD_ATOL, FD_RTOL);
    free(gx);
    if (swiglu) {
        float *gu = added(ref.dup, gup0, n);
        check_fd(cc, bwd, shape, "cpu dup vs finite diff", (float *)f.up->data, n, gu, act_fd_eval, &f, FD_SAMPLES,
                 FD_H, FD_ATOL, FD_RTOL);
        free(gu);
    }
    iopo_tensor *all[] = {f.x, f.up, f.out};
    free_all(all, 3);

    act_result_free(&ref);
    free(x);
    free(up);
    free(dout);
    free(gx0);
    free(gup0);
}

/* Aliasing modes of add: a fresh output, out = a, out = b, out = a = b. */
typedef enum { ADD_FRESH, ADD_INTO_A, ADD_INTO_B, ADD_SELF } add_mode;
static const char *const ADD_NAME[] = {"out=a+b", "in place out=a", "in place out=b", "in place out=a=b"};

static float *add_run(iopo_ctx *ctx, add_mode mode, const float *a_h, const float *b_h, size_t n) {
    iopo_tensor *a = check_tensor1(ctx, IOPO_F32, a_h, (int64_t)n);
    iopo_tensor *b = check_tensor1(ctx, IOPO_F32, b_h, (int64_t)n);
    iopo_tensor *fresh = mode == ADD_FRESH ? check_tensor1(ctx, IOPO_F32, NULL, (int64_t)n) : NULL;
    iopo_tensor *out = mode == ADD_FRESH ? fresh : mode == ADD_INTO_B ? b : a;
    if (mode == ADD_SELF) iopo_add(ctx, a, a, a, n);
    else iopo_add(ctx, out, a, b, n);
    float *res = check_download(out);
    iopo_tensor *all[] = {a, b, fresh};
    free_all(all, 3);
    return res;
}

/* dst = dst0; dst += src (or dst += dst when self). */
static float *acc_run(iopo_ctx *ctx, bool self, const float *dst_h, const float *src_h, size_t n) {
    iopo_tensor *dst = check_tensor1(ctx, IOPO_F32, dst_h, (int64_t)n);
    iopo_tensor *src = check_tensor1(ctx, IOPO_F32, src_h, (int64_t)n);
    iopo_accumulate(ctx, dst, self ? dst : src, n);
    float *res = check_download(dst);
    iopo_tensor_free(dst);
    iopo_tensor_free(src);
    return res;
}

static void add_check(check_ctx *cc, size_t n) {
    char shape[32];
    snprintf(shape, sizeof shape, "N=%zu", n);
    float *a = check_randn(cc, n, 1.0f);
    float *b = check_randn(cc, n, 1.0f);

    // The CPU result in every mode against sums formed here: the reference must get aliasing right too.
    float *sum = malloc(n * sizeof *sum), *twice = malloc(n * sizeof *twice);
    for (size_t i = 0; i < n; i++) {
        sum[i] = a[i] + b[i];
        twice[i] = a[i] + a[i];
    }
    for (int m = ADD_FRESH; m <= ADD_SELF; m++) {
        const float *want = m == ADD_SELF ? twice : sum;
        float *ref = add_run(cc->cpu, (add_mode)m, a, b, n);
        char what[64];
        snprintf(what, sizeof what, "cpu %s vs exact", ADD_NAME[m]);
        check_close(cc, "add", shape, what, ref, want, n, 0, 0);
        if (cc->dev) {
            float *got = add_run(cc->dev, (add_mode)m, a, b, n);
            float *again = add_run(cc->dev, (add_mode)m, a, b, n);
            snprintf(what, sizeof what, "%s vs cpu", ADD_NAME[m]);
            check_close(cc, "add", shape, what, got, ref, n, 0, 0);
            snprintf(what, sizeof what, "%s identical on rerun", ADD_NAME[m]);
            check_identical(cc, "add", shape, what, got, again, n * sizeof(float));
            free(got);
            free(again);
        }
        free(ref);
    }

    for (int self = 0; self <= 1; self++) {
        const float *want = self ? twice : sum;
        const char *what = self ? "dst += dst" : "dst += src";
        float *ref = acc_run(cc->cpu, self != 0, a, b, n);
        char row[64];
        snprintf(row, sizeof row, "cpu %s vs exact", what);
        check_close(cc, "accumulate", shape, row, ref, want, n, 0, 0);
        if (cc->dev) {
            float *got = acc_run(cc->dev, self != 0, a, b, n);
            float *again = acc_run(cc->dev, self != 0, a, b, n);
            snprintf(row, sizeof row, "%s vs cpu", what);
            check_close(cc, "accumulate", shape, row, got, ref, n, 0, 0);
            snprintf(row, sizeof row, "%s identical on rerun", what);
            check_identical(cc, "accumulate", shape, row, got, again, n * sizeof(float));
            free(got);
            free(again);
        }
        free(ref);
    }
    free(sum);
    free(twice);
    free(a);
    free(b);
}

/* The CPU activations against values worked out independently (double precision libm). */
static void act_check_known(check_ctx *cc) {
    const float x[5] = {-3.0f, -0.5f, 0.0f, 1.0f, 2.5f};
    float want_gelu[5], want_silu[5];
    for (int i = 0; i < 5; i++) {
        double v = x[i];
        want_gelu[i] = (float)(0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
        want_silu[i] = (float)(v / (1.0 + exp(-v)));
    }
    iopo_tensor *tx = check_tensor1(cc->cpu, IOPO_F32, x, 5), *out = check_tensor1(cc->cpu, IOPO_F32, NULL, 5);
    iopo_gelu_forward(cc->cpu, out, tx, 5);
    check_close(cc, "gelu_forward", "N=5", "cpu vs double-precision formula", (const float *)out->data, want_gelu, 5,
                1e-6, 1e-6);
    iopo_silu_forward(cc->cpu, out, tx, 5);
    check_close(cc, "silu_forward", "N=5", "cpu vs double-precision formula", (const float *)out->data, want_silu, 5,
                1e-6, 1e-6);
    iopo_tensor_free(tx);
    iopo_tensor_free(out);
}

void check_eltwise(check_ctx *cc) {
    act_check_known(cc);
    for (int i = 0; i < ELT_NSIZES; i++) {
        act_check(cc, ACT_GELU, ELT_SIZES[i]);
        act_check(cc, ACT_SILU, ELT_SIZES[i]);
        act_check(cc, ACT_SWIGLU, ELT_SIZES[i]);
        add_check(cc, ELT_SIZES[i]);
    }
}
