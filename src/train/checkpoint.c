/* Training checkpoints: out/checkpoint-N/ holds the model (config.json, model.safetensors, tokenizer.json), the
 * optimizer moments (optimizer.safetensors) and trainer_state.json; out/latest names the newest. A checkpoint is written
 * as out/.checkpoint-N.tmp/ and renamed whole, and `latest` moves only after that, so a crash leaves the previous
 * checkpoint intact and never a partial checkpoint-N. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/prefdata.h"
#include "iopo/safetensors.h"
#include "train/checkpoint.h"

/* The model part of a checkpoint, also the whole of out/final: config.json, model.safetensors, tokenizer.json (a
 * LoRA run: adapter_config.json and adapter_model.safetensors instead of the first two). */
void checkpoint_tokenizer_describe(checkpoint_tokenizer *t, const iopo_tokenizer *tok, const char *template_name,
                                   const iopo_model_config *cfg) {
    snprintf(t->template_name, sizeof t->template_name, "%s", template_name);
    bool chatml = !strcmp(template_name, "chatml"), llama3 = !strcmp(template_name, "llama3");
    t->bos = llama3 ? "<|begin_of_text|>" : NULL;
    t->eos = chatml ? "<|im_end|>" : llama3 ? "<|eot_id|>" : "<|endoftext|>";
    t->pad = chatml ? "<|endoftext|>" : NULL;
    t->bos_id = t->bos ? iopo_tokenizer_token_id(tok, t->bos) : -1;
    t->eos_id = iopo_tokenizer_token_id(tok, t->eos);
    t->pad_id = t->pad ? iopo_tokenizer_token_id(tok, t->pad) : -1;
    if (t->bos_id < 0) t->bos = NULL;
    if (t->eos_id < 0) t->eos = NULL;
    if (t->pad_id < 0) t->pad = NULL;
    t->model_eos_id = cfg->eos_id;
    t->max_len = cfg->n_ctx;
}

static bool write_json(const char *dir, const char *name, cJSON *root, char *err, size_t errlen) {
    char *json = cJSON_Print(root), path[2200];
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    bool ok = iopo_write_file_atomic(path, json, strlen(json), err, errlen);
    free(json);
    return ok;
}

/* tokenizer_config.json and generation_config.json, so that transformers' AutoTokenizer (apply_chat_template) and
 * generate() use the template and stop tokens the run trained with. */
static bool write_hf_side_files(const char *dir, const checkpoint_tokenizer *t, char *err, size_t errlen) {
    const char *jinja = iopo_template_jinja(t->template_name);
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddStringToObject(tc, "tokenizer_class", "PreTrainedTokenizerFast");
    if (jinja) cJSON_AddStringToObject(tc, "chat_template", jinja);
    if (t->bos) cJSON_AddStringToObject(tc, "bos_token", t->bos);
    if (t->eos) cJSON_AddStringToObject(tc, "eos_token", t->eos);
    if (t->pad) cJSON_AddStringToObject(tc, "pad_token", t->pad);
    cJSON_AddNumberToObject(tc, "model_max_length", t->max_len);
    cJSON_AddBoolToObject(tc, "clean_up_tokenization_spaces", false);
    cJSON_AddStringToObject(tc, "iopo_template", t->template_name);
    if (!write_json(dir, "tokenizer_config.json", tc, err, errlen)) return false;
    cJSON *gc = cJSON_CreateObject();
    if (t->bos_id >= 0) cJSON_AddNumberToObject(gc, "bos_token_id", t->bos_id);
    int eos[2], ne = 0;
    if (t->eos_id >= 0) eos[ne++] = t->eos_id;
    if (t->model_eos_id >= 0 && t->model_eos_id != t->eos_id) eos[ne++] = t->model_eos_id;
    if (ne == 1) cJSON_AddNumberToObject(gc, "eos_token_id", eos[0]);
    if (ne == 2) cJSON_AddItemToObject(gc, "eos_token_id", cJSON_CreateIntArray(eos, 2));
    if (t->pad_id >= 0) cJSON_AddNumberToObject(gc, "pad_token_id", t->pad_id);
    cJSON_AddBoolToObject(gc, "do_sample", false);
    return write_json(dir, "generation_config.json", gc, err, errlen);
}

/* A model directory, or for a LoRA run its adapter as PEFT saves one (the frozen base is not written again; the
 * adapter names it as base_model_name_or_path, and iopo's commands load the pair from the adapter directory). */
