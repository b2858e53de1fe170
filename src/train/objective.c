/* SFT / DPO / IOPO specifics of a training run: data as rows, cached reference log-probs, metrics. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/prefdata.h"
#include "train/objective.h"

int objective_group(const char *objective) {
    return strcmp(objective, "iopo") == 0 ? 4 : strcmp(objective, "dpo") == 0 ? 2 : 1;
}

iopo_pref_params objective_params(const iopo_train_config *c, int group, float scale) {
    iopo_pref_loss_type t = IOPO_PREF_SIGMOID;
    if (!strcmp(c->loss_type, "ipo")) t = IOPO_PREF_IPO;
    if (!strcmp(c->loss_type, "hinge")) t = IOPO_PREF_HINGE;
    if (!strcmp(c->loss_type, "robust")) t = IOPO_PREF_ROBUST;
    return (iopo_pref_params){.group = group, .type = t, .beta = (float)c->beta,
                              .label_smoothing = (float)c->label_smoothing, .pref_ftx = (float)c->pref_ftx,
                              .scale = scale};
}

/* The SFT-only formats of dataset.c: .txt, or JSONL whose first record has text / input_ids / prompt_ids. *text:
 * the format is text (needs a tokenizer). */
static bool is_plain_sft_file(const char *path, bool *text) {
    size_t n = strlen(path);
    *text = false;
    if (n >= 4 && strcmp(path + n - 4, ".txt") == 0) return *text = true;
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    bool plain = false;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\n' || *p == '\r' || !*p) continue;
        plain = *p == '{' && (strstr(line, "\"text\"") || strstr(line, "\"input_ids\"") ||
                              (strstr(line, "\"prompt_ids\"") && !strstr(line, "\"chosen_ids\"")));
        *text = plain && !strstr(line, "\"input_ids\"") && !strstr(line, "\"prompt_ids\"");
        break;
    }
    fclose(f);
    return plain;
}

bool objective_load_tokenizer(const char *explicit_path, const char *model_dir, iopo_tokenizer **tok, char *why,
                              size_t whylen, char *err, size_t errlen) {
    char path[4200];
    struct stat sb;
    *tok = NULL;
    why[0] = 0;
    if (explicit_path && explicit_path[0]) {
        if (stat(explicit_path, &sb) != 0) {
            snprintf(err, errlen, "--tokenizer %s: %s", explicit_path, strerror(errno));
            return false;
        }
        snprintf(path, sizeof path, "%s", explicit_path);
    } else {
        snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
        if (stat(path, &sb) != 0) {
            snprintf(why, whylen,
                     "%s has no tokenizer.json: give one with --tokenizer FILE (a tokenizer.json, or GPT-2's "
                     "encoder.json with vocab.bpe beside it), or copy a tokenizer.json into %s",
                     model_dir, model_dir);
            return true;
        }
    }
    *tok = iopo_tokenizer_load(path, err, errlen);
    return *tok != NULL;
}

bool objective_load_data(const iopo_train_config *c, const char *path, const iopo_tokenizer *tok,
                         const char *no_tokenizer, int T, int vocab, int group, iopo_dataset *out, char *err,
                         size_t errlen) {
    bool text;
    /* trainer.c loads c->data and c->eval_data, each described by its own dataset_info entry (when it has one). */
    const char *info = path == c->eval_data ? c->eval_dataset_info : c->dataset_info;
    if (group == 1 && !info[0] && is_plain_sft_file(path, &text)) {
        if (text && !tok) {
            snprintf(err, errlen, "%s: text data needs a tokenizer%s%s", path, no_tokenizer ? ", and " : "",
                     no_tokenizer ? no_tokenizer : "");
            return false;
        }
        return iopo_dataset_load(out, path, tok, T + 1, vocab, err, errlen);
    }
    iopo_pref_options opt = {.objective = (iopo_objective)group, .template_name = c->template_name,
                             .cutoff_len = T + 1, .skip_bad = strcmp(c->on_bad_record, "skip") == 0, .vocab = vocab,
                             .no_tokenizer = no_tokenizer, .dataset_info = info};
    iopo_pref_dataset pd;
    if (!iopo_pref_dataset_load(&pd, path, tok, &opt, err, errlen)) return false;
    memset(out, 0, sizeof *out);
    out->n = pd.n * group;
    out->ex = calloc((size_t)(out->n ? out->n : 1), sizeof *out->ex);
    for (int r = 0; r < pd.n; r++)
        for (int k = 0; k < group; k++) {
            out->ex[r * group + k] = pd.rec[r].seq[k];
            out->ex[r * group + k].line = pd.rec[r].line;
            memset(&pd.rec[r].seq[k], 0, sizeof pd.rec[r].seq[k]);   /* ownership moves to out */
        }
    snprintf(out->format, sizeof out->format, "%.47s", pd.format);
    out->truncated = pd.truncated;
    out->by_index = pd.is_array;
    if (pd.dropped) fprintf(stderr, "data: %s: %d bad records skipped (listed above)\n", path, pd.dropped);
    iopo_pref_dataset_free(&pd);
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no usable records", path);
        return false;
    }
    return true;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

