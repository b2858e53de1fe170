/* Training checkpoints: out/checkpoint-N/ holds the model (config.json, model.safetensors, tokenizer.json), the
 * optimizer moments (optimizer.safetensors) and trainer_state.json; out/latest names the newest. Every file is written
 * atomically and `latest` moves only after the whole checkpoint is on disk, so a crash leaves the previous one intact. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/safetensors.h"
#include "train/checkpoint.h"

bool checkpoint_save(const char *out, iopo_model *m, iopo_optimizer *o, const checkpoint_state *st,
                     const char *tokenizer_json_path, char *saved_dir, size_t saved_len, char *err, size_t errlen) {
    char dir[2048], path[2200];
    snprintf(dir, sizeof dir, "%s/checkpoint-%d", out, st->step);
    if (!iopo_model_save(m, dir, err, errlen)) return false;
    if (tokenizer_json_path && tokenizer_json_path[0]) {
        size_t len;
        char *tok = iopo_read_file(tokenizer_json_path, &len, err, errlen);
        if (!tok) return false;
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        bool ok = iopo_write_file_atomic(path, tok, len, err, errlen);
        free(tok);
        if (!ok) return false;
    }
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
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
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
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    ok = iopo_write_file_atomic(path, json, strlen(json), err, errlen);
    free(json);
    if (!ok) return false;
    char latest[64];
    int ll = snprintf(latest, sizeof latest, "checkpoint-%d\n", st->step);
    snprintf(path, sizeof path, "%s/latest", out);
    if (!iopo_write_file_atomic(path, latest, (size_t)ll, err, errlen)) return false;
    snprintf(saved_dir, saved_len, "%s", dir);
    return true;
}

static bool remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    char path[4400];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(dir) == 0;
}

void checkpoint_prune(const char *out, int keep) {
    if (keep <= 0) return;
    DIR *d = opendir(out);
    if (!d) return;
    int steps[4096], n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096) {
        int s;
        char tail;
        if (sscanf(de->d_name, "checkpoint-%d%c", &s, &tail) == 1) steps[n++] = s;
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer >= keep) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/checkpoint-%d", out, steps[i]);
            remove_dir(dir);
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
