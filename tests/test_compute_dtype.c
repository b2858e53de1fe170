/* compute_dtype (iopo_model_set_compute_dtype): fp32 master weights, the forward and backward reading 16-bit copies of
 * the matrices. On both backends, for a GPT-2 (tied head, learned positions, biases) and a Llama (untied, RoPE,
 * SwiGLU) model, bf16 and fp16:
 *  - the logits, log-probs and every gradient equal, bit for bit, those of an fp32 model whose matrices were rounded
 *    to the 16-bit dtype on the host: widening a 16-bit weight is exact and the ops accumulate the same fp32 products
 *    in the same order whichever dtype they read, so there is nothing for a tolerance to absorb;
 *  - against fp32 compute on the same (unrounded) weights, the loss moves by no more than rounding allows: each
 *    weight moves by at most u|w| (u = 2^-8 for bf16's 8 significant bits, 2^-11 for fp16's 11; fp16 also by at
 *    most 2^-25 absolutely, half its smallest subnormal step), so to first order |dL| <= sum |g_i| |dw_i|; the check
 *    takes twice that (the second-order term is O(u^2)), at every step of a short training run, and it must move at
 *    all (the copies are really read);
 *  - training with bf16 compute lowers the loss as fp32 compute does: over 8 AdamW steps both lose at least 10% of the
 *    starting loss and end within 2% of that decrease of each other;
 *  - the master weights stay fp32: after the steps some are not bf16 values, every copy is the round-to-nearest-even
 *    of its master, a model saved in fp32 gives back the masters exactly and one saved in bf16 their rounding (and
 *    the two differ); a model loaded and given compute_dtype holds the rounding of what it loaded;
 *  - two runs are bit-identical; a model with LoRA adapters refuses a 16-bit compute_dtype, and a model with one
 *    refuses adapters.
 * Usage: test_compute_dtype WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/context.h"
#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/optimizer.h"
#include "util/half.h"

#include "test_check.h"

#define B_ 3
#define T_ 12
#define STEPS 8

static void fill_batch(iopo_batch *b, int V) {
    int32_t tok[B_ * T_], tgt[B_ * T_], len[B_];
    float mask[B_ * T_];
    for (int i = 0; i < B_; i++) {
        len[i] = T_ - 3 * i;   /* right padding differs per row */
        for (int t = 0; t < T_; t++) {
            tok[i * T_ + t] = (7 + i * 13 + t * 5) % V;
            tgt[i * T_ + t] = (3 + i * 11 + t * 7 + 1) % V;
            mask[i * T_ + t] = t < len[i] - 1 ? 1.0f : 0.0f;
        }
    }
    iopo_tensor_upload(b->tokens, tok);
    iopo_tensor_upload(b->targets, tgt);
    iopo_tensor_upload(b->mask, mask);
    iopo_tensor_upload(b->lengths, len);
}

/* Forward + backward of L = -mean_b seq_logp[b] (gradients zeroed first); returns L. */
static double loss_and_grads(iopo_model *m, const iopo_batch *b) {
    iopo_ctx *ctx = iopo_model_ctx(m);
    iopo_model_zero_grad(m);
    iopo_model_forward(m, b);
    iopo_tensor *d = iopo_tensor_new1(ctx, IOPO_F32, B_);
    float hd[B_], lp[B_];
    for (int i = 0; i < B_; i++) hd[i] = -1.0f / B_;
    iopo_tensor_upload(d, hd);
    iopo_model_backward(m, b, NULL, d);
    iopo_tensor_free(d);
    iopo_tensor_download(iopo_model_seq_logp(m), lp);
    double l = 0;
    for (int i = 0; i < B_; i++) l -= lp[i] / B_;
    return l;
}

static float *download(const iopo_tensor *t) {
    float *h = malloc(t->numel * sizeof *h + 4);
    iopo_tensor_download(t, h);
    return h;
}

static float round16(float x, iopo_dtype dt) {
    return dt == IOPO_BF16 ? iopo_bf16_to_f32(iopo_f32_to_bf16(x)) : iopo_f16_to_f32(iopo_f32_to_f16(x));
}

/* The matrices' values of m rounded to dt, in place on the device (what a 16-bit checkpoint widened would hold). */
static void round_matrices(iopo_model *m, iopo_dtype dt) {
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        iopo_param *p = iopo_model_param(m, i);
        if (!p->decay) continue;
        float *h = download(p->value);
        for (size_t k = 0; k < p->value->numel; k++) h[k] = round16(h[k], dt);
        iopo_tensor_upload(p->value, h);
        free(h);
    }
}

