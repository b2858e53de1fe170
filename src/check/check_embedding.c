/* Checks of the token + position embedding: device against the CPU reference (forward, backward with += into
 * non-zero gradients), CPU backward against finite differences, device determinism, out-of-vocabulary ids; the forward
 * with BF16 / F16 tables against the formula on their widened values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"

typedef struct emb_shape {
    int B, T, C, V, maxT;   // maxT = 0: no positional table
} emb_shape;

typedef struct emb_inputs {
    int32_t *tokens;       // (B,T)
    float *wte, *wpe;      // (V,C), (maxT,C) or NULL
    float *dout;           // (B,T,C)
    float *dwte0, *dwpe0;  // initial gradient contents (non-zero: backward must add)
} emb_inputs;

typedef struct emb_result {
    float *out, *dwte, *dwpe;
} emb_result;

static void emb_result_free(emb_result *r) {
    free(r->out);
    free(r->dwte);
    free(r->dwpe);
}

// Forward then backward on ctx; the backward starts from dwte0 / dwpe0 (a NULL one is not computed).
static emb_result emb_run(iopo_ctx *ctx, const emb_shape *s, const emb_inputs *in, bool want_dwte, bool want_dwpe) {
    int64_t shp_bt[2] = {s->B, s->T}, shp_btc[3] = {s->B, s->T, s->C};
    int64_t shp_wte[2] = {s->V, s->C}, shp_wpe[2] = {s->maxT, s->C};
    iopo_tensor *tokens = check_tensor(ctx, IOPO_I32, in->tokens, 2, shp_bt);
    iopo_tensor *wte = check_tensor(ctx, IOPO_F32, in->wte, 2, shp_wte);
    iopo_tensor *wpe = s->maxT ? check_tensor(ctx, IOPO_F32, in->wpe, 2, shp_wpe) : NULL;
    iopo_tensor *out = check_tensor(ctx, IOPO_F32, NULL, 3, shp_btc);
    iopo_tensor *dout = check_tensor(ctx, IOPO_F32, in->dout, 3, shp_btc);
    iopo_tensor *dwte = want_dwte ? check_tensor(ctx, IOPO_F32, in->dwte0, 2, shp_wte) : NULL;
    iopo_tensor *dwpe = want_dwpe && s->maxT ? check_tensor(ctx, IOPO_F32, in->dwpe0, 2, shp_wpe) : NULL;

    iopo_embedding_forward(ctx, out, tokens, wte, wpe, s->B, s->T, s->C, s->V);
    iopo_embedding_backward(ctx, dwte, dwpe, dout, tokens, s->B, s->T, s->C, s->V);
    emb_result r = {check_download(out), dwte ? check_download(dwte) : NULL, dwpe ? check_download(dwpe) : NULL};

    iopo_tensor *all[] = {tokens, wte, wpe, out, dout, dwte, dwpe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) iopo_tensor_free(all[i]);
    return r;
}

typedef struct emb_fd {
    const emb_shape *s;
    const emb_inputs *in;
    float *out;   // (B,T,C) scratch for the forward
} emb_fd;

// L = <out, dout>, so dL/dout = dout and the backward from zero gradients is dL/dwte, dL/dwpe.
static double emb_loss(void *user) {
    emb_fd *f = user;
    const emb_shape *s = f->s;
    cpu_embedding_forward(f->out, f->in->tokens, f->in->wte, IOPO_F32, s->maxT ? f->in->wpe : NULL, IOPO_F32, s->B,
                          s->T, s->C, s->V);
    return check_dot(f->out, f->in->dout, (size_t)s->B * s->T * s->C);
}

// out[b,t,:] must be exactly wpe[t,:] (or 0) where the id is outside [0,V), and wte[tok]+wpe[t] elsewhere.
static double emb_forward_error(const emb_shape *s, const emb_inputs *in, const float *out, int *n_oov) {
    double err = 0;
    *n_oov = 0;
    for (int bt = 0; bt < s->B * s->T; bt++) {
        int32_t tok = in->tokens[bt];
        bool oov = tok < 0 || tok >= s->V;
        *n_oov += oov;
        for (int c = 0; c < s->C; c++) {
            float want = (oov ? 0.0f : in->wte[(size_t)tok * s->C + c]) +
                         (s->maxT ? in->wpe[(size_t)(bt % s->T) * s->C + c] : 0.0f);
            double e = fabs((double)out[(size_t)bt * s->C + c] - want);
            if (isnan(e) || e > err) err = e;   // a NaN sticks: it fails the row
        }
    }
    return err;
}

static void emb_case(check_ctx *cc, const emb_shape *s, bool do_fd) {
    char shape[96];
    snprintf(shape, sizeof shape, "B%d T%d C%d V%d %s%d", s->B, s->T, s->C, s->V, s->maxT ? "maxT" : "nowpe",
             s->maxT);
    size_t nbt = (size_t)s->B * s->T, nout = nbt * s->C, nwte = (size_t)s->V * s->C, nwpe = (size_t)s->maxT * s->C;

    emb_inputs in = {0};
    in.tokens = check_randi(cc, nbt, 0, s->V);
    // many positions share one id (rows collide in the backward), and some ids are out of range
    int32_t bad[] = {-1, s->V, s->V + 7, -100};
    for (size_t i = 0; i < nbt; i++) {
        if (i % 3 == 1) in.tokens[i] = s->V / 2;
        if (i % 5 == 3 && nbt > 1) in.tokens[i] = bad[(i / 5) % 4];
    }
    in.wte = check_randn(cc, nwte, 1.0f);
    in.wpe = s->maxT ? check_randn(cc, nwpe, 1.0f) : NULL;
    in.dout = check_randn(cc, nout, 1.0f);
    in.dwte0 = check_randn(cc, nwte, 1.0f);
    in.dwpe0 = s->maxT ? check_randn(cc, nwpe, 1.0f) : NULL;

    emb_result ref = emb_run(cc->cpu, s, &in, true, true);
    int n_oov;
    double ferr = emb_forward_error(s, &in, ref.out, &n_oov);
    char what[64];
    snprintf(what, sizeof what, "cpu fwd exact (%d oov ids)", n_oov);
    check_row(cc, "embedding_fwd", shape, what, ferr, 0, ferr == 0);

    // accumulate: the CPU backward from non-zero gradients minus their start equals the backward from zeros
    emb_inputs zin = in;
    zin.dwte0 = calloc(nwte, sizeof(float));
    zin.dwpe0 = s->maxT ? calloc(nwpe, sizeof(float)) : NULL;
    emb_result zref = emb_run(cc->cpu, s, &zin, true, true);
    // Starting the sums from another value changes their rounding: allow eps per added term (dout is O(1)).
    double sum_atol = 1e-5 + 1.2e-7 * (double)s->B * (double)s->T;
    float *delta = malloc(nwte * sizeof(float));
    for (size_t i = 0; i < nwte; i++) delta[i] = ref.dwte[i] - in.dwte0[i];
    check_close(cc, "embedding_bwd", shape, "cpu dwte += (vs from zero)", delta, zref.dwte, nwte, sum_atol, 1e-5);
    if (s->maxT) {
        float *dp = malloc(nwpe * sizeof(float));
        for (size_t i = 0; i < nwpe; i++) dp[i] = ref.dwpe[i] - in.dwpe0[i];
        check_close(cc, "embedding_bwd", shape, "cpu dwpe += (vs from zero)", dp, zref.dwpe, nwpe, sum_atol, 1e-5);
        free(dp);
    }
    free(delta);

    if (do_fd) {
        float *fout = malloc(nout * sizeof(float));
        emb_fd f = {s, &zin, fout};
        // the forward is linear: any step works; 0.5 keeps the rounding of the sums small against 2h
        check_fd(cc, "embedding_bwd", shape, "cpu dwte vs fd", zin.wte, nwte, zref.dwte, emb_loss, &f, 48, 0.5f,
                 1e-3, 1e-3);
        if (s->maxT)
            check_fd(cc, "embedding_bwd", shape, "cpu dwpe vs fd", zin.wpe, nwpe, zref.dwpe, emb_loss, &f, 48,
                     0.5f, 1e-3, 1e-3);
        free(fout);
    }

    if (cc->dev) {
        emb_result got = emb_run(cc->dev, s, &in, true, true);
        check_close(cc, "embedding_fwd", shape, "out", got.out, ref.out, nout, 0, 0);
        check_close(cc, "embedding_bwd", shape, "dwte +=", got.dwte, ref.dwte, nwte, 1e-5, 1e-5);
        if (s->maxT)
            check_close(cc, "embedding_bwd", shape, "dwpe +=", got.dwpe, ref.dwpe, nwpe, 1e-5, 1e-5);
        if (s->maxT > s->T) {
            // rows t >= T of the table are not used: they must keep their contents
            size_t used = (size_t)s->T * s->C;
            check_identical(cc, "embedding_bwd", shape, "dwpe rows >= T untouched", got.dwpe + used,
                            in.dwpe0 + used, (nwpe - used) * sizeof(float));
        }

        emb_result again = emb_run(cc->dev, s, &in, true, true);
        check_identical(cc, "embedding_fwd", shape, "out run twice", got.out, again.out, nout * sizeof(float));
        check_identical(cc, "embedding_bwd", shape, "dwte run twice", got.dwte, again.dwte,
                        nwte * sizeof(float));
        if (s->maxT)
            check_identical(cc, "embedding_bwd", shape, "dwpe run twice", got.dwpe, again.dwpe,
                            nwpe * sizeof(float));
        emb_result_free(&again);

        // each gradient alone (the other passed as NULL)
        if (s->maxT) {
            emb_result only_wte = emb_run(cc->dev, s, &in, true, false);
            check_identical(cc, "embedding_bwd", shape, "dwte alone", only_wte.dwte, got.dwte,
                            nwte * sizeof(float));
            emb_result only_wpe = emb_run(cc->dev, s, &in, false, true);
            check_identical(cc, "embedding_bwd", shape, "dwpe alone", only_wpe.dwpe, got.dwpe,
                            nwpe * sizeof(float));
            emb_result_free(&only_wte);
            emb_result_free(&only_wpe);
        }
        emb_result_free(&got);
    }

    emb_result_free(&zref);
    emb_result_free(&ref);
    free(zin.dwte0);
    free(zin.dwpe0);
    free(in.tokens);
    free(in.wte);
    free(in.wpe);
    free(in.dout);
    free(in.dwte0);
    free(in.dwpe0);
}

/* 16-bit tables (a checkpoint's bf16/fp16 weights kept as they are): the forward adds the widened values in fp32, one
 * rounding at most, so the CPU must equal the formula on the widened tables exactly and the device the CPU bit for
 * bit. Odd C puts rows on both halves of a 32-bit word; the tables' dtypes differ from each other in one case. */
