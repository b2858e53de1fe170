/* AdamW with on-device global-norm clipping over a model's parameters. The moments live in arenas shaped as the
 * model's parameter segments, so the norm is one pass over the gradient segments and the update one dispatch per
 * segment (weight decay is per segment: each holds one decay class). */
#include <stdlib.h>

#include "iopo/ops.h"
#include "iopo/optimizer.h"

struct iopo_optimizer {
    iopo_model *model;
    int n, steps, nseg;
    iopo_tensor **m, **v;         /* per parameter: views into the moment segments */
    iopo_tensor **m_seg, **v_seg; /* per segment */
    iopo_tensor **grads;          /* the model's gradient segments */
    iopo_tensor *norm;            /* (2) {norm, scale} */
    iopo_tensor *partials;
};

iopo_optimizer *iopo_optimizer_create(iopo_model *model) {
    iopo_optimizer *o = calloc(1, sizeof *o);
    iopo_ctx *ctx = iopo_model_ctx(model);
    o->model = model;
    o->n = iopo_model_param_count(model);
    o->nseg = iopo_model_segment_count(model);
    o->m = calloc((size_t)o->n, sizeof *o->m);
    o->v = calloc((size_t)o->n, sizeof *o->v);
    o->m_seg = calloc((size_t)o->nseg, sizeof *o->m_seg);
    o->v_seg = calloc((size_t)o->nseg, sizeof *o->v_seg);
    o->grads = calloc((size_t)o->nseg, sizeof *o->grads);
    for (int s = 0; s < o->nseg; s++) {
        const iopo_param_segment *sg = iopo_model_segment(model, s);
        o->m_seg[s] = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)sg->value->numel);
        o->v_seg[s] = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)sg->value->numel);
        o->grads[s] = sg->grad;
    }
    for (int i = 0; i < o->n; i++) {
        iopo_param *p = iopo_model_param(model, i);
        o->m[i] = iopo_tensor_view(o->m_seg[p->segment], p->offset, p->ndim, p->shape);
        o->v[i] = iopo_tensor_view(o->v_seg[p->segment], p->offset, p->ndim, p->shape);
    }
    o->norm = iopo_tensor_new1(ctx, IOPO_F32, 2);
    o->partials = iopo_tensor_new1(ctx, IOPO_F32, (int64_t)iopo_grad_norm_scratch_elems(o->nseg, o->grads));
    return o;
}

void iopo_optimizer_free(iopo_optimizer *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        iopo_tensor_free(o->m[i]);
        iopo_tensor_free(o->v[i]);
    }
    for (int s = 0; s < o->nseg; s++) {
        iopo_tensor_free(o->m_seg[s]);
        iopo_tensor_free(o->v_seg[s]);
    }
    free(o->m);
    free(o->v);
    free(o->m_seg);
    free(o->v_seg);
    free(o->grads);
    iopo_tensor_free(o->norm);
    iopo_tensor_free(o->partials);
    free(o);
}

void iopo_optimizer_norm_record(iopo_optimizer *o, const iopo_optimizer_config *cfg) {
    iopo_grad_norm(iopo_model_ctx(o->model), o->norm, o->partials, o->grads, o->nseg, cfg->grad_clip);
}

void iopo_optimizer_step(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr) {
    iopo_optimizer_norm_record(o, cfg);
    iopo_optimizer_apply(o, cfg, lr);
}

void iopo_optimizer_apply(iopo_optimizer *o, const iopo_optimizer_config *cfg, float lr) {
    iopo_ctx *ctx = iopo_model_ctx(o->model);
    o->steps++;
    for (int s = 0; s < o->nseg; s++) {
        /* The gaps between parameters stay zero: a zero weight with a zero gradient and zero moments is unchanged. */
        const iopo_param_segment *sg = iopo_model_segment(o->model, s);
        iopo_adamw_params ap = {
            .lr = lr,
            .beta1 = cfg->beta1,
            .beta2 = cfg->beta2,
            .eps = cfg->eps,
            .weight_decay = sg->decay ? cfg->weight_decay : 0.0f,
            .step = o->steps,
        };
        iopo_adamw_update(ctx, sg->value, sg->grad, o->m_seg[s], o->v_seg[s], cfg->grad_clip > 0 ? o->norm : NULL,
                          sg->value->numel, &ap);
    }
    /* compute_dtype: the forward of the next step reads the updated weights' 16-bit copies. */
    iopo_model_refresh_compute(o->model);
}

int iopo_optimizer_steps(const iopo_optimizer *o) { return o->steps; }
const iopo_tensor *iopo_optimizer_norm(const iopo_optimizer *o) { return o->norm; }
iopo_tensor *iopo_optimizer_moment(iopo_optimizer *o, int param, int which) {
    return which == 0 ? o->m[param] : o->v[param];
}
void iopo_optimizer_set_steps(iopo_optimizer *o, int steps) { o->steps = steps; }
