/* The training loop: data order, micro-batches with gradient accumulation, the objective's upstream gradients, AdamW
 * with clipping, schedule, evaluation, logging, checkpoints and bit-identical resume. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "iopo/dataset.h"
#include "iopo/fileio.h"
#include "iopo/model.h"
#include "iopo/optimizer.h"
#include "iopo/prefdata.h"
#include "iopo/rng.h"
#include "iopo/tokenizer.h"
#include "iopo/train.h"
#include "train/checkpoint.h"
#include "train/objective.h"
#include "train/plan.h"
#include "train/rundir.h"

static volatile sig_atomic_t stop_signal;

void iopo_train_request_stop(int sig) { stop_signal = sig; }

/* Testing only (docs/TRAINING.md): IOPO_TEST_HOLD_AFTER_STEP=N waits after step N (logged, not yet checkpointed) until
 * a stop request arrives, so that the suite's SIGINT / SIGTERM land mid-run however fast the machine is; a tiny model
 * otherwise finishes its steps before the signal is sent. Polls, since a signal between a check and pause() would be
 * lost. */
static void test_hold_after_step(int step) {
    const char *v = getenv("IOPO_TEST_HOLD_AFTER_STEP");
    if (!v || atoi(v) != step) return;
    fprintf(stderr, "IOPO_TEST_HOLD_AFTER_STEP: holding after step %d until a stop request\n", step);
    while (!stop_signal) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct data_cursor {
    int n;                /* units drawn: sequences (SFT) or records (DPO / IOPO) */
    long seed;
    int epoch, position;
    int *order;
    const int *unit_len;  /* group_by_length: each unit's length (its longest row), else NULL */
    int window;           /* group_by_length: units sorted together */
} data_cursor;

static const int *sort_len;
static int by_length_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (sort_len[x] != sort_len[y]) return sort_len[y] - sort_len[x];
    return x - y;   /* ties in a fixed order: the same seed gives the same batches */
}

/* The order of epoch e is a seeded permutation: resuming needs only (seed, epoch, position). With group_by_length,
 * each window of the permutation is then sorted by length, longest first (as transformers' LengthGroupedSampler
 * sorts its megabatches), so a micro-batch holds records of similar length and pads little. */