static void emb16_case(check_ctx *cc, const emb_shape *s, iopo_dtype wte_dt, iopo_dtype wpe_dt) {
    char shape[96];
    snprintf(shape, sizeof shape, "B%d T%d C%d V%d maxT%d %s/%s", s->B, s->T, s->C, s->V, s->maxT,
             iopo_dtype_name(wte_dt), s->maxT ? iopo_dtype_name(wpe_dt) : "-");
    size_t nbt = (size_t)s->B * s->T, nout = nbt * s->C, nwte = (size_t)s->V * s->C, nwpe = (size_t)s->maxT * s->C;
    emb_inputs in = {0};
    in.tokens = check_randi(cc, nbt, -2, s->V + 2);   // a few out-of-vocabulary ids at both ends
    float *wte = check_randn(cc, nwte, 1.0f), *wpe = s->maxT ? check_randn(cc, nwpe, 1.0f) : NULL;
    in.wte = check_rounded(wte, nwte, wte_dt);
    in.wpe = s->maxT ? check_rounded(wpe, nwpe, wpe_dt) : NULL;
    int64_t shp_bt[2] = {s->B, s->T}, shp_btc[3] = {s->B, s->T, s->C};
    int64_t shp_wte[2] = {s->V, s->C}, shp_wpe[2] = {s->maxT, s->C};
    float *res[2] = {NULL, NULL};
    iopo_ctx *ctxs[2] = {cc->cpu, cc->dev};
    for (int k = 0; k < 2 && ctxs[k]; k++) {
        iopo_ctx *ctx = ctxs[k];
        iopo_tensor *tokens = check_tensor(ctx, IOPO_I32, in.tokens, 2, shp_bt);
        iopo_tensor *twte = check_tensor_as(ctx, wte_dt, wte, 2, shp_wte);
        iopo_tensor *twpe = s->maxT ? check_tensor_as(ctx, wpe_dt, wpe, 2, shp_wpe) : NULL;
        iopo_tensor *out = check_tensor(ctx, IOPO_F32, NULL, 3, shp_btc);
        iopo_embedding_forward(ctx, out, tokens, twte, twpe, s->B, s->T, s->C, s->V);
        res[k] = check_download(out);
        iopo_tensor *all[] = {tokens, twte, twpe, out};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (all[i]) iopo_tensor_free(all[i]);
    }
    int n_oov;
    double ferr = emb_forward_error(s, &in, res[0], &n_oov);
    char what[64];
    snprintf(what, sizeof what, "cpu fwd exact (%d oov ids)", n_oov);
    check_row(cc, "embedding_fwd", shape, what, ferr, 0, ferr == 0);
    if (res[1]) check_identical(cc, "embedding_fwd", shape, "vulkan == cpu", res[1], res[0], nout * sizeof(float));
    free(res[0]);
    free(res[1]);
    free(in.tokens);
    free(in.wte);
    free(in.wpe);
    free(wte);
    free(wpe);
}