float *objective_reference_logps(iopo_ctx *ctx, const char *model_dir, const char *adapter_dir, const iopo_dataset *ds,
                                 int rows_per_batch, int T, iopo_dtype compute, const char *cache_path,
                                 const char *key_extra, char *err, size_t errlen) {
    /* The key covers the reference weights (and adapter), every row's tokens and labels (so data, template and
     * cutoff), and T. */
    uint64_t h = 1469598103934665603ull;
    char path[4200];
    const char *files[] = {"config.json", "model.safetensors", "model.safetensors.index.json", "adapter_config.json",
                           "adapter_model.safetensors"};
    const char *dirs[2] = {model_dir, adapter_dir && adapter_dir[0] ? adapter_dir : NULL};
    for (int d = 0; d < 2 && dirs[d]; d++)
        for (int i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "%s/%s", dirs[d], files[i]);
            size_t len;
            char ferr[64];
            char *bytes = iopo_read_file(path, &len, ferr, sizeof ferr);
            if (bytes) h = fnv1a(h, bytes, len), free(bytes);
        }
    for (int i = 0; i < ds->n; i++) {
        h = fnv1a(h, ds->ex[i].ids, (size_t)ds->ex[i].n * sizeof(int32_t));
        h = fnv1a(h, ds->ex[i].label, (size_t)ds->ex[i].n);
    }
    h = fnv1a(h, &T, sizeof T);
    h = fnv1a(h, key_extra, strlen(key_extra));
    if (compute != IOPO_F32) h = fnv1a(h, &compute, sizeof compute);   /* fp32 keeps the keys caches already have */
    char key[32];
    snprintf(key, sizeof key, "%016llx", (unsigned long long)h);

    float *out = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *out);
    size_t len;
    char ferr[256];
    char *text = cache_path ? iopo_read_file(cache_path, &len, ferr, sizeof ferr) : NULL;
    if (text) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        free(text);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "logps");
        bool hit = cJSON_IsString(k) && !strcmp(k->valuestring, key) && cJSON_IsArray(v) &&
                   cJSON_GetArraySize(v) == ds->n;
        const cJSON *x;
        /* A damaged cache (a non-number, a value beyond float's range) is recomputed, never cast to float. */
        for (x = hit ? v->child : NULL; x; x = x->next)
            if (!cJSON_IsNumber(x) || !(x->valuedouble > -1e30 && x->valuedouble < 1e30)) hit = false;
        if (hit) {
            int i = 0;
            cJSON_ArrayForEach(x, v) out[i++] = (float)x->valuedouble;
            cJSON_Delete(root);
            fprintf(stderr, "reference log-probs: cached in %s\n", cache_path);
            return out;
        }
        cJSON_Delete(root);
        fprintf(stderr, "reference log-probs: %s is stale (model, data or settings changed); recomputing\n",
                cache_path);
    }
    iopo_model *ref = iopo_model_load_frozen(ctx, model_dir, err, errlen);
    if (ref && dirs[1] && !iopo_model_has_lora(ref) && !iopo_model_load_adapter(ref, dirs[1], err, errlen)) {
        iopo_model_free(ref);
        ref = NULL;
    }
    if (ref && !iopo_model_set_compute_dtype(ref, compute, err, errlen)) {
        iopo_model_free(ref);
        ref = NULL;
    }
    if (!ref) {
        free(out);
        return NULL;
    }
    iopo_model_freeze(ref);                /* forward only: no gradients, */
    iopo_model_set_recompute(ref, true);   /* and one block's activations serve every block */
    iopo_host_batch hb;
    iopo_host_batch_alloc(&hb, rows_per_batch, T);
    iopo_batch b;
    iopo_batch_init(&b, ctx, rows_per_batch, T);
    int *idx = malloc((size_t)rows_per_batch * sizeof *idx);
    float *lp = malloc((size_t)rows_per_batch * sizeof *lp);
    for (int start = 0; start < ds->n; start += rows_per_batch) {
        int nb = ds->n - start < rows_per_batch ? ds->n - start : rows_per_batch;
        for (int i = 0; i < nb; i++) idx[i] = start + i;
        iopo_host_batch_fit(&hb, ds, idx, nb, IOPO_PAD_MULTIPLE);   /* as wide as its longest sequence */
        iopo_host_batch_fill(&hb, ds, idx, nb);
        iopo_batch v;
        iopo_batch_view(&v, &b, hb.T);
        iopo_tensor_upload(v.tokens, hb.tokens);
        iopo_tensor_upload(v.targets, hb.targets);
        iopo_tensor_upload(v.mask, hb.mask);
        iopo_tensor_upload(v.lengths, hb.lengths);
        iopo_model_forward(ref, &v);
        iopo_batch_free(&v);
        iopo_tensor_download(iopo_model_seq_logp(ref), lp);
        memcpy(out + start, lp, (size_t)nb * sizeof *lp);
    }
    free(idx), free(lp);
    iopo_batch_free(&b);
    iopo_host_batch_free(&hb);
    iopo_model_free(ref);
    if (!cache_path) return out;
    /* Cache: JSON with round-trip precision for every value. */
    iopo_atomic_file af;
    if (iopo_atomic_open(&af, cache_path, ferr, sizeof ferr)) {
        fprintf(af.f, "{\"key\": \"%s\", \"logps\": [", key);
        for (int i = 0; i < ds->n; i++) fprintf(af.f, "%s%.9g", i ? ", " : "", (double)out[i]);
        fprintf(af.f, "]}\n");
        if (!iopo_atomic_commit(&af, ferr, sizeof ferr)) fprintf(stderr, "iopo train: note: %s\n", ferr);
    } else {
        fprintf(stderr, "iopo train: note: reference cache not written: %s\n", ferr);
    }
    fprintf(stderr, "reference log-probs: computed for %d sequences, cached in %s\n", ds->n, cache_path);
    return out;
}

