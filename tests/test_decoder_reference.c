/* One model family against the PyTorch reference (tools/reference/gpt2_reference.py, which imports
 * decoder_families.py for Llama / Qwen2 / Qwen3): for one batch of right-padded sequences of different lengths with a
 * loss mask, both backends must match PyTorch's logits, per-token losses, per-sequence log-prob sums, the mean loss
 * and every gradient under its checkpoint name (iopo_model_export splits fused tensors), and then the losses,
 * gradient norms and final parameters of several AdamW steps with clipping. GPT-2 also runs the DPO/IOPO checks.
 * Usage: test_decoder_reference PYTHON REFERENCE_SCRIPT WORKDIR gpt2|llama|qwen2|qwen3 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/ops.h"
#include "iopo/optimizer.h"
#include "iopo/rng.h"
#include "iopo/safetensors.h"

enum { B = 3, T = 16, STEPS = 3 };
static const int lengths[B] = {16, 11, 5};
static const int prompt_len[B] = {4, 1, 2};
static const iopo_optimizer_config opt = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-5f,
                                          .weight_decay = 0.1f, .grad_clip = 1.0f};

/* Each family's tiny model (gpt2_reference.py --init-model arguments) with the features it must exercise. */
typedef struct family_case {
    const char *name, *init_args;
    bool preferences;
} family_case;

static const family_case cases[] = {
    {"gpt2", "--layers 2 --heads 2 --dim 32 --vocab 301 --ctx 24", true},
    /* GQA, attention_bias (q/k/v/o biases), untied head; head_dim 8 at theta 1e4 puts wavelengths 6.3, 63, 628, 6283
     * in llama3's kept (< 64/4), blended and divided (> 64/0.5) bands. */
    {"llama", "--arch llama --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 64 --vocab 301 --ctx 24 --tied 0 "
              "--attention-bias 1 --rope-theta 10000 --rope-llama3 8,0.5,4,64", false},
    /* GQA, q/k/v biases, tied head, Qwen2's theta. */
    {"qwen2", "--arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 64 --vocab 301 --ctx 24 --tied 1 "
              "--rope-theta 1000000", false},
    /* GQA, q/k norm, head_dim 12 != 32 / 4, untied head. */
    {"qwen3", "--arch qwen3 --layers 2 --heads 4 --kv-heads 2 --dim 32 --head-dim 12 --ffn 64 --vocab 301 --ctx 24 "
              "--tied 0 --rope-theta 1000000", false},
};

static int failures;
static const char *family = "";

static void report(const char *backend, const char *what, double err, double tol, bool ok) {
    printf("%-5s %-6s %-58s max err %.3e (tol %.3e)  %s\n", family, backend, what, err, tol, ok ? "pass" : "FAIL");
    if (!ok) failures++;
}

/* |got - ref| <= atol + rtol*|ref| over n values; atol scales with the tensor's largest reference magnitude. */
static void compare(const char *backend, const char *what, const float *got, const float *ref, size_t n, double rtol,
                    double atol_frac, const unsigned char *skip) {
    double maxref = 0;
    for (size_t i = 0; i < n; i++)
        if (!skip || !skip[i]) maxref = fmax(maxref, fabs(ref[i]));
    double atol = atol_frac * maxref + 1e-7, worst = 0, worst_tol = atol;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        double err = fabs((double)got[i] - ref[i]), tol = atol + rtol * fabs(ref[i]);
        if (!(err <= tol)) {
            if (ok) printf("    %s %s %s[%zu]: got %.8g, reference %.8g\n", family, backend, what, i, got[i], ref[i]);
            ok = false;
        }
        if (err > worst || isnan(err)) worst = err, worst_tol = tol;
    }
    report(backend, what, worst, worst_tol, ok);
}

