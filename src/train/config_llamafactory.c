/* LLaMA-Factory YAML run configs (iopo_train_config_load_yaml): each key of the file mapped to iopo's keys, keys that
 * only matter to PyTorch or its launcher reported and ignored, keys iopo cannot honour refused with the reason, and
 * any other key an error naming its line. Keys the file leaves out take LLaMA-Factory's (transformers') defaults
 * where those differ from iopo's, so the file means what it means to LLaMA-Factory. docs/TRAINING.md has the table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/train.h"
#include "train/config_yaml.h"
#include "train/dataset_info.h"

typedef enum {
    LF_SET,      /* the value goes to iopo key `to` as it is */
    LF_SPECIAL,  /* read by name in apply_special / finish */
    LF_PYTORCH,  /* reported as ignored: only PyTorch or its launcher uses it */
    LF_IGNORED,  /* reported as ignored, with `why` */
    LF_FALSE,    /* accepted when false (or null); true is refused with `why` */
    LF_REFUSED,  /* accepted when null, false or 0 (no effect); any other value is refused with `why` */
} lf_kind;

typedef enum { W_ANY, W_STR, W_INT, W_NUM, W_BOOL } lf_want;

typedef struct lf_key {
    const char *name;
    lf_kind kind;
    lf_want want;
    const char *to;    /* LF_SET: the iopo key */
    const char *why;   /* LF_IGNORED, LF_FALSE, LF_REFUSED */
} lf_key;

