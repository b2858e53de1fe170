/* The training configuration: one table of keys serves the JSON config file, the command-line flags and --help. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/model.h"
#include "iopo/prefdata.h"
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
    STR(out, "the run directory: checkpoint-N/, latest, final/, metrics.jsonl, train_config.json (locked by a run)"),
    STR(resume, "continue a run: bare --resume continues the run in --out; --resume PATH continues from a checkpoint "
                "or a run directory's latest"),
    STR(device, "device number from `iopo devices`, or cpu (default: IOPO_DEVICE, else the best GPU)"),
    STR(tokenizer, "tokenizer.json for text data (default: the model directory's)"),
    STR(objective, "training objective: sft, dpo or iopo"),
    STR(template_name, "chat template for chat/preference formats: auto (from the tokenizer's special tokens: chatml "
                       "for Qwen, llama3 for Llama 3, else plain), chatml, llama3 or plain; the run records which"),
    DBL(beta, "DPO/IOPO beta"),
    DBL(label_smoothing, "DPO/IOPO label smoothing (cDPO epsilon)"),
    STR(loss_type, "DPO loss: sigmoid, ipo, hinge or robust (IOPO always sigmoid)"),
    DBL(pref_ftx, "weight of the length-averaged SFT term on the chosen response(s)"),
    STR(ref_model, "reference model directory (default: the starting model)"),
    INT(live_ref, "1: keep the reference model on the device and run it every step instead of caching its log-probs"),
    STR(on_bad_record, "error (stop) or skip (report and drop) for bad data records"),
    INT(steps, "optimizer steps to run in total"),
    DBL(epochs, "passes over the training data; > 0 sets steps = ceil(epochs * records / (batch_size * grad_accum))"),
    INT(stop_at, "stop (with a checkpoint) after this step; the schedule still spans steps (0 = run to the end)"),
    INT(batch_size, "examples (records) per micro-batch: sequences for SFT, pairs for DPO (2 rows each), quadruples for "
                    "IOPO (4 rows each); padded to its longest sequence"),
    INT(grad_accum, "micro-batches accumulated per optimizer step"),
    INT(seq_len, "positions per sequence (packing length; longer records are cut)"),
    LNG(seed, "seed of the data order"),
    DBL(lr, "peak learning rate"),
    INT(warmup_steps, "linear warmup from 0 to lr over this many steps"),
    DBL(warmup_ratio, "> 0 sets warmup_steps = ceil(warmup_ratio * steps), as TRL's warmup_ratio"),
    INT(logits_budget_mb, "most MiB the LM head's logits may take; a larger micro-batch runs the head and the "
                          "cross-entropy in chunks of sequences or of positions (recomputing each chunk's logits in "
                          "the backward)"),
    INT(gradient_checkpointing, "1: keep only each block's input and recompute the block in the backward (one "
                                "block's activations held instead of all; one more forward per step)"),
    INT(pref_chunk, "DPO/IOPO: run a micro-batch's sequences in chunks of this many (0 = all at once): every "
                    "sequence's log-prob first, then each chunk's forward and backward with its gradients; "
                    "activations of one chunk, for one more forward"),
    INT(group_by_length, "1: sort records by length within windows of 50 micro-batches of the shuffled order, so "
                         "batches pad little"),
    STR(schedule, "decay after warmup: cosine, linear or constant"),
    DBL(min_lr_ratio, "cosine/linear decay ends at lr * min_lr_ratio"),
    DBL(beta1, "AdamW beta1"),
    DBL(beta2, "AdamW beta2"),
    DBL(eps, "AdamW epsilon"),
    DBL(weight_decay, "AdamW decoupled weight decay (2-D weights only)"),
    DBL(grad_clip, "clip the global gradient norm to this (0 = off)"),
    INT(log_every, "steps between progress lines and metrics.jsonl records"),
    INT(eval_every, "steps between evaluations on eval_data (0 = only at the end)"),
    STR(save_dtype, "weights of out/final: float32 or bfloat16 (checkpoints stay float32, so a resume is exact)"),
    STR(compute_dtype, "full fine-tuning: float32, or bfloat16 / float16 (also bf16, fp16) to compute the forward and "
                       "backward with 16-bit copies of the weight matrices, refreshed after every step (master "
                       "weights, gradients and AdamW state stay float32; norms and biases are read in float32)"),
    STR(finetuning_type, "full (train every weight) or lora (train low-rank adapters on lora_target, the base frozen)"),
    INT(lora_rank, "LoRA rank r"),
    DBL(lora_alpha, "LoRA alpha: the update is scaled by alpha / r (alpha / sqrt(r) with use_rslora); 0: 2 x "
                    "lora_rank"),
    DBL(lora_dropout, "dropout on the adapters' input (seeded, deterministic)"),
    STR(lora_target, "linear layers that get adapters: all, or module names comma-separated (q_proj,v_proj; GPT-2: "
                     "c_attn,c_proj,c_fc)"),
    INT(use_rslora, "1: rank-stabilised LoRA scaling alpha / sqrt(r)"),
    STR(adapter, "a PEFT LoRA adapter directory to start from (adapter_config.json, adapter_model.safetensors); its "
                 "r, alpha and targets are used"),
    STR(dataset_info, "how data's records are read: a LLaMA-Factory dataset_info.json entry as JSON {formatting, "
                      "ranking, columns, tags} (a YAML config's dataset sets it; \"\" = by their own keys)"),
    STR(eval_dataset_info, "the same for eval_data (a YAML config's eval_dataset sets it)"),
    INT(save_every, "steps between checkpoints (0 = only at the end)"),
    INT(keep_checkpoints, "checkpoints kept in out (older ones are deleted; 0 = keep all)"),
    INT(overwrite, "1 (or bare --overwrite): out holds an earlier run; remove its files and start over"),
    INT(plan, "1 (or bare --plan): print the memory plan of the run (from config.json and the safetensors headers, "
              "no weights read, nothing allocated) against the device's memory and exit: 0 if it fits, 1 if not"),
    INT(allow_config_change, "1 (or bare --allow-config-change): let --resume change a key that defines the run"),
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

/* Accepted values of the numeric keys, one row each: checked where a value is set (naming the file or flag) and in
 * validate, and shown by --help. A key without a row takes any finite value of its type. */