void check_embedding(check_ctx *cc) {
    const emb_shape small[] = {
        {1, 1, 1, 1, 1},      // a single element (its id is the only vocabulary entry)
        {2, 7, 33, 11, 9},    // positional table longer than T
        {3, 33, 257, 50, 0},  // no positional table
        {1, 257, 7, 5, 300},  // long sequence, narrow rows: most positions collide on few ids
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) emb_case(cc, &small[i], true);
    const emb_shape large = {4, 64, 768, 2000, 128};   // GPT-2-like width
    emb_case(cc, &large, false);
    // More positions than one shader loop may run on lavapipe (65,535 iterations): the dwte backward must split them.
    const emb_shape long_batch = {2, 40001, 3, 11, 0};
    emb_case(cc, &long_batch, false);

    const emb_shape s16 = {2, 9, 33, 50, 12}, s16_nowpe = {3, 5, 7, 1001, 0};
    emb16_case(cc, &s16, IOPO_BF16, IOPO_BF16);
    emb16_case(cc, &s16, IOPO_F16, IOPO_F16);
    emb16_case(cc, &s16, IOPO_BF16, IOPO_F32);
    emb16_case(cc, &s16, IOPO_F32, IOPO_F16);
    emb16_case(cc, &s16_nowpe, IOPO_BF16, IOPO_F32);
    emb16_case(cc, &s16_nowpe, IOPO_F16, IOPO_F32);
}