/* dst's parameter values := src's (same config on the same context: the same arenas). */
static void copy_values(iopo_model *dst, iopo_model *src) {
    for (int s = 0; s < iopo_model_segment_count(src); s++) {
        const iopo_tensor *from = iopo_model_segment(src, s)->value;
        iopo_tensor_copy_range(iopo_model_segment(dst, s)->value, 0, from, 0, from->numel);
    }
    iopo_model_refresh_compute(dst);
}

/* Twice the first-order bound on the loss change that rounding m's matrices to dt can cause: 2 sum_i |g_i| |dw_i|,
 * |dw_i| <= max(u |w_i|, a), with m's current gradients. */
static double rounding_bound(iopo_model *m, iopo_dtype dt) {
    double u = dt == IOPO_BF16 ? ldexp(1, -8) : ldexp(1, -11), a = dt == IOPO_BF16 ? 0 : ldexp(1, -25), s = 0;
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        iopo_param *p = iopo_model_param(m, i);
        if (!p->decay) continue;
        float *w = download(p->value), *g = download(p->grad);
        for (size_t k = 0; k < p->value->numel; k++) s += fabs((double)g[k]) * fmax(u * fabs((double)w[k]), a);
        free(w), free(g);
    }
    return 2 * s;
}

/* Every gradient of a and b bit-identical. */
static bool same_grads(iopo_model *a, iopo_model *b, char *which, size_t n) {
    for (int i = 0; i < iopo_model_param_count(a); i++) {
        iopo_param *pa = iopo_model_param(a, i), *pb = iopo_model_param(b, i);
        float *ga = download(pa->grad), *gb = download(pb->grad);
        bool same = memcmp(ga, gb, pa->grad->numel * sizeof *ga) == 0;
        free(ga), free(gb);
        if (!same) {
            snprintf(which, n, "%s", pa->name);
            return false;
        }
    }
    return true;
}

typedef struct run_result {
    double loss[STEPS + 1];   /* before step 1, ..., after step STEPS */
    double worst;             /* the largest |L16 - L32| / bound along the way */
} run_result;

/* STEPS AdamW steps on the fixed batch with compute dtype dt (F32: plain fp32); with twin (an fp32 model of the same
 * config), at every step the loss of the fp32 compute on the same master weights and the rounding bound. */
static iopo_model *train(iopo_ctx *ctx, const iopo_model_config *cfg, iopo_dtype dt, const iopo_batch *b,
                         iopo_model *twin, run_result *r, const char *label) {
    char err[512];
    iopo_model *m = iopo_model_create(ctx, cfg, 7, err, sizeof err);
    CHECK(iopo_model_set_compute_dtype(m, dt, err, sizeof err), "%s: set_compute_dtype: %s", label, err);
    iopo_optimizer *o = iopo_optimizer_create(m);
    iopo_optimizer_config oc = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                                .grad_clip = 1.0f};
    r->worst = 0;
    for (int s = 0; s <= STEPS; s++) {
        r->loss[s] = loss_and_grads(m, b);
        if (twin) {
            copy_values(twin, m);
            double l32 = loss_and_grads(twin, b), bound = rounding_bound(twin, dt), d = fabs(r->loss[s] - l32);
            CHECK(d <= bound && d > 0, "%s step %d: loss %.9g with 16-bit compute, %.9g in fp32 on the same weights: "
                  "|difference| %.3g, the rounding bound %.3g (and it must not be 0)", label, s, r->loss[s], l32, d,
                  bound);
            if (bound > 0 && d / bound > r->worst) r->worst = d / bound;
        }
        if (s < STEPS) iopo_optimizer_step(o, &oc, oc.lr);
    }
    iopo_optimizer_free(o);
    return m;
}

static bool same_values(iopo_model *a, iopo_model *b) {
    for (int s = 0; s < iopo_model_segment_count(a); s++) {
        float *x = download(iopo_model_segment(a, s)->value), *y = download(iopo_model_segment(b, s)->value);
        bool same = memcmp(x, y, iopo_model_segment(a, s)->value->numel * sizeof *x) == 0;
        free(x), free(y);
        if (!same) return false;
    }
    return true;
}

/* The master values of m's matrices are fp32 (some not dt values), each copy the rounding of its master, and the
 * exported values (a checkpoint's) are the masters. */
