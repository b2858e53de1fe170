/* Checks of causal grouped-query attention: CPU forward against a double-precision oracle, device against the CPU
 * reference (forward; backward adding into a non-zero dqkv), CPU backward against finite differences, device
 * determinism, and the padding contract (padded positions neither influence valid ones nor receive anything). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"

typedef struct att_shape {
    int B, T, NH, NKV, hd;
    int32_t len[4];   // lengths of the B <= 4 sequences
    bool fd;          // cheap enough for finite differences
} att_shape;

// max(m, v) that keeps a NaN once one is seen (fmax would drop it), so a NaN fails the row.
static double worse(double m, double v) { return isnan(m) ? m : isnan(v) || v > m ? v : m; }

typedef struct att_sizes {
    size_t qkv, out, att;   // elements of qkv (B,T,(NH+2*NKV)*hd), out (B,T,NH*hd), att (B,NH,T,T)
} att_sizes;

static att_sizes att_sizes_of(const att_shape *s) {
    att_sizes z = {(size_t)s->B * s->T * (s->NH + 2 * s->NKV) * s->hd, (size_t)s->B * s->T * s->NH * s->hd,
                   (size_t)s->B * s->NH * s->T * s->T};
    return z;
}

typedef struct att_inputs {
    float *qkv;        // (B,T,(NH+2*NKV)*hd)
    float *dout;       // (B,T,NH*hd)
    float *dqkv0;      // (B,T,(NH+2*NKV)*hd) initial gradient (non-zero: the backward must add)
    float *scratch0;   // (B,NH,T,T) garbage the backward must overwrite
} att_inputs;

typedef struct att_result {
    float *out, *att, *dqkv, *scratch;
} att_result;

static void att_result_free(att_result *r) {
    free(r->out);
    free(r->att);
    free(r->dqkv);
    free(r->scratch);
}

static att_result att_run(iopo_ctx *ctx, const att_shape *s, const att_inputs *in) {
    int64_t shp_qkv[3] = {s->B, s->T, (int64_t)(s->NH + 2 * s->NKV) * s->hd};
    int64_t shp_out[3] = {s->B, s->T, (int64_t)s->NH * s->hd};
    int64_t shp_att[4] = {s->B, s->NH, s->T, s->T};
    iopo_tensor *qkv = check_tensor(ctx, IOPO_F32, in->qkv, 3, shp_qkv);
    iopo_tensor *lengths = check_tensor1(ctx, IOPO_I32, s->len, s->B);
    iopo_tensor *out = check_tensor(ctx, IOPO_F32, NULL, 3, shp_out);
    iopo_tensor *att = check_tensor(ctx, IOPO_F32, NULL, 4, shp_att);
    iopo_tensor *dout = check_tensor(ctx, IOPO_F32, in->dout, 3, shp_out);
    iopo_tensor *dqkv = check_tensor(ctx, IOPO_F32, in->dqkv0, 3, shp_qkv);
    iopo_tensor *scratch = check_tensor(ctx, IOPO_F32, in->scratch0, 4, shp_att);

    iopo_attention_forward(ctx, out, att, qkv, lengths, s->B, s->T, s->NH, s->NKV, s->hd);
    iopo_attention_backward(ctx, dqkv, scratch, dout, qkv, att, lengths, s->B, s->T, s->NH, s->NKV, s->hd);
    att_result r = {check_download(out), check_download(att), check_download(dqkv), check_download(scratch)};

    iopo_tensor *all[] = {qkv, lengths, out, att, dout, dqkv, scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return r;
}

// Straight from the definition, in double: the column of q head h is h*hd, of k head j (NH+j)*hd, of v head j
// (NH+NKV+j)*hd, and query head h reads kv head h / (NH/NKV). Returns the largest |cpu - oracle| / (1e-5 + 1e-4|o|).
static double att_oracle_error(const att_shape *s, const float *qkv, const float *out, const float *att) {
    int W = (s->NH + 2 * s->NKV) * s->hd;
    double worst = 0;
    double *p = malloc((size_t)s->T * sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++)
            for (int t = 0; t < s->T; t++) {
                int j = h / (s->NH / s->NKV);
                bool valid = t < s->len[b];
                double mx = -INFINITY, sum = 0;
                for (int u = 0; u < s->T; u++) {
                    p[u] = 0;
                    if (!valid || u > t) continue;
                    double dot = 0;
                    for (int d = 0; d < s->hd; d++)
                        dot += (double)qkv[(size_t)(b * s->T + t) * W + h * s->hd + d] *
                               qkv[(size_t)(b * s->T + u) * W + (s->NH + j) * s->hd + d];
                    p[u] = dot / sqrt((double)s->hd);
                    if (p[u] > mx) mx = p[u];
                }
                for (int u = 0; valid && u <= t; u++) sum += p[u] = exp(p[u] - mx);
                for (int u = 0; valid && u <= t; u++) p[u] /= sum;
                for (int u = 0; u < s->T; u++) {
                    double got = att[(((size_t)b * s->NH + h) * s->T + t) * s->T + u];
                    double e = fabs(got - p[u]) / (1e-5 + 1e-4 * fabs(p[u]));
                    worst = worse(worst, e);
                }
                for (int d = 0; d < s->hd; d++) {
                    double o = 0;
                    for (int u = 0; valid && u <= t; u++)
                        o += p[u] * qkv[(size_t)(b * s->T + u) * W + (s->NH + s->NKV + j) * s->hd + d];
                    double got = out[(size_t)(b * s->T + t) * s->NH * s->hd + h * s->hd + d];
                    double e = fabs(got - o) / (1e-5 + 1e-4 * fabs(o));
                    worst = worse(worst, e);
                }
            }
    free(p);
    return worst;   // NaN when any value was NaN: fails the row's worst <= 1
}

typedef struct att_fd {
    const att_shape *s;
    const float *qkv, *dout;   // qkv: the array check_fd perturbs
    float *out, *att;          // forward outputs
} att_fd;

// L = <out, dout>, so the backward from a zero dqkv is dL/dqkv.
static double att_loss(void *user) {
    att_fd *f = user;
    const att_shape *s = f->s;
    cpu_attention_forward(f->out, f->att, f->qkv, s->len, s->B, s->T, s->NH, s->NKV, s->hd);
    return check_dot(f->out, f->dout, att_sizes_of(s).out);
}

// Padding contract on one backend: rerun with every qkv and dout value at padded positions replaced, then require
// (1) bit-identical results at valid positions, (2) zero out/att/d(scores) rows for padded queries and zero att
// columns for padded keys, (3) dqkv at padded positions left exactly as it started.
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
        for (int t = s->len[b]; t < T; t++) {
            for (int i = 0; i < W; i++) mod.qkv[(size_t)(b * T + t) * W + i] = noise[(size_t)(b * T + t) * W + i];
            for (int i = 0; i < O; i++) mod.dout[(size_t)(b * T + t) * O + i] = noise[(size_t)(b * T + t) * W + i];
        }
    att_result r = att_run(ctx, s, &mod);

    // [0]: forward outputs (out, att), [1]: backward outputs (dqkv, scratch)
    double changed[2] = {0, 0}, masked[2] = {0, 0}, dpad = 0;
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < T; t++) {
            bool valid = t < s->len[b];
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
                size_t ao = (((size_t)b * s->NH + h) * T + t) * T;
                for (int u = 0; u < T; u++) {
                    if (valid) {
                        changed[0] = worse(changed[0], fabs((double)r.att[ao + u] - base->att[ao + u]));
                        changed[1] = worse(changed[1], fabs((double)r.scratch[ao + u] - base->scratch[ao + u]));
                    }
                    if (!valid || u >= s->len[b] || u > t) {
                        masked[0] = worse(masked[0], fabs((double)r.att[ao + u]));
                        masked[1] = worse(masked[1], fabs((double)r.scratch[ao + u]));
                    }
                }
            }
        }
    const char *ops[2] = {"attention_fwd", "attention_bwd"};
    char what[96];
    for (int k = 0; k < 2; k++) {
        snprintf(what, sizeof what, "%s pad: valid rows unchanged", backend);
        check_row(cc, ops[k], shape, what, changed[k], 0, changed[k] == 0);
        snprintf(what, sizeof what, "%s pad: masked %s zero", backend, k ? "dscores" : "out,att");
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
                     check_randn(cc, z.att, 3.0f)};
    att_result ref = att_run(cc->cpu, s, &in);

    double oerr = att_oracle_error(s, in.qkv, ref.out, ref.att);
    check_row(cc, "attention_fwd", shape, "cpu out,att vs f64 oracle", oerr, 1, oerr <= 1);

    // the backward from a zero dqkv: the += check for the CPU and the analytic gradient for finite differences
    att_inputs zin = in;
    zin.dqkv0 = calloc(z.qkv, sizeof(float));
    att_result zref = att_run(cc->cpu, s, &zin);
    float *delta = malloc(z.qkv * sizeof(float));
    for (size_t i = 0; i < z.qkv; i++) delta[i] = ref.dqkv[i] - in.dqkv0[i];
    check_close(cc, "attention_bwd", shape, "cpu dqkv += (vs from zero)", delta, zref.dqkv, z.qkv, 1e-5, 1e-5);
    free(delta);
    if (s->fd) {
        att_fd f = {s, in.qkv, in.dout, malloc(z.out * sizeof(float)), malloc(z.att * sizeof(float))};
        check_fd(cc, "attention_bwd", shape, "cpu dqkv vs fd", in.qkv, z.qkv, zref.dqkv, att_loss, &f, 40, 1e-2f,
                 1e-3, 1e-2);
        free(f.out);
        free(f.att);
    }
    att_padding(cc, cc->cpu, "cpu", s, shape, &in, &ref);

    if (cc->dev) {
        att_result got = att_run(cc->dev, s, &in);
        check_close(cc, "attention_fwd", shape, "out", got.out, ref.out, z.out, 2e-5, 1e-4);
        check_close(cc, "attention_fwd", shape, "att", got.att, ref.att, z.att, 1e-5, 1e-4);
        check_close(cc, "attention_bwd", shape, "dqkv +=", got.dqkv, ref.dqkv, z.qkv, 1e-4, 1e-3);
        check_close(cc, "attention_bwd", shape, "scratch (dscores)", got.scratch, ref.scratch, z.att, 1e-5, 1e-3);

        att_result again = att_run(cc->dev, s, &in);
        check_identical(cc, "attention_fwd", shape, "out run twice", got.out, again.out, z.out * sizeof(float));
        check_identical(cc, "attention_fwd", shape, "att run twice", got.att, again.att, z.att * sizeof(float));
        check_identical(cc, "attention_bwd", shape, "dqkv run twice", got.dqkv, again.dqkv,
                        z.qkv * sizeof(float));
        check_identical(cc, "attention_bwd", shape, "scratch run twice", got.scratch, again.scratch,
                        z.att * sizeof(float));
        att_result_free(&again);

        att_padding(cc, cc->dev, "dev", s, shape, &in, &got);
        att_result_free(&got);
    }

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
        {1, 1, 1, 1, 8, {1}, true},                 // one token: att = 1, out = v
        {2, 7, 4, 2, 16, {7, 3}, true},             // GQA, 2 query heads per kv head
        {3, 33, 4, 1, 8, {33, 1, 17}, true},        // GQA down to one kv head (multi-query)
        {2, 33, 2, 2, 64, {20, 33}, true},          // plain multi-head (GPT-2), hd 64
        {1, 7, 3, 3, 8, {5}, true},                 // odd head count
        {1, 7, 2, 1, 64, {6}, true},                // head wider than the workgroup of a short row
        {2, 200, 2, 1, 8, {150, 0}, false},         // rows longer than a workgroup; an all-padding sequence
        {2, 64, 12, 12, 64, {64, 41}, false},       // GPT-2-small heads
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) att_case(cc, &shapes[i]);
}
