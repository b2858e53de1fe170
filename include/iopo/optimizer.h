/* AdamW over all parameters of a model, with global-norm gradient clipping, all on the device: the clip scale is
 * computed and consumed there, so a step needs no host round trip. */
#ifndef IOPO_OPTIMIZER_H
#define IOPO_OPTIMIZER_H

#include "iopo/model.h"

typedef struct iopo_optimizer_config {
    float lr, beta1, beta2, eps, weight_decay;   /* weight decay applies only to parameters marked decay */
    float grad_clip;                             /* global norm; <= 0 disables clipping (the norm is still computed) */
} iopo_optimizer_config;

typedef struct iopo_optimizer iopo_optimizer;

iopo_optimizer *iopo_optimizer_create(iopo_model *m);
void iopo_optimizer_free(iopo_optimizer *o);
/* One step on the gradients currently in the model (step counts from 1). lr overrides cfg->lr (for schedules).
 * Equivalent to iopo_optimizer_norm_record() then iopo_optimizer_apply(). */
void iopo_optimizer_step(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr);
/* The two halves of a step, so a caller can inspect the gradient norm (after a sync) before weights change. */
void iopo_optimizer_norm_record(iopo_optimizer *o, const iopo_optimizer_config *cfg);
void iopo_optimizer_apply(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr);
int iopo_optimizer_steps(const iopo_optimizer *o);
/* The {norm, scale} tensor of the last step (read it after a sync to log the grad norm). */
const iopo_tensor *iopo_optimizer_norm(const iopo_optimizer *o);
/* First and second moments of parameter i (for checkpoints), and the step count to restore. */
iopo_tensor *iopo_optimizer_moment(iopo_optimizer *o, int param, int which);
void iopo_optimizer_set_steps(iopo_optimizer *o, int steps);

#endif
