/* The memory plan of a run (src/train/plan.h). Every figure comes from the same functions that size the allocations:
 * the parameter count of the config, the adapters' count, and the activation list itself. */
#include <string.h>

#include <cjson/cJSON.h>

#include "iopo/context.h"
#include "iopo/jsonutil.h"
#include "iopo/safetensors.h"
#include "train/plan.h"

static const char *dtype_name(int dt) { return dt == IOPO_BF16 ? "bfloat16" : dt == IOPO_F16 ? "float16" : "float32"; }

static void fmt(char *buf, size_t n, double bytes) {
    if (bytes >= 1 << 30) snprintf(buf, n, "%.2f GiB", bytes / (1 << 30));
    else snprintf(buf, n, "%.1f MiB", bytes / (1 << 20));
}

/* The dtype the checkpoint stores its tensors in, from the headers (the weights are not read); without weights files
 * (a config.json alone, to plan for a model not downloaded), config.json's torch_dtype / dtype. */
static void stored_dtype(const char *dir, char *out, size_t n) {
    char err[256];
    snprintf(out, n, "(no safetensors found)");
    iopo_safetensors *st = dir ? iopo_st_open(dir, err, sizeof err) : NULL;
    if (!st && dir) {
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", dir);
        cJSON *root = iopo_json_load(path, err, sizeof err);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
        if (!cJSON_IsString(d)) d = cJSON_GetObjectItemCaseSensitive(root, "dtype");
        if (cJSON_IsString(d) && (!strcmp(d->valuestring, "bfloat16") || !strcmp(d->valuestring, "float16") ||
                                  !strcmp(d->valuestring, "float32")))
            snprintf(out, n, "%s", d->valuestring);
        cJSON_Delete(root);
    }
    if (!st) return;
    int seen[8] = {0};
    for (int i = 0; i < iopo_st_count(st); i++) {
        int d = (int)iopo_st_at(st, i)->dtype;
        if (d >= 0 && d < 8) seen[d] = 1;
    }
    int kinds = 0, last = -1;
    for (int d = 0; d < 8; d++)
        if (seen[d]) kinds++, last = d;
    snprintf(out, n, "%s", kinds != 1 ? "mixed" : last == IOPO_ST_F32 ? "float32" : last == IOPO_ST_BF16 ? "bfloat16"
                           : last == IOPO_ST_F16 ? "float16" : "other");
    iopo_st_close(st);
}

/* The adapters of a LoRA run into cfg->lora: those of the directory the model comes from when it is an adapter (a
 * resumed run), else those of the adapter to start from, else new ones as the run's keys say. */
bool train_plan_lora_config(const iopo_train_config *c, const char *adapter_dir, iopo_model_config *cfg, char *err,
                               size_t errlen) {
    if (cfg->lora.rank == 0 && adapter_dir[0] && !iopo_adapter_config_read(adapter_dir, &cfg->lora, err, errlen))
        return false;
    if (cfg->lora.rank == 0) {
        cfg->lora = (iopo_lora_config){.rank = c->lora_rank,
                                       .alpha = (float)(c->lora_alpha > 0 ? c->lora_alpha : 2.0 * c->lora_rank),
                                       .dropout = (float)c->lora_dropout, .rslora = c->use_rslora != 0};
        snprintf(cfg->lora.target, sizeof cfg->lora.target, "%s", c->lora_target);
    }
    return iopo_lora_numel(cfg, err, errlen) > 0;
}