static const lf_key KEYS[] = {
    /* model and method */
    {"model_name_or_path", LF_SET, W_STR, "model", NULL},
    {"adapter_name_or_path", LF_SPECIAL, W_STR, NULL, NULL},
    {"ref_model", LF_SET, W_STR, "ref_model", NULL},
    {"stage", LF_SPECIAL, W_STR, NULL, NULL},
    {"do_train", LF_SPECIAL, W_BOOL, NULL, NULL},
    {"do_eval", LF_SPECIAL, W_BOOL, NULL, NULL},
    {"do_predict", LF_FALSE, W_BOOL, NULL, "iopo train does not predict (iopo generate does)"},
    {"finetuning_type", LF_SPECIAL, W_STR, NULL, NULL},
    {"lora_rank", LF_SET, W_INT, "lora_rank", NULL},
    {"lora_alpha", LF_SET, W_NUM, "lora_alpha", NULL},
    {"lora_dropout", LF_SET, W_NUM, "lora_dropout", NULL},
    {"lora_target", LF_SPECIAL, W_STR, NULL, NULL},
    {"use_rslora", LF_SET, W_BOOL, "use_rslora", NULL},
    {"use_dora", LF_FALSE, W_BOOL, NULL, "iopo's adapters are LoRA (DoRA is not supported)"},
    {"pissa_init", LF_FALSE, W_BOOL, NULL, "iopo initialises LoRA as PEFT does by default (PiSSA is not supported)"},
    {"loraplus_lr_ratio", LF_REFUSED, W_ANY, NULL, "iopo has one learning rate (LoRA+ is not supported)"},
    {"additional_target", LF_REFUSED, W_ANY, NULL, "iopo trains only the adapters of lora_target"},
    {"create_new_adapter", LF_FALSE, W_BOOL, NULL, "iopo continues the adapter it starts from"},
    {"quantization_bit", LF_REFUSED, W_ANY, NULL, "iopo does not quantize (QLoRA is not supported)"},
    {"rope_scaling", LF_REFUSED, W_ANY, NULL, "iopo reads RoPE scaling from the model's config.json only"},
    {"gradient_checkpointing", LF_SET, W_BOOL, "gradient_checkpointing", NULL},
    {"disable_gradient_checkpointing", LF_SPECIAL, W_BOOL, NULL, NULL},
    {"pure_bf16", LF_FALSE, W_BOOL, NULL, "iopo keeps weights, gradients and AdamW state in fp32"},
    {"fp16", LF_FALSE, W_BOOL, NULL, "iopo reads no fp16 mixed precision from a LLaMA-Factory config (bf16: true "
                                     "computes full fine-tuning with bf16 weight copies and writes out/final in "
                                     "bfloat16; iopo's own key compute_dtype float16 computes with fp16 copies)"},
    {"bf16", LF_SPECIAL, W_BOOL, NULL, NULL},
    /* preference losses */
    {"pref_beta", LF_SET, W_NUM, "beta", NULL},
    {"pref_loss", LF_SPECIAL, W_STR, NULL, NULL},
    {"pref_ftx", LF_SET, W_NUM, "pref_ftx", NULL},
    {"dpo_label_smoothing", LF_SET, W_NUM, "label_smoothing", NULL},
    {"pref_bco_weight", LF_REFUSED, W_ANY, NULL, "iopo has no BCO term"},
    /* data */
    {"dataset", LF_SPECIAL, W_STR, NULL, NULL},
    {"eval_dataset", LF_SPECIAL, W_STR, NULL, NULL},
    {"dataset_dir", LF_SPECIAL, W_STR, NULL, NULL},
    {"template", LF_SPECIAL, W_STR, NULL, NULL},
    {"cutoff_len", LF_SPECIAL, W_INT, NULL, NULL},
    {"val_size", LF_REFUSED, W_ANY, NULL, "iopo does not split held-out data off the training data: give it as "
                                          "eval_dataset"},
    {"max_samples", LF_REFUSED, W_ANY, NULL, "iopo reads every record of the file (cut the file instead)"},
    {"mask_history", LF_SPECIAL, W_BOOL, NULL, NULL},
    {"train_on_prompt", LF_FALSE, W_BOOL, NULL, "iopo puts the loss on response tokens only"},
    {"packing", LF_FALSE, W_BOOL, NULL, "iopo packs only plain-text data"},
    {"neat_packing", LF_FALSE, W_BOOL, NULL, "iopo packs only plain-text data"},
    {"streaming", LF_FALSE, W_BOOL, NULL, "iopo reads the whole file"},
    {"tokenized_path", LF_REFUSED, W_ANY, NULL, "iopo tokenizes the data itself each run"},
    {"default_system", LF_REFUSED, W_ANY, NULL, "iopo writes a system turn only where a record has one"},
    /* optimization and schedule */
    {"learning_rate", LF_SET, W_NUM, "lr", NULL},
    {"num_train_epochs", LF_SET, W_NUM, "epochs", NULL},
    {"max_steps", LF_SPECIAL, W_INT, NULL, NULL},
    {"lr_scheduler_type", LF_SPECIAL, W_STR, NULL, NULL},
    {"warmup_ratio", LF_SET, W_NUM, "warmup_ratio", NULL},
    {"warmup_steps", LF_SPECIAL, W_INT, NULL, NULL},
    {"per_device_train_batch_size", LF_SET, W_INT, "batch_size", NULL},
    {"gradient_accumulation_steps", LF_SET, W_INT, "grad_accum", NULL},
    {"max_grad_norm", LF_SET, W_NUM, "grad_clip", NULL},
    {"adam_beta1", LF_SET, W_NUM, "beta1", NULL},
    {"adam_beta2", LF_SET, W_NUM, "beta2", NULL},
    {"adam_epsilon", LF_SET, W_NUM, "eps", NULL},
    {"weight_decay", LF_SET, W_NUM, "weight_decay", NULL},
    {"optim", LF_SPECIAL, W_STR, NULL, NULL},
    {"seed", LF_SET, W_INT, "seed", NULL},
    {"group_by_length", LF_SET, W_BOOL, "group_by_length", NULL},
    /* output, logging, checkpoints, evaluation */
    {"output_dir", LF_SET, W_STR, "out", NULL},
    {"overwrite_output_dir", LF_SET, W_BOOL, "overwrite", NULL},
    {"resume_from_checkpoint", LF_SET, W_STR, "resume", NULL},
    {"logging_steps", LF_SPECIAL, W_INT, NULL, NULL},
    {"logging_strategy", LF_SPECIAL, W_STR, NULL, NULL},
    {"save_steps", LF_SPECIAL, W_INT, NULL, NULL},
    {"save_strategy", LF_SPECIAL, W_STR, NULL, NULL},
    {"save_total_limit", LF_SET, W_INT, "keep_checkpoints", NULL},
    {"eval_strategy", LF_SPECIAL, W_STR, NULL, NULL},
    {"evaluation_strategy", LF_SPECIAL, W_STR, NULL, NULL},
    {"eval_steps", LF_SPECIAL, W_INT, NULL, NULL},
    {"per_device_eval_batch_size", LF_IGNORED, W_INT, NULL, "iopo evaluates in micro-batches of batch_size; the "
                                                            "evaluated loss does not depend on it"},
    {"save_only_model", LF_IGNORED, W_BOOL, NULL, "iopo's checkpoints keep the AdamW state so that --resume "
                                                  "continues exactly; out/final holds the model alone"},
    {"upcast_layernorm", LF_IGNORED, W_BOOL, NULL, "iopo computes in fp32"},
    {"upcast_lmhead_output", LF_IGNORED, W_BOOL, NULL, "iopo computes in fp32"},
    /* PyTorch, its launcher, loaders and loggers */
    {"deepspeed", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ddp_timeout", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ddp_find_unused_parameters", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ddp_backend", LF_PYTORCH, W_ANY, NULL, NULL},
    {"fsdp", LF_PYTORCH, W_ANY, NULL, NULL},
    {"fsdp_config", LF_PYTORCH, W_ANY, NULL, NULL},
    {"local_rank", LF_PYTORCH, W_ANY, NULL, NULL},
    {"flash_attn", LF_PYTORCH, W_ANY, NULL, NULL},
    {"enable_liger_kernel", LF_PYTORCH, W_ANY, NULL, NULL},
    {"use_unsloth", LF_PYTORCH, W_ANY, NULL, NULL},
    {"torch_compile", LF_PYTORCH, W_ANY, NULL, NULL},
    {"tf32", LF_PYTORCH, W_ANY, NULL, NULL},
    {"torch_empty_cache_steps", LF_PYTORCH, W_ANY, NULL, NULL},
    {"low_cpu_mem_usage", LF_PYTORCH, W_ANY, NULL, NULL},
    {"trust_remote_code", LF_PYTORCH, W_ANY, NULL, NULL},
    {"use_fast_tokenizer", LF_PYTORCH, W_ANY, NULL, NULL},
    {"cache_dir", LF_PYTORCH, W_ANY, NULL, NULL},
    {"preprocessing_num_workers", LF_PYTORCH, W_ANY, NULL, NULL},
    {"preprocessing_batch_size", LF_PYTORCH, W_ANY, NULL, NULL},
    {"overwrite_cache", LF_PYTORCH, W_ANY, NULL, NULL},
    {"dataloader_num_workers", LF_PYTORCH, W_ANY, NULL, NULL},
    {"dataloader_pin_memory", LF_PYTORCH, W_ANY, NULL, NULL},
    {"dataloader_persistent_workers", LF_PYTORCH, W_ANY, NULL, NULL},
    {"dataloader_prefetch_factor", LF_PYTORCH, W_ANY, NULL, NULL},
    {"report_to", LF_PYTORCH, W_ANY, NULL, NULL},
    {"run_name", LF_PYTORCH, W_ANY, NULL, NULL},
    {"logging_dir", LF_PYTORCH, W_ANY, NULL, NULL},
    {"log_level", LF_PYTORCH, W_ANY, NULL, NULL},
    {"disable_tqdm", LF_PYTORCH, W_ANY, NULL, NULL},
    {"plot_loss", LF_PYTORCH, W_ANY, NULL, NULL},
    {"save_safetensors", LF_PYTORCH, W_ANY, NULL, NULL},
    {"print_param_status", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ray_run_name", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ray_storage_path", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ray_num_workers", LF_PYTORCH, W_ANY, NULL, NULL},
    {"resources_per_worker", LF_PYTORCH, W_ANY, NULL, NULL},
    {"placement_strategy", LF_PYTORCH, W_ANY, NULL, NULL},
    {"hf_hub_token", LF_PYTORCH, W_ANY, NULL, NULL},
    {"ms_hub_token", LF_PYTORCH, W_ANY, NULL, NULL},
};
#define NLF ((int)(sizeof KEYS / sizeof KEYS[0]))

typedef struct lf {
    iopo_train_config *c;
    const char *path;
    FILE *notes;
    char *err;
    size_t errlen;
    const cy_entry *got[NLF];   /* the file's entry for each KEYS row (NULL: not given or null) */
} lf;

static int row_of(const char *name) {
    for (int i = 0; i < NLF; i++)
        if (!strcmp(KEYS[i].name, name)) return i;
    return -1;
}

static const cy_entry *get(const lf *L, const char *name) { return L->got[row_of(name)]; }

static bool fail(lf *L, const cy_entry *e, const char *fmt, const char *detail) {
    char msg[900];
    snprintf(msg, sizeof msg, fmt, detail);
    if (e) snprintf(L->err, L->errlen, "%s:%d: %s: %s", L->path, e->line, e->key, msg);
    else snprintf(L->err, L->errlen, "%s: %s", L->path, msg);
    return false;
}

/* Sets iopo key `key` from text, messages placed at e's line. */
static bool put(lf *L, const cy_entry *e, const char *key, const char *text) {
    char where[1200];
    snprintf(where, sizeof where, "%s:%d: %s", L->path, e->line, e->key);
    return iopo_train_config_set(L->c, key, text, where, L->err, L->errlen);
}

static bool put_int(lf *L, const cy_entry *e, const char *key, long v) {
    char t[32];
    snprintf(t, sizeof t, "%ld", v);
    return put(L, e, key, t);
}

/* The entry's value has the kind the row wants (null was filtered before). */
static bool typed(lf *L, const lf_key *k, const cy_entry *e) {
    bool ok = true;
    const char *want = NULL;
    switch (k->want) {
    case W_ANY: return true;
    case W_STR: ok = e->type == CY_STR, want = "a string"; break;
    case W_BOOL: ok = e->type == CY_BOOL, want = "true or false"; break;
    case W_NUM: ok = e->type == CY_INT || e->type == CY_FLOAT, want = "a number"; break;
    case W_INT:
        want = "an integer";
        ok = e->type == CY_INT || (e->type == CY_FLOAT && isfinite(e->num) && e->num == floor(e->num));
        if (e->type == CY_FLOAT && !ok) {
            snprintf(L->err, L->errlen, "%s:%d: %s must be an integer, not %s", L->path, e->line, e->key, e->text);
            return false;
        }
        break;
    }
    if (ok) return true;
    if (e->type == CY_LIST || e->type == CY_MAP)
        snprintf(L->err, L->errlen, "%s:%d: %s must be %s, not %s", L->path, e->line, e->key, want,
                 cy_type_name(e->type));
    else
        snprintf(L->err, L->errlen, "%s:%d: %s must be %s, not %s (%.60s)", L->path, e->line, e->key, want,
                 cy_type_name(e->type), e->text);
    return false;
}

/* The text a number is set from: as written, except infinities and NaN (.inf, .nan), spelled as strtod reads them so
 * that the key's check refuses them as not finite. */
static const char *num_text(const cy_entry *e) {
    if (isnan(e->num)) return "nan";
    if (isinf(e->num)) return e->num > 0 ? "inf" : "-inf";
    return e->text;
}

/* An integer value (typed() accepted it), saturated at +-2^53 so that a huge one reaches the key's own range check
 * (converting a double outside long's range is undefined behaviour). */
static long ival(const cy_entry *e) {
    long v;
    if (iopo_num_to_long(e->num, -(1L << 53), 1L << 53, &v) == IOPO_NUM_OK) return v;
    return e->num < 0 ? -(1L << 53) : 1L << 53;
}

static bool is_str(const cy_entry *e, const char *s) { return e && e->type == CY_STR && !strcmp(e->text, s); }

/* LLaMA-Factory's defaults (its own and transformers' TrainingArguments') where iopo's differ. Only those: a key
 * whose defaults agree keeps what the configuration holds, which for a resumed run is the run's own resolved value
 * (template auto saved as the template used, warmup_ratio's warmup_steps). */
static void lf_defaults(iopo_train_config *c) {
    c->lr = 5e-5;
    c->epochs = 3.0;
    snprintf(c->schedule, sizeof c->schedule, "linear");
    c->min_lr_ratio = 0;          /* transformers' schedules decay to 0 */
    c->log_every = 500;
    c->save_every = 500;
    c->keep_checkpoints = 0;      /* save_total_limit None: keep all */
    c->seed = 42;
    c->seq_len = 2048 - 1;        /* cutoff_len 2048 */
    snprintf(c->finetuning_type, sizeof c->finetuning_type, "lora");
}

static const char *strip_spaces(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s != ' ' && *s != '\t') buf[k++] = *s;
    buf[k] = 0;
    return buf;
}

/* One dataset name (the key's value) looked up in dataset_dir: data or eval_data and its dataset_info. */
static bool find_dataset(lf *L, const cy_entry *e, const char *dir, bool eval, bool *ranking) {
    if (strchr(e->text, ','))
        return fail(L, e, "several datasets (%s): iopo trains on one (concatenate their files into one)", e->text);
    char where[1200], name[256];
    snprintf(where, sizeof where, "%s:%d: %s", L->path, e->line, e->key);
    lf_dataset d;
    if (!lf_dataset_find(dir, strip_spaces(e->text, name, sizeof name), where, &d, L->err, L->errlen)) return false;
    *ranking = d.ranking;
    return put(L, e, eval ? "eval_data" : "data", d.path) &&
           put(L, e, eval ? "eval_dataset_info" : "dataset_info", d.info);
}

/* The keys read by name, each alone. */
static bool apply_special(lf *L, const cy_entry *e) {
    const char *k = e->key, *v = e->text;
    if (!strcmp(k, "stage")) {
        if (!strcmp(v, "sft") || !strcmp(v, "dpo") || !strcmp(v, "iopo")) return put(L, e, "objective", v);
        bool lf_stage = !strcmp(v, "pt") || !strcmp(v, "rm") || !strcmp(v, "ppo") || !strcmp(v, "kto");
        return fail(L, e, lf_stage ? "%s is not supported (iopo trains the stages sft, dpo and iopo)"
                                   : "%s: expected sft, dpo or iopo (the stages iopo trains)", v);
    }
    if (!strcmp(k, "do_train"))
        return e->b ? true : fail(L, e, "%s: iopo train trains (set it true or leave it out)", "false");
    if (!strcmp(k, "finetuning_type")) {
        if (!strcmp(v, "lora") || !strcmp(v, "full")) return put(L, e, "finetuning_type", v);
        return fail(L, e, !strcmp(v, "freeze") ? "%s is not supported (iopo trains lora or full)"
                                               : "%s: expected lora or full", v);
    }
    if (!strcmp(k, "lora_target")) {
        char buf[1024];
        return put(L, e, "lora_target", strip_spaces(v, buf, sizeof buf));
    }
    if (!strcmp(k, "pref_loss")) {
        if (!strcmp(v, "sigmoid") || !strcmp(v, "hinge") || !strcmp(v, "ipo")) return put(L, e, "loss_type", v);
        bool lf_loss = !strcmp(v, "orpo") || !strcmp(v, "simpo") || !strcmp(v, "kto_pair");
        return fail(L, e, lf_loss ? "%s is not supported (iopo's preference losses: sigmoid, hinge, ipo)"
                                  : "%s: expected sigmoid, hinge or ipo", v);
    }
    if (!strcmp(k, "cutoff_len")) {
        /* cutoff_len counts the tokens of a sequence; seq_len counts the positions whose next token is predicted,
         * one fewer: the same sequences fit. */
        if (ival(e) < 2) return fail(L, e, "%s is too small: a sequence needs a prompt and a response token", v);
        return put_int(L, e, "seq_len", ival(e) - 1);
    }
    if (!strcmp(k, "lr_scheduler_type")) {
        if (!strcmp(v, "cosine") || !strcmp(v, "linear") || !strcmp(v, "constant")) return put(L, e, "schedule", v);
        if (!strcmp(v, "constant_with_warmup")) return put(L, e, "schedule", "constant");
        return fail(L, e, "%s is not supported (iopo's schedules: cosine, linear, constant, constant_with_warmup)", v);
    }
    if (!strcmp(k, "bf16")) return put(L, e, "save_dtype", e->b ? "bfloat16" : "float32");
    if (!strcmp(k, "disable_gradient_checkpointing")) return put(L, e, "gradient_checkpointing", e->b ? "0" : "1");
    if (!strcmp(k, "adapter_name_or_path")) {
        if (strchr(v, ','))
            return fail(L, e, "several adapters (%s): iopo starts from one adapter (merge the others first)", v);
        return put(L, e, "adapter", v);
    }
    if (!strcmp(k, "template")) {
        if (!strcmp(v, "qwen")) {
            if (L->notes)
                fprintf(L->notes, "%s: template qwen: chatml (LLaMA-Factory's qwen template also writes its default "
                        "system prompt into records without one; iopo writes none)\n", L->path);
            return put(L, e, "template_name", "chatml");
        }
        if (!strcmp(v, "chatml") || !strcmp(v, "qwen3_nothink")) return put(L, e, "template_name", "chatml");
        if (!strcmp(v, "llama3")) return put(L, e, "template_name", "llama3");
        return fail(L, e, "%s is not supported (iopo's templates: qwen, chatml and qwen3_nothink as ChatML, llama3; "
                          "leave template out to pick by the tokenizer)", v);
    }
    if (!strcmp(k, "mask_history"))
        return e->b ? true
                    : fail(L, e, "%s is not supported: iopo puts the loss on the last response only (mask_history "
                                 "true)", "false");
    if (!strcmp(k, "optim")) {
        if (!strcmp(v, "adamw_torch") || !strcmp(v, "adamw_torch_fused") || !strcmp(v, "adamw_hf")) return true;
        return fail(L, e, "%s is not supported (iopo's optimizer is AdamW as torch.optim.AdamW: adamw_torch)", v);
    }
    if (!strcmp(k, "logging_strategy"))
        return !strcmp(v, "steps") ? true : fail(L, e, "%s is not supported (iopo logs every logging_steps steps)", v);
    if (!strcmp(k, "logging_steps") || !strcmp(k, "save_steps") || !strcmp(k, "eval_steps")) {
        if (ival(e) < 1) return fail(L, e, "%s: must be a number of steps, at least 1", v);
        if (!strcmp(k, "logging_steps")) return put(L, e, "log_every", v);
        if (!strcmp(k, "save_steps")) return put(L, e, "save_every", v);
        return true;   /* eval_steps: in finish, with eval_strategy */
    }
    if (!strcmp(k, "save_strategy")) {
        if (!strcmp(v, "steps") || !strcmp(v, "no")) return true;
        return fail(L, e, "%s is not supported (iopo saves every save_steps steps: steps, or no for the end only)", v);
    }
    if (!strcmp(k, "eval_strategy") || !strcmp(k, "evaluation_strategy")) {
        if (!strcmp(v, "steps") || !strcmp(v, "no")) return true;
        return fail(L, e, "%s is not supported (iopo evaluates every eval_steps steps, or at the end: steps or no)", v);
    }
    return true;   /* dataset, eval_dataset, dataset_dir, max_steps, warmup_steps, do_eval: in finish */
}

/* What depends on several keys, once all are read. */
static bool finish(lf *L) {
    iopo_train_config *c = L->c;
    const cy_entry *e;
    if ((e = get(L, "max_steps")) && ival(e) > 0) {
        /* transformers: max_steps > 0 overrides num_train_epochs */
        if (!put_int(L, e, "steps", ival(e))) return false;
        c->epochs = 0;
    }
    if ((e = get(L, "warmup_steps")) && ival(e) > 0) {
        /* transformers: warmup_steps overrides warmup_ratio */
        if (!put_int(L, e, "warmup_steps", ival(e))) return false;
        c->warmup_ratio = 0;
    }
    if (is_str(e = get(L, "lr_scheduler_type"), "constant") && (c->warmup_ratio > 0 || c->warmup_steps > 0))
        return fail(L, e, "%s has no warmup in transformers (it would ignore warmup_ratio / warmup_steps): use "
                          "constant_with_warmup, or leave the warmup out", "constant");
    /* bf16 is LLaMA-Factory's mixed precision (fp32 master weights, bf16 compute). Full fine-tuning computes with
     * bf16 copies of the matrices then; a LoRA base is already held as its checkpoint stores it, so LoRA keeps
     * compute_dtype float32 (its adapters train in fp32, as PEFT's under autocast do). */
    if ((e = get(L, "bf16")) && !strcmp(c->finetuning_type, "full") &&
        !put(L, e, "compute_dtype", e->b ? "bfloat16" : "float32"))
        return false;
    if (is_str(get(L, "save_strategy"), "no")) c->save_every = 0;
    const cy_entry *strat = get(L, "eval_strategy");
    if (!strat) strat = get(L, "evaluation_strategy");
    const cy_entry *steps = get(L, "eval_steps"), *eval_ds = get(L, "eval_dataset");
    if (is_str(strat, "steps")) {
        if (!eval_ds) return fail(L, strat, "%s needs eval_dataset (the held-out data to evaluate)", "steps");
        /* transformers: eval_steps defaults to logging_steps */
        if (steps) {
            if (!put_int(L, steps, "eval_every", ival(steps))) return false;
        } else {
            c->eval_every = c->log_every;
        }
    } else {
        c->eval_every = 0;
        if (steps && L->notes) fprintf(L->notes, "%s: ignoring eval_steps (eval_strategy is not steps)\n", L->path);
    }
    if ((e = get(L, "do_eval")) && e->b && !eval_ds)
        return fail(L, e, "%s needs eval_dataset (the held-out data to evaluate)", "true");
    const cy_entry *dir_e = get(L, "dataset_dir");
    const char *dir = dir_e ? dir_e->text : "data";
    if (dir_e && (!strcmp(dir, "ONLINE") || !strncmp(dir, "REMOTE:", 7)))
        return fail(L, dir_e, "%s: iopo reads local files only: a folder holding dataset_info.json", dir);
    const cy_entry *ds = get(L, "dataset");
    bool ranking = false, eval_ranking = false;
    if (ds && !find_dataset(L, ds, dir, false, &ranking)) return false;
    if (eval_ds && !find_dataset(L, eval_ds, dir, true, &eval_ranking)) return false;
    /* LLaMA-Factory trains ranking datasets only with a preference stage and the others only without. */
    bool pref = strcmp(c->objective, "sft") != 0;
    const cy_entry *stage = get(L, "stage");
    for (int i = 0; i < 2; i++) {
        const cy_entry *d = i ? eval_ds : ds;
        bool r = i ? eval_ranking : ranking;
        if (!d || r == pref) continue;
        char msg[600];
        snprintf(msg, sizeof msg, "%s is %s (ranking %s in its dataset_info.json entry) and stage %s %s", d->text,
                 r ? "preference data" : "not preference data", r ? "true" : "false", stage ? stage->text : "sft",
                 pref ? "needs chosen and rejected responses (ranking true)" : "trains on single responses (ranking "
                 "false)");
        return fail(L, d, "%s", msg);
    }
    return true;
}

/* Control characters that a key, a value or a path brought into a message, escaped (\x0A): a message is one line. */
static void one_line(char *err, size_t errlen) {
    char buf[4096];
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)err; *p && k + 5 < sizeof buf; p++) {
        if (*p < 0x20 || *p == 0x7F) k += (size_t)snprintf(buf + k, sizeof buf - k, "\\x%02X", *p);
        else buf[k++] = (char)*p;
    }
    buf[k] = 0;
    snprintf(err, errlen, "%s", buf);
}