typedef struct range_def {
    const char *name;
    double lo, hi;
    bool lo_open, hi_open;   /* (lo, ... / ..., hi) */
} range_def;

static const range_def ranges[] = {
    {"beta", 0, HUGE_VAL, true, false},
    {"label_smoothing", 0, 0.5, false, true},
    {"pref_ftx", 0, HUGE_VAL, false, false},
    {"live_ref", 0, 1, false, false},
    {"steps", 1, HUGE_VAL, false, false},
    {"epochs", 0, 1e6, false, false},
    {"warmup_ratio", 0, 1, false, true},
    {"group_by_length", 0, 1, false, false},
    {"gradient_checkpointing", 0, 1, false, false},
    {"pref_chunk", 0, 1 << 20, false, false},
    {"logits_budget_mb", 1, 1 << 20, false, false},
    {"stop_at", 0, HUGE_VAL, false, false},
    {"batch_size", 1, 1 << 20, false, false},
    {"grad_accum", 1, 1 << 20, false, false},
    {"seq_len", 1, 1 << 24, false, false},
    {"seed", 0, HUGE_VAL, false, false},
    {"lr", 0, HUGE_VAL, true, false},
    {"warmup_steps", 0, HUGE_VAL, false, false},
    {"min_lr_ratio", 0, 1, false, false},
    {"beta1", 0, 1, false, true},
    {"beta2", 0, 1, false, true},
    {"eps", 0, HUGE_VAL, true, false},
    {"weight_decay", 0, HUGE_VAL, false, false},
    {"grad_clip", 0, HUGE_VAL, false, false},
    {"log_every", 1, HUGE_VAL, false, false},
    {"eval_every", 0, HUGE_VAL, false, false},
    {"save_every", 0, HUGE_VAL, false, false},
    {"lora_rank", 1, 1 << 16, false, false},
    {"lora_alpha", 0, HUGE_VAL, false, false},
    {"lora_dropout", 0, 1, false, true},
    {"use_rslora", 0, 1, false, false},
    {"plan", 0, 1, false, false},
    {"keep_checkpoints", 0, HUGE_VAL, false, false},
};

