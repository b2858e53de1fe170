/* Checks of the KV-cache decoding ops. attention_decode: CPU against a double-precision oracle, device against the
 * CPU reference, device determinism, and the decoder's loop itself on each backend: a cache that starts as noise is
 * filled row by row with scatter_rows and decoded position by position, and every step must give the row
 * iopo_attention_forward gives for the whole sequence (CPU: bit for bit; device: within float tolerance, since its
 * decode sums the keys in chunks and merges them). A cache of 70,000 positions runs on the device too: more keys
 * than lavapipe lets one invocation loop over. scatter_rows / gather_rows_add: exact against the formula on both
 * backends, out-of-range positions and indices included. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cpu/cpu_ops.h"

typedef struct dec_shape {
    int B, Tmax, NH, NKV, hd;
    int32_t len[6];   // lengths of the B <= 6 sequences (clamped to [0, Tmax] by the ops)
    bool steps;       // also decode position by position against iopo_attention_forward (one decode per position)
} dec_shape;

static int clamp_len(int32_t len, int Tmax) { return len < 0 ? 0 : len > Tmax ? Tmax : len; }
static size_t cache_elems(const dec_shape *s) { return (size_t)s->B * s->Tmax * (s->NH + 2 * s->NKV) * s->hd; }
static size_t out_elems(const dec_shape *s) { return (size_t)s->B * s->NH * s->hd; }

static float *decode_run(iopo_ctx *ctx, const dec_shape *s, const float *cache, const int32_t *len) {
    int64_t shp_cache[3] = {s->B, s->Tmax, (int64_t)(s->NH + 2 * s->NKV) * s->hd};
    int64_t shp_out[2] = {s->B, (int64_t)s->NH * s->hd};
    iopo_tensor *c = check_tensor(ctx, IOPO_F32, cache, 3, shp_cache);
    iopo_tensor *l = check_tensor1(ctx, IOPO_I32, len, s->B);
    iopo_tensor *o = check_tensor(ctx, IOPO_F32, NULL, 2, shp_out);
    iopo_attention_decode(ctx, o, c, l, s->B, s->Tmax, s->NH, s->NKV, s->hd);
    float *r = check_download(o);
    iopo_tensor_free(c);
    iopo_tensor_free(l);
    iopo_tensor_free(o);
    return r;
}

// From the definition, in double. Returns the largest |got - oracle| / (1e-5 + 1e-4|oracle|); NaN stays NaN.
static double decode_oracle_error(const dec_shape *s, const float *cache, const float *out) {
    int W = (s->NH + 2 * s->NKV) * s->hd;
    double worst = 0;
    double *p = malloc((size_t)s->Tmax * sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->NH; h++) {
            int len = clamp_len(s->len[b], s->Tmax), j = h / (s->NH / s->NKV);
            const float *q = cache + ((size_t)b * s->Tmax + (len ? len - 1 : 0)) * W + (size_t)h * s->hd;
            double mx = -INFINITY, sum = 0;
            for (int u = 0; u < len; u++) {
                const float *k = cache + ((size_t)b * s->Tmax + u) * W + (size_t)(s->NH + j) * s->hd;
                double dot = 0;
                for (int d = 0; d < s->hd; d++) dot += (double)q[d] * k[d];
                p[u] = dot / sqrt((double)s->hd);
                if (p[u] > mx) mx = p[u];
            }
            for (int u = 0; u < len; u++) sum += p[u] = exp(p[u] - mx);
            for (int d = 0; d < s->hd; d++) {
                double o = 0;
                for (int u = 0; u < len; u++)
                    o += p[u] / sum * cache[((size_t)b * s->Tmax + u) * W + (size_t)(s->NH + s->NKV + j) * s->hd + d];
                double got = out[((size_t)b * s->NH + h) * s->hd + d];
                double e = fabs(got - o) / (1e-5 + 1e-4 * fabs(o));
                worst = isnan(worst) ? worst : isnan(e) || e > worst ? e : worst;
            }
        }
    free(p);
    return worst;
}

// The decoder's loop on one backend: the cache starts as noise; step t scatters each sequence's row t (a skipped
// position, -1 or Tmax, once the sequence has ended) and decodes with lengths t+1 (0 once ended: a zero row).
// got/want (Tmax, B, NH*hd): every step's output and row t of iopo_attention_forward's (zero once ended).
// Returns the final cache, which must hold the rows below each length and the noise above.
static float *decode_steps(iopo_ctx *ctx, const dec_shape *s, const float *qkv, const float *noise, float *got,
                           float *want) {
    int B = s->B, T = s->Tmax, W = (s->NH + 2 * s->NKV) * s->hd, O = s->NH * s->hd;
    int64_t shp_cache[3] = {B, T, W}, shp_out3[3] = {B, T, O}, shp_lse[3] = {B, s->NH, T};
    int64_t shp_src[2] = {B, W}, shp_out[2] = {B, O};
    iopo_tensor *cache = check_tensor(ctx, IOPO_F32, noise, 3, shp_cache);

    iopo_tensor *full_qkv = check_tensor(ctx, IOPO_F32, qkv, 3, shp_cache);
    iopo_tensor *full_len = check_tensor1(ctx, IOPO_I32, s->len, B);
    iopo_tensor *full_out = check_tensor(ctx, IOPO_F32, NULL, 3, shp_out3);
    iopo_tensor *lse = check_tensor(ctx, IOPO_F32, NULL, 3, shp_lse);
    iopo_attention_forward(ctx, full_out, lse, full_qkv, full_len, B, T, s->NH, s->NKV, s->hd);
    float *fo = check_download(full_out);

    iopo_tensor *src = check_tensor(ctx, IOPO_F32, NULL, 2, shp_src);
    iopo_tensor *pos = check_tensor1(ctx, IOPO_I32, NULL, B);
    iopo_tensor *lens = check_tensor1(ctx, IOPO_I32, NULL, B);
    iopo_tensor *out = check_tensor(ctx, IOPO_F32, NULL, 2, shp_out);
    float *row = malloc((size_t)B * W * sizeof(float));
    int32_t p[6], l[6];
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            bool live = t < clamp_len(s->len[b], T);
            memcpy(row + (size_t)b * W, qkv + ((size_t)b * T + t) * W, (size_t)W * sizeof(float));
            p[b] = live ? t : b % 2 ? -1 : T;
            l[b] = live ? t + 1 : 0;
            float *w = want + ((size_t)t * B + b) * O;
            if (live) memcpy(w, fo + ((size_t)b * T + t) * O, (size_t)O * sizeof(float));
            else memset(w, 0, (size_t)O * sizeof(float));
        }
        iopo_tensor_upload(src, row);
        iopo_tensor_upload(pos, p);
        iopo_tensor_upload(lens, l);
        iopo_scatter_rows(ctx, cache, src, pos, B, T, W);
        iopo_attention_decode(ctx, out, cache, lens, B, T, s->NH, s->NKV, s->hd);
        iopo_tensor_download(out, got + (size_t)t * B * O);
    }
    float *final = check_download(cache);
    free(row);
    free(fo);
    iopo_tensor *all[] = {cache, full_qkv, full_len, full_out, lse, src, pos, lens, out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) iopo_tensor_free(all[i]);
    return final;
}

static void decode_steps_check(check_ctx *cc, iopo_ctx *ctx, const char *backend, const dec_shape *s,
                               const char *shape, const float *qkv) {
    int B = s->B, T = s->Tmax, W = (s->NH + 2 * s->NKV) * s->hd;
    size_t n = (size_t)T * B * s->NH * s->hd;
    float *got = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    float *noise = check_randn(cc, cache_elems(s), 10.0f);
    float *final = decode_steps(ctx, s, qkv, noise, got, want);
    char what[96];
    snprintf(what, sizeof what, "%s steps = attention_forward rows", backend);
    if (ctx == cc->cpu) check_identical(cc, "attention_decode", shape, what, got, want, n * sizeof(float));
    else check_close(cc, "attention_decode", shape, what, got, want, n, 2e-5, 1e-4);

    // rows below each length: the scattered rows; above: the starting noise, which only a skipped write could keep
    double bad = 0;   // values differing
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < W; i++) {
                size_t k = ((size_t)b * T + t) * W + i;
                if (final[k] != (t < clamp_len(s->len[b], T) ? qkv[k] : noise[k])) bad++;
            }
    snprintf(what, sizeof what, "%s scatter: rows written, rest kept", backend);
    check_row(cc, "scatter_rows", shape, what, bad, 0, bad == 0);
    free(final);
    free(noise);
    free(got);
    free(want);
}

static void decode_case(check_ctx *cc, const dec_shape *s) {
    char shape[96];
    int n = snprintf(shape, sizeof shape, "B%d T%d NH%d NKV%d hd%d len", s->B, s->Tmax, s->NH, s->NKV, s->hd);
    for (int b = 0; b < s->B && n < (int)sizeof shape; b++)
        n += snprintf(shape + n, sizeof shape - n, "%s%d", b ? "," : "", s->len[b]);
    float *cache = check_randn(cc, cache_elems(s), 1.0f);
    float *ref = decode_run(cc->cpu, s, cache, s->len);
    double oerr = decode_oracle_error(s, cache, ref);
    check_row(cc, "attention_decode", shape, "cpu vs f64 oracle", oerr, 1, oerr <= 1);
    if (s->steps) decode_steps_check(cc, cc->cpu, "cpu", s, shape, cache);

    if (cc->dev) {
        float *got = decode_run(cc->dev, s, cache, s->len);
        check_close(cc, "attention_decode", shape, "out vs cpu", got, ref, out_elems(s), 2e-5, 1e-4);
        float *again = decode_run(cc->dev, s, cache, s->len);
        check_identical(cc, "attention_decode", shape, "out run twice", got, again, out_elems(s) * sizeof(float));
        free(again);
        free(got);
        if (s->steps) decode_steps_check(cc, cc->dev, "dev", s, shape, cache);
    }
    free(ref);
    free(cache);
}

// scatter_rows and gather_rows_add on one backend against the formula, computed here (one copy, one float add per
// element: exact on any backend). Positions / indices out of range must be skipped / add nothing.
static void rows_case(check_ctx *cc, iopo_ctx *ctx, const char *backend) {
    enum { B = 5, T = 7, W = 77, N = 6, R = 9, C = 300 };   // more elements than one workgroup holds
    const int32_t pos[B] = {3, -1, 6, 7, 0}, idx[N] = {0, 8, -1, 9, 4, 4};
    char what[96];

    float *dst0 = check_randn(cc, (size_t)B * T * W, 1.0f), *src = check_randn(cc, (size_t)B * W, 1.0f);
    int64_t shp_dst[3] = {B, T, W}, shp_src[2] = {B, W};
    iopo_tensor *dst = check_tensor(ctx, IOPO_F32, dst0, 3, shp_dst);
    iopo_tensor *s = check_tensor(ctx, IOPO_F32, src, 2, shp_src);
    iopo_tensor *p = check_tensor1(ctx, IOPO_I32, pos, B);
    iopo_scatter_rows(ctx, dst, s, p, B, T, W);
    float *got = check_download(dst);
    for (int b = 0; b < B; b++)
        if (pos[b] >= 0 && pos[b] < T)
            memcpy(dst0 + ((size_t)b * T + pos[b]) * W, src + (size_t)b * W, W * sizeof(float));
    snprintf(what, sizeof what, "%s = formula (pos -1, Tmax skipped)", backend);
    check_identical(cc, "scatter_rows", "B5 T7 W77 pos 3,-1,6,7,0", what, got, dst0, (size_t)B * T * W * sizeof(float));
    free(got);
    iopo_tensor_free(dst);
    iopo_tensor_free(s);
    iopo_tensor_free(p);
    free(dst0);
    free(src);

    // The table in each dtype (16-bit: GPT-2's position table kept in its checkpoint's precision): the formula adds
    // the widened values, exactly as both backends do. C is odd so that rows start on both halves of a 32-bit word.
    const iopo_dtype dts[3] = {IOPO_F32, IOPO_BF16, IOPO_F16};
    for (int d = 0; d < 3; d++) {
        const int Cg = C + 1;
        float *out0 = check_randn(cc, (size_t)N * Cg, 1.0f), *table = check_randn(cc, (size_t)R * Cg, 1.0f);
        float *tw = check_rounded(table, (size_t)R * Cg, dts[d]);
        int64_t shp_out[2] = {N, Cg}, shp_tab[2] = {R, Cg};
        iopo_tensor *out = check_tensor(ctx, IOPO_F32, out0, 2, shp_out);
        iopo_tensor *tab = check_tensor_as(ctx, dts[d], table, 2, shp_tab);
        iopo_tensor *ix = check_tensor1(ctx, IOPO_I32, idx, N);
        iopo_gather_rows_add(ctx, out, tab, ix, N, R, Cg);
        got = check_download(out);
        for (int i = 0; i < N; i++)
            if (idx[i] >= 0 && idx[i] < R)
                for (int c = 0; c < Cg; c++) out0[(size_t)i * Cg + c] += tw[(size_t)idx[i] * Cg + c];
        snprintf(what, sizeof what, "%s += formula (idx -1, R add 0), %s table", backend, iopo_dtype_name(dts[d]));
        check_identical(cc, "gather_rows_add", "N6 R9 C301 idx 0,8,-1,9,4,4", what, got, out0,
                        (size_t)N * Cg * sizeof(float));
        free(got);
        iopo_tensor_free(out);
        iopo_tensor_free(tab);
        iopo_tensor_free(ix);
        free(out0);
        free(table);
        free(tw);
    }
}

void check_decode(check_ctx *cc) {
    const dec_shape shapes[] = {
        {1, 1, 1, 1, 8, {1}, true},                           // one token: out = v
        {5, 40, 8, 2, 24, {40, 17, 0, 1, 33}, true},          // GQA, hd not a power of two, an empty sequence
        {3, 33, 4, 1, 8, {33, 1, 20}, true},                  // multi-query (one kv head)
        {2, 9, 3, 3, 5, {12, -4}, true},                      // lengths past Tmax and negative: clamped
        {2, 300, 4, 2, 20, {300, 170}, true},                 // two chunks of keys on the device (256 a chunk)
        {2, 64, 12, 12, 64, {64, 41}, false},                 // GPT-2-small heads
        {1, 3000, 4, 1, 128, {2999}, false},                  // a long cache, Llama-wide heads
        {2, 70000, 2, 1, 24, {70000, 41234}, false},          // more keys than one invocation may loop over
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) decode_case(cc, &shapes[i]);
    rows_case(cc, cc->cpu, "cpu");
    if (cc->dev) rows_case(cc, cc->dev, "dev");
}