static void check_masters(iopo_model *m, iopo_dtype dt, const char *label, bool trained) {
    size_t not16 = 0, bad = 0, total = 0;
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        iopo_param *p = iopo_model_param(m, i);
        CHECK(p->value->dtype == IOPO_F32, "%s: %s master is not fp32", label, p->name);
        if (!p->decay) {
            CHECK(!p->compute, "%s: %s (a vector) has a 16-bit copy", label, p->name);
            continue;
        }
        CHECK(p->compute && p->compute->dtype == dt, "%s: %s has no %s copy", label, p->name,
              dt == IOPO_BF16 ? "bf16" : "fp16");
        if (!p->compute) continue;
        float *w = download(p->value);
        uint16_t *c = malloc(p->value->numel * sizeof *c + 4);
        iopo_tensor_download(p->compute, c);
        for (size_t k = 0; k < p->value->numel; k++) {
            uint16_t want = dt == IOPO_BF16 ? iopo_f32_to_bf16(w[k]) : iopo_f32_to_f16(w[k]);
            bad += c[k] != want;
            not16 += round16(w[k], dt) != w[k];
        }
        total += p->value->numel;
        free(w), free(c);
    }
    CHECK(bad == 0, "%s: %zu of %zu copies are not the rounding of their master", label, bad, total);
    CHECK(!trained || not16 > total / 2, "%s: only %zu of %zu master weights are not 16-bit values", label, not16,
          total);
}

static void save_and_reload(iopo_ctx *ctx, iopo_model *m, const char *work, const char *label) {
    char err[512], d32[1024], d16[1024];
    snprintf(d32, sizeof d32, "%s/%s_fp32", work, label);
    snprintf(d16, sizeof d16, "%s/%s_bf16", work, label);
    CHECK(iopo_model_save_dtype(m, d32, false, err, sizeof err) && iopo_model_save_dtype(m, d16, true, err, sizeof err),
          "%s: save: %s", label, err);
    iopo_model *a = iopo_model_load(ctx, d32, err, sizeof err), *b = iopo_model_load(ctx, d16, err, sizeof err);
    CHECK(a && b, "%s: load: %s", label, err);
    if (!a || !b) {
        iopo_model_free(a);
        iopo_model_free(b);
        return;
    }
    size_t differ = 0, wrong32 = 0, wrong16 = 0;
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        float *w = download(iopo_model_param(m, i)->value), *x = download(iopo_model_param(a, i)->value);
        float *y = download(iopo_model_param(b, i)->value);
        for (size_t k = 0; k < iopo_model_param(m, i)->value->numel; k++) {
            wrong32 += memcmp(&x[k], &w[k], 4) != 0;
            float r = iopo_bf16_to_f32(iopo_f32_to_bf16(w[k]));
            wrong16 += memcmp(&y[k], &r, 4) != 0;
            differ += x[k] != y[k];
        }
        free(w), free(x), free(y);
    }
    CHECK(wrong32 == 0 && wrong16 == 0 && differ > 0, "%s: saved fp32: %zu values not the masters; saved bf16: %zu "
          "not their rounding; %zu differ between the two (must be > 0)", label, wrong32, wrong16, differ);
    /* A loaded model (a resume) gets copies of what it loaded. */
    CHECK(iopo_model_set_compute_dtype(a, IOPO_BF16, err, sizeof err), "%s: %s", label, err);
    char l2[128];
    snprintf(l2, sizeof l2, "%s (loaded)", label);
    check_masters(a, IOPO_BF16, l2, true);
    iopo_model_free(a);
    iopo_model_free(b);
}

