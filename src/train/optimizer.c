/* AdamW with on-device global-norm clipping over a model's parameters. */
#include <stdlib.h>

#include "iopo/ops.h"
#include "iopo/optimizer.h"

struct iopo_optimizer {
    iopo_model *model;
    int n, steps;
    iopo_tensor **m, **v;
    iopo_tensor **grads;          /* the model's gradient tensors, in parameter order */
    iopo_tensor *norm;            /* (2) {norm, scale} */
    iopo_tensor *partials;
};

iopo_optimizer *iopo_optimizer_create(iopo_model *model) {
    iopo_optimizer *o = calloc(1, sizeof *o);
    iopo_ctx *ctx = iopo_model_ctx(model);
    o->model = model;
    o->n = iopo_model_param_count(model);
    o->m = calloc((size_t)o->n, sizeof *o->m);
    o->v = calloc((size_t)o->n, sizeof *o->v);
    o->grads = calloc((size_t)o->n, sizeof *o->grads);
    for (int i = 0; i < o->n; i++) {
        iopo_param *p = iopo_model_param(model, i);
        o->m[i] = iopo_tensor_new(ctx, IOPO_F32, p->ndim, p->shape);
        o->v[i] = iopo_tensor_new(ctx, IOPO_F32, p->ndim, p->shape);
        o->grads[i] = p->grad;
    }
    o->norm = iopo_tensor_new1(ctx, IOPO_F32, 2);
    o->partials = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)iopo_grad_norm_scratch_elems(o->n, o->grads));
    return o;
}

void iopo_optimizer_free(iopo_optimizer *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        iopo_tensor_free(o->m[i]);
        iopo_tensor_free(o->v[i]);
    }
    free(o->m);
    free(o->v);
    free(o->grads);
    iopo_tensor_free(o->norm);
    iopo_tensor_free(o->partials);
    free(o);
}

void iopo_optimizer_norm_record(iopo_optimizer *o, const iopo_optimizer_config *cfg) {
    iopo_grad_norm(iopo_model_ctx(o->model), o->norm, o->partials, o->grads, o->n, cfg->grad_clip);
}

void iopo_optimizer_step(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr) {
    iopo_optimizer_norm_record(o, cfg);
    iopo_optimizer_apply(o, cfg, lr);
}

void iopo_optimizer_apply(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr) {
    iopo_ctx *ctx = iopo_model_ctx(o->model);
    o->steps++;
    for (int i = 0; i < o->n; i++) {
        iopo_param *p = iopo_model_param(o->model, i);
        iopo_adamw_params ap = {
            .lr = lr,
            .beta1 = cfg->beta1,
            .beta2 = cfg->beta2,
            .eps = cfg->eps,
            .weight_decay = p->decay ? cfg->weight_decay : 0.0f,
            .step = o->steps,
        };
        iopo_adamw_update(ctx, p->value, p->grad, o->m[i], o->v[i], cfg->grad_clip > 0 ? o->norm : NULL,
                          p->value->numel, &ap);
    }
}

int iopo_optimizer_steps(const iopo_optimizer *o) { return o->steps; }
const iopo_tensor *iopo_optimizer_norm(const iopo_optimizer *o) { return o->norm; }
iopo_tensor *iopo_optimizer_moment(iopo_optimizer *o, int param, int which) {
    return which == 0 ? o->m[param] : o->v[param];
}
void iopo_optimizer_set_steps(iopo_optimizer *o, int steps) { o->steps = steps; }
