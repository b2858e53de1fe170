/* The training configuration: one table of keys serves the JSON config file, the command-line flags and --help. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/train.h"

typedef enum { K_STR, K_INT, K_LONG, K_DBL } key_type;

typedef struct key_def {
    const char *name;
    key_type type;
    size_t offset, size;
    const char *help;
} key_def;

#define STR(f, h) {#f, K_STR, offsetof(iopo_train_config, f), sizeof(((iopo_train_config *)0)->f), h}
#define INT(f, h) {#f, K_INT, offsetof(iopo_train_config, f), 0, h}
#define LNG(f, h) {#f, K_LONG, offsetof(iopo_train_config, f), 0, h}
#define DBL(f, h) {#f, K_DBL, offsetof(iopo_train_config, f), 0, h}

static const key_def keys[] = {
    STR(model, "model directory to start from (config.json, model.safetensors, tokenizer.json)"),
    STR(data, "training data: .txt, or JSONL with text / input_ids / prompt_ids+response_ids records"),
    STR(eval_data, "held-out data (same formats); its mean token loss is logged every eval_every steps"),
    STR(out, "output directory: checkpoint-N/ folders, latest, metrics.jsonl"),
    STR(resume, "continue from a checkpoint directory, or from an output directory's latest checkpoint"),
    STR(device, "device number from `iopo devices`, or cpu (default: IOPO_DEVICE, else the best GPU)"),
    STR(tokenizer, "tokenizer.json for text data (default: the model directory's)"),
    STR(objective, "training objective: sft, dpo or iopo"),
    STR(template_name, "chat template for chat/preference formats: chatml or plain"),
    DBL(beta, "DPO/IOPO beta"),
    DBL(label_smoothing, "DPO/IOPO label smoothing (cDPO epsilon)"),
    STR(loss_type, "DPO loss: sigmoid, ipo, hinge or robust (IOPO always sigmoid)"),
    DBL(pref_ftx, "weight of the length-averaged SFT term on the chosen response(s)"),
    STR(ref_model, "reference model directory (default: the starting model)"),
    INT(live_ref, "1: keep the reference model on the device and run it every step instead of caching its log-probs"),
    STR(on_bad_record, "error (stop) or skip (report and drop) for bad data records"),
    INT(steps, "optimizer steps to run in total"),
    INT(stop_at, "stop (with a checkpoint) after this step; the schedule still spans steps (0 = run to the end)"),
    INT(batch_size, "sequences per micro-batch"),
    INT(grad_accum, "micro-batches accumulated per optimizer step"),
    INT(seq_len, "positions per sequence (packing length; longer records are cut)"),
    LNG(seed, "seed of the data order"),
    DBL(lr, "peak learning rate"),
    INT(warmup_steps, "linear warmup from 0 to lr over this many steps"),
    STR(schedule, "decay after warmup: cosine, linear or constant"),
    DBL(min_lr_ratio, "cosine/linear decay ends at lr * min_lr_ratio"),
    DBL(beta1, "AdamW beta1"),
    DBL(beta2, "AdamW beta2"),
    DBL(eps, "AdamW epsilon"),
    DBL(weight_decay, "AdamW decoupled weight decay (2-D weights only)"),
    DBL(grad_clip, "clip the global gradient norm to this (0 = off)"),
    INT(log_every, "steps between progress lines and metrics.jsonl records"),
    INT(eval_every, "steps between evaluations on eval_data (0 = only at the end)"),
    INT(save_every, "steps between checkpoints (0 = only at the end)"),
    INT(keep_checkpoints, "checkpoints kept in out (older ones are deleted; 0 = keep all)"),
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

void iopo_train_config_defaults(iopo_train_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->objective, sizeof c->objective, "sft");
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    snprintf(c->template_name, sizeof c->template_name, "chatml");
    snprintf(c->loss_type, sizeof c->loss_type, "sigmoid");
    snprintf(c->on_bad_record, sizeof c->on_bad_record, "error");
    c->beta = 0.1;
    c->steps = 100;
    c->batch_size = 8;
    c->grad_accum = 1;
    c->seq_len = 128;
    c->seed = 0;
    c->lr = 3e-4;
    c->warmup_steps = 0;
    c->min_lr_ratio = 0.1;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = 0.0;
    c->grad_clip = 1.0;
    c->log_every = 1;
    c->eval_every = 0;
    c->save_every = 0;
    c->keep_checkpoints = 2;
}

static bool set_value(iopo_train_config *c, const key_def *k, const char *sval, const cJSON *jval, const char *where,
                      char *err, size_t errlen) {
    void *field = (char *)c + k->offset;
    if (k->type == K_STR) {
        const char *v = sval;
        if (jval) v = cJSON_IsString(jval) ? jval->valuestring : NULL;
        if (!v) {
            snprintf(err, errlen, "%s: \"%s\" must be a string", where, k->name);
            return false;
        }
        if (strlen(v) >= k->size) {
            snprintf(err, errlen, "%s: \"%s\" is longer than %zu characters", where, k->name, k->size - 1);
            return false;
        }
        snprintf((char *)field, k->size, "%s", v);
        return true;
    }
    double d;
    if (jval) {
        if (!cJSON_IsNumber(jval)) {
            snprintf(err, errlen, "%s: \"%s\" must be a number", where, k->name);
            return false;
        }
        d = jval->valuedouble;
    } else {
        char *end;
        errno = 0;
        d = strtod(sval, &end);
        if (errno || *end || end == sval) {
            snprintf(err, errlen, "%s: '%s' is not a number", where, sval);
            return false;
        }
    }
    if (!isfinite(d)) {
        snprintf(err, errlen, "%s: \"%s\" must be finite", where, k->name);
        return false;
    }
    if (k->type == K_DBL) {
        *(double *)field = d;
        return true;
    }
    if (d != floor(d) || fabs(d) > 2e9) {
        snprintf(err, errlen, "%s: \"%s\" must be an integer", where, k->name);
        return false;
    }
    if (k->type == K_INT) *(int *)field = (int)d;
    else *(long *)field = (long)d;
    return true;
}

bool iopo_train_config_load_json(iopo_train_config *c, const char *path, char *err, size_t errlen) {
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        cJSON_Delete(root);
        return false;
    }
    bool ok = true;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        const key_def *k = NULL;
        for (int i = 0; i < NKEYS; i++)
            if (strcmp(keys[i].name, item->string) == 0) k = &keys[i];
        if (!k) {
            snprintf(err, errlen, "%s: unknown key \"%s\" (see iopo train --help)", path, item->string);
            ok = false;
            break;
        }
        char where[1100];
        snprintf(where, sizeof where, "%s", path);
        if (!(ok = set_value(c, k, NULL, item, where, err, errlen))) break;
    }
    cJSON_Delete(root);
    return ok;
}

bool iopo_train_config_parse_flag(iopo_train_config *c, int argc, char **argv, int *i, char *err, size_t errlen) {
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0) {
        snprintf(err, errlen, "unexpected argument '%s'", a);
        return false;
    }
    char name[64];
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, a + 2, n);
    name[n] = 0;
    for (char *p = name; *p; p++)
        if (*p == '-') *p = '_';
    for (int k = 0; k < NKEYS; k++) {
        if (strcmp(keys[k].name, name) != 0) continue;
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (*i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", a);
                return false;
            }
            v = argv[++*i];
        }
        char where[96];
        snprintf(where, sizeof where, "--%.60s", a + 2);
        if (eq) where[2 + (eq - a - 2)] = 0;
        return set_value(c, &keys[k], v, NULL, where, err, errlen);
    }
    snprintf(err, errlen, "unknown flag '%s' (see iopo train --help)", a);
    return false;
}

bool iopo_train_config_validate(const iopo_train_config *c, char *err, size_t errlen) {
    if (!c->model[0] && !c->resume[0]) return snprintf(err, errlen, "model is required (--model DIR)"), false;
    if (!c->data[0]) return snprintf(err, errlen, "data is required (--data FILE)"), false;
    if (!c->out[0]) return snprintf(err, errlen, "out is required (--out DIR)"), false;
    if (strcmp(c->objective, "sft") && strcmp(c->objective, "dpo") && strcmp(c->objective, "iopo"))
        return snprintf(err, errlen, "objective '%s': expected sft, dpo or iopo", c->objective), false;
    if (strcmp(c->template_name, "chatml") && strcmp(c->template_name, "plain"))
        return snprintf(err, errlen, "template_name '%s': expected chatml or plain", c->template_name), false;
    if (strcmp(c->loss_type, "sigmoid") && strcmp(c->loss_type, "ipo") && strcmp(c->loss_type, "hinge") &&
        strcmp(c->loss_type, "robust"))
        return snprintf(err, errlen, "loss_type '%s': expected sigmoid, ipo, hinge or robust", c->loss_type), false;
    if (strcmp(c->on_bad_record, "error") && strcmp(c->on_bad_record, "skip"))
        return snprintf(err, errlen, "on_bad_record '%s': expected error or skip", c->on_bad_record), false;
    if (!(c->beta > 0) || c->label_smoothing < 0 || c->label_smoothing >= 0.5 || c->pref_ftx < 0)
        return snprintf(err, errlen, "beta must be positive, label_smoothing in [0, 0.5), pref_ftx >= 0"), false;
    if (strcmp(c->schedule, "cosine") && strcmp(c->schedule, "linear") && strcmp(c->schedule, "constant"))
        return snprintf(err, errlen, "schedule '%s': expected cosine, linear or constant", c->schedule), false;
    if (c->steps < 1 || c->batch_size < 1 || c->grad_accum < 1 || c->seq_len < 1)
        return snprintf(err, errlen, "steps, batch_size, grad_accum and seq_len must be at least 1"), false;
    if (c->stop_at < 0) return snprintf(err, errlen, "stop_at must be >= 0"), false;
    if (c->warmup_steps < 0 || c->log_every < 1 || c->eval_every < 0 || c->save_every < 0 || c->keep_checkpoints < 0)
        return snprintf(err, errlen, "warmup_steps, eval_every, save_every, keep_checkpoints must be >= 0 and "
                                     "log_every >= 1"),
               false;
    if (!(c->lr > 0) || c->min_lr_ratio < 0 || c->min_lr_ratio > 1)
        return snprintf(err, errlen, "lr must be positive and min_lr_ratio in [0, 1]"), false;
    if (c->beta1 < 0 || c->beta1 >= 1 || c->beta2 < 0 || c->beta2 >= 1 || !(c->eps > 0) || c->weight_decay < 0 ||
        c->grad_clip < 0)
        return snprintf(err, errlen, "beta1, beta2 in [0, 1), eps > 0, weight_decay >= 0, grad_clip >= 0"), false;
    return true;
}

void iopo_train_config_print_keys(FILE *out) {
    iopo_train_config d;
    iopo_train_config_defaults(&d);
    for (int k = 0; k < NKEYS; k++) {
        char flag[64], def[64] = "";
        snprintf(flag, sizeof flag, "--%s", keys[k].name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        const void *f = (const char *)&d + keys[k].offset;
        if (keys[k].type == K_STR && *(const char *)f) snprintf(def, sizeof def, " (default %s)", (const char *)f);
        if (keys[k].type == K_INT) snprintf(def, sizeof def, " (default %d)", *(const int *)f);
        if (keys[k].type == K_LONG) snprintf(def, sizeof def, " (default %ld)", *(const long *)f);
        if (keys[k].type == K_DBL) snprintf(def, sizeof def, " (default %g)", *(const double *)f);
        fprintf(out, "  %-20s %s%s\n", flag, keys[k].help, def);
    }
}

double iopo_train_lr(const iopo_train_config *c, int s) {
    /* The ratio first: lr * s could overflow to inf for a large (accepted) lr. */
    if (c->warmup_steps > 0 && s <= c->warmup_steps) return c->lr * ((double)s / c->warmup_steps);
    if (strcmp(c->schedule, "constant") == 0) return c->lr;
    int decay_steps = c->steps - c->warmup_steps;
    double progress = decay_steps > 0 ? (double)(s - c->warmup_steps) / decay_steps : 1.0;
    if (progress > 1) progress = 1;
    double min_lr = c->lr * c->min_lr_ratio;
    if (strcmp(c->schedule, "linear") == 0) return c->lr + (min_lr - c->lr) * progress;
    return min_lr + 0.5 * (c->lr - min_lr) * (1.0 + cos(3.14159265358979323846 * progress));
}