static void run_case(iopo_ctx *ctx, const char *dev, const iopo_model_config *cfg, const char *work) {
    char err[512], label[96], which[128];
    iopo_batch b;
    iopo_batch_init(&b, ctx, B_, T_);
    fill_batch(&b, cfg->vocab_size);
    int V = cfg->vocab_size;
    iopo_dtype dts[2] = {IOPO_BF16, IOPO_F16};
    for (int di = 0; di < 2; di++) {
        iopo_dtype dt = dts[di];
        snprintf(label, sizeof label, "%.15s %.8s %s", cfg->arch, dev, dt == IOPO_BF16 ? "bf16" : "fp16");
        /* Forward and backward against the fp32 model of rounded weights: bit for bit. */
        iopo_model *m = iopo_model_create(ctx, cfg, 7, err, sizeof err);
        iopo_model *r = iopo_model_create(ctx, cfg, 7, err, sizeof err);
        CHECK(iopo_model_set_compute_dtype(m, dt, err, sizeof err) && iopo_model_compute_dtype(m) == dt, "%s: %s",
              label, err);
        round_matrices(r, dt);
        double lm = loss_and_grads(m, &b);
        float *xm = download(iopo_model_logits(m));
        double lr = loss_and_grads(r, &b);
        float *xr = download(iopo_model_logits(r));
        CHECK(lm == lr && memcmp(xm, xr, (size_t)B_ * T_ * V * sizeof *xm) == 0,
              "%s: logits (loss %.9g) differ from the model of rounded weights' (%.9g)", label, lm, lr);
        CHECK(same_grads(m, r, which, sizeof which), "%s: gradient of %s differs from the model of rounded weights'",
              label, which);
        free(xm), free(xr);
        check_masters(m, dt, label, false);
        iopo_model_free(r);
        iopo_model_free(m);
        /* Training against the fp32 twin on the same weights at every step. */
        iopo_model *twin = iopo_model_create(ctx, cfg, 7, err, sizeof err);
        run_result r16, again, r32;
        m = train(ctx, cfg, dt, &b, twin, &r16, label);
        iopo_model_free(twin);
        check_masters(m, dt, label, true);
        if (dt == IOPO_BF16) {
            iopo_model *m2 = train(ctx, cfg, dt, &b, NULL, &again, label);
            CHECK(memcmp(r16.loss, again.loss, sizeof r16.loss) == 0 && same_values(m, m2),
                  "%s: two runs are not bit-identical", label);
            iopo_model_free(m2);
            iopo_model *f = train(ctx, cfg, IOPO_F32, &b, NULL, &r32, label);
            double d16 = r16.loss[0] - r16.loss[STEPS], d32 = r32.loss[0] - r32.loss[STEPS];
            CHECK(d16 > 0.1 * r16.loss[0] && d32 > 0.1 * r32.loss[0] && fabs(d16 - d32) <= 0.02 * d32,
                  "%s: loss %.6g -> %.6g with bf16 compute, %.6g -> %.6g in fp32: both must fall by 10%% and the "
                  "falls agree within 2%%", label, r16.loss[0], r16.loss[STEPS], r32.loss[0], r32.loss[STEPS]);
            printf("%s: loss %.6f -> %.6f (fp32 compute %.6f -> %.6f)\n", label, r16.loss[0], r16.loss[STEPS],
                   r32.loss[0], r32.loss[STEPS]);
            iopo_model_free(f);
            save_and_reload(ctx, m, work, label);
        }
        printf("%s: exact against rounded weights; |dL| at most %.3f of the rounding bound over %d steps\n", label,
               r16.worst, STEPS);
        iopo_model_free(m);
    }
    /* LoRA: the base is frozen as stored; a 16-bit compute_dtype is refused. */
    iopo_model *l = iopo_model_create(ctx, cfg, 7, err, sizeof err);
    iopo_lora_config lc = {.rank = 2, .alpha = 4, .target = "all"};
    CHECK(iopo_model_add_lora(l, &lc, 1, err, sizeof err), "%s lora: %s", cfg->arch, err);
    err[0] = 0;
    CHECK(!iopo_model_set_compute_dtype(l, IOPO_BF16, err, sizeof err) && strstr(err, "applies to full fine-tuning"),
          "%s %s: LoRA with compute bf16 not refused (%s)", cfg->arch, dev, err);
    iopo_model_free(l);
    l = iopo_model_create(ctx, cfg, 7, err, sizeof err);
    err[0] = 0;
    bool set = iopo_model_set_compute_dtype(l, IOPO_BF16, err, sizeof err);
    CHECK(set && !iopo_model_add_lora(l, &lc, 1, err, sizeof err) && strstr(err, "applies to full fine-tuning"),
          "%s %s: adapters on a bf16-compute model not refused (%s)", cfg->arch, dev, err);
    iopo_model_free(l);
    iopo_batch_free(&b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_compute_dtype WORK_DIR\n");
        return 2;
    }
    char err[512];
    if (!iopo_mkdirs(argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    iopo_model_config cfgs[2] = {
        {.arch = "gpt2", .n_layer = 2, .n_head = 2, .n_kv_head = 2, .n_embd = 16, .head_dim = 8, .n_ffn = 64,
         .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-5f, .tied = true, .bos_id = -1, .eos_id = -1},
        {.arch = "llama", .n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 16, .head_dim = 4, .n_ffn = 24,
         .n_ctx = 16, .vocab_size = 37, .norm_eps = 1e-5f, .tied = false, .rope = {.theta = 10000},
         .bos_id = -1, .eos_id = -1},
    };
    iopo_ctx_options vo;
    if (!iopo_ctx_options_parse(&vo, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    iopo_ctx_options opts[2] = {{.backend = IOPO_BACKEND_CPU}, vo};
    for (int d = 0; d < 2; d++) {
        iopo_ctx *ctx = iopo_ctx_create(&opts[d], err, sizeof err);
        if (!ctx) {
            printf("FAIL: context: %s\n", err);
            return 1;
        }
        for (int i = 0; i < 2; i++) run_case(ctx, d ? "vulkan" : "cpu", &cfgs[i], argv[1]);
        iopo_ctx_destroy(ctx);
    }
    if (iopo_validation_message_count()) {
        printf("FAIL: %llu Vulkan validation messages\n", (unsigned long long)iopo_validation_message_count());
        fails++;
    }
    printf("compute_dtype: %d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