static void epoch_order(const data_cursor *c) {
    int *order = c->order, n = c->n;
    iopo_rng rng;
    iopo_rng_seed(&rng, (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)c->epoch);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(iopo_rng_u64(&rng) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if (!c->unit_len) return;
    sort_len = c->unit_len;
    for (int start = 0; start < n; start += c->window)
        qsort(order + start, (size_t)(n - start < c->window ? n - start : c->window), sizeof *order, by_length_desc);
}

static void cursor_next(data_cursor *c, int *idx, int n) {
    for (int i = 0; i < n; i++) {
        if (c->position >= c->n) {
            c->epoch++;
            c->position = 0;
            epoch_order(c);
        }
        idx[i] = c->order[c->position++];
    }
}

static void upload_batch(iopo_batch *view, const iopo_batch *full, const iopo_host_batch *hb) {
    iopo_batch_view(view, full, hb->T);
    iopo_tensor_upload(view->tokens, hb->tokens);
    iopo_tensor_upload(view->targets, hb->targets);
    iopo_tensor_upload(view->mask, hb->mask);
    iopo_tensor_upload(view->lengths, hb->lengths);
}

/* Rows r0 .. r0+n of a host batch into view, a (n, hb->T) batch over full's tensors. */
static void upload_rows(iopo_batch *view, const iopo_batch *full, const iopo_host_batch *hb, int r0, int n) {
    iopo_batch_view_rows(view, full, n, hb->T);
    size_t o = (size_t)r0 * (size_t)hb->T;
    iopo_tensor_upload(view->tokens, hb->tokens + o);
    iopo_tensor_upload(view->targets, hb->targets + o);
    iopo_tensor_upload(view->mask, hb->mask + o);
    iopo_tensor_upload(view->lengths, hb->lengths + r0);
}

/* The adapters' dropout seed of a forward: the run's seed, the step, the micro-batch and the first row of the chunk
 * (a resume draws the same masks; the two forwards of a chunk see the same ones). */
static uint32_t dropout_seed(long seed, int step, int micro, int row) {
    return (uint32_t)((uint64_t)seed * 2654435761u + (uint64_t)step * 40503u + (uint64_t)micro * 9973u +
                      (uint64_t)row * 7919u);
}

/* hb = ds->ex[idx[0..nb)], padded to their longest sequence (rounded up), not to seq_len. */
static void fill_batch(iopo_host_batch *hb, const iopo_dataset *ds, const int *idx, int nb) {
    iopo_host_batch_fit(hb, ds, idx, nb, IOPO_PAD_MULTIPLE);
    iopo_host_batch_fill(hb, ds, idx, nb);
}

static double sum_floats(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

/* out/metrics.svg from the records so far. A chart that cannot be written costs the run nothing: a warning only. */
static void write_plot(const iopo_train_config *c) {
    char title[1200], perr[2048];
    snprintf(title, sizeof title, "%s: %s", c->objective, c->out);
    if (!rundir_write_plot(c->out, title, perr, sizeof perr))
        fprintf(stderr, "iopo train: warning: metrics.svg not written: %s\n", perr);
}

/* Evaluation over a whole dataset, forward only: SFT's mean token loss, or the mean preference loss with its metrics
 * (pm) when group > 1 (ref: the rows' reference log-probs). */
static double evaluate(iopo_model *m, const iopo_dataset *ds, iopo_batch *b, iopo_host_batch *hb, int group,
                       const float *ref, const iopo_train_config *c, pref_metrics *pm) {
    double total = 0, count = 0;
    iopo_ctx *ctx = iopo_model_ctx(m);
    int rows = hb->B, E = rows / group;
    int *idx = malloc((size_t)rows * sizeof *idx);
    float *loss = malloc((size_t)rows * hb->T * sizeof *loss), *lp = malloc((size_t)rows * sizeof *lp);
    iopo_tensor *tref = NULL, *tl = NULL, *tz = NULL, *td = NULL;
    if (group > 1) {
        tref = iopo_tensor_new1(ctx, IOPO_F32, rows), tl = iopo_tensor_new1(ctx, IOPO_F32, E);
        tz = iopo_tensor_new1(ctx, IOPO_F32, E), td = iopo_tensor_new1(ctx, IOPO_F32, rows);
    }
    float *href = calloc((size_t)rows, sizeof *href);
    for (int start = 0; start < ds->n; start += rows) {
        int nb = ds->n - start < rows ? ds->n - start : rows;
        for (int i = 0; i < nb; i++) idx[i] = start + i;
        fill_batch(hb, ds, idx, nb);
        iopo_batch v;
        upload_batch(&v, b, hb);
        iopo_model_forward(m, &v);
        iopo_batch_free(&v);
        if (group == 1) {
            iopo_tensor_download(iopo_model_token_loss(m), loss);
            total += sum_floats(loss, (size_t)rows * hb->T);
            count += hb->label_count;
            continue;
        }
        memset(href, 0, (size_t)rows * sizeof *href);
        memcpy(href, ref + start, (size_t)nb * sizeof *href);
        iopo_tensor_upload(tref, href);
        iopo_pref_params pp = objective_params(c, group, 1.0f);
        iopo_pref_loss(ctx, tl, tz, td, iopo_model_seq_logp(m), tref, iopo_model_seq_count(m), E, &pp);
        iopo_tensor_download(tl, loss);
        iopo_tensor_download(iopo_model_seq_logp(m), lp);
        int ne = nb / group;
        total += sum_floats(loss, (size_t)ne);
        count += ne;
        pref_metrics_add(pm, lp, href, ne, group, c->beta);
    }
    free(idx), free(loss), free(lp), free(href);
    iopo_tensor_free(tref), iopo_tensor_free(tl), iopo_tensor_free(tz), iopo_tensor_free(td);
    return count > 0 ? total / count : NAN;
}

static const char *first_nonfinite_grad(iopo_model *m) {
    for (int i = 0; i < iopo_model_param_count(m); i++) {
        iopo_param *p = iopo_model_param(m, i);
        float *g = malloc(p->grad->numel * sizeof *g + 4);
        iopo_tensor_download(p->grad, g);
        bool bad = false;
        for (size_t k = 0; k < p->grad->numel && !bad; k++) bad = !isfinite(g[k]);
        free(g);
        if (bad) return p->name;
    }
    return NULL;
}

static void fmt_bytes(char *buf, size_t n, double bytes) {
    if (bytes >= 1 << 30) snprintf(buf, n, "%.2f GiB", bytes / (1 << 30));
    else snprintf(buf, n, "%.1f MiB", bytes / (1 << 20));
}

/* On --resume of the run in out: the keys that differ from the run's saved configuration are printed; those that
 * define the run are refused unless allow_config_change. */
static bool check_resumed_config(const iopo_train_config *c, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%.1023s/train_config.json", c->out);
    struct stat sb;
    if (stat(path, &sb) != 0) return true;   /* a run from before train_config.json was saved */
    iopo_train_config old;
    iopo_train_config_defaults(&old);
    if (!iopo_train_config_load_json(&old, path, err, errlen)) return false;
    char meaning[1024];
    if (iopo_train_config_diff(&old, c, NULL, meaning, sizeof meaning) == 0) return true;
    fprintf(stderr, "--resume: the configuration differs from the run's (%s):\n", path);
    iopo_train_config_diff(&old, c, stderr, meaning, sizeof meaning);
    if (meaning[0] && !c->allow_config_change) {
        snprintf(err, errlen,
                 "--resume: refusing to change %s, which define the run: continue with the run's values, add "
                 "--allow-config-change to continue anyway, or start a new run in another --out",
                 meaning);
        return false;
    }
    if (meaning[0]) fprintf(stderr, "--allow-config-change: continuing with the changed %s\n", meaning);
    return true;
}

/* Which checkpoint to resume from, and whether it continues the run in out (rather than seeding a new run there). */
static bool resolve_resume(const iopo_train_config *c, char *resume_dir, size_t len, bool *here, char *err,
                           size_t errlen) {
    *here = false;
    if (!c->resume[0]) return true;
    if (rundir_same_dir(c->resume, c->out) && checkpoint_latest_step(c->out) < 0) {
        snprintf(err, errlen,
                 "--resume: %s holds no checkpoint to continue (no latest): start again with --overwrite (or without "
                 "--resume if it is empty)",
                 c->out);
        return false;
    }
    if (!checkpoint_resolve(c->resume, resume_dir, len, err, errlen)) return false;
    char parent[4096];
    const char *slash = strrchr(resume_dir, '/');
    if (slash) snprintf(parent, sizeof parent, "%.*s", (int)(slash - resume_dir), resume_dir);
    else snprintf(parent, sizeof parent, ".");
    *here = rundir_same_dir(parent, c->out);
    if (*here && c->overwrite) {
        snprintf(err, errlen, "--overwrite would remove the run that --resume continues (%s)", resume_dir);
        return false;
    }
    return true;
}

static int run_locked(const iopo_train_config *c, const iopo_ctx_options *copts);

int iopo_train_run(const iopo_train_config *c) {
    char err[4608] = "";
    iopo_ctx_options opts;
    if (!iopo_ctx_options_parse(&opts, c->device, err, sizeof err)) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    if (c->plan) return train_plan_run(c, &opts);
    stop_signal = 0;
    int lock = rundir_lock(c->out, err, sizeof err);
    if (lock < 0) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    int rc = run_locked(c, &opts);
    rundir_unlock(lock);
    return rc;
}

static int run_locked(const iopo_train_config *c, const iopo_ctx_options *copts) {
    char err[4608] = "";
    iopo_ctx_options opts = *copts;
    checkpoint_state st = {.data_seed = c->seed};
    char resume_dir[4096] = "", model_dir[4096] = "", ref_dir[4096] = "";
    bool resume_here = false;
    if (!resolve_resume(c, resume_dir, sizeof resume_dir, &resume_here, err, sizeof err) ||
        !rundir_prepare(c->out, resume_here, c->overwrite, err, sizeof err) ||
        (resume_here && !check_resumed_config(c, err, sizeof err))) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    /* Model arguments may name a run directory (its latest checkpoint), as for every other command. */
    if ((c->model[0] && !iopo_model_dir_resolve(c->model, model_dir, sizeof model_dir, err, sizeof err)) ||
        (c->ref_model[0] && !iopo_model_dir_resolve(c->ref_model, ref_dir, sizeof ref_dir, err, sizeof err))) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    /* LoRA: the adapter to start from (also on the reference, which is the starting model), or new adapters. */
    bool lora = !strcmp(c->finetuning_type, "lora");
    char adapter_dir[4096] = "";
    if (c->adapter[0] && !iopo_model_dir_resolve(c->adapter, adapter_dir, sizeof adapter_dir, err, sizeof err)) {
        fprintf(stderr, "iopo train: adapter: %s\n", err);
        return 1;
    }
    const char *ref_adapter = c->ref_model[0] ? NULL : adapter_dir;
    if (!ref_dir[0]) snprintf(ref_dir, sizeof ref_dir, "%s", model_dir);
    if (resume_dir[0]) snprintf(model_dir, sizeof model_dir, "%s", resume_dir);
    char no_tok[9000];
    iopo_tokenizer *tok = NULL;
    checkpoint_tokenizer tok_copy = {0};
    if (!objective_load_tokenizer(c->tokenizer, model_dir, &tok, no_tok, sizeof no_tok, err, sizeof err)) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    char tok_path[4200] = "";   /* its bytes are copied into every checkpoint */
    if (tok && c->tokenizer[0]) snprintf(tok_path, sizeof tok_path, "%s", c->tokenizer);
    else if (tok) snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", model_dir);
    if (tok && !(tok_copy.json = iopo_read_file(tok_path, &tok_copy.len, err, sizeof err))) {
        iopo_tokenizer_free(tok);
        fprintf(stderr, "iopo train: %s\n", err);
        return 1;
    }
    iopo_model_config cfg;
    if (!iopo_model_config_load(&cfg, model_dir, err, sizeof err) ||
        (lora && !train_plan_lora_config(c, adapter_dir, &cfg, err, sizeof err))) {
        fprintf(stderr, "iopo train: %s\n", err);
        iopo_tokenizer_free(tok);
        free(tok_copy.json);
        return 1;
    }
    if (!lora && cfg.lora.rank > 0) {
        fprintf(stderr, "iopo train: %s is a LoRA adapter: train it with finetuning_type lora, or merge it into its "
                        "base first (iopo merge) for full fine-tuning\n", model_dir);
        iopo_tokenizer_free(tok);
        free(tok_copy.json);
        return 1;
    }
    /* The chat template: auto follows the tokenizer's special tokens; the run records the one it used (in
     * train_config.json and its saved tokenizer_config.json). */
    char template_used[16];
    snprintf(template_used, sizeof template_used, "%s",
             strcmp(c->template_name, "auto") ? c->template_name : tok ? iopo_template_for_tokenizer(tok) : "plain");
    if (tok) checkpoint_tokenizer_describe(&tok_copy, tok, template_used, &cfg);
    int T = c->seq_len < cfg.n_ctx ? c->seq_len : cfg.n_ctx;
    if (c->seq_len > cfg.n_ctx)
        fprintf(stderr, "iopo train: seq_len %d exceeds the model's n_positions; using %d\n", c->seq_len, cfg.n_ctx);
    int G = objective_group(c->objective);
    iopo_dataset train = {0}, eval = {0};
    const char *why_no_tok = tok ? NULL : no_tok;
    if (!objective_load_data(c, c->data, tok, why_no_tok, T, cfg.vocab_size, G, &train, err, sizeof err) ||
        (c->eval_data[0] &&
         !objective_load_data(c, c->eval_data, tok, why_no_tok, T, cfg.vocab_size, G, &eval, err, sizeof err))) {
        fprintf(stderr, "iopo train: %s\n", err);
        iopo_dataset_free(&train);
        iopo_tokenizer_free(tok);
        free(tok_copy.json);
        return 1;
    }
    iopo_tokenizer_free(tok);
    fprintf(stderr, "data: %s: %s, %d sequences, %zu loss tokens%s\n", c->data, train.format, train.n,
            iopo_dataset_label_tokens(&train), train.truncated ? " (some records cut to seq_len)" : "");
    if (train.truncated) fprintf(stderr, "data: %d records longer than %d tokens were cut\n", train.truncated, T + 1);
    if (c->eval_data[0]) fprintf(stderr, "eval data: %s: %s, %d sequences\n", c->eval_data, eval.format, eval.n);
    /* epochs and warmup_ratio become steps and warmup_steps now that the records are counted; the run (and its
     * saved configuration) uses the resolved values. */
    iopo_train_config resolved = *c;
    if (strcmp(c->template_name, template_used) != 0)
        fprintf(stderr, "template: %s (auto: from the tokenizer's special tokens)\n", template_used);
    snprintf(resolved.template_name, sizeof resolved.template_name, "%s", template_used);
    if (!iopo_train_config_resolve(&resolved, train.n / G, err, sizeof err)) {
        fprintf(stderr, "iopo train: %s\n", err);
        iopo_dataset_free(&train), iopo_dataset_free(&eval);
        free(tok_copy.json);
        return 1;
    }
    c = &resolved;
    if (c->epochs > 0 || c->warmup_ratio > 0)
        fprintf(stderr, "schedule: %d steps%s, warmup %d steps\n", c->steps, c->epochs > 0 ? " (from epochs)" : "",
                c->warmup_steps);
    fprintf(stderr, "batch: %d %s per micro-batch = %d rows (up to %d positions each, padded to the longest), %d "
                    "micro-batch%s per step\n",
            c->batch_size, G == 1 ? "sequences" : G == 2 ? "pairs" : "quadruples", c->batch_size * G, T,
            c->grad_accum, c->grad_accum == 1 ? "" : "es");

    /* Memory plan before anything large is allocated. */
    cfg.logits_budget = (size_t)c->logits_budget_mb << 20;
    cfg.recompute = c->gradient_checkpointing != 0;
    train_plan plan;
    train_plan_make(c, &cfg, model_dir, G, &plan);
    if (lora)
        fprintf(stderr, "lora: rank %d, alpha %g%s, dropout %g, on %s: %zu adapter parameters (%.3f%% of %zu)\n",
                cfg.lora.rank, (double)cfg.lora.alpha, cfg.lora.rslora ? " (rsLoRA)" : "", (double)cfg.lora.dropout,
                cfg.lora.target, plan.nlora, 100.0 * (double)plan.nlora / (double)plan.nparam, plan.nparam);
    train_plan_print_line(&plan, stderr);
    double need = plan.total;
    char s4[32];
    fmt_bytes(s4, sizeof s4, need);
    iopo_ctx *ctx = iopo_ctx_create(&opts, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "iopo train: %s\n", err);
        iopo_dataset_free(&train), iopo_dataset_free(&eval);
        free(tok_copy.json);
        return 1;
    }
    size_t have = iopo_ctx_device_memory(ctx);
    if (have && need > (double)have) {
        char s5[32];
        fmt_bytes(s5, sizeof s5, (double)have);
        fprintf(stderr,
                "iopo train: the run needs %s of device memory but %s has %s: lower batch_size or seq_len, or use a "
                "smaller model\n",
                s4, iopo_ctx_device_name(ctx), s5);
        iopo_ctx_destroy(ctx);
        iopo_dataset_free(&train), iopo_dataset_free(&eval);
        free(tok_copy.json);
        return 1;
    }
    fprintf(stderr, "device: %s\n", iopo_ctx_device_name(ctx));

    int rc = 1;
    /* compute_dtype: validated with the config (full fine-tuning only). */
    iopo_dtype compute = (iopo_dtype)iopo_train_compute_dtype(c);
    if (compute != IOPO_F32)
        fprintf(stderr, "compute: %s copies of the weight matrices (float32 master weights, gradients and AdamW "
                        "state)\n", compute == IOPO_BF16 ? "bfloat16" : "float16");
    iopo_model *m = NULL, *ref_live = NULL;
    iopo_optimizer *o = NULL;
    /* DPO / IOPO: the reference log-probs of every row, computed before the policy is loaded (one model on the device
     * at a time) and cached next to the run. */
    float *ref_train = NULL, *ref_eval = NULL;
    int ref_rows = c->batch_size * G;   /* the reference's forwards run as wide as the policy's */
    if (G > 1 && c->pref_chunk > 0 && c->pref_chunk < ref_rows) ref_rows = c->pref_chunk;
    if (G > 1) {
        if (!ref_dir[0]) {
            snprintf(err, sizeof err, "%s needs the reference model: give model (the starting checkpoint) or ref_model",
                     c->objective);
            goto done;
        }
        if (!iopo_mkdirs(c->out, err, sizeof err)) goto done;
        char cache[4200];
        snprintf(cache, sizeof cache, "%.1023s/ref_logps.json", c->out);
        if (c->live_ref) {
            ref_live = iopo_model_load_frozen(ctx, ref_dir, err, sizeof err);
            if (ref_live && !iopo_model_set_compute_dtype(ref_live, compute, err, sizeof err)) goto done;
            if (ref_live && ref_adapter && ref_adapter[0] && !iopo_model_has_lora(ref_live) &&
                !iopo_model_load_adapter(ref_live, ref_adapter, err, sizeof err))
                goto done;
            if (!ref_live) goto done;
            iopo_model_freeze(ref_live);   /* forward only */
            fprintf(stderr, "reference model: live on the device (%s)\n", ref_dir);
        } else {
            ref_train = objective_reference_logps(ctx, ref_dir, ref_adapter, &train, ref_rows, T, compute, cache,
                                                  c->objective, err, sizeof err);
            if (!ref_train) goto done;
        }
        if (c->eval_data[0]) {
            snprintf(cache, sizeof cache, "%.1023s/ref_logps_eval.json", c->out);
            ref_eval = objective_reference_logps(ctx, ref_dir, ref_adapter, &eval, ref_rows, T, compute, cache,
                                                 c->objective, err, sizeof err);
            if (!ref_eval) goto done;
        }
    }
    /* LoRA: the base frozen as it is stored (a bf16 checkpoint stays bf16 on the device). */
    m = lora ? iopo_model_load_frozen(ctx, model_dir, err, sizeof err) : iopo_model_load(ctx, model_dir, err, sizeof err);
    if (m && lora && !iopo_model_has_lora(m) &&
        !(adapter_dir[0] ? iopo_model_load_adapter(m, adapter_dir, err, sizeof err)
                         : iopo_model_add_lora(m, &cfg.lora, (uint64_t)c->seed, err, sizeof err))) {
        iopo_model_free(m);
        m = NULL;
    }
    if (m && !iopo_model_set_compute_dtype(m, compute, err, sizeof err)) {
        iopo_model_free(m);
        m = NULL;
    }
    o = m ? iopo_optimizer_create(m) : NULL;
    if (!m) goto done;
    if (resume_dir[0]) {
        if (!checkpoint_load_state(resume_dir, m, o, &st, err, sizeof err)) goto done;
        if (st.data_seed != c->seed)
            fprintf(stderr, "iopo train: note: resuming with the checkpoint's data seed %ld (not %ld)\n", st.data_seed,
                    c->seed);
        fprintf(stderr, "resumed from %s at step %d\n", resume_dir, st.step);
        if (resume_here && !rundir_cut_metrics(c->out, st.step, err, sizeof err)) goto done;
    }
    /* The effective configuration, once the run is about to take its first step (a run that fails to start leaves
     * no run behind). */
    {
        char path[4200];
        snprintf(path, sizeof path, "%.1023s/train_config.json", c->out);
        char *json = iopo_train_config_to_json(c);
        bool ok = iopo_write_file_atomic(path, json, strlen(json), err, sizeof err);
        free(json);
        if (!ok) goto done;
    }
    if (!iopo_mkdirs(c->out, err, sizeof err)) goto done;

    iopo_optimizer_config oc = {.lr = (float)c->lr, .beta1 = (float)c->beta1, .beta2 = (float)c->beta2,
                                .eps = (float)c->eps, .weight_decay = (float)c->weight_decay,
                                .grad_clip = (float)c->grad_clip};
    data_cursor cur = {.n = train.n / G, .seed = st.data_seed, .epoch = st.epoch, .position = st.position};
    cur.order = malloc((size_t)cur.n * sizeof *cur.order);
    int *unit_len = NULL;
    if (c->group_by_length) {
        unit_len = malloc((size_t)cur.n * sizeof *unit_len);
        for (int u = 0; u < cur.n; u++) {
            unit_len[u] = 0;
            for (int k = 0; k < G; k++)
                if (train.ex[u * G + k].n > unit_len[u]) unit_len[u] = train.ex[u * G + k].n;
        }
        cur.unit_len = unit_len;
        cur.window = 50 * c->batch_size;
    }
    epoch_order(&cur);
    int E = c->batch_size, B = E * G, A = c->grad_accum;   /* records and rows per micro-batch */
    iopo_host_batch *hb = calloc((size_t)A, sizeof *hb);
    iopo_batch *db = calloc((size_t)A, sizeof *db);
    for (int a = 0; a < A; a++) iopo_host_batch_alloc(&hb[a], B, T), iopo_batch_init(&db[a], ctx, B, T);
    /* Activations once, for the widest micro-batch; narrower ones run in views of them. */
    iopo_model_set_logits_budget(m, (size_t)c->logits_budget_mb << 20);
    iopo_model_set_recompute(m, c->gradient_checkpointing != 0);
    /* pref_chunk: a DPO / IOPO micro-batch runs in chunks of K rows (activations for K), its objective on all rows. */
    int K = G > 1 && c->pref_chunk > 0 && c->pref_chunk < B ? c->pref_chunk : 0;
    iopo_batch cb = {0};
    iopo_tensor *all_logp = NULL, *all_count = NULL, *all_ref = NULL, *cdseq = NULL;
    if (K) {
        iopo_batch_init(&cb, ctx, K, T);
        all_logp = iopo_tensor_new1(ctx, IOPO_F32, B), all_count = iopo_tensor_new1(ctx, IOPO_F32, B);
        all_ref = iopo_tensor_new1(ctx, IOPO_F32, B), cdseq = iopo_tensor_new1(ctx, IOPO_F32, K);
        fprintf(stderr, "pref_chunk: %d rows per chunk (%d chunks per micro-batch; one more forward each)\n", K,
                (B + K - 1) / K);
    }
    iopo_model_reserve(m, K ? K : B, T);
    if (ref_live) iopo_model_set_logits_budget(ref_live, (size_t)c->logits_budget_mb << 20);
    if (ref_live) iopo_model_set_recompute(ref_live, true);   /* forward only: one block's activations suffice */
    if (ref_live) iopo_model_reserve(ref_live, K ? K : B, T);
    iopo_tensor *dloss = iopo_tensor_new2(ctx, IOPO_F32, B, T);
    float *hloss = malloc((size_t)B * T * sizeof *hloss), *hd = malloc((size_t)B * T * sizeof *hd);
    int *idx = malloc((size_t)B * sizeof *idx);
    iopo_tensor *tref = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, B) : NULL;
    iopo_tensor *tel = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, E) : NULL, *tz = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, E) : NULL;
    iopo_tensor *tdseq = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, B) : NULL;
    float *href = malloc((size_t)A * B * sizeof *href), *hlp = malloc((size_t)B * sizeof *hlp);
    char mpath[4200], saved[4200] = "";
    snprintf(mpath, sizeof mpath, "%.1023s/metrics.jsonl", c->out);
    FILE *metrics = fopen(mpath, resume_here ? "a" : "w");
    int resumed_step = st.step, nwritten = 0, interrupted = stop_signal, logged = 0;
    int *written = malloc((size_t)(c->steps + 1) * sizeof *written);
    if (!metrics) {
        snprintf(err, sizeof err, "%s: cannot open for writing", mpath);
        goto loop_done;
    }
    err[0] = 0;
    double t_start = now_seconds(), tokens_run = 0, positions_run = 0;   /* positions: computed, padding included */
    int first_step = st.step;
    int end = c->stop_at > 0 && c->stop_at < c->steps ? c->stop_at : c->steps;
    while (!interrupted && st.step < end) {
        double t0 = now_seconds();
        int s = st.step + 1;
        double lr = iopo_train_lr(c, s);
        /* Fill every micro-batch first: the loss is the mean over all loss tokens of the step, so each token's
         * upstream gradient 1/count is known before any backward runs (no device round trip). */
        double count = 0, step_tokens = 0;
        for (int a = 0; a < A; a++) {
            cursor_next(&cur, idx, E);
            for (int e = E - 1; e >= 0; e--)   /* record -> its G consecutive rows */
                for (int k = G - 1; k >= 0; k--) idx[e * G + k] = idx[e] * G + k;
            if (G > 1 && ref_train)
                for (int r = 0; r < B; r++) href[a * B + r] = ref_train[idx[r]];
            fill_batch(&hb[a], &train, idx, B);
            positions_run += (double)B * hb[a].T;
            count += hb[a].label_count;
            for (int b = 0; b < B; b++) step_tokens += hb[a].lengths[b];
        }
        float g = count > 0 ? (float)(1.0 / count) : 0.0f;
        for (int i = 0; i < B * T; i++) hd[i] = g;
        iopo_tensor_upload(dloss, hd);
        iopo_model_zero_grad(m);
        double loss_sum = 0;
        pref_metrics pm = {0};
        for (int a = 0; a < A; a++) {
            if (K) {   /* chunks: every row's log-prob first, then the objective, then each chunk's gradient */
                for (int pass = 0; pass < 2; pass++) {
                    for (int r0 = 0; r0 < B; r0 += K) {
                        int n = B - r0 < K ? B - r0 : K;
                        iopo_batch cv;
                        upload_rows(&cv, &cb, &hb[a], r0, n);
                        iopo_model_set_lora_training(m, true, dropout_seed(c->seed, s, a, r0));
                        iopo_model_forward(m, &cv);
                        if (pass == 0) {
                            iopo_tensor_copy_range(all_logp, (size_t)r0, iopo_model_seq_logp(m), 0, (size_t)n);
                            iopo_tensor_copy_range(all_count, (size_t)r0, iopo_model_seq_count(m), 0, (size_t)n);
                            if (ref_live) {
                                iopo_model_forward(ref_live, &cv);
                                iopo_tensor_copy_range(all_ref, (size_t)r0, iopo_model_seq_logp(ref_live), 0, (size_t)n);
                            }
                        } else {
                            iopo_tensor *d = iopo_tensor_view(cdseq, 0, 1, (int64_t[]){n});
                            iopo_tensor_copy_range(d, 0, tdseq, (size_t)r0, (size_t)n);
                            iopo_model_backward(m, &cv, NULL, d);
                            iopo_tensor_free(d);
                        }
                        iopo_batch_free(&cv);
                    }
                    if (pass == 0) {
                        if (!ref_live) iopo_tensor_upload(tref, href + (size_t)a * B);
                        iopo_pref_params pp = objective_params(c, G, 1.0f / (float)(E * A));
                        iopo_pref_loss(ctx, tel, tz, tdseq, all_logp, ref_live ? all_ref : tref, all_count, E, &pp);
                    }
                }
                iopo_tensor_download(tel, hloss);
                loss_sum += sum_floats(hloss, (size_t)E);
                iopo_tensor_download(all_logp, hlp);
                if (ref_live) iopo_tensor_download(all_ref, href + (size_t)a * B);
                pref_metrics_add(&pm, hlp, href + (size_t)a * B, E, G, c->beta);
                continue;
            }
            iopo_batch mb;   /* the micro-batch: views of db[a] as wide as its longest sequence */
            upload_batch(&mb, &db[a], &hb[a]);
            iopo_model_set_lora_training(m, true, dropout_seed(c->seed, s, a, 0));
            iopo_model_forward(m, &mb);
            if (G == 1) {
                iopo_tensor_download(iopo_model_token_loss(m), hloss);   /* the only per-micro-batch read-back */
                loss_sum += sum_floats(hloss, (size_t)B * mb.T);
                iopo_tensor *dl = iopo_tensor_view(dloss, 0, 2, (int64_t[]){B, mb.T});
                iopo_model_backward(m, &mb, dl, NULL);
                iopo_tensor_free(dl);
                iopo_batch_free(&mb);
                continue;
            }
            /* The objective on the device: per-sequence gradients feed the softmax-CE backward directly. */
            const iopo_tensor *ref_seq = tref;
            if (ref_live) {
                /* The live reference runs on the same batch; its log-probs stay on the device. */
                iopo_model_forward(ref_live, &mb);
                ref_seq = iopo_model_seq_logp(ref_live);
            } else {
                iopo_tensor_upload(tref, href + (size_t)a * B);
            }
            iopo_pref_params pp = objective_params(c, G, 1.0f / (float)(E * A));
            iopo_pref_loss(ctx, tel, tz, tdseq, iopo_model_seq_logp(m), ref_seq, iopo_model_seq_count(m), E, &pp);
            iopo_model_backward(m, &mb, NULL, tdseq);
            iopo_batch_free(&mb);
            iopo_tensor_download(tel, hloss);
            loss_sum += sum_floats(hloss, (size_t)E);
            iopo_tensor_download(iopo_model_seq_logp(m), hlp);
            if (ref_live) iopo_tensor_download(iopo_model_seq_logp(ref_live), href + (size_t)a * B);
            pref_metrics_add(&pm, hlp, href + (size_t)a * B, E, G, c->beta);
        }
        if (G > 1) count = (double)E * A;
        iopo_optimizer_norm_record(o, &oc);
        float norm[2];
        iopo_tensor_download(iopo_optimizer_norm(o), norm);
        double loss = count > 0 ? loss_sum / count : 0.0;
        if (!isfinite(loss) || !isfinite(norm[0])) {
            const char *bad = first_nonfinite_grad(m);
            fprintf(stderr,
                    "iopo train: step %d: non-finite %s (loss %g, gradient norm %g)%s%s; weights were not updated. "
                    "Last good checkpoint: %s\n",
                    s, !isfinite(loss) ? "loss" : "gradient", loss, (double)norm[0], bad ? "; first bad gradient: " : "",
                    bad ? bad : "", saved[0] ? saved : "(none written in this run)");
            goto loop_done;
        }
        iopo_optimizer_apply(o, &oc, (float)lr);
        iopo_sync(ctx);
        st.step = s;
        st.epoch = cur.epoch;
        st.position = cur.position;
        st.tokens_seen += (long long)step_tokens;
        tokens_run += step_tokens;
        double t1 = now_seconds(), ms = 1e3 * (t1 - t0);
        double eval_loss = NAN;
        pref_metrics epm = {0};
        bool last = st.step == c->steps, stop = st.step == end;
        bool evaluated = c->eval_data[0] && (last || (c->eval_every && st.step % c->eval_every == 0));
        if (evaluated) {
            iopo_host_batch ehb;
            iopo_host_batch_alloc(&ehb, B, T);
            iopo_model_set_lora_training(m, false, 0);   /* evaluation without dropout */
            eval_loss = evaluate(m, &eval, &db[0], &ehb, G, ref_eval, c, &epm);
            iopo_host_batch_free(&ehb);
        }
        if (st.step % c->log_every == 0 || stop || evaluated) {
            double elapsed = t1 - t_start, tps = tokens_run / (elapsed > 0 ? elapsed : 1);
            double eta = (elapsed / (st.step - first_step)) * (end - st.step);
            fprintf(stderr, "step %d/%d  loss %.4f  lr %.3g  grad norm %.3f  %.0f tok/s  %.0f ms/step  ETA %.0fs",
                    st.step, c->steps, loss, lr, (double)norm[0], tps, ms, eta);
            pref_metrics_print_short(&pm, stderr);
            if (evaluated) fprintf(stderr, "  eval loss %.4f", eval_loss);
            pref_metrics_print_short(&epm, stderr);
            fprintf(stderr, "\n");
            /* Every value through metrics_json_number: a NaN loss must not make the line invalid JSON (the reader of
             * --resume would take it for a record cut short, and other tools refuse the file). */
            fprintf(metrics, "{\"step\": %d", st.step);
            metrics_json_number(metrics, "", "loss", "%.9g", loss);
            metrics_json_number(metrics, "", "lr", "%.9g", lr);
            metrics_json_number(metrics, "", "grad_norm", "%.9g", (double)norm[0]);
            metrics_json_number(metrics, "", "tokens_per_s", "%.1f", tps);
            metrics_json_number(metrics, "", "ms_per_step", "%.2f", ms);
            fprintf(metrics, ", \"tokens_seen\": %lld", st.tokens_seen);
            pref_metrics_print_json(&pm, metrics, "");
            if (evaluated) metrics_json_number(metrics, "", "eval_loss", "%.9g", eval_loss);
            pref_metrics_print_json(&epm, metrics, "eval_");
            fprintf(metrics, "}\n");
            fflush(metrics);
            logged++;
        }
        /* A stop request (SIGINT / SIGTERM in the CLI) lands here, after a whole step: checkpoint, then return. */
        test_hold_after_step(st.step);
        interrupted = stop_signal;
        if (stop || interrupted || (c->save_every && st.step % c->save_every == 0)) {
            if (!checkpoint_save(c->out, m, o, &st, &tok_copy, saved, sizeof saved, err, sizeof err)) goto loop_done;
            written[nwritten++] = st.step;
            checkpoint_prune(c->out, c->keep_checkpoints, resumed_step, written, nwritten);
            write_plot(c);
        }
    }
    if (!saved[0]) snprintf(saved, sizeof saved, "%s", resume_dir[0] ? resume_dir : "(none)");
    if (interrupted) {
        const char *name = interrupted == SIGINT ? "SIGINT" : interrupted == SIGTERM ? "SIGTERM" : "a signal";
        if (st.step == first_step && !resume_dir[0])
            fprintf(stderr, "interrupted by %s before the first step: no checkpoint, nothing to resume\n", name);
        else
            fprintf(stderr, "interrupted by %s after step %d/%d; checkpoint %s\n", name, st.step, c->steps, saved);
        rc = 128 + interrupted;
        goto loop_done;
    }
    char final_dir[4200] = "";
    if (st.step == c->steps && !checkpoint_save_final(c->out, m, &tok_copy, !strcmp(c->save_dtype, "bfloat16"),
                                                     final_dir, sizeof final_dir, err, sizeof err))
        goto loop_done;
    if (positions_run > 0)
        fprintf(stderr, "padding: %.1f%% of the %.0f positions computed in this run (micro-batches pad to their longest "
                        "sequence%s)\n",
                100.0 * (1.0 - tokens_run / positions_run), positions_run,
                c->group_by_length ? ", grouped by length" : "; group_by_length 1 groups records by length");
    fprintf(stderr, "tensor memory: peak %.2f MiB on %s\n", (double)iopo_ctx_tensor_bytes_peak(ctx) / (1 << 20),
            iopo_ctx_device_name(ctx));
    if (final_dir[0]) fprintf(stderr, "final model: %s\n", final_dir);
    fprintf(stderr, "done: %d steps; checkpoint %s\nsample from it: iopo generate --model %s --prompt \"...\"\n", st.step,
            saved, final_dir[0] ? final_dir : saved);
    rc = 0;