static bool write_model_dir(iopo_model *m, const char *dir, const checkpoint_tokenizer *tok, bool bf16, char *err,
                            size_t errlen) {
    if (!iopo_mkdirs(dir, err, errlen)) return false;
    if (iopo_model_has_lora(m) ? !iopo_model_save_adapter(m, dir, NULL, err, errlen)
                               : !iopo_model_save_dtype(m, dir, bf16, err, errlen))
        return false;
    if (!tok || !tok->json) return true;
    char path[2200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    return iopo_write_file_atomic(path, tok->json, tok->len, err, errlen) &&
           write_hf_side_files(dir, tok, err, errlen);
}

/* Testing only (documented in docs/TRAINING.md), so that the test suite reaches the save window every time rather than
 * by timing: halfway through writing checkpoint N, IOPO_TEST_KILL_IN_SAVE=N makes the process SIGKILL itself, and
 * IOPO_TEST_HOLD_IN_SAVE=N makes it wait there for good (signals still run their handlers; a second SIGINT exits). */
static bool test_hook_is(const char *name, int step) {
    const char *v = getenv(name);
    return v && atoi(v) == step;
}

static void test_hooks_in_save(int step) {
    if (test_hook_is("IOPO_TEST_KILL_IN_SAVE", step)) raise(SIGKILL);
    if (test_hook_is("IOPO_TEST_HOLD_IN_SAVE", step)) {
        fprintf(stderr, "IOPO_TEST_HOLD_IN_SAVE: holding inside the save of checkpoint %d\n", step);
        for (;;) pause();
    }
}

bool checkpoint_save(const char *out, iopo_model *m, iopo_optimizer *o, const checkpoint_state *st,
                     const checkpoint_tokenizer *tok, char *saved_dir, size_t saved_len, char *err, size_t errlen) {
    char dir[2048], tmp[2048], path[2200];
    snprintf(dir, sizeof dir, "%s/checkpoint-%d", out, st->step);
    snprintf(tmp, sizeof tmp, "%s/.checkpoint-%d.tmp", out, st->step);
    if (!iopo_remove_tree(tmp, err, errlen) || !write_model_dir(m, tmp, tok, false, err, errlen)) return false;
    test_hooks_in_save(st->step);
    int n = iopo_model_param_count(m);
    iopo_st_entry *e = calloc((size_t)(2 * n), sizeof *e);
    char (*names)[112] = calloc((size_t)(2 * n), sizeof *names);
    for (int i = 0; i < n; i++) {
        iopo_param *p = iopo_model_param(m, i);
        for (int w = 0; w < 2; w++) {
            iopo_tensor *t = iopo_optimizer_moment(o, i, w);
            float *h = malloc(t->numel * sizeof *h + 4);
            iopo_tensor_download(t, h);
            snprintf(names[2 * i + w], sizeof names[0], "%s.%s", w ? "v" : "m", p->name);
            e[2 * i + w] = (iopo_st_entry){.name = names[2 * i + w], .data = h, .ndim = p->ndim};
            for (int d = 0; d < p->ndim; d++) e[2 * i + w].shape[d] = p->shape[d];
        }
    }
    char steps[32];
    snprintf(steps, sizeof steps, "%d", iopo_optimizer_steps(o));
    const char *meta[] = {"optimizer", "adamw", "steps", steps, NULL};
    snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
    bool ok = iopo_st_write(path, e, 2 * n, meta, err, errlen);
    for (int i = 0; i < 2 * n; i++) free((void *)e[i].data);
    free(e);
    free(names);
    if (!ok) return false;

    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "step", st->step);
    cJSON_AddNumberToObject(root, "data_seed", (double)st->data_seed);
    cJSON_AddNumberToObject(root, "data_epoch", st->epoch);
    cJSON_AddNumberToObject(root, "data_position", st->position);
    cJSON_AddNumberToObject(root, "tokens_seen", (double)st->tokens_seen);
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/trainer_state.json", tmp);
    ok = iopo_write_file_atomic(path, json, strlen(json), err, errlen);
    free(json);
    /* The folder appears whole under its final name, and only then does `latest` move to it. */
    if (!ok || !iopo_commit_dir(tmp, dir, err, errlen)) return false;
    char latest[64];
    int ll = snprintf(latest, sizeof latest, "checkpoint-%d\n", st->step);
    snprintf(path, sizeof path, "%s/latest", out);
    if (!iopo_write_file_atomic(path, latest, (size_t)ll, err, errlen)) return false;
    snprintf(saved_dir, saved_len, "%s", dir);
    return true;
}

