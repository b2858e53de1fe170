/* What differs between SFT, DPO and IOPO in a run: how data becomes rows, reference log-probs, and metrics. Rows of a
 * preference record are consecutive in the flattened dataset (record r, sequence k = row r*G + k). */
#ifndef IOPO_TRAIN_OBJECTIVE_H
#define IOPO_TRAIN_OBJECTIVE_H

#include <stdio.h>

#include "iopo/dataset.h"
#include "iopo/model.h"
#include "iopo/ops.h"
#include "iopo/tokenizer.h"
#include "iopo/train.h"

/* Sequences per record: 1 (sft), 2 (dpo), 4 (iopo). */
int objective_group(const char *objective);
iopo_pref_params objective_params(const iopo_train_config *c, int group, float scale);

/* Loads a data file as rows (G per record): plain/packed/pre-tokenized SFT files through dataset.c, chat and
 * preference formats through prefdata.c. Sequences longer than T + 1 tokens are cut (train and score share this).
 * no_tokenizer: when tok is NULL, why there is none and how to give one (text data's error says it). Records are read
 * through c->eval_dataset_info when path is c->eval_data itself (the pointer), else through c->dataset_info (both
 * "" unless a LLaMA-Factory config named a dataset_info.json entry). */
bool objective_load_data(const iopo_train_config *c, const char *path, const iopo_tokenizer *tok,
                         const char *no_tokenizer, int T, int vocab, int group, iopo_dataset *out, char *err,
                         size_t errlen);
/* The tokenizer of a run or a score: explicit (a missing file is an error) or model_dir/tokenizer.json (missing: *tok
 * NULL and why[] says which file and how to give one, for text data's error). false + err on a bad tokenizer. */
bool objective_load_tokenizer(const char *explicit_path, const char *model_dir, iopo_tokenizer **tok, char *why,
                              size_t whylen, char *err, size_t errlen);

/* Summed label log-prob of every row under the model in model_dir (with the LoRA adapter in adapter_dir on it, when
 * not NULL or empty), computed once and cached in cache_path (a JSON
 * file keyed by the model, data and settings; a stale cache is recomputed; NULL = no cache). Returns a malloc'd
 * (ds->n) array. compute: the dtype its fp32 matrices are computed in (iopo_model_set_compute_dtype), the policy's,
 * so that the two agree at the start; the cache key covers it. */
float *objective_reference_logps(iopo_ctx *ctx, const char *model_dir, const char *adapter_dir, const iopo_dataset *ds,
                                 int rows_per_batch, int T, iopo_dtype compute, const char *cache_path,
                                 const char *key_extra, char *err, size_t errlen);

/* Accumulates TRL / official IOPO trainer metrics from one micro-batch's rows (E records x G sequences). */
typedef struct pref_metrics {
    int group;
    double n;                 /* examples */
    double reward[4], acc[2], logp[4], ref_logp[4];
} pref_metrics;
void pref_metrics_add(pref_metrics *pm, const float *seq_logp, const float *ref_logp, int E, int group, double beta);
/* One member of a metrics.jsonl record, ", \"PREFIXKEY\": value" with value in fmt (one double): printf writes nan
 * and inf, which are not JSON, so a non-finite value is written as null (readers take it as missing). */
void metrics_json_number(FILE *f, const char *prefix, const char *key, const char *fmt, double v);
/* Writes ", \"rewards/chosen\": ..." style members (JSON) or a short summary (progress line). */
void pref_metrics_print_json(const pref_metrics *pm, FILE *f, const char *prefix);
void pref_metrics_print_short(const pref_metrics *pm, FILE *f);

#endif