static float *ref_tensor(const iopo_safetensors *st, const char *name, size_t expect) {
    const iopo_st_tensor *t = iopo_st_find(st, name);
    char err[512];
    if (!t || t->numel != expect) {
        printf("FAIL: %s: reference output lacks %s with %zu elements\n", family, name, expect);
        exit(1);
    }
    float *x = malloc(expect * sizeof *x + 4);
    if (!iopo_st_read_f32(t, x, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        exit(1);
    }
    return x;
}

/* The model's gradients (grads) or values under their checkpoint names against the reference's grad.NAME /
 * param.NAME, and the reference holds no tensor of that kind the model lacks. */
static void compare_export(iopo_model *m, bool grads, const char *backend, const char *tag,
                           const iopo_safetensors *ref, double rtol, double atol_frac) {
    const char *kind = grads ? "grad." : "param.";
    iopo_st_entry *e;
    int n = iopo_model_export(m, grads, &e), in_ref = 0;
    for (int i = 0; i < iopo_st_count(ref); i++)
        if (!strncmp(iopo_st_at(ref, i)->name, kind, strlen(kind))) in_ref++;
    if (in_ref != n) {
        printf("FAIL: %s %s: the model exports %d tensors, the reference has %d %s tensors\n", family, backend, n,
               in_ref, kind);
        failures++;
    }
    for (int i = 0; i < n; i++) {
        char key[192], what[320];
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= (size_t)e[i].shape[d];
        snprintf(key, sizeof key, "%s%s", kind, e[i].name);
        snprintf(what, sizeof what, "%s%s", tag, key);
        float *r = ref_tensor(ref, key, numel);
        compare(backend, what, e[i].data, r, numel, rtol, atol_frac, NULL);
        free(r);
    }
    iopo_model_export_free(e, n);
}

typedef struct host_batch {
    int32_t tokens[B * T], targets[B * T], lengths[B];
    float mask[B * T];
    float count;
} host_batch;

static void make_batch(host_batch *hb, int V) {
    iopo_rng rng;
    iopo_rng_seed(&rng, 7);
    memset(hb, 0, sizeof *hb);
    for (int b = 0; b < B; b++) {
        hb->lengths[b] = lengths[b];
        for (int t = 0; t < T; t++) hb->tokens[b * T + t] = (int32_t)(iopo_rng_u64(&rng) % (uint64_t)V);
        for (int t = 0; t < T; t++) {
            /* position t predicts token t+1; loss only on the response (after the prompt) within the sequence */
            bool on = t + 1 < lengths[b] && t + 1 >= prompt_len[b];
            hb->targets[b * T + t] = on ? hb->tokens[b * T + t + 1] : -100;
            hb->mask[b * T + t] = on ? 1.0f : 0.0f;
            hb->count += hb->mask[b * T + t];
        }
    }
}

static void write_batch_json(const host_batch *hb, const char *path) {
    FILE *f = fopen(path, "w");
    const char *keys[] = {"input_ids", "targets", "mask"};
    fprintf(f, "{\"lengths\": [%d, %d, %d]", hb->lengths[0], hb->lengths[1], hb->lengths[2]);
    for (int k = 0; k < 3; k++) {
        fprintf(f, ", \"%s\": [", keys[k]);
        for (int b = 0; b < B; b++) {
            fprintf(f, "%s[", b ? ", " : "");
            for (int t = 0; t < T; t++) {
                int i = b * T + t;
                if (k == 0) fprintf(f, "%s%d", t ? ", " : "", hb->tokens[i]);
                if (k == 1) fprintf(f, "%s%d", t ? ", " : "", hb->targets[i]);
                if (k == 2) fprintf(f, "%s%g", t ? ", " : "", hb->mask[i]);
            }
            fprintf(f, "]");
        }
        fprintf(f, "]");
    }
    fprintf(f, "}\n");
    fclose(f);
}

static void upload_batch(iopo_batch *bt, const host_batch *hb) {
    iopo_tensor_upload(bt->tokens, hb->tokens);
    iopo_tensor_upload(bt->targets, hb->targets);
    iopo_tensor_upload(bt->mask, hb->mask);
    iopo_tensor_upload(bt->lengths, hb->lengths);
}

static void check_backend(iopo_ctx *ctx, const char *name, const char *model_dir, const host_batch *hb,
                          const iopo_safetensors *ref) {
    char err[512];
    iopo_model *m = iopo_model_load(ctx, model_dir, err, sizeof err);
    if (!m) {
        printf("FAIL: %s\n", err);
        failures++;
        return;
    }
    int V = iopo_model_get_config(m)->vocab_size;
    iopo_batch bt;
    iopo_batch_init(&bt, ctx, B, T);
    upload_batch(&bt, hb);
    iopo_tensor *dloss = iopo_tensor_new2(ctx, IOPO_F32, B, T);
    float d[B * T];
    for (int i = 0; i < B * T; i++) d[i] = 1.0f / hb->count;
    iopo_tensor_upload(dloss, d);

    /* Forward + backward at the initial weights. */
    iopo_model_zero_grad(m);
    iopo_model_forward(m, &bt);
    size_t nlog = (size_t)B * T * V;
    float *logits = malloc(nlog * sizeof *logits), *loss = malloc(B * T * sizeof *loss);
    float seq_logp[B], seq_count[B];
    iopo_tensor_download(iopo_model_logits(m), logits);
    iopo_tensor_download(iopo_model_token_loss(m), loss);
    iopo_tensor_download(iopo_model_seq_logp(m), seq_logp);
    iopo_tensor_download(iopo_model_seq_count(m), seq_count);
    /* Logits of padded positions are not defined by the model (they attend to nothing): compare valid ones. */
    unsigned char *pad = calloc(nlog, 1);
    for (int b = 0; b < B; b++)
        for (int t = lengths[b]; t < T; t++) memset(pad + ((size_t)b * T + t) * V, 1, (size_t)V);
    float *r = ref_tensor(ref, "logits", nlog);
    compare(name, "logits (valid positions)", logits, r, nlog, 1e-4, 1e-5, pad);
    free(r);
    r = ref_tensor(ref, "token_loss", B * T);
    compare(name, "token_loss", loss, r, B * T, 1e-4, 1e-6, NULL);
    free(r);
    r = ref_tensor(ref, "seq_logp", B);
    compare(name, "seq_logp", seq_logp, r, B, 1e-4, 1e-6, NULL);
    free(r);
    r = ref_tensor(ref, "seq_count", B);
    compare(name, "seq_count", seq_count, r, B, 0, 0, NULL);
    free(r);
    double total = 0;
    for (int i = 0; i < B * T; i++) total += loss[i];
    float mean = (float)(total / hb->count);
    r = ref_tensor(ref, "loss", 1);
    compare(name, "loss", &mean, r, 1, 1e-4, 0, NULL);
    free(r);

    iopo_model_backward(m, &bt, dloss, NULL);
    compare_export(m, true, name, "", ref, 1e-3, 1e-4);

    /* AdamW steps with clipping from the same starting point. */
    iopo_optimizer *o = iopo_optimizer_create(m);
    float step_loss[STEPS], step_norm[STEPS];
    for (int s = 0; s < STEPS; s++) {
        iopo_model_zero_grad(m);
        iopo_model_forward(m, &bt);
        iopo_tensor_download(iopo_model_token_loss(m), loss);
        total = 0;
        for (int i = 0; i < B * T; i++) total += loss[i];
        step_loss[s] = (float)(total / hb->count);
        iopo_model_backward(m, &bt, dloss, NULL);
        iopo_optimizer_step(o, &opt, opt.lr);
        float nrm[2];
        iopo_tensor_download(iopo_optimizer_norm(o), nrm);
        step_norm[s] = nrm[0];
    }
    r = ref_tensor(ref, "adamw_losses", STEPS);
    compare(name, "adamw losses", step_loss, r, STEPS, 1e-4, 0, NULL);
    free(r);
    r = ref_tensor(ref, "adamw_grad_norms", STEPS);
    compare(name, "adamw grad norms", step_norm, r, STEPS, 1e-3, 0, NULL);
    free(r);
    compare_export(m, false, name, "", ref, 1e-4, 1e-4);
    iopo_optimizer_free(o);
    free(pad);
    free(logits);
    free(loss);
    iopo_tensor_free(dloss);
    iopo_batch_free(&bt);
    iopo_model_free(m);
}

/* DPO or IOPO on 8 rows (E = 8 / G examples): our model's summed log-probs through the preference op and the model
 * backward must give PyTorch's per-example losses, margins, per-sequence gradients and parameter gradients. */
static void check_preference(iopo_ctx *ctx, const char *name, const char *objective, int G, const char *py,
                             const char *script, const char *model_dir, const char *work, float beta, float ls,
                             float ftx, iopo_pref_loss_type type, const char *type_name) {
    enum { R = 8 };
    const int lens[R] = {9, 12, 7, 16, 10, 16, 5, 13}, prompts[R] = {3, 3, 4, 4, 2, 2, 1, 5};
    char err[512], batch[1024], refp[1024], out[1024], cmd[8192], tag[64];
    snprintf(tag, sizeof tag, "%s-%s", objective, type_name);
    snprintf(batch, sizeof batch, "%s/batch-%s.json", work, tag);
    snprintf(refp, sizeof refp, "%s/ref-%s.json", work, tag);
    snprintf(out, sizeof out, "%s/reference-%s.safetensors", work, tag);
    iopo_model *m = iopo_model_load(ctx, model_dir, err, sizeof err);
    if (!m) {
        printf("FAIL: %s\n", err);
        failures++;
        return;
    }
    int V = iopo_model_get_config(m)->vocab_size;
    iopo_rng rng;
    iopo_rng_seed(&rng, 11);
    int32_t tokens[R * T], targets[R * T], lengths[R];
    float mask[R * T], ref[R];
    for (int r = 0; r < R; r++) {
        lengths[r] = lens[r];
        for (int t = 0; t < T; t++) tokens[r * T + t] = (int32_t)(iopo_rng_u64(&rng) % (uint64_t)V);
        for (int t = 0; t < T; t++) {
            bool on = t + 1 < lens[r] && t + 1 >= prompts[r];
            targets[r * T + t] = on ? tokens[r * T + t + 1] : -100;
            mask[r * T + t] = on ? 1.0f : 0.0f;
        }
        /* Reference log-probs well away from the policy's, so margins and accuracies are not at a tie. */
        ref[r] = -6.0f * (float)(lens[r] - prompts[r]) + 8.0f * (iopo_rng_uniform(&rng) - 0.5f);
    }
    FILE *f = fopen(batch, "w");
    fprintf(f, "{\"lengths\": [");
    for (int r = 0; r < R; r++) fprintf(f, "%s%d", r ? ", " : "", lengths[r]);
    const char *keys[] = {"input_ids", "targets", "mask"};
    for (int k = 0; k < 3; k++) {
        fprintf(f, "], \"%s\": [", keys[k]);
        for (int r = 0; r < R; r++) {
            fprintf(f, "%s[", r ? ", " : "");
            for (int t = 0; t < T; t++) {
                int i = r * T + t;
                if (k == 0) fprintf(f, "%s%d", t ? ", " : "", tokens[i]);
                if (k == 1) fprintf(f, "%s%d", t ? ", " : "", targets[i]);
                if (k == 2) fprintf(f, "%s%g", t ? ", " : "", mask[i]);
            }
            fprintf(f, "]");
        }
    }
    fprintf(f, "]}\n");
    fclose(f);
    f = fopen(refp, "w");
    fprintf(f, "[");
    for (int r = 0; r < R; r++) fprintf(f, "%s%.9g", r ? ", " : "", (double)ref[r]);
    fprintf(f, "]\n");
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --model '%s' --batch '%s' --out '%s' --objective %s --beta %g --label-smoothing %g "
             "--pref-ftx %g --ref-logps '%s'%s%s",
             py, script, model_dir, batch, out, objective, beta, ls, ftx, refp, G == 2 ? " --loss-type " : "",
             G == 2 ? type_name : "");
    if (system(cmd) != 0) {
        printf("FAIL: %s\n", cmd);
        failures++;
        iopo_model_free(m);
        return;
    }
    iopo_safetensors *rs = iopo_st_open(out, err, sizeof err);
    if (!rs) {
        printf("FAIL: %s\n", err);
        failures++;
        iopo_model_free(m);
        return;
    }
    int E = R / G;
    iopo_batch bt;
    iopo_batch_init(&bt, ctx, R, T);
    iopo_tensor_upload(bt.tokens, tokens);
    iopo_tensor_upload(bt.targets, targets);
    iopo_tensor_upload(bt.mask, mask);
    iopo_tensor_upload(bt.lengths, lengths);
    iopo_tensor *tref = iopo_tensor_new1(ctx, IOPO_F32, R), *tl = iopo_tensor_new1(ctx, IOPO_F32, E);
    iopo_tensor *tz = iopo_tensor_new1(ctx, IOPO_F32, E), *td = iopo_tensor_new1(ctx, IOPO_F32, R);
    iopo_tensor_upload(tref, ref);
    iopo_model_zero_grad(m);
    iopo_model_forward(m, &bt);
    iopo_pref_params pp = {.group = G, .type = type, .beta = beta, .label_smoothing = ls, .pref_ftx = ftx,
                           .scale = 1.0f / (float)E};
    iopo_pref_loss(ctx, tl, tz, td, iopo_model_seq_logp(m), tref, iopo_model_seq_count(m), E, &pp);
    iopo_model_backward(m, &bt, NULL, td);
    float el[R], z[R], d[R], lp[R];
    iopo_tensor_download(tl, el);
    iopo_tensor_download(tz, z);
    iopo_tensor_download(td, d);
    iopo_tensor_download(iopo_model_seq_logp(m), lp);
    char what[256];
    float *r = ref_tensor(rs, "seq_logp", R);
    snprintf(what, sizeof what, "%s seq_logp", tag);
    compare(name, what, lp, r, R, 1e-4, 1e-6, NULL);
    free(r);
    r = ref_tensor(rs, "example_loss", (size_t)E);
    snprintf(what, sizeof what, "%s example_loss", tag);
    compare(name, what, el, r, (size_t)E, 1e-4, 1e-5, NULL);
    free(r);
    r = ref_tensor(rs, "pref_z", (size_t)E);
    snprintf(what, sizeof what, "%s z", tag);
    compare(name, what, z, r, (size_t)E, 1e-4, 1e-5, NULL);
    free(r);
    r = ref_tensor(rs, "dseq_logp", R);
    snprintf(what, sizeof what, "%s dseq_logp", tag);
    compare(name, what, d, r, R, 1e-3, 1e-4, NULL);
    free(r);
    snprintf(what, sizeof what, "%s ", tag);
    compare_export(m, true, name, what, rs, 1e-3, 1e-4);
    iopo_st_close(rs);
    iopo_tensor_free(tref), iopo_tensor_free(tl), iopo_tensor_free(tz), iopo_tensor_free(td);
    iopo_batch_free(&bt);
    iopo_model_free(m);
}