bool checkpoint_save_final(const char *out, iopo_model *m, const checkpoint_tokenizer *tok, bool bf16, char *final_dir,
                           size_t final_len, char *err, size_t errlen) {
    char tmp[2048];
    snprintf(final_dir, final_len, "%s/final", out);
    snprintf(tmp, sizeof tmp, "%s/.final.tmp", out);
    return iopo_remove_tree(tmp, err, errlen) && write_model_dir(m, tmp, tok, bf16, err, errlen) &&
           iopo_commit_dir(tmp, final_dir, err, errlen);
}

int checkpoint_latest_step(const char *out) {
    char path[2200];
    snprintf(path, sizeof path, "%s/latest", out);
    size_t len;
    char e[16];
    char *text = iopo_read_file(path, &len, e, sizeof e);
    int s = -1;
    char tail;
    if (text && sscanf(text, "checkpoint-%d%c", &s, &tail) < 1) s = -1;
    free(text);
    return s;
}

void checkpoint_prune(const char *out, int keep, int resumed_step, const int *written, int nwritten) {
    if (keep <= 0) return;
    DIR *d = opendir(out);
    if (!d) return;
    int steps[4096], n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        int s;
        char tail;
        if (sscanf(de->d_name, "checkpoint-%d%c", &s, &tail) != 1) continue;
        bool ours = s <= resumed_step;
        for (int i = 0; i < nwritten && !ours; i++) ours = written[i] == s;
        if (ours) steps[n++] = s;
    }
    closedir(d);
    int latest = checkpoint_latest_step(out);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer >= keep && steps[i] != latest) {
            char dir[4096], e[256];
            snprintf(dir, sizeof dir, "%s/checkpoint-%d", out, steps[i]);
            if (!iopo_remove_tree(dir, e, sizeof e)) fprintf(stderr, "iopo train: note: pruning: %s\n", e);
        }
    }
}

bool checkpoint_resolve(const char *path, char *dir, size_t dirlen, char *err, size_t errlen) {
    char probe[4200];
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/trainer_state.json", path);
    if (stat(probe, &sb) == 0) {
        snprintf(dir, dirlen, "%s", path);
        return true;
    }
    snprintf(probe, sizeof probe, "%s/latest", path);
    size_t len;
    char *latest = iopo_read_file(probe, &len, err, errlen);
    if (!latest) {
        snprintf(err, errlen, "--resume %s: neither a checkpoint (no trainer_state.json) nor an output directory (no "
                              "latest)", path);
        return false;
    }
    while (len && (latest[len - 1] == '\n' || latest[len - 1] == ' ')) latest[--len] = 0;
    snprintf(dir, dirlen, "%s/%s", path, latest);
    free(latest);
    return true;
}

bool checkpoint_load_state(const char *dir, iopo_model *m, iopo_optimizer *o, checkpoint_state *st, char *err,
                           size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const char *need[] = {"step", "data_seed", "data_epoch", "data_position", "tokens_seen"};
    long v[5];
    for (int i = 0; i < 5; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, need[i]);
        /* Checked conversions: a hand-edited 1e30 must be an error, not an undefined cast. */
        long hi = i == 1 || i == 4 ? 9007199254740992L : 2147483647L;
        iopo_num_status ns = cJSON_IsNumber(x) ? iopo_num_to_long(x->valuedouble, 0, hi, &v[i]) : IOPO_NUM_NOT_FINITE;
        if (!cJSON_IsNumber(x) || ns != IOPO_NUM_OK) {
            char what[128] = "missing or not a number";
            if (cJSON_IsNumber(x)) iopo_num_describe(what, sizeof what, x->valuedouble, 0, hi, ns);
            snprintf(err, errlen, "%s: \"%s\": %s", path, need[i], what);
            cJSON_Delete(root);
            return false;
        }
    }
    st->step = (int)v[0];
    st->data_seed = v[1];
    st->epoch = (int)v[2];
    st->position = (int)v[3];
    st->tokens_seen = v[4];
    cJSON_Delete(root);

    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    iopo_safetensors *sf = iopo_st_open(path, err, errlen);
    if (!sf) return false;
    bool ok = true;
    for (int i = 0; i < iopo_model_param_count(m) && ok; i++) {
        iopo_param *p = iopo_model_param(m, i);
        for (int w = 0; w < 2 && ok; w++) {
            char name[112];
            snprintf(name, sizeof name, "%s.%s", w ? "v" : "m", p->name);
            iopo_tensor *t = iopo_optimizer_moment(o, i, w);
            float *h = malloc(t->numel * sizeof *h + 4);
            ok = iopo_st_load_f32(sf, name, p->ndim, p->shape, h, err, errlen);
            if (ok) iopo_tensor_upload(t, h);
            free(h);
        }
    }
    iopo_st_close(sf);
    if (ok) iopo_optimizer_set_steps(o, st->step);
    return ok;
}