void train_plan_make(const iopo_train_config *c, const iopo_model_config *cfg, const char *model_dir, int G,
                     train_plan *p) {
    memset(p, 0, sizeof *p);
    p->lora = cfg->lora.rank > 0;
    p->live_ref = G > 1 && c->live_ref;
    p->rows = c->batch_size * G;
    if (G > 1 && c->pref_chunk > 0 && c->pref_chunk < p->rows) p->rows = c->pref_chunk;   /* activations of a chunk */
    p->T = c->seq_len < cfg->n_ctx ? c->seq_len : cfg->n_ctx;   /* as the run cuts it */
    p->logits_budget_mb = c->logits_budget_mb;
    p->nparam = iopo_model_config_numel(cfg);
    char err[256];
    p->nlora = p->lora ? iopo_lora_numel(cfg, err, sizeof err) : 0;
    stored_dtype(model_dir, p->stored, sizeof p->stored);
    iopo_model_config planned = *cfg;
    planned.logits_budget = (size_t)c->logits_budget_mb << 20;   /* the head is sized as the run sizes it */
    p->act = iopo_model_activation_plan(&planned, p->rows, p->T);
    planned.recompute = !planned.recompute;
    p->act_other = iopo_model_activation_plan(&planned, p->rows, p->T).total;
    p->recompute = cfg->recompute;
    /* Trained weights are fp32; a frozen base (LoRA) keeps a 16-bit checkpoint's matrices in 16 bits. */
    bool half = !strcmp(p->stored, "bfloat16") || !strcmp(p->stored, "float16");
    size_t matrices = iopo_model_config_matrix_numel(cfg);
    p->held_16bit = p->lora && half;
    p->params = p->held_16bit ? 2.0 * (double)matrices + 4.0 * (double)(p->nparam - matrices) : 4.0 * (double)p->nparam;
    p->adapters = 4.0 * (double)p->nlora;
    /* compute_dtype (full fine-tuning): a 16-bit copy of every fp32 matrix beside the fp32 masters. */
    int cdt = iopo_train_compute_dtype(c);
    p->compute_dtype = !p->lora && cdt > 0 ? cdt : IOPO_F32;
    p->compute = p->compute_dtype != IOPO_F32 ? 2.0 * (double)matrices : 0;
    double trained = p->lora ? p->adapters : p->params;
    p->grads = trained;
    p->adam = 2 * trained;
    /* A live reference is a second model with its own activations; otherwise its log-probs are computed before the
     * policy is loaded (one model at a time) and cached. */
    /* (the reference forward runs with recomputation: one block's activations, whatever the run's setting) */
    iopo_model_config fwd = planned;
    fwd.recompute = true;
    double ref_params = half ? 2.0 * (double)matrices + 4.0 * (double)(p->nparam - matrices) : 4.0 * (double)p->nparam;
    if (!half) ref_params += p->compute;   /* the reference computes as the policy does: fp32 matrices get copies */
    p->ref = p->live_ref ? ref_params + p->adapters + (double)iopo_model_activation_plan(&fwd, p->rows, p->T).total : 0;
    p->total = p->params + p->compute + p->adapters + p->grads + p->adam + (double)p->act.total + p->ref;
}

void train_plan_print_line(const train_plan *p, FILE *f) {
    char s1[32], s2[32], s3[32], s4[32], s5[32];
    fmt(s1, sizeof s1, p->params), fmt(s2, sizeof s2, p->adam), fmt(s3, sizeof s3, (double)p->act.total);
    fmt(s4, sizeof s4, p->total), fmt(s5, sizeof s5, p->grads);
    if (p->lora) {
        char s6[32];
        fmt(s6, sizeof s6, p->adapters);
        fprintf(f, "memory: parameters %s (frozen), adapters %s, gradients %s, AdamW state %s, activations %s (batch %d "
                   "x %d rows): %s\n", s1, s6, s5, s2, s3, p->rows, p->T, s4);
    } else if (p->compute > 0) {
        char s6[32];
        fmt(s6, sizeof s6, p->compute);
        fprintf(f, "memory: parameters %s (+ %s %s compute copies), gradients %s, AdamW state %s, activations %s "
                   "(batch %d x %d rows): %s\n", s1, s6, dtype_name(p->compute_dtype), s5, s2, s3, p->rows, p->T, s4);
    } else {
        fprintf(f, "memory: parameters %s, gradients %s, AdamW state %s, activations %s (batch %d x %d rows): %s\n", s1,
                s5, s2, s3, p->rows, p->T, s4);
    }
}

