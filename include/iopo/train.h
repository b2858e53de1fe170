/* `iopo train`: configuration (JSON file, every key also a command-line flag) and the training loop. */
#ifndef IOPO_TRAIN_H
#define IOPO_TRAIN_H

#include <stdbool.h>
#include <stdio.h>

typedef struct iopo_train_config {
    char model[1024], data[1024], eval_data[1024], out[1024], resume[1024], device[32], tokenizer[1024];
    /* LLaMA-Factory dataset_info.json entries (formatting, ranking, columns, tags as a JSON object; "" = none) that
     * say how the records of data and eval_data are read (iopo_pref_options.dataset_info). Before the short strings:
     * GCC bounds a string member of a local copy by the bytes from it to the struct's end in its truncation
     * warnings, and those members are formatted into fixed buffers. */
    char dataset_info[2048], eval_dataset_info[2048];
    char objective[16];   /* "sft" | "dpo" | "iopo" */
    char template_name[16], loss_type[16], on_bad_record[16], ref_model[1024];
    char save_dtype[16];  /* "float32" | "bfloat16": the weights of out/final (checkpoints stay float32) */
    /* "float32" | "bfloat16" | "float16" (or fp32, bf16, fp16): full fine-tuning computes with 16-bit copies of the
     * fp32 master matrices (iopo_model_set_compute_dtype); weights, gradients and AdamW state stay fp32. */
    char compute_dtype[16];
    /* LoRA: finetuning_type "lora" trains low-rank adapters on the lora_target linear layers (PEFT's layout) and
     * freezes the base; "full" trains every weight. */
    char finetuning_type[16];   /* "full" | "lora" */
    char lora_target[256];      /* "all" or module names, comma-separated (q_proj,v_proj / c_attn) */
    char adapter[1024];         /* a PEFT adapter directory to start from (LoRA) */
    int lora_rank, use_rslora;
    double lora_alpha;          /* 0: 2 x lora_rank (LLaMA-Factory's default) */
    double lora_dropout;
    double beta, label_smoothing, pref_ftx;
    char schedule[16];    /* "cosine" | "linear" | "constant" (after warmup) */
    int steps, stop_at, live_ref, batch_size, grad_accum, seq_len, warmup_steps, log_every, eval_every, save_every, keep_checkpoints;
    double epochs;        /* > 0: steps follow from the data: ceil(epochs * records / (batch_size * grad_accum)) */
    double warmup_ratio;  /* > 0: warmup_steps = ceil(warmup_ratio * steps) */
    int group_by_length;  /* 1: within windows of the shuffled order, records of similar length share micro-batches */
    int gradient_checkpointing;   /* 1: recompute each block in the backward from its kept input */
    int pref_chunk;               /* DPO/IOPO: sequences per forward+backward chunk of a micro-batch (0: all) */
    int logits_budget_mb; /* most MiB the LM head's logits take; larger micro-batches run the head in chunks */
    long seed;
    double lr, min_lr_ratio, beta1, beta2, eps, weight_decay, grad_clip;
    int overwrite, allow_config_change;   /* what to do with an out that holds a run (not saved with the run) */
    int plan;                             /* print the memory plan and exit (not saved with the run) */
    int resume_in_out;                    /* a bare --resume: continue the run in out (see iopo_train_config_finish) */
} iopo_train_config;

void iopo_train_config_defaults(iopo_train_config *c);
/* Applies a JSON config file's keys; unknown keys and wrong types are errors naming the file and key. */
bool iopo_train_config_load_json(iopo_train_config *c, const char *path, char *err, size_t errlen);
/* Applies a run config by its extension: .yaml / .yml as a LLaMA-Factory config (iopo_train_config_load_yaml), any
 * other as JSON. notes (may be NULL) receives the lines about keys a YAML config has that iopo ignores. */
bool iopo_train_config_load_file(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen);
/* A LLaMA-Factory YAML run config (config_llamafactory.c; docs/TRAINING.md lists the keys): its keys mapped to iopo's,
 * LLaMA-Factory's defaults for those it leaves out, its dataset looked up in dataset_dir/dataset_info.json. Errors
 * name the file and line. */
bool iopo_train_config_load_yaml(iopo_train_config *c, const char *path, FILE *notes, char *err, size_t errlen);
/* Sets one key from text as a flag does (type and range checked); where starts any message ("run.yaml:12: lr"). */
bool iopo_train_config_set(iopo_train_config *c, const char *key, const char *value, const char *where, char *err,
                           size_t errlen);
/* Applies --key VALUE / --key=VALUE flags (dashes for underscores); returns false on an unknown flag or bad value.
 * --config is handled by the caller. */
bool iopo_train_config_parse_flag(iopo_train_config *c, int argc, char **argv, int *i, char *err, size_t errlen);
bool iopo_train_config_validate(const iopo_train_config *c, char *err, size_t errlen);
/* compute_dtype as an iopo_dtype (IOPO_F32, IOPO_BF16, IOPO_F16 of iopo/context.h), -1 if it names none. */
int iopo_train_compute_dtype(const iopo_train_config *c);
/* Once the data is loaded (`records`: examples the data order draws, i.e. records of a preference file, sequences
 * otherwise): steps from epochs and warmup_steps from warmup_ratio where those are given, then validate again. */
bool iopo_train_config_resolve(iopo_train_config *c, int records, char *err, size_t errlen);
void iopo_train_config_print_keys(FILE *out);
/* Valueless flags (bare --resume, --overwrite, --allow-config-change); true if argv[*i] was one. Call before
 * iopo_train_config_parse_flag. */
bool iopo_train_config_parse_switch(iopo_train_config *c, int argc, char **argv, int *i);
/* After all flags: a bare --resume names out. */
void iopo_train_config_finish(iopo_train_config *c);
/* Resuming: path of the saved train_config.json of the run that resume names (the run directory, or the run holding
 * a checkpoint directory); false if there is none. iopo_train_config_load_saved applies it as the base that a
 * --config file and flags then override (so only what is given again can differ); stop_at is not carried over. */
bool iopo_train_config_saved_path(const char *resume, char *path, size_t n);
bool iopo_train_config_load_saved(iopo_train_config *c, const char *path, char *err, size_t errlen);
/* The effective configuration as a JSON object of every key (a malloc'd string; out/train_config.json). */
char *iopo_train_config_to_json(const iopo_train_config *c);
/* Prints "  key: old -> new" for each key that differs and returns their number; the ones that define the run (see
 * iopo_train_config_is_meaning_key) are listed, comma-separated, in meaning. */
int iopo_train_config_diff(const iopo_train_config *old, const iopo_train_config *now, FILE *f, char *meaning,
                           size_t meaning_len);
bool iopo_train_config_is_meaning_key(const char *name);
/* The keys that define a run, comma-separated, wrapped at width columns with indent before each continuation line. */
void iopo_train_config_print_meaning_keys(FILE *f, int width, const char *indent);

/* Runs training; returns a process exit status: 0 success, 1 error, 128 + signal when stopped by
 * iopo_train_request_stop (after finishing the current step and writing a checkpoint). */
int iopo_train_run(const iopo_train_config *c);
/* Asks a running iopo_train_run to stop after its current step. Async-signal-safe (it only stores sig). */
void iopo_train_request_stop(int sig);

/* Learning rate at step s (1-based) for the config's warmup and schedule. */
double iopo_train_lr(const iopo_train_config *c, int s);

#endif
