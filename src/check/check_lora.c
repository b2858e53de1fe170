/* Checks of the LoRA element-wise pieces (iopo_lora_cols, iopo_lora_dropout). Both are exact arithmetic on each
 * element (one product, at most one sum), so the device must give the CPU's bits; the CPU is held against the
 * definition computed here, the dropout mask against its statistics (the kept share, kept values scaled by
 * 1/(1-p), the same mask for the same seed and the backward's accumulate), and each op split over several windows
 * against the unsplit run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "vk/vk.h"

typedef struct cols_case {
    int M, n, dst_ld, dst_col0, src_ld, src_col0;
    float alpha;
    bool accumulate;
} cols_case;

static float *cols_run(iopo_ctx *ctx, const cols_case *k, const float *dst0, const float *src) {
    int64_t ds[2] = {k->M, k->dst_ld}, ss[2] = {k->M, k->src_ld};
    iopo_tensor *d = check_tensor(ctx, IOPO_F32, dst0, 2, ds), *s = check_tensor(ctx, IOPO_F32, src, 2, ss);
    iopo_lora_cols(ctx, d, s, k->M, k->n, k->dst_ld, k->dst_col0, k->src_ld, k->src_col0, k->alpha, k->accumulate);
    float *out = check_download(d);
    iopo_tensor_free(d);
    iopo_tensor_free(s);
    return out;
}

static void cols_check(check_ctx *cc, const cols_case *k, const char *what) {
    size_t nd = (size_t)k->M * k->dst_ld, ns = (size_t)k->M * k->src_ld;
    float *dst0 = check_randn(cc, nd, 1.0f), *src = check_randn(cc, ns, 1.0f), *want = malloc(nd * sizeof *want);
    memcpy(want, dst0, nd * sizeof *want);
    for (int m = 0; m < k->M; m++)
        for (int j = 0; j < k->n; j++) {
            float v = k->alpha * src[(size_t)m * k->src_ld + k->src_col0 + j];
            float *d = &want[(size_t)m * k->dst_ld + k->dst_col0 + j];
            *d = k->accumulate ? *d + v : v;
        }
    char shape[96];
    snprintf(shape, sizeof shape, "M%d n%d dst %d@%d src %d@%d %s", k->M, k->n, k->dst_ld, k->dst_col0, k->src_ld,
             k->src_col0, k->accumulate ? "+=" : "=");
    float *c = cols_run(cc->cpu, k, dst0, src);
    check_identical(cc, "lora_cols", shape, "cpu == definition", c, want, nd * sizeof(float));
    if (cc->dev) {
        float *g = cols_run(cc->dev, k, dst0, src);
        check_identical(cc, "lora_cols", shape, "device == cpu", g, c, nd * sizeof(float));
        if (what) {   /* the same with the binding limit lowered so that both operands split into row blocks */
            size_t old = iopo_ctx_set_max_binding(cc->dev, 16 << 10);
            uint64_t before = vk_dispatch_count(cc->dev);
            float *s = cols_run(cc->dev, k, dst0, src);
            uint64_t dispatches = vk_dispatch_count(cc->dev) - before;
            iopo_ctx_set_max_binding(cc->dev, old);
            check_row(cc, "lora_cols", shape, what, (double)dispatches, 1.0, dispatches > 1);
            check_identical(cc, "lora_cols", shape, "split == unsplit", s, g, nd * sizeof(float));
            free(s);
        }
        free(g);
    }
    free(c), free(dst0), free(src), free(want);
}

static float *dropout_run(iopo_ctx *ctx, const float *dst0, const float *src, size_t n, uint32_t seed, float p,
                          bool accumulate) {
    iopo_tensor *d = check_tensor1(ctx, IOPO_F32, dst0, (int64_t)n), *s = check_tensor1(ctx, IOPO_F32, src, (int64_t)n);
    iopo_lora_dropout(ctx, d, s, n, seed, p, accumulate);
    float *out = check_download(d);
    iopo_tensor_free(d);
    iopo_tensor_free(s);
    return out;
}