void train_plan_print(const train_plan *p, const iopo_model_config *cfg, size_t have, const char *device, FILE *f) {
    char b[32];
    fprintf(f, "plan: %s, %zu parameters stored as %s in the checkpoint, held as %s", cfg->arch, p->nparam,
            p->stored, p->held_16bit ? "the matrices in the checkpoint's 16 bits (frozen), the vectors in float32"
                                     : "float32");
    if (p->lora) fprintf(f, "; LoRA rank %d on %s: %zu adapter parameters", cfg->lora.rank, cfg->lora.target, p->nlora);
    fprintf(f, "\n");
    fmt(b, sizeof b, p->params);
    fprintf(f, "  parameters     %12s%s\n", b, p->lora ? "  (frozen: no gradients, no AdamW state)"
                                                     : p->compute > 0 ? "  (float32 master weights)" : "");
    if (p->compute > 0)
        fmt(b, sizeof b, p->compute), fprintf(f, "  compute copies %12s  (compute_dtype %s: the matrices the forward "
                                                 "and backward read; norms and biases read in float32)\n",
                                              b, dtype_name(p->compute_dtype));
    if (p->lora) fmt(b, sizeof b, p->adapters), fprintf(f, "  adapters       %12s\n", b);
    fmt(b, sizeof b, p->grads);
    fprintf(f, "  gradients      %12s\n", b);
    fmt(b, sizeof b, p->adam);
    fprintf(f, "  AdamW state    %12s  (two moments)\n", b);
    fmt(b, sizeof b, (double)p->act.total);
    char o[32];
    fmt(o, sizeof o, (double)p->act_other);
    fprintf(f, "  activations    %12s  (%d rows x %d positions at a time, forward and backward; %s with "
               "gradient_checkpointing %d)\n", b, p->rows, p->T, o, !p->recompute);
    char l[32], a[32], d[32];
    fmt(l, sizeof l, (double)p->act.logits), fmt(a, sizeof a, (double)p->act.attention);
    fmt(d, sizeof d, (double)p->act.adapters);
    fprintf(f, "    of which     %12s  LM-head logits (logits_budget_mb %d)\n", l, p->logits_budget_mb);
    fprintf(f, "                 %12s  attention scratch\n", a);
    if (p->lora) fprintf(f, "                 %12s  adapters' activations\n", d);
    if (p->live_ref) fmt(b, sizeof b, p->ref), fprintf(f, "  reference      %12s  (live: a second model)\n", b);
    else fprintf(f, "  reference      %12s  (log-probs computed before training and cached)\n", "0");
    fmt(b, sizeof b, p->total);
    char hb[32];
    if (have) fmt(hb, sizeof hb, (double)have);
    fprintf(f, "  total          %12s  %s%s%s\n", b, have ? "of " : "", have ? hb : "(device memory unknown)",
            have ? (p->total <= (double)have ? " : fits" : " : DOES NOT FIT") : "");
    fprintf(f, "  device         %s\n", device);
}

int train_plan_run(const iopo_train_config *c, const iopo_ctx_options *opts) {
    char err[4608], model_dir[4096] = "", adapter_dir[4096] = "";
    const char *model = c->model[0] ? c->model : c->resume;
    iopo_model_config cfg;
    bool lora = !strcmp(c->finetuning_type, "lora");
    if (!iopo_model_dir_resolve(model, model_dir, sizeof model_dir, err, sizeof err) ||
        (c->adapter[0] && !iopo_model_dir_resolve(c->adapter, adapter_dir, sizeof adapter_dir, err, sizeof err)) ||
        !iopo_model_config_load(&cfg, model_dir, err, sizeof err) ||
        (lora && !train_plan_lora_config(c, adapter_dir, &cfg, err, sizeof err))) {
        fprintf(stderr, "iopo train --plan: %s\n", err);
        return 1;
    }
    if (!lora) cfg.lora = (iopo_lora_config){0};
    cfg.recompute = c->gradient_checkpointing != 0;
    if (c->seq_len > cfg.n_ctx)
        fprintf(stderr, "iopo train --plan: seq_len %d exceeds the model's n_positions; using %d\n", c->seq_len,
                cfg.n_ctx);
    train_plan p;
    train_plan_make(c, &cfg, model_dir, !strcmp(c->objective, "iopo") ? 4 : !strcmp(c->objective, "dpo") ? 2 : 1, &p);
    /* The device's memory: a context allocates nothing large when it is made. */
    iopo_ctx *ctx = iopo_ctx_create(opts, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "iopo train --plan: %s\n", err);
        return 1;
    }
    size_t have = iopo_ctx_device_memory(ctx);
    train_plan_print(&p, &cfg, have, iopo_ctx_device_name(ctx), stdout);
    iopo_ctx_destroy(ctx);
    return have && p.total > (double)have ? 1 : 0;
}
