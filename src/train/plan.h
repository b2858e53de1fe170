/* The memory plan of a training run, before anything is allocated: from the model's config.json, the safetensors
 * headers and the run's keys. The run prints it and refuses a plan larger than the device; `iopo train --plan`
 * prints it in full and exits. */
#ifndef IOPO_TRAIN_PLAN_H
#define IOPO_TRAIN_PLAN_H

#include <stdio.h>

#include "iopo/context.h"
#include "iopo/model.h"
#include "iopo/train.h"

typedef struct train_plan {
    size_t nparam, nlora;            /* elements of the base, of the adapters */
    int rows, T;                     /* a micro-batch: rows of up to T positions */
    int logits_budget_mb;
    bool lora, live_ref;
    bool held_16bit;                 /* the frozen base's matrices stay in the checkpoint's 16-bit dtype */
    char stored[32];                 /* the checkpoint's dtype ("float32", "bfloat16", "float16", "mixed") */
    int compute_dtype;               /* IOPO_F32, or the 16-bit dtype of the matrices' compute copies */
    double params, adapters, grads, adam, ref;   /* bytes */
    double compute;                  /* bytes of the compute copies (0 with compute_dtype float32) */
    iopo_act_plan act;
    size_t act_other;                /* activations with recomputation the other way */
    bool recompute;
    double total;
} train_plan;

/* The adapters of a LoRA run into cfg->lora: those of the directory the model comes from when it is an adapter (a
 * resumed run), else those of the adapter to start from (adapter_dir, may be ""), else new ones as the run's keys
 * say; false + err if the target names no module. */
bool train_plan_lora_config(const iopo_train_config *c, const char *adapter_dir, iopo_model_config *cfg, char *err,
                            size_t errlen);
/* `iopo train --plan`: the plan printed in full against the device; 0 if it fits, 1 if not or on an error. */
int train_plan_run(const iopo_train_config *c, const iopo_ctx_options *opts);
/* cfg: the model's config (cfg->lora set for a LoRA run), G: sequences per record. */
void train_plan_make(const iopo_train_config *c, const iopo_model_config *cfg, const char *model_dir, int G,
                     train_plan *p);
/* One line, as the run prints it at start. */
void train_plan_print_line(const train_plan *p, FILE *f);
/* Every part, and the total against the device's memory (have 0: unknown). */
void train_plan_print(const train_plan *p, const iopo_model_config *cfg, size_t have, const char *device, FILE *f);

#endif