static void check_all_preferences(iopo_ctx *ctx, const char *name, const char *py, const char *script,
                                  const char *model_dir, const char *work) {
    check_preference(ctx, name, "dpo", 2, py, script, model_dir, work, 0.1f, 0.0f, 0.0f, IOPO_PREF_SIGMOID, "sigmoid");
    check_preference(ctx, name, "dpo", 2, py, script, model_dir, work, 0.2f, 0.1f, 0.5f, IOPO_PREF_SIGMOID,
                     "sigmoid");
    check_preference(ctx, name, "dpo", 2, py, script, model_dir, work, 0.1f, 0.0f, 0.0f, IOPO_PREF_IPO, "ipo");
    check_preference(ctx, name, "dpo", 2, py, script, model_dir, work, 0.3f, 0.0f, 0.0f, IOPO_PREF_HINGE, "hinge");
    check_preference(ctx, name, "dpo", 2, py, script, model_dir, work, 0.1f, 0.2f, 0.0f, IOPO_PREF_ROBUST, "robust");
    check_preference(ctx, name, "iopo", 4, py, script, model_dir, work, 0.1f, 0.1f, 0.3f, IOPO_PREF_SIGMOID,
                     "sigmoid");
}

int main(int argc, char **argv) {
    const family_case *fc = NULL;
    for (size_t i = 0; argc == 5 && i < sizeof cases / sizeof cases[0]; i++)
        if (!strcmp(argv[4], cases[i].name)) fc = &cases[i];
    if (!fc) {
        fprintf(stderr, "usage: %s PYTHON REFERENCE_SCRIPT WORKDIR gpt2|llama|qwen2|qwen3\n", argv[0]);
        return 2;
    }
    family = fc->name;
    const char *py = argv[1], *script = argv[2], *work = argv[3];
    char err[512], model_dir[1024], batch[1024], out[1024], cmd[8192];
    if (!iopo_mkdirs(work, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    snprintf(model_dir, sizeof model_dir, "%s/model", work);
    snprintf(batch, sizeof batch, "%s/batch.json", work);
    snprintf(out, sizeof out, "%s/reference.safetensors", work);
    /* A model with random LayerNorm parameters and biases too, so every parameter's gradient is exercised. */
    snprintf(cmd, sizeof cmd, "'%s' '%s' --init-model '%s' %s --seed 3", py, script, model_dir, fc->init_args);
    if (system(cmd) != 0) {
        printf("FAIL: %s\n", cmd);
        return 1;
    }
    iopo_model_config cfg;
    if (!iopo_model_config_load(&cfg, model_dir, err, sizeof err)) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    host_batch hb;
    make_batch(&hb, cfg.vocab_size);
    write_batch_json(&hb, batch);
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --model '%s' --batch '%s' --out '%s' --adamw-steps %d --lr %g --beta1 %g --beta2 %g --eps %g "
             "--weight-decay %g --grad-clip %g",
             py, script, model_dir, batch, out, STEPS, opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay,
             opt.grad_clip);
    if (system(cmd) != 0) {
        printf("FAIL: %s\n", cmd);
        return 1;
    }
    iopo_safetensors *ref = iopo_st_open(out, err, sizeof err);
    if (!ref) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    const char *only = getenv("IOPO_TEST_BACKENDS");   /* "cpu" or "vulkan" to run one; default both */
    if (!only || strcmp(only, "vulkan") != 0) {
        iopo_ctx *cpu = iopo_ctx_create(&(iopo_ctx_options){.backend = IOPO_BACKEND_CPU}, err, sizeof err);
        check_backend(cpu, "cpu", model_dir, &hb, ref);
        if (fc->preferences) check_all_preferences(cpu, "cpu", py, script, model_dir, work);
        iopo_ctx_destroy(cpu);
    }
    if (!only || strcmp(only, "cpu") != 0) {
        iopo_ctx_options o;
        if (!iopo_ctx_options_parse(&o, NULL, err, sizeof err) || o.backend != IOPO_BACKEND_VULKAN) {
            printf("FAIL: this test needs a Vulkan device (IOPO_DEVICE must not select cpu)\n");
            return 1;
        }
        iopo_ctx *dev = iopo_ctx_create(&o, err, sizeof err);
        if (!dev) {
            printf("FAIL: %s\n", err);
            return 1;
        }
        check_backend(dev, "vulkan", model_dir, &hb, ref);
        if (fc->preferences) check_all_preferences(dev, "vulkan", py, script, model_dir, work);
        iopo_ctx_destroy(dev);
    }
    iopo_st_close(ref);
    printf("%s reference: %d failed\n", family, failures);
    return failures ? 1 : 0;
}