loop_done:
    if (rc && err[0]) fprintf(stderr, "iopo train: %s\n", err);
    if (metrics) fclose(metrics);
    if (logged) write_plot(c);   /* the end of the run, however it ended: every record logged is drawn */
    for (int a = 0; a < A; a++) iopo_host_batch_free(&hb[a]), iopo_batch_free(&db[a]);
    free(hb), free(db), free(hloss), free(hd), free(idx), free(cur.order), free(unit_len);
    iopo_tensor_free(dloss);
    iopo_tensor_free(tref), iopo_tensor_free(tel), iopo_tensor_free(tz), iopo_tensor_free(tdseq);
    if (K) iopo_batch_free(&cb);
    iopo_tensor_free(all_logp), iopo_tensor_free(all_count), iopo_tensor_free(all_ref), iopo_tensor_free(cdseq);
    free(href), free(hlp), free(written);
    err[0] = 0;
done:
    if (rc && err[0]) fprintf(stderr, "iopo train: %s\n", err);
    iopo_optimizer_free(o);
    iopo_model_free(m);
    iopo_model_free(ref_live);
    iopo_ctx_destroy(ctx);
    iopo_dataset_free(&train);
    iopo_dataset_free(&eval);
    free(ref_train), free(ref_eval), free(tok_copy.json);
    return rc;
}