static const range_def *range_of(const char *name) {
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (strcmp(ranges[i].name, name) == 0) return &ranges[i];
    return NULL;
}

static bool in_range(const range_def *r, double d) {
    return (r->lo_open ? d > r->lo : d >= r->lo) && (r->hi_open ? d < r->hi : d <= r->hi);
}

/* "> 0", ">= 1", "[0, 0.5)" */
static const char *range_text(const range_def *r, char *buf, size_t n) {
    if (r->hi == HUGE_VAL)
        snprintf(buf, n, "%s %.15g", r->lo_open ? ">" : ">=", r->lo);
    else
        snprintf(buf, n, "%c%.15g, %.15g%c", r->lo_open ? '(' : '[', r->lo, r->hi, r->hi_open ? ')' : ']');
    return buf;
}

/* Keys of other trainers' configs (TRL, transformers, LLaMA-Factory) that users carry over, and the key meant. */
static const struct {
    const char *alias, *key, *note;
} aliases[] = {
    {"learning_rate", "lr", NULL},
    {"max_steps", "steps", NULL},
    {"num_train_epochs", "epochs", NULL},
    {"per_device_train_batch_size", "batch_size", NULL},
    {"train_batch_size", "batch_size", NULL},
    {"gradient_accumulation_steps", "grad_accum", NULL},
    {"pref_beta", "beta", NULL},
    {"dpo_beta", "beta", NULL},
    {"pref_loss", "loss_type", NULL},
    {"dpo_label_smoothing", "label_smoothing", NULL},
    {"cutoff_len", "seq_len", NULL},
    {"max_length", "seq_len", NULL},
    {"max_seq_length", "seq_len", NULL},
    {"lr_scheduler_type", "schedule", NULL},
    {"adam_beta1", "beta1", NULL},
    {"adam_beta2", "beta2", NULL},
    {"adam_epsilon", "eps", NULL},
    {"max_grad_norm", "grad_clip", NULL},
    {"output_dir", "out", NULL},
    {"model_name_or_path", "model", NULL},
    {"ref_model_name_or_path", "ref_model", NULL},
    {"dataset", "data", NULL},
    {"train_file", "data", NULL},
    {"eval_dataset", "eval_data", NULL},
    {"logging_steps", "log_every", NULL},
    {"save_steps", "save_every", NULL},
    {"eval_steps", "eval_every", NULL},
    {"save_total_limit", "keep_checkpoints", NULL},
    {"resume_from_checkpoint", "resume", NULL},
    {"template", "template_name", NULL},
    {"stage", "objective", NULL},
    {"adapter_name_or_path", "adapter", NULL},
};

/* Edits (insert, delete, substitute, swap two neighbours) from a to b: "stpes" is one swap from "steps". */
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

/* "; did you mean \"lr\"?" for an unknown key: a known alias, a key it begins, else the nearest key or alias within
 * a few edits; the flag form writes --lr. Empty when nothing is near. */