void pref_metrics_add(pref_metrics *pm, const float *seq_logp, const float *ref_logp, int E, int group, double beta) {
    pm->group = group;
    for (int e = 0; e < E; e++) {
        const float *lp = seq_logp + (size_t)e * group, *rp = ref_logp + (size_t)e * group;
        double r[4] = {0, 0, 0, 0};
        for (int k = 0; k < group; k++) {
            r[k] = beta * ((double)lp[k] - rp[k]);
            pm->reward[k] += r[k];
            pm->logp[k] += lp[k];
            pm->ref_logp[k] += rp[k];
        }
        pm->acc[0] += r[0] > r[1];
        if (group == 4) pm->acc[1] += r[2] > r[3];
        pm->n++;
    }
}

void metrics_json_number(FILE *f, const char *prefix, const char *key, const char *fmt, double v) {
    fprintf(f, ", \"%s%s\": ", prefix, key);
    iopo_json_write_number(f, fmt, v);
}

void pref_metrics_print_json(const pref_metrics *pm, FILE *f, const char *prefix) {
    if (pm->n == 0) return;
    double n = pm->n;
    if (pm->group == 2) {
        metrics_json_number(f, prefix, "rewards/chosen", "%.6g", pm->reward[0] / n);
        metrics_json_number(f, prefix, "rewards/rejected", "%.6g", pm->reward[1] / n);
        metrics_json_number(f, prefix, "rewards/margins", "%.6g", (pm->reward[0] - pm->reward[1]) / n);
        metrics_json_number(f, prefix, "rewards/accuracies", "%.6g", pm->acc[0] / n);
        metrics_json_number(f, prefix, "logps/chosen", "%.6g", pm->logp[0] / n);
        metrics_json_number(f, prefix, "logps/rejected", "%.6g", pm->logp[1] / n);
        metrics_json_number(f, prefix, "logps/ref_chosen", "%.6g", pm->ref_logp[0] / n);
        metrics_json_number(f, prefix, "logps/ref_rejected", "%.6g", pm->ref_logp[1] / n);
    } else if (pm->group == 4) {
        static const char *const seq[4] = {"chosen_v1", "rejected_v1", "chosen_v2", "rejected_v2"};
        char key[64];
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "rewards/%s", seq[k]);
            metrics_json_number(f, prefix, key, "%.6g", pm->reward[k] / n);
        }
        metrics_json_number(f, prefix, "rewards/margins_v1", "%.6g", (pm->reward[0] - pm->reward[1]) / n);
        metrics_json_number(f, prefix, "rewards/margins_v2", "%.6g", (pm->reward[2] - pm->reward[3]) / n);
        metrics_json_number(f, prefix, "rewards/accuracies_v1", "%.6g", pm->acc[0] / n);
        metrics_json_number(f, prefix, "rewards/accuracies_v2", "%.6g", pm->acc[1] / n);
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "logps/%s", seq[k]);
            metrics_json_number(f, prefix, key, "%.6g", pm->logp[k] / n);
        }
        for (int k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "logps/ref_%s", seq[k]);
            metrics_json_number(f, prefix, key, "%.6g", pm->ref_logp[k] / n);
        }
    }
}

void pref_metrics_print_short(const pref_metrics *pm, FILE *f) {
    if (pm->n == 0) return;
    double n = pm->n;
    if (pm->group == 2)
        fprintf(f, "  margin %.3f  acc %.2f", (pm->reward[0] - pm->reward[1]) / n, pm->acc[0] / n);
    else if (pm->group == 4)
        fprintf(f, "  acc v1 %.2f v2 %.2f", pm->acc[0] / n, pm->acc[1] / n);
}