static bool load_yaml(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen);

bool iopo_train_config_load_yaml(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen) {
    bool ok = load_yaml(c, path, notes, err, errlen);
    if (!ok && errlen) one_line(err, errlen);
    return ok;
}

static bool load_yaml(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen) {
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    cy_doc doc;
    bool ok = cy_read(path, text, len, &doc, err, errlen);
    free(text);
    if (!ok) return false;
    lf L = {.c = c, .path = path, .notes = notes, .err = err, .errlen = errlen};
    if (doc.n == 0) {
        snprintf(err, errlen, "%s: no keys (a LLaMA-Factory config is KEY: VALUE lines)", path);
        cy_free(&doc);
        return false;
    }
    lf_defaults(c);
    for (int i = 0; ok && i < doc.n; i++) {
        const cy_entry *e = &doc.e[i];
        int r = row_of(e->key);
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: unknown key %.100s (not a LLaMA-Factory key iopo knows; docs/TRAINING.md "
                     "lists them)", path, e->line, e->key);
            ok = false;
            break;
        }
        const lf_key *k = &KEYS[r];
        if (k->kind == LF_PYTORCH) {
            if (notes) fprintf(notes, "%s: ignoring %s (PyTorch only)\n", path, e->key);
            continue;
        }
        if (e->type == CY_NULL) continue;   /* None: the default */
        if (!(ok = typed(&L, k, e))) break;
        switch (k->kind) {
        case LF_IGNORED:
            if (notes) fprintf(notes, "%s: ignoring %s (%s)\n", path, e->key, k->why);
            break;
        case LF_FALSE:
            if (e->b) ok = fail(&L, e, "%s", k->why);
            break;
        case LF_REFUSED:
            if (!((e->type == CY_BOOL && !e->b) || ((e->type == CY_INT || e->type == CY_FLOAT) && e->num == 0)))
                ok = fail(&L, e, "%s", k->why);
            break;
        case LF_SET:
            ok = put(&L, e, k->to, e->type == CY_BOOL ? (e->b ? "1" : "0")
                                   : e->type == CY_STR ? e->text : num_text(e));
            break;
        case LF_SPECIAL:
            L.got[r] = e;
            ok = apply_special(&L, e);
            break;
        case LF_PYTORCH: break;
        }
    }
    ok = ok && finish(&L);
    cy_free(&doc);
    return ok;
}