static void suggest(const char *name, bool flag, char *buf, size_t n) {
    buf[0] = 0;
    const char *best = NULL, *note = NULL;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].alias, name) == 0) best = aliases[i].key, note = aliases[i].note;
    size_t len = strlen(name);
    for (int k = 0; !best && k < NKEYS && len >= 3; k++)   /* a key's start: --warmup, --grad */
        if (strncmp(keys[k].name, name, len) == 0) best = keys[k].name;
    if (!best) {   /* a typo of a key or of an alias */
        int bd = 99;
        for (int k = 0; k < NKEYS; k++) {
            int d = edit_distance(name, keys[k].name);
            if (d < bd) bd = d, best = keys[k].name, note = NULL;
        }
        for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
            int d = edit_distance(name, aliases[i].alias);
            if (d < bd) bd = d, best = aliases[i].key, note = aliases[i].note;
        }
        if (bd > (len < 6 ? 1 : len < 12 ? 2 : 3)) best = NULL;
    }
    if (!best) return;
    char shown[64];
    snprintf(shown, sizeof shown, "%s", best);
    if (flag)
        for (char *p = shown; *p; p++)
            if (*p == '_') *p = '-';
    snprintf(buf, n, flag ? "; did you mean --%s?%s%s" : "; did you mean \"%s\"?%s%s", shown, note ? " (" : "",
             note ? note : "");
    if (note) snprintf(buf + strlen(buf), n - strlen(buf), ")");
}

void iopo_train_config_defaults(iopo_train_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->objective, sizeof c->objective, "sft");
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    snprintf(c->template_name, sizeof c->template_name, "auto");
    snprintf(c->loss_type, sizeof c->loss_type, "sigmoid");
    snprintf(c->on_bad_record, sizeof c->on_bad_record, "error");
    snprintf(c->save_dtype, sizeof c->save_dtype, "float32");
    snprintf(c->compute_dtype, sizeof c->compute_dtype, "float32");
    snprintf(c->finetuning_type, sizeof c->finetuning_type, "full");
    snprintf(c->lora_target, sizeof c->lora_target, "all");
    c->lora_rank = 8;
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
    c->logits_budget_mb = (int)(IOPO_LOGITS_BUDGET >> 20);
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
    char shown[64];
    if (jval) {
        if (!cJSON_IsNumber(jval)) {
            snprintf(err, errlen, "%s: \"%s\" must be a number", where, k->name);
            return false;
        }
        d = jval->valuedouble;
        snprintf(shown, sizeof shown, "\"%s\" = %.15g", k->name, d);
    } else {
        char *end;
        errno = 0;
        d = strtod(sval, &end);
        if (errno == EINVAL || *end || end == sval) {
            snprintf(err, errlen, "%s: '%s' is not a number", where, sval);
            return false;
        }
        snprintf(shown, sizeof shown, "%.40s", sval);
    }
    if (!isfinite(d)) {
        snprintf(err, errlen, "%s: %s is not a finite number", where, shown);
        return false;
    }
    if (k->type != K_DBL && d != floor(d)) {
        snprintf(err, errlen, "%s: %s is not an integer", where, shown);
        return false;
    }
    const range_def *r = range_of(k->name);
    char rt[64];
    if (r && !in_range(r, d)) {
        snprintf(err, errlen, "%s: %s is out of range (accepted: %s)", where, shown, range_text(r, rt, sizeof rt));
        return false;
    }
    if (k->type == K_DBL) {
        *(double *)field = d;
        return true;
    }
    long v;
    /* A long from a double is exact up to 2^53. */
    long lo = k->type == K_INT ? INT_MIN : -9007199254740992L, hi = k->type == K_INT ? INT_MAX : 9007199254740992L;
    if (iopo_num_to_long(d, lo, hi, &v) != IOPO_NUM_OK) {
        snprintf(err, errlen, "%s: %s is too %s for an integer (%s %ld)", where, shown, d > 0 ? "large" : "small",
                 d > 0 ? "at most" : "at least", d > 0 ? hi : lo);
        return false;
    }
    if (k->type == K_INT) *(int *)field = (int)v;
    else *(long *)field = v;
    return true;
}

bool iopo_train_config_set(iopo_train_config *c, const char *key, const char *value, const char *where, char *err,
                           size_t errlen) {
    for (int k = 0; k < NKEYS; k++)
        if (!strcmp(keys[k].name, key)) return set_value(c, &keys[k], value, NULL, where, err, errlen);
    snprintf(err, errlen, "%s: internal: no key %s", where, key);
    return false;
}

