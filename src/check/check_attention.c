/* Checks of causal grouped-query attention (flash-style: out and the per-row lse, no (T,T) buffer):
 * - CPU forward (out, lse) and backward (dqkv from zero, D) against the naive softmax-attention formula in double.
 *   That formula is exactly what the previous op computed with its materialised (B,NH,T,T) probabilities; the check
 *   also keeps that previous float implementation (prev_attention_forward below) and compares the new forward's out
 *   with it at small T on both backends;
 * - the CPU backward against finite differences of the CPU forward, and its += contract;
 * - the device against the CPU reference (out, lse, dqkv += into a non-zero gradient, D), and bit-identical reruns;
 * - the padding contract (padded positions neither influence valid ones nor receive anything) on both backends.
 * Shapes cover GQA down to one kv head, head sizes not a multiple of 4 or 8, T not a multiple of any key tile, a long
 * row (T = 2,080) and a kv group of 240 query heads, whose dk/dv loop the device must split over dispatches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"
#include "vk/vk.h"

typedef struct att_shape {
    int B, T, NH, NKV, hd;
    int32_t len[4];   // lengths of the B <= 4 sequences
    bool fd;          // cheap enough for finite differences
    bool oracle;      // cheap enough for the double-precision backward oracle and the previous T x T op
    bool kv_split;    // the device's dk/dv loop over the group's heads exceeds one invocation's budget: it must split
} att_shape;

// max(m, v) that keeps a NaN once one is seen (fmax would drop it), so a NaN fails the row.
static double worse(double m, double v) { return isnan(m) ? m : isnan(v) || v > m ? v : m; }

typedef struct att_sizes {
    size_t qkv, out, rows;   // elements of qkv (B,T,(NH+2*NKV)*hd), out (B,T,NH*hd), lse / D (B,NH,T)
} att_sizes;

static att_sizes att_sizes_of(const att_shape *s) {
    att_sizes z = {(size_t)s->B * s->T * (s->NH + 2 * s->NKV) * s->hd, (size_t)s->B * s->T * s->NH * s->hd,
                   (size_t)s->B * s->NH * s->T};
    return z;
}

static int clamp_len(int32_t len, int T) { return len < 0 ? 0 : len > T ? T : len; }

typedef struct att_inputs {
    float *qkv;        // (B,T,(NH+2*NKV)*hd)
    float *dout;       // (B,T,NH*hd)
    float *dqkv0;      // (B,T,(NH+2*NKV)*hd) initial gradient (non-zero: the backward must add)
    float *scratch0;   // (B,NH,T) garbage the backward must overwrite
} att_inputs;

typedef struct att_result {
    float *out, *lse, *dqkv, *scratch;
    uint64_t bwd_dispatches;   // dispatches the backward recorded (Vulkan only)
} att_result;

static void att_result_free(att_result *r) {
    free(r->out);
    free(r->lse);
    free(r->dqkv);
    free(r->scratch);
}

static att_result att_run(iopo_ctx *ctx, const att_shape *s, const att_inputs *in) {
    int64_t shp_qkv[3] = {s->B, s->T, (int64_t)(s->NH + 2 * s->NKV) * s->hd};
    int64_t shp_out[3] = {s->B, s->T, (int64_t)s->NH * s->hd};
    int64_t shp_rows[3] = {s->B, s->NH, s->T};
    iopo_tensor *qkv = check_tensor(ctx, IOPO_F32, in->qkv, 3, shp_qkv);
    iopo_tensor *lengths = check_tensor1(ctx, IOPO_I32, s->len, s->B);
    iopo_tensor *out = check_tensor(ctx, IOPO_F32, NULL, 3, shp_out);
    iopo_tensor *lse = check_tensor(ctx, IOPO_F32, NULL, 3, shp_rows);
    iopo_tensor *dout = check_tensor(ctx, IOPO_F32, in->dout, 3, shp_out);
    iopo_tensor *dqkv = check_tensor(ctx, IOPO_F32, in->dqkv0, 3, shp_qkv);
    iopo_tensor *scratch = check_tensor(ctx, IOPO_F32, in->scratch0, 3, shp_rows);

    bool vk = iopo_ctx_backend(ctx) != IOPO_BACKEND_CPU;
    iopo_attention_forward(ctx, out, lse, qkv, lengths, s->B, s->T, s->NH, s->NKV, s->hd);
    uint64_t d0 = vk ? vk_dispatch_count(ctx) : 0;
    iopo_attention_backward(ctx, dqkv, scratch, dout, qkv, out, lse, lengths, s->B, s->T, s->NH, s->NKV, s->hd);
    uint64_t d1 = vk ? vk_dispatch_count(ctx) : 0;
    att_result r = {check_download(out), check_download(lse), check_download(dqkv), check_download(scratch),
                    d1 - d0};

    iopo_tensor *all[] = {qkv, lengths, out, lse, dout, dqkv, scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return r;
}

// The naive formula in double, per (b, h, t): p_u = softmax_u(q_t . k_u / sqrt(hd)) over u <= t < len, out = sum p v,
// lse = log sum exp(scores); backward from dout: D = sum_u p_u (dout . v_u), ds_u = p_u (dout . v_u - D),
// dq = sum ds k / sqrt(hd), dk_u += ds_u q / sqrt(hd), dv_u += p_u dout. The column of q head h is h*hd, of k head j
// (NH+j)*hd, of v head j (NH+NKV+j)*hd; query head h reads kv head h / (NH/NKV). Padded rows: out, lse, D zero.
// Outputs (malloc'd, double): out (B,T,NH*hd), lse and D (B,NH,T), dqkv (B,T,W) from zero when with_grad.
typedef struct att_oracle {
    double *out, *lse, *D, *dqkv;
} att_oracle;

static att_oracle att_oracle_run(const att_shape *s, const float *qkv, const float *dout, bool with_grad) {
    att_sizes z = att_sizes_of(s);
    int W = (s->NH + 2 * s->NKV) * s->hd, O = s->NH * s->hd, T = s->T, hd = s->hd;
    att_oracle o = {calloc(z.out, sizeof(double)), calloc(z.rows, sizeof(double)), calloc(z.rows, sizeof(double)),
                    with_grad ? calloc(z.qkv, sizeof(double)) : NULL};
    double *p = malloc((size_t)T * sizeof(double)), *dp = malloc((size_t)T * sizeof(double));
    const double scale = 1.0 / sqrt((double)hd);
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++) {
            int j = h / (s->NH / s->NKV), len = clamp_len(s->len[b], T);
            for (int t = 0; t < len; t++) {
                const float *q = qkv + (size_t)(b * T + t) * W + (size_t)h * hd;
                double mx = -INFINITY, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const float *k = qkv + (size_t)(b * T + u) * W + (size_t)(s->NH + j) * hd;
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += (double)q[d] * k[d];
                    p[u] = dot * scale;
                    if (p[u] > mx) mx = p[u];
                }
                for (int u = 0; u <= t; u++) sum += p[u] = exp(p[u] - mx);
                for (int u = 0; u <= t; u++) p[u] /= sum;
                o.lse[((size_t)b * s->NH + h) * T + t] = mx + log(sum);
                double *orow = o.out + (size_t)(b * T + t) * O + (size_t)h * hd;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + (size_t)(b * T + u) * W + (size_t)(s->NH + s->NKV + j) * hd;
                    for (int d = 0; d < hd; d++) orow[d] += p[u] * v[d];
                }
                if (!with_grad) continue;
                const float *g = dout + (size_t)(b * T + t) * O + (size_t)h * hd;
                double D = 0;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + (size_t)(b * T + u) * W + (size_t)(s->NH + s->NKV + j) * hd;
                    dp[u] = 0;
                    for (int d = 0; d < hd; d++) dp[u] += (double)g[d] * v[d];
                    D += p[u] * dp[u];
                }
                o.D[((size_t)b * s->NH + h) * T + t] = D;
                double *dq = o.dqkv + (size_t)(b * T + t) * W + (size_t)h * hd;
                for (int u = 0; u <= t; u++) {
                    double ds = p[u] * (dp[u] - D);
                    const float *k = qkv + (size_t)(b * T + u) * W + (size_t)(s->NH + j) * hd;
                    double *dk = o.dqkv + (size_t)(b * T + u) * W + (size_t)(s->NH + j) * hd;
                    double *dv = o.dqkv + (size_t)(b * T + u) * W + (size_t)(s->NH + s->NKV + j) * hd;
                    for (int d = 0; d < hd; d++) {
                        dq[d] += ds * scale * k[d];
                        dk[d] += ds * scale * q[d];
                        dv[d] += p[u] * g[d];
                    }
                }
            }
        }
    free(p);
    free(dp);
    return o;
}

static void att_oracle_free(att_oracle *o) {
    free(o->out);
    free(o->lse);
    free(o->D);
    free(o->dqkv);
}

// Largest |got - want| / (atol + rtol |want|) over n values; NaN when any value was NaN (fails the row's err <= 1).
static double rel_error(const float *got, const double *want, size_t n, double atol, double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = worse(worst, fabs(got[i] - want[i]) / (atol + rtol * fabs(want[i])));
    return worst;
}

// The previous op's forward (before the flash version), kept here as the check's second reference: per query row
// the scores of all its keys materialised in float, max, exp, normalise, then the weighted sum of values in key order.
// out (B,T,NH*hd), qkv (B,T,(NH+2*NKV)*hd).
static void prev_attention_forward(float *out, const float *qkv, const int32_t *lengths, int B, int T, int NH,
                                   int NKV, int hd) {
    const int row = (NH + 2 * NKV) * hd, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)hd);
    float *a = malloc((size_t)T * sizeof *a);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const int len = clamp_len(lengths[b], T), kvh = h / group;
            const float *base = qkv + (size_t)b * T * row;
            for (int t = 0; t < T; t++) {
                float *o = out + ((size_t)b * T + t) * NH * hd + (size_t)h * hd;
                memset(o, 0, (size_t)hd * sizeof *o);
                if (t >= len) continue;
                const float *q = base + (size_t)t * row + (size_t)h * hd;
                float mx = -INFINITY, sum = 0.0f;
                for (int u = 0; u <= t; u++) {
                    const float *k = base + (size_t)u * row + (size_t)(NH + kvh) * hd;
                    float dot = 0.0f;
                    for (int d = 0; d < hd; d++) dot += q[d] * k[d];
                    a[u] = dot * scale;
                    if (a[u] > mx) mx = a[u];
                }
                for (int u = 0; u <= t; u++) sum += a[u] = expf(a[u] - mx);
                for (int u = 0; u <= t; u++) a[u] *= 1.0f / sum;
                for (int u = 0; u <= t; u++) {
                    const float *v = base + (size_t)u * row + (size_t)(NH + NKV + kvh) * hd;
                    for (int d = 0; d < hd; d++) o[d] += a[u] * v[d];
                }
            }
        }
    free(a);
}

typedef struct att_fd {
    const att_shape *s;
    const float *qkv, *dout;   // qkv: the array check_fd perturbs
    float *out, *lse;          // forward outputs
} att_fd;

// L = <out, dout>, so the backward from a zero dqkv is dL/dqkv.
static double att_loss(void *user) {
    att_fd *f = user;
    const att_shape *s = f->s;
    cpu_attention_forward(f->out, f->lse, f->qkv, s->len, s->B, s->T, s->NH, s->NKV, s->hd);
    return check_dot(f->out, f->dout, att_sizes_of(s).out);
}

// Padding contract on one backend: rerun with every qkv and dout value at padded positions replaced, then require
// (1) bit-identical results at valid positions, (2) zero out rows, lse and D for padded queries, (3) dqkv at padded
// positions left exactly as it started.
static void att_padding(check_ctx *cc, iopo_ctx *ctx, const char *backend, const att_shape *s, const char *shape,
                        const att_inputs *in, const att_result *base) {
    att_sizes z = att_sizes_of(s);
    int W = (s->NH + 2 * s->NKV) * s->hd, O = s->NH * s->hd, T = s->T;
    att_inputs mod = *in;
    mod.qkv = malloc(z.qkv * sizeof(float));
    mod.dout = malloc(z.out * sizeof(float));
    memcpy(mod.qkv, in->qkv, z.qkv * sizeof(float));
    memcpy(mod.dout, in->dout, z.out * sizeof(float));
    float *noise = check_randn(cc, z.qkv, 10.0f);
    for (int b = 0; b < s->B; b++)
        for (int t = clamp_len(s->len[b], T); t < T; t++) {
            for (int i = 0; i < W; i++) mod.qkv[(size_t)(b * T + t) * W + i] = noise[(size_t)(b * T + t) * W + i];
            for (int i = 0; i < O; i++) mod.dout[(size_t)(b * T + t) * O + i] = noise[(size_t)(b * T + t) * W + i];
        }
    att_result r = att_run(ctx, s, &mod);

    // [0]: forward outputs (out, lse), [1]: backward outputs (dqkv, D)
    double changed[2] = {0, 0}, masked[2] = {0, 0}, dpad = 0;
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < T; t++) {
            bool valid = t < clamp_len(s->len[b], T);
            size_t qo = (size_t)(b * T + t) * W, oo = (size_t)(b * T + t) * O;
            for (int i = 0; i < W; i++) {
                if (valid) changed[1] = worse(changed[1], fabs((double)r.dqkv[qo + i] - base->dqkv[qo + i]));
                else dpad = worse(dpad, fabs((double)r.dqkv[qo + i] - in->dqkv0[qo + i]));
            }
            for (int i = 0; i < O; i++) {
                if (valid) changed[0] = worse(changed[0], fabs((double)r.out[oo + i] - base->out[oo + i]));
                else masked[0] = worse(masked[0], fabs((double)r.out[oo + i]));
            }
            for (int h = 0; h < s->NH; h++) {
                size_t ro = ((size_t)b * s->NH + h) * T + t;
                if (valid) {
                    changed[0] = worse(changed[0], fabs((double)r.lse[ro] - base->lse[ro]));
                    changed[1] = worse(changed[1], fabs((double)r.scratch[ro] - base->scratch[ro]));
                } else {
                    masked[0] = worse(masked[0], fabs((double)r.lse[ro]));
                    masked[1] = worse(masked[1], fabs((double)r.scratch[ro]));
                }
            }
        }
    const char *ops[2] = {"attention_fwd", "attention_bwd"};
    char what[96];
    for (int k = 0; k < 2; k++) {
        snprintf(what, sizeof what, "%s pad: valid rows unchanged", backend);
        check_row(cc, ops[k], shape, what, changed[k], 0, changed[k] == 0);
        snprintf(what, sizeof what, "%s pad: masked %s zero", backend, k ? "D" : "out,lse");
        check_row(cc, ops[k], shape, what, masked[k], 0, masked[k] == 0);
    }
    snprintf(what, sizeof what, "%s pad: no dqkv at padded rows", backend);
    check_row(cc, ops[1], shape, what, dpad, 0, dpad == 0);

    att_result_free(&r);
    free(noise);
    free(mod.qkv);
    free(mod.dout);
}

static void att_case(check_ctx *cc, const att_shape *s) {
    char shape[96];
    int n = snprintf(shape, sizeof shape, "B%d T%d NH%d NKV%d hd%d len", s->B, s->T, s->NH, s->NKV, s->hd);
    for (int b = 0; b < s->B && n < (int)sizeof shape; b++)
        n += snprintf(shape + n, sizeof shape - n, "%s%d", b ? "," : "", s->len[b]);
    att_sizes z = att_sizes_of(s);

    att_inputs in = {check_randn(cc, z.qkv, 1.0f), check_randn(cc, z.out, 1.0f), check_randn(cc, z.qkv, 1.0f),
                     check_randn(cc, z.rows, 3.0f)};
    att_result ref = att_run(cc->cpu, s, &in);

    // the backward from a zero dqkv: the += check for the CPU, the analytic gradient for finite differences and the
    // one the oracle gives
    att_inputs zin = in;
    zin.dqkv0 = calloc(z.qkv, sizeof(float));
    att_result zref = att_run(cc->cpu, s, &zin);

    att_oracle o = att_oracle_run(s, in.qkv, in.dout, s->oracle);
    double e = worse(rel_error(ref.out, o.out, z.out, 1e-5, 1e-4), rel_error(ref.lse, o.lse, z.rows, 1e-4, 1e-5));
    check_row(cc, "attention_fwd", shape, "cpu out,lse vs f64 formula", e, 1, e <= 1);
    if (s->oracle) {
        e = rel_error(zref.dqkv, o.dqkv, z.qkv, 1e-4, 1e-3);
        check_row(cc, "attention_bwd", shape, "cpu dqkv vs f64 formula", e, 1, e <= 1);
        e = rel_error(ref.scratch, o.D, z.rows, 1e-5, 1e-4);
        check_row(cc, "attention_bwd", shape, "cpu D vs f64 formula", e, 1, e <= 1);
    }

    float *delta = malloc(z.qkv * sizeof(float));
    for (size_t i = 0; i < z.qkv; i++) delta[i] = ref.dqkv[i] - in.dqkv0[i];
    // adding into a non-zero start rounds at its magnitude, once per key (dq) or query and head (dk, dv): long rows and
    // large groups drift by some 1e-5
    check_close(cc, "attention_bwd", shape, "cpu dqkv += (vs from zero)", delta, zref.dqkv, z.qkv, 1e-4, 1e-4);
    free(delta);
    if (s->fd) {
        att_fd f = {s, in.qkv, in.dout, malloc(z.out * sizeof(float)), malloc(z.rows * sizeof(float))};
        check_fd(cc, "attention_bwd", shape, "cpu dqkv vs fd", in.qkv, z.qkv, zref.dqkv, att_loss, &f, 40, 1e-2f,
                 1e-3, 1e-2);
        free(f.out);
        free(f.lse);
    }
    float *prev = NULL;
    if (s->oracle) {
        prev = malloc(z.out * sizeof(float));
        prev_attention_forward(prev, in.qkv, s->len, s->B, s->T, s->NH, s->NKV, s->hd);
        check_close(cc, "attention_fwd", shape, "cpu out vs previous T x T op", ref.out, prev, z.out, 2e-5, 1e-4);
    }
    att_padding(cc, cc->cpu, "cpu", s, shape, &in, &ref);

    if (cc->dev) {
        att_result got = att_run(cc->dev, s, &in);
        check_close(cc, "attention_fwd", shape, "out", got.out, ref.out, z.out, 2e-5, 1e-4);
        check_close(cc, "attention_fwd", shape, "lse", got.lse, ref.lse, z.rows, 1e-4, 1e-5);
        if (prev) check_close(cc, "attention_fwd", shape, "out vs previous T x T op", got.out, prev, z.out, 2e-5, 1e-4);
        check_close(cc, "attention_bwd", shape, "dqkv +=", got.dqkv, ref.dqkv, z.qkv, 1e-4, 1e-3);
        check_close(cc, "attention_bwd", shape, "scratch (D)", got.scratch, ref.scratch, z.rows, 1e-5, 1e-4);
        if (s->kv_split) {   // the shape the dk/dv pass must split: dq's dispatch, then two or more for dk/dv
            double nd = (double)got.bwd_dispatches;
            check_row(cc, "attention_bwd", shape, "dev dk/dv over several dispatches", nd, 3, nd >= 3);
        }

        att_result again = att_run(cc->dev, s, &in);
        check_identical(cc, "attention_fwd", shape, "out run twice", got.out, again.out, z.out * sizeof(float));
        check_identical(cc, "attention_fwd", shape, "lse run twice", got.lse, again.lse, z.rows * sizeof(float));
        check_identical(cc, "attention_bwd", shape, "dqkv run twice", got.dqkv, again.dqkv,
                        z.qkv * sizeof(float));
        check_identical(cc, "attention_bwd", shape, "D run twice", got.scratch, again.scratch,
                        z.rows * sizeof(float));
        att_result_free(&again);

        att_padding(cc, cc->dev, "dev", s, shape, &in, &got);
        att_result_free(&got);
    }

    free(prev);
    att_oracle_free(&o);
    att_result_free(&zref);
    att_result_free(&ref);
    free(zin.dqkv0);
    free(in.qkv);
    free(in.dout);
    free(in.dqkv0);
    free(in.scratch0);
}

void check_attention(check_ctx *cc) {
    const att_shape shapes[] = {
        {1, 1, 1, 1, 8, {1}, true, true, false},             // one token: out = v
        {2, 7, 4, 2, 16, {7, 3}, true, true, false},         // GQA, 2 query heads per kv head
        {3, 33, 4, 1, 8, {33, 1, 17}, true, true, false},    // GQA down to one kv head (multi-query)
        {2, 33, 2, 2, 64, {20, 33}, true, true, false},      // plain multi-head (GPT-2), hd 64
        {1, 7, 3, 3, 5, {5}, true, true, false},             // odd head count, hd 5 (not a multiple of 4)
        {1, 7, 2, 1, 64, {6}, true, true, false},            // head wider than the workgroup of a short row
        {2, 37, 6, 2, 10, {37, 29}, true, true, false},      // hd 10: neither a multiple of 4 nor of 8
        {1, 20, 2, 1, 200, {19}, true, true, false},         // head wider than any workgroup: channels per invocation > 1
        {2, 200, 2, 1, 8, {150, 0}, false, true, false},     // rows of several key tiles; an all-padding sequence
        {2, 300, 4, 2, 12, {300, 259}, false, true, false},  // T not a multiple of the tile, lengths neither
        {2, 64, 12, 12, 64, {64, 41}, false, true, false},   // GPT-2-small heads
        {2, 9, 2, 1, 8, {12, -4}, false, true, false},       // lengths past T and negative: clamped
        {1, 2080, 2, 1, 8, {2061}, false, true, false},      // long rows (T >= 2048), not a multiple of the tile
        {1, 128, 240, 1, 8, {120}, false, true, true},       // 240 query heads per kv head: the dk/dv pass splits
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) att_case(cc, &shapes[i]);
}