static void dropout_check(check_ctx *cc, size_t n, float p) {
    char shape[64];
    snprintf(shape, sizeof shape, "N%zu p%.2f", n, p);
    float *src = check_randn(cc, n, 1.0f), *dst0 = check_randn(cc, n, 1.0f);
    float *a = dropout_run(cc->cpu, dst0, src, n, 1234u, p, false);
    float *again = dropout_run(cc->cpu, dst0, src, n, 1234u, p, false);
    float *other = dropout_run(cc->cpu, dst0, src, n, 1235u, p, false);
    float *acc = dropout_run(cc->cpu, dst0, src, n, 1234u, p, true);
    float scale = 1.0f / (1.0f - p);
    size_t kept = 0, bad = 0, differ = 0, bad_acc = 0;
    for (size_t i = 0; i < n; i++) {
        bool k = a[i] != 0.0f;
        kept += k;
        if (k ? a[i] != src[i] * scale : false) bad++;
        differ += (a[i] != 0.0f) != (other[i] != 0.0f);
        if (acc[i] != dst0[i] + a[i]) bad_acc++;
    }
    /* The kept share within 5 standard deviations of 1 - p. */
    double share = (double)kept / (double)n, sd = sqrt(p * (1.0 - p) / (double)n);
    check_row(cc, "lora_dropout", shape, "kept share vs 1 - p", fabs(share - (1.0 - p)), 5 * sd + 1e-12,
              fabs(share - (1.0 - p)) <= 5 * sd + 1e-12);
    check_row(cc, "lora_dropout", shape, "kept values are src / (1 - p)", (double)bad, 0, bad == 0);
    check_identical(cc, "lora_dropout", shape, "same seed, same mask", again, a, n * sizeof(float));
    if (p > 0) {
        double want = 2 * p * (1 - p) * (double)n;   /* elements two independent masks disagree on */
        check_row(cc, "lora_dropout", shape, "another seed, another mask", (double)differ, want,
                  fabs((double)differ - want) <= 5 * sqrt(want) + 1);
    }
    check_row(cc, "lora_dropout", shape, "accumulate adds the masked values", (double)bad_acc, 0, bad_acc == 0);
    if (cc->dev) {
        float *g = dropout_run(cc->dev, dst0, src, n, 1234u, p, false);
        float *ga = dropout_run(cc->dev, dst0, src, n, 1234u, p, true);
        check_identical(cc, "lora_dropout", shape, "device == cpu", g, a, n * sizeof(float));
        check_identical(cc, "lora_dropout", shape, "device += == cpu +=", ga, acc, n * sizeof(float));
        size_t old = iopo_ctx_set_max_binding(cc->dev, 16 << 10);
        uint64_t before = vk_dispatch_count(cc->dev);
        float *s = dropout_run(cc->dev, dst0, src, n, 1234u, p, false);
        uint64_t dispatches = vk_dispatch_count(cc->dev) - before;
        iopo_ctx_set_max_binding(cc->dev, old);
        check_row(cc, "lora_dropout", shape, "split: several dispatches", (double)dispatches, 1.0, dispatches > 1);
        check_identical(cc, "lora_dropout", shape, "split == unsplit", s, g, n * sizeof(float));
        free(s), free(g), free(ga);
    }
    free(src), free(dst0), free(a), free(again), free(other), free(acc);
}

void check_lora(check_ctx *cc) {
    /* An adapter's output into the k columns of a fused q|k|v row, and those columns of a gradient read back; then
     * a plain (unfused) accumulate, and shapes whose blocks do not divide the rows. */
    cols_case scatter = {137, 24, 96, 48, 24, 0, 0.5f, true}, gather = {137, 24, 24, 0, 96, 48, 1.0f, false};
    cols_case whole = {29, 40, 40, 0, 40, 0, 2.0f, true};
    cols_check(cc, &scatter, "split: several dispatches");
    cols_check(cc, &gather, "split: several dispatches");
    cols_check(cc, &whole, NULL);
    dropout_check(cc, 100003, 0.1f);
    dropout_check(cc, 50001, 0.5f);
    dropout_check(cc, 4099, 0.0f);
}