int iopo_train_compute_dtype(const iopo_train_config *c) {
    const char *v = c->compute_dtype;
    if (!strcmp(v, "float32") || !strcmp(v, "fp32")) return IOPO_F32;
    if (!strcmp(v, "bfloat16") || !strcmp(v, "bf16")) return IOPO_BF16;
    if (!strcmp(v, "float16") || !strcmp(v, "fp16")) return IOPO_F16;
    return -1;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

bool iopo_train_config_load_file(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen) {
    if (has_suffix(path, ".yaml") || has_suffix(path, ".yml"))
        return iopo_train_config_load_yaml(c, path, notes, err, errlen);
    return iopo_train_config_load_json(c, path, err, errlen);
}

bool iopo_train_config_load_json(iopo_train_config *c, const char *path, char *err, size_t errlen) {
    cJSON *root = iopo_json_load(path, err, errlen);
    if (!root) return false;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object (a run config is {\"key\": value, ...})", path);
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
            char hint[160];
            suggest(item->string, false, hint, sizeof hint);
            snprintf(err, errlen, "%s: unknown key \"%s\"%s", path, item->string,
                     hint[0] ? hint : " (iopo train --help lists the keys)");
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
    char hint[160];
    suggest(name, true, hint, sizeof hint);
    snprintf(err, errlen, "unknown flag '%s'%s", a, hint[0] ? hint : " (iopo train --help lists the flags)");
    return false;
}

/* The keys that depend on steps, against it. */
static bool steps_consistent(const iopo_train_config *c, char *err, size_t errlen) {
    if (c->warmup_ratio == 0 && c->warmup_steps > c->steps)
        return snprintf(err, errlen, "warmup_steps %d is more than steps %d: the warmup would never reach lr",
                        c->warmup_steps, c->steps),
               false;
    if (c->stop_at > c->steps)
        return snprintf(err, errlen, "stop_at %d is after the last step (steps %d): to train longer, raise steps",
                        c->stop_at, c->steps),
               false;
    return true;
}

bool iopo_train_config_validate(const iopo_train_config *c, char *err, size_t errlen) {
    if (!c->model[0] && !c->resume[0]) return snprintf(err, errlen, "model is required (--model DIR)"), false;
    if (!c->data[0] && !c->plan) return snprintf(err, errlen, "data is required (--data FILE)"), false;
    if (!c->out[0] && !c->plan) return snprintf(err, errlen, "out is required (--out DIR)"), false;
    if (strcmp(c->objective, "sft") && strcmp(c->objective, "dpo") && strcmp(c->objective, "iopo"))
        return snprintf(err, errlen, "objective '%s': expected sft, dpo or iopo", c->objective), false;
    if (strcmp(c->template_name, "auto") && strcmp(c->template_name, "chatml") && strcmp(c->template_name, "llama3") &&
        strcmp(c->template_name, "plain"))
        return snprintf(err, errlen, "template_name '%s': expected auto, chatml, llama3 or plain", c->template_name),
               false;
    if (strcmp(c->loss_type, "sigmoid") && strcmp(c->loss_type, "ipo") && strcmp(c->loss_type, "hinge") &&
        strcmp(c->loss_type, "robust"))
        return snprintf(err, errlen, "loss_type '%s': expected sigmoid, ipo, hinge or robust", c->loss_type), false;
    if (strcmp(c->on_bad_record, "error") && strcmp(c->on_bad_record, "skip"))
        return snprintf(err, errlen, "on_bad_record '%s': expected error or skip", c->on_bad_record), false;
    if (strcmp(c->save_dtype, "float32") && strcmp(c->save_dtype, "bfloat16"))
        return snprintf(err, errlen, "save_dtype '%s': expected float32 or bfloat16", c->save_dtype), false;
    if (strcmp(c->finetuning_type, "full") && strcmp(c->finetuning_type, "lora"))
        return snprintf(err, errlen, "finetuning_type '%s': expected full or lora", c->finetuning_type), false;
    int cdt = iopo_train_compute_dtype(c);
    if (cdt < 0)
        return snprintf(err, errlen, "compute_dtype '%s': expected float32, bfloat16 or float16 (fp32, bf16, fp16)",
                        c->compute_dtype), false;
    if (cdt != IOPO_F32 && !strcmp(c->finetuning_type, "lora"))
        return snprintf(err, errlen, "compute_dtype %s applies to full fine-tuning: with finetuning_type lora the "
                                     "frozen base is held in its checkpoint's dtype (a bf16 checkpoint already "
                                     "computes in bf16) and the adapters train in float32; leave compute_dtype "
                                     "float32", c->compute_dtype), false;
    if (c->adapter[0] && strcmp(c->finetuning_type, "lora"))
        return snprintf(err, errlen, "adapter is given but finetuning_type is '%s': an adapter trains with "
                                     "finetuning_type lora", c->finetuning_type), false;
    if (strcmp(c->schedule, "cosine") && strcmp(c->schedule, "linear") && strcmp(c->schedule, "constant"))
        return snprintf(err, errlen, "schedule '%s': expected cosine, linear or constant", c->schedule), false;
    char why[600];
    if (c->dataset_info[0] && !iopo_pref_dataset_info_check(c->dataset_info, why, sizeof why))
        return snprintf(err, errlen, "dataset_info: %s", why), false;
    if (c->eval_dataset_info[0] && !iopo_pref_dataset_info_check(c->eval_dataset_info, why, sizeof why))
        return snprintf(err, errlen, "eval_dataset_info: %s", why), false;
    for (int k = 0; k < NKEYS; k++) {
        const range_def *r = range_of(keys[k].name);
        if (!r) continue;
        const void *f = (const char *)c + keys[k].offset;
        double d = keys[k].type == K_INT ? *(const int *)f : keys[k].type == K_LONG ? (double)*(const long *)f
                 : keys[k].type == K_DBL ? *(const double *)f : 0;
        char rt[64];
        if (!in_range(r, d))
            return snprintf(err, errlen, "%s %.15g is out of range (accepted: %s)", keys[k].name, d,
                            range_text(r, rt, sizeof rt)),
                   false;
    }
    /* Values that are each fine but mean nothing together. With epochs, steps is known only once the data is
     * loaded: iopo_train_config_resolve checks those then. */
    if (c->epochs == 0 && !steps_consistent(c, err, errlen)) return false;
    bool pref = strcmp(c->objective, "sft") != 0;
    if (!strcmp(c->objective, "iopo") && strcmp(c->loss_type, "sigmoid"))
        return snprintf(err, errlen, "loss_type %s is a DPO loss: objective iopo always uses sigmoid", c->loss_type),
               false;
    if (pref && c->label_smoothing > 0 && (!strcmp(c->loss_type, "ipo") || !strcmp(c->loss_type, "hinge")))
        return snprintf(err, errlen,
                        "label_smoothing %g has no effect with loss_type %s (only sigmoid and robust use it)",
                        c->label_smoothing, c->loss_type),
               false;
    if (!pref && c->live_ref)
        return snprintf(err, errlen, "live_ref needs a reference model: it applies to objective dpo or iopo, not sft"),
               false;
    if (c->eval_every > 0 && !c->eval_data[0])
        return snprintf(err, errlen, "eval_every %d needs eval_data (held-out data to evaluate on)", c->eval_every),
               false;
    return true;
}

bool iopo_train_config_resolve(iopo_train_config *c, int records, char *err, size_t errlen) {
    if (c->epochs > 0) {
        double per_step = (double)c->batch_size * c->grad_accum, steps = ceil(c->epochs * records / per_step);
        if (!(steps >= 1 && steps <= 2147483647.0))
            return snprintf(err, errlen, "epochs %g over %d records at %g per step gives %.0f steps", c->epochs,
                            records, per_step, steps),
                   false;
        c->steps = (int)steps;
    }
    if (c->warmup_ratio > 0) {
        /* A resumed run's saved config holds both, the steps already derived: they agree unless one was changed. */
        int w = (int)ceil(c->warmup_ratio * c->steps);
        if (c->warmup_steps > 0 && c->warmup_steps != w)
            return snprintf(err, errlen, "warmup_steps %d and warmup_ratio %g (%d of %d steps) both given: use one",
                            c->warmup_steps, c->warmup_ratio, w, c->steps),
                   false;
        c->warmup_steps = w;
    }
    return iopo_train_config_validate(c, err, errlen) && steps_consistent(c, err, errlen);
}

void iopo_train_config_print_keys(FILE *out) {
    iopo_train_config d;
    iopo_train_config_defaults(&d);
    for (int k = 0; k < NKEYS; k++) {
        char flag[64], def[64] = "", rt[64] = "";
        snprintf(flag, sizeof flag, "--%s", keys[k].name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        const void *f = (const char *)&d + keys[k].offset;
        if (keys[k].type == K_STR && *(const char *)f) snprintf(def, sizeof def, "default %s", (const char *)f);
        if (keys[k].type == K_INT) snprintf(def, sizeof def, "default %d", *(const int *)f);
        if (keys[k].type == K_LONG) snprintf(def, sizeof def, "default %ld", *(const long *)f);
        if (keys[k].type == K_DBL) snprintf(def, sizeof def, "default %g", *(const double *)f);
        const range_def *r = range_of(keys[k].name);
        if (r) range_text(r, rt, sizeof rt);
        if (def[0] && rt[0]) fprintf(out, "  %-20s %s (%s; %s)\n", flag, keys[k].help, def, rt);
        else if (def[0] || rt[0]) fprintf(out, "  %-20s %s (%s)\n", flag, keys[k].help, def[0] ? def : rt);
        else fprintf(out, "  %-20s %s\n", flag, keys[k].help);
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

/* Flags that may stand without a value: bare --resume (continue the run in --out, applied by
 * iopo_train_config_finish once --out is known), --overwrite and --allow-config-change. A flag is bare when nothing
 * or another --flag follows it. */
bool iopo_train_config_parse_switch(iopo_train_config *c, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) return false;
    if (!strcmp(a, "--resume")) {
        c->resume[0] = 0;
        c->resume_in_out = 1;
    } else if (!strcmp(a, "--overwrite")) {
        c->overwrite = 1;
    } else if (!strcmp(a, "--plan")) {
        c->plan = 1;
    } else if (!strcmp(a, "--allow-config-change") || !strcmp(a, "--allow_config_change")) {
        c->allow_config_change = 1;
    } else {
        return false;
    }
    return true;
}

void iopo_train_config_finish(iopo_train_config *c) {
    if (c->resume_in_out && !c->resume[0]) snprintf(c->resume, sizeof c->resume, "%s", c->out);
}

/* Keys that say what to do with out this time, not what the run is: neither saved nor compared. */
static bool action_key(const char *name) {
    return !strcmp(name, "resume") || !strcmp(name, "overwrite") || !strcmp(name, "allow_config_change") ||
           !strcmp(name, "plan");
}

char *iopo_train_config_to_json(const iopo_train_config *c) {
    cJSON *root = cJSON_CreateObject();
    for (int k = 0; k < NKEYS; k++) {
        if (action_key(keys[k].name)) continue;
        const void *f = (const char *)c + keys[k].offset;
        if (keys[k].type == K_STR) cJSON_AddStringToObject(root, keys[k].name, (const char *)f);
        if (keys[k].type == K_INT) cJSON_AddNumberToObject(root, keys[k].name, *(const int *)f);
        if (keys[k].type == K_LONG) cJSON_AddNumberToObject(root, keys[k].name, (double)*(const long *)f);
        if (keys[k].type == K_DBL) cJSON_AddNumberToObject(root, keys[k].name, *(const double *)f);
    }
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    size_t n = strlen(json);
    char *out = realloc(json, n + 2);
    if (out) out[n] = '\n', out[n + 1] = 0;
    return out ? out : json;
}

/* The keys that define what a run trains (its data, objective, model, tokens and the meaning of a step): changing one
 * on --resume would make the checkpoints and metrics of one run describe two different trainings. */
static const char *const meaning_keys[] = {"objective", "model",          "ref_model", "data",          "seq_len",
                                           "tokenizer", "template_name",  "loss_type", "beta",          "label_smoothing",
                                           "pref_ftx",  "on_bad_record",  "batch_size", "grad_accum",   "seed",
                                           "finetuning_type", "lora_rank", "lora_alpha", "lora_dropout",
                                           "lora_target", "use_rslora", "adapter", "dataset_info",
                                           "compute_dtype", NULL};

bool iopo_train_config_is_meaning_key(const char *name) {
    for (int i = 0; meaning_keys[i]; i++)
        if (!strcmp(meaning_keys[i], name)) return true;
    return false;
}

void iopo_train_config_print_meaning_keys(FILE *f, int width, const char *indent) {
    int col = 0;
    for (int i = 0; meaning_keys[i]; i++) {
        col += fprintf(f, "%s", meaning_keys[i]);
        if (!meaning_keys[i + 1]) break;
        bool wrap = col + 2 + (int)strlen(meaning_keys[i + 1]) > width;
        if (wrap) fprintf(f, ",\n%s", indent);
        else fputs(", ", f);
        col = wrap ? 0 : col + 2;
    }
}

static void format_value(const key_def *k, const iopo_train_config *c, char *buf, size_t n) {
    const void *f = (const char *)c + k->offset;
    if (k->type == K_STR) snprintf(buf, n, "\"%s\"", (const char *)f);
    if (k->type == K_INT) snprintf(buf, n, "%d", *(const int *)f);
    if (k->type == K_LONG) snprintf(buf, n, "%ld", *(const long *)f);
    if (k->type == K_DBL) snprintf(buf, n, "%.17g", *(const double *)f);
}

int iopo_train_config_diff(const iopo_train_config *old, const iopo_train_config *now, FILE *f, char *meaning,
                           size_t meaning_len) {
    int n = 0;
    if (meaning_len) meaning[0] = 0;
    for (int k = 0; k < NKEYS; k++) {
        if (action_key(keys[k].name) || !strcmp(keys[k].name, "out")) continue;
        const void *a = (const char *)old + keys[k].offset, *b = (const char *)now + keys[k].offset;
        bool same = keys[k].type == K_STR    ? !strcmp((const char *)a, (const char *)b)
                    : keys[k].type == K_INT  ? *(const int *)a == *(const int *)b
                    : keys[k].type == K_LONG ? *(const long *)a == *(const long *)b
                                             : *(const double *)a == *(const double *)b;
        if (same) continue;
        char va[1100], vb[1100];
        format_value(&keys[k], old, va, sizeof va);
        format_value(&keys[k], now, vb, sizeof vb);
        bool m = iopo_train_config_is_meaning_key(keys[k].name);
        if (f) fprintf(f, "  %s: %s -> %s%s\n", keys[k].name, va, vb, m ? "  (defines the run)" : "");
        if (m && meaning_len) {
            size_t used = strlen(meaning);
            snprintf(meaning + used, meaning_len - used, "%s%s", used ? ", " : "", keys[k].name);
        }
        n++;
    }
    return n;
}

/* The run that --resume continues: the directory itself, or the run holding a checkpoint directory. */
bool iopo_train_config_saved_path(const char *resume, char *path, size_t n) {
    struct stat sb;
    if (!resume[0]) return false;
    snprintf(path, n, "%s/train_config.json", resume);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return true;
    snprintf(path, n, "%s/../train_config.json", resume);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool iopo_train_config_load_saved(iopo_train_config *c, const char *path, char *err, size_t errlen) {
    if (!iopo_train_config_load_json(c, path, err, errlen)) return false;
    c->stop_at = 0;   /* where the last invocation stopped, not part of the run */
    return true;
}
