/* The decoder driver: embedding -> blocks -> final norm -> head -> loss, forward and backward written once for every
 * family. A block is  x += attn(norm1(x));  x += mlp(norm2(x))  with the family's norm (LayerNorm / RMSNorm),
 * positions (learned / RoPE), q/k norm, MLP (GELU / SwiGLU) and head (tied / untied) chosen by its descriptor. Every
 * computation is an op of include/iopo/ops.h, so the same code runs on both backends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/ops.h"
#include "model/model_internal.h"

/* ---- parameters ----------------------------------------------------------------------------------------------- */

static int qkv_width(const iopo_model_config *c) { return (c->n_head + 2 * c->n_kv_head) * c->head_dim; }

/* Shape of a role's parameter: linear weights as the family stores them ([in, out] or [out, in]). */
static int role_shape(const iopo_model_config *c, const model_family *f, param_role r, int64_t *shape) {
    int64_t C = c->n_embd, V = c->vocab_size, F = c->n_ffn, hd = c->head_dim, W = qkv_width(c);
    int64_t A = (int64_t)c->n_head * c->head_dim;
    int64_t in = 0, out = 0;
    switch (r) {
    case R_TOK_EMB: case R_LM_HEAD: shape[0] = V, shape[1] = C; return 2;
    case R_POS_EMB: shape[0] = c->n_ctx, shape[1] = C; return 2;
    case R_NORM_F_W: case R_NORM_F_B: case R_ATTN_NORM_W: case R_ATTN_NORM_B: case R_MLP_NORM_W:
    case R_MLP_NORM_B: case R_O_B: case R_DOWN_B: shape[0] = C; return 1;
    case R_QKV_B: shape[0] = W; return 1;
    case R_UP_B: shape[0] = F; return 1;
    case R_Q_NORM: case R_K_NORM: shape[0] = hd; return 1;
    case R_QKV_W: in = C, out = W; break;
    case R_O_W: in = A, out = C; break;
    case R_UP_W: case R_GATE_W: in = C, out = F; break;
    case R_DOWN_W: in = F, out = C; break;
    case R_COUNT: break;
    }
    shape[0] = f->layout == IOPO_W_KN ? in : out;
    shape[1] = f->layout == IOPO_W_KN ? out : in;
    return 2;
}

static bool param_present(const iopo_model_config *c, const family_param *fp) {
    switch (fp->when) {
    case WHEN_ATTN_BIAS: return c->attn_bias;
    case WHEN_UNTIED: return !c->tied;
    default: return true;
    }
}

/* "model.layers.%d.self_attn.q_proj.weight" with layer l; a fused tensor's own name says qkv_proj. */
static void format_name(char *out, size_t n, const char *pattern, int l) {
    snprintf(out, n, pattern, l);
}

static void add_param(iopo_model *m, const family_param *fp, int layer) {
    const iopo_model_config *c = &m->cfg;
    int i = m->nparams++;
    iopo_param *p = &m->params[i];
    param_meta *pm = &m->meta[i];
    pm->role = fp->role;
    pm->layer = layer;
    p->ndim = role_shape(c, m->fam, fp->role, p->shape);
    p->decay = p->ndim == 2;
    int npieces = fp->names[1] ? 3 : 1;
    pm->npieces = npieces;
    /* A fused tensor's rows: q (NH heads), k, v (NKV heads each), of hd rows each (weights: times C columns). */
    int64_t rows[3] = {(int64_t)c->n_head * c->head_dim, (int64_t)c->n_kv_head * c->head_dim,
                       (int64_t)c->n_kv_head * c->head_dim};
    size_t off = 0;
    for (int k = 0; k < npieces; k++) {
        param_piece *pc = &pm->piece[k];
        format_name(pc->name, sizeof pc->name, fp->names[k], layer);
        pc->ndim = p->ndim;
        pc->shape[0] = npieces == 1 ? p->shape[0] : rows[k];
        pc->shape[1] = p->ndim == 2 ? p->shape[1] : 0;
        pc->offset = off;
        off += (size_t)pc->shape[0] * (p->ndim == 2 ? (size_t)pc->shape[1] : 1);
    }
    snprintf(p->name, sizeof p->name, "%s", pm->piece[0].name);
    if (npieces > 1) {
        char *q = strstr(p->name, "q_proj");
        if (q) {
            char rest[96];
            snprintf(rest, sizeof rest, "%s", q + 6);
            snprintf(q, sizeof p->name - (size_t)(q - p->name), "qkv_proj%s", rest);
        }
    }
    m->slot[(layer < 0 ? c->n_layer : layer) * R_COUNT + fp->role] = i;
}

bool iopo_model_config_check(const iopo_model_config *c, char *err, size_t errlen) {
    const model_family *f = family_find(c->arch);
    if (!f) {
        snprintf(err, errlen, "model config: architecture \"%s\" is not supported (supported: %s)", c->arch,
                 family_names());
        return false;
    }
    if (f->learned_pos && c->n_head > 0 && c->n_embd % c->n_head != 0) {
        snprintf(err, errlen, "model config: n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
        return false;
    }
    if (c->n_layer < 1 || c->n_head < 1 || c->n_kv_head < 1 || c->n_embd < 1 || c->head_dim < 1 || c->n_ffn < 1 ||
        c->n_ctx < 1 || c->vocab_size < 1) {
        snprintf(err, errlen, "model config: layers, heads, kv heads, hidden size, head_dim, MLP width, positions and "
                              "vocab_size must be positive");
        return false;
    }
    if (c->n_head % c->n_kv_head != 0) {
        snprintf(err, errlen, "model config: %d attention heads are not a multiple of %d key/value heads", c->n_head,
                 c->n_kv_head);
        return false;
    }
    if (!f->learned_pos && c->head_dim % 2 != 0) {
        snprintf(err, errlen, "model config: head_dim %d must be even for RoPE", c->head_dim);
        return false;
    }
    if (!f->learned_pos && !(c->rope.theta > 1)) {
        snprintf(err, errlen, "model config: rope_theta %g must exceed 1", c->rope.theta);
        return false;
    }
    if (!(c->norm_eps > 0)) {
        snprintf(err, errlen, "model config: the norm epsilon must be positive");
        return false;
    }
    /* Every element count the ops index must fit their int arguments. */
    double W = (double)qkv_width(c), BTmax = (double)c->n_ctx;
    if ((double)c->vocab_size * c->n_embd > 2147483647.0 || W * c->n_embd > 2147483647.0 ||
        (double)c->n_ffn * c->n_embd > 2147483647.0 || BTmax * c->n_embd > 2147483647.0) {
        snprintf(err, errlen, "model config: a weight of this shape exceeds 2^31 elements");
        return false;
    }
    return true;
}

static size_t config_numel(const iopo_model_config *c, bool matrices_only) {
    const model_family *f = family_find(c->arch);
    if (!f) return 0;
    size_t n = 0;
    int64_t shape[2];
    const family_param *lists[3] = {f->first, f->layer, f->last};
    int counts[3] = {f->nfirst, f->nlayer, f->nlast}, reps[3] = {1, c->n_layer, 1};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < counts[g]; i++) {
            if (!param_present(c, &lists[g][i])) continue;
            int nd = role_shape(c, f, lists[g][i].role, shape);
            if (matrices_only && nd != 2) continue;
            n += (size_t)reps[g] * (size_t)shape[0] * (nd == 2 ? (size_t)shape[1] : 1);
        }
    return n;
}
size_t iopo_model_config_numel(const iopo_model_config *c) { return config_numel(c, false); }
size_t iopo_model_config_matrix_numel(const iopo_model_config *c) { return config_numel(c, true); }

/* Each parameter starts at a multiple of this many bytes (the largest storage-buffer offset alignment Vulkan allows),
 * so every view binds on any device. */
#define ARENA_ALIGN_BYTES 256

/* Parameters of each decay class (and dtype) packed in order into segments of at most the device's largest
 * allocation (a parameter larger than that gets a segment of its own, whose allocation then reports the limit);
 * values and, for fp32 parameters when grads, gradients are views. */
void model_alloc_arenas(iopo_ctx *ctx, iopo_param *params, int np, bool grads, iopo_param_segment **segments,
                        int *nsegments) {
    int cap = 4, nseg = 0;
    iopo_param_segment *segs = calloc((size_t)cap, sizeof *segs);
    size_t *fill = calloc((size_t)cap, sizeof *fill);
    iopo_dtype *seg_dtype = calloc((size_t)cap, sizeof *seg_dtype);
    int open_seg[8] = {-1, -1, -1, -1, -1, -1, -1, -1};   /* the segment each (decay class, dtype) is filling */
    for (int i = 0; i < np; i++) {
        iopo_param *p = &params[i];
        /* An fp32 matrix's offset also keeps the alignment when counted in 2-byte elements, so a 16-bit mirror of
         * its segment (compute_dtype) has every view aligned too and one convert refreshes the whole segment. */
        size_t es = iopo_dtype_size(p->dtype), n = 1;
        size_t align = ARENA_ALIGN_BYTES / (p->decay && p->dtype == IOPO_F32 ? 2 : es);
        size_t max_elems = iopo_ctx_max_tensor_bytes(ctx) / es;
        for (int d = 0; d < p->ndim; d++) n *= (size_t)p->shape[d];
        size_t need = (n + align - 1) / align * align;
        int cls = (p->decay ? 1 : 0) + 2 * (int)p->dtype, sidx = open_seg[cls];
        if (sidx < 0 || fill[sidx] + need > max_elems) {
            if (nseg == cap) {
                cap *= 2;
                segs = realloc(segs, (size_t)cap * sizeof *segs);
                fill = realloc(fill, (size_t)cap * sizeof *fill);
                seg_dtype = realloc(seg_dtype, (size_t)cap * sizeof *seg_dtype);
            }
            sidx = open_seg[cls] = nseg++;
            segs[sidx] = (iopo_param_segment){.decay = p->decay};
            fill[sidx] = 0;
            seg_dtype[sidx] = p->dtype;
        }
        p->segment = sidx;
        p->offset = fill[sidx];
        fill[sidx] += need;
    }
    for (int s = 0; s < nseg; s++) {
        segs[s].value = iopo_tensor_new1(ctx, seg_dtype[s], (int64_t)fill[s]);
        segs[s].grad = grads && seg_dtype[s] == IOPO_F32 ? iopo_tensor_new1(ctx, IOPO_F32, (int64_t)fill[s]) : NULL;
    }
    for (int i = 0; i < np; i++) {
        iopo_param *p = &params[i];
        iopo_param_segment *sg = &segs[p->segment];
        p->value = iopo_tensor_view(sg->value, p->offset, p->ndim, p->shape);
        p->grad = sg->grad ? iopo_tensor_view(sg->grad, p->offset, p->ndim, p->shape) : NULL;
    }
    free(fill);
    free(seg_dtype);
    *segments = segs;
    *nsegments = nseg;
}

iopo_model *model_new(iopo_ctx *ctx, const iopo_model_config *cfg, char *err, size_t errlen) {
    iopo_model *m = model_build(ctx, cfg, err, errlen);
    if (m) model_alloc_arenas(ctx, m->params, m->nparams, true, &m->segments, &m->nsegments);
    return m;
}

iopo_model *model_build(iopo_ctx *ctx, const iopo_model_config *cfg, char *err, size_t errlen) {
    if (!iopo_model_config_check(cfg, err, errlen)) return NULL;
    iopo_model *m = calloc(1, sizeof *m);
    m->ctx = ctx;
    m->cfg = *cfg;
    m->fam = family_find(cfg->arch);
    const model_family *f = m->fam;
    int L = cfg->n_layer, cap = f->nfirst + L * f->nlayer + f->nlast;
    m->params = calloc((size_t)cap, sizeof *m->params);
    m->meta = calloc((size_t)cap, sizeof *m->meta);
    m->slot = malloc((size_t)(L + 1) * R_COUNT * sizeof *m->slot);
    for (int i = 0; i < (L + 1) * R_COUNT; i++) m->slot[i] = -1;
    for (int i = 0; i < f->nfirst; i++)
        if (param_present(cfg, &f->first[i])) add_param(m, &f->first[i], -1);
    for (int l = 0; l < L; l++)
        for (int i = 0; i < f->nlayer; i++)
            if (param_present(cfg, &f->layer[i])) add_param(m, &f->layer[i], l);
    for (int i = 0; i < f->nlast; i++)
        if (param_present(cfg, &f->last[i])) add_param(m, &f->last[i], -1);
    return m;
}

static iopo_param *param_of(const iopo_model *m, int layer, param_role r) {
    int i = m->slot[(layer < 0 ? m->cfg.n_layer : layer) * R_COUNT + r];
    return i < 0 ? NULL : &m->params[i];
}
/* A parameter's value / gradient, NULL where the family (or this config) has none. */
static iopo_tensor *W(const iopo_model *m, int layer, param_role r) {
    iopo_param *p = param_of(m, layer, r);
    return !p ? NULL : p->compute ? p->compute : p->value;   /* compute_dtype: the matrices' 16-bit copies */
}
static iopo_tensor *G(const iopo_model *m, int layer, param_role r) {
    iopo_param *p = param_of(m, layer, r);
    return p ? p->grad : NULL;
}
/* The LM head: its own weight, or the token embedding when tied. */
static param_role head_role(const iopo_model *m) { return m->cfg.tied ? R_TOK_EMB : R_LM_HEAD; }

/* ---- activations: one list both sizes and allocates them ------------------------------------------------------ */

/* COUNT sizes the list; ALLOC allocates each tensor (recording it in base[]); VIEW makes each a view of the next
 * recorded tensor, for a batch shape no larger than the allocated one. */
typedef enum { WALK_COUNT, WALK_ALLOC, WALK_VIEW } walk_mode;
enum { ACT_OTHER, ACT_LOGITS, ACT_ATTENTION, ACT_ADAPTERS, ACT_KINDS };

typedef struct act_walk {
    walk_mode mode;
    iopo_ctx *ctx;
    size_t bytes;
    iopo_tensor **base, **views;   /* VIEW: views[i] is made of base[i] */
    int nbase;               /* tensors walked so far (every mode) */
    bool head_chunked;       /* VIEW: as the allocation decided; otherwise decided from the shape */
    int64_t head_rows;
    int kind;                /* what the tensors walked now are for (the plan's breakdown) */
    size_t kind_bytes[ACT_KINDS];
} act_walk;

/* The LM head's logits rows for a (B, T) batch: all B*T rows when their logits fit the budget, else as many whole
 * sequences as fit, else (one sequence's logits alone exceed it) as many rows of one sequence as fit (at least one). */
static size_t logits_budget(const iopo_model_config *c) { return c->logits_budget ? c->logits_budget : IOPO_LOGITS_BUDGET; }
static void plan_head(const iopo_model_config *c, int B, int T, bool *chunked, int64_t *rows) {
    int64_t fit = (int64_t)(logits_budget(c) / ((size_t)c->vocab_size * 4));
    *chunked = (int64_t)B * T > fit;
    *rows = !*chunked ? (int64_t)B * T : fit >= T ? fit / T * (int64_t)T : fit > 0 ? fit : 1;
}
/* A head chunk for a (B, T) batch within an allocation of `rows` logits rows: `seqs` whole sequences, or, where
 * one sequence does not fit, pieces of `len` < T positions of one sequence. */
typedef struct head_split {
    int seqs, len;
} head_split;
static head_split head_chunking(int B, int T, int64_t rows) {
    if (rows < T) return (head_split){1, (int)rows};
    int64_t k = rows / T;
    return (head_split){k > B ? B : (int)k, T};
}

static void act(act_walk *w, iopo_tensor **slot, iopo_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2,
                int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    w->bytes += n * 4;
    w->kind_bytes[w->kind] += n * 4;
    if (w->mode == WALK_ALLOC) *slot = w->base[w->nbase] = iopo_tensor_new(w->ctx, dt, ndim, shape);
    else if (w->mode == WALK_VIEW) *slot = w->views[w->nbase] = iopo_tensor_view(w->base[w->nbase], 0, ndim, shape);
    w->nbase++;
}
#define ACT1(slot, d0) act(w, &(slot), IOPO_F32, 1, (d0), 0, 0, 0)
#define ACT2(slot, d0, d1) act(w, &(slot), IOPO_F32, 2, (d0), (d1), 0, 0)

/* Every activation of a (B, T) batch for config c of family f, in one place: counted, or allocated into a. */
static void walk_acts(const iopo_model_config *c, const model_family *f, int B, int T, model_acts *a, act_walk *w) {
    int64_t BT = (int64_t)B * T, C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, hd = c->head_dim;
    int64_t V = c->vocab_size, F = c->n_ffn, Wd = qkv_width(c), A = NH * hd;
    bool ln = f->norm == NORM_LAYER, rope = !f->learned_pos, swiglu = f->mlp == MLP_SWIGLU;
    lora_site sites[LORA_MAX_SITES];
    int nlora = c->lora.rank > 0 ? lora_select(c, f, sites, NULL, 0) : 0;
    if (nlora < 0) nlora = 0;
    int64_t lora_part = 0, lora_k = 0;   /* the widest fused module, the widest adapted input */
    for (int k = 0; k < nlora; k++) {
        if (sites[k].n < sites[k].N && sites[k].n > lora_part) lora_part = sites[k].n;
        if (sites[k].K > lora_k) lora_k = sites[k].K;
    }
    for (int l = 0; l <= c->n_layer; l++) ACT2(a->residual[l], BT, C);
    /* With recomputation only the blocks' inputs (residual) are kept: one set of block activations serves them all. */
    int blocks = c->recompute ? 1 : c->n_layer;
    for (int l = 0; l < blocks; l++) {
        layer_acts *la = &a->layers[l];
        ACT2(la->norm1, BT, C);
        if (ln) ACT1(la->norm1_mean, BT);
        ACT1(la->norm1_rstd, BT);
        ACT2(la->qkv, BT, Wd);
        if (f->qk_norm) {
            ACT2(la->qk_rstd, BT, NH + NKV);
            ACT2(la->qkv_att, BT, Wd);
        } else if (w->mode != WALK_COUNT) {
            la->qkv_att = la->qkv;
        }
        w->kind = ACT_ATTENTION;
        act(w, &la->att_lse, IOPO_F32, 3, B, NH, T, 0);
        w->kind = ACT_OTHER;
        ACT2(la->atty, BT, A);
        ACT2(la->x_mid, BT, C);
        ACT2(la->norm2, BT, C);
        if (ln) ACT1(la->norm2_mean, BT);
        ACT1(la->norm2_rstd, BT);
        ACT2(la->up, BT, F);
        if (swiglu) ACT2(la->gate, BT, F);
        ACT2(la->hidden, BT, F);
        w->kind = ACT_ADAPTERS;
        for (int k = 0; k < nlora; k++) ACT2(la->lora_h[k], BT, c->lora.rank);
        w->kind = ACT_OTHER;
    }
    for (int l = blocks; l < c->n_layer && w->mode != WALK_COUNT; l++) a->layers[l] = a->layers[0];
    if (rope) {
        act(w, &a->positions, IOPO_I32, 2, B, T, 0, 0);
        ACT2(a->rope_cos, T, hd / 2);
        ACT2(a->rope_sin, T, hd / 2);
    }
    ACT2(a->normf, BT, C);
    if (ln) ACT1(a->normf_mean, BT);
    ACT1(a->normf_rstd, BT);
    bool chunked;
    int64_t rows;
    if (w->mode == WALK_VIEW) chunked = w->head_chunked, rows = w->head_rows;
    else plan_head(c, B, T, &chunked, &rows);
    if (w->mode != WALK_VIEW) w->head_chunked = chunked, w->head_rows = rows;
    w->kind = ACT_LOGITS;
    if (chunked) {
        head_split hs = head_chunking(B, T, rows);
        int64_t Bc = hs.seqs, Tc = hs.len;
        ACT2(a->logits, Bc * Tc, V);
        ACT2(a->c_in, Bc * Tc, C);
        ACT2(a->c_dnorm, Bc * Tc, C);
        act(w, &a->c_targets, IOPO_I32, 2, Bc, Tc, 0, 0);
        ACT2(a->c_mask, Bc, Tc);
        ACT2(a->c_loss, Bc, Tc);
        ACT2(a->c_lse, Bc, Tc);
        ACT2(a->c_dloss, Bc, Tc);
        /* Per sequence: B, not Bc, so that a view for a shorter batch, whose chunks hold more sequences, fits. */
        ACT1(a->c_seq_logp, B);
        ACT1(a->c_seq_count, B);
        ACT1(a->c_dseq, B);
        ACT1(a->c_acc_logp, 1);    /* a sequence's sums over the pieces so far */
        ACT1(a->c_acc_count, 1);
    } else {
        ACT2(a->logits, BT, V);
    }
    w->kind = ACT_OTHER;
    ACT2(a->loss, B, T);
    ACT2(a->lse, B, T);
    ACT1(a->seq_logp, B);
    ACT1(a->seq_count, B);
    ACT2(a->tmp, BT, C);
    w->kind = ACT_ADAPTERS;
    if (nlora) {
        if (lora_part) ACT2(a->lora_part, BT, lora_part);
        ACT2(a->lora_dh, BT, c->lora.rank);
        if (c->lora.dropout > 0) {
            ACT2(a->lora_xd, BT, lora_k);
            ACT2(a->lora_dx, BT, lora_k);
        }
    }
    w->kind = ACT_OTHER;
    ACT2(a->dres, BT, C);
    ACT2(a->dnorm, BT, C);
    ACT2(a->datty, BT, A);
    ACT2(a->dqkv, BT, Wd);
    if (rope) ACT2(a->dqkv2, BT, Wd);
    ACT2(a->dup, BT, F);
    if (swiglu) ACT2(a->dgate, BT, F);
    ACT2(a->dhidden, BT, F);
    w->kind = ACT_ATTENTION;
    act(w, &a->att_delta, IOPO_F32, 3, B, NH, T, 0);
    w->kind = ACT_OTHER;
}

iopo_act_plan iopo_model_activation_plan(const iopo_model_config *c, int B, int T) {
    iopo_act_plan p = {0};
    const model_family *f = family_find(c->arch);
    if (!f) return p;
    model_acts a = {0};
    a.residual = calloc((size_t)c->n_layer + 1, sizeof *a.residual);
    a.layers = calloc((size_t)c->n_layer, sizeof *a.layers);
    act_walk w = {.mode = WALK_COUNT};
    walk_acts(c, f, B, T, &a, &w);
    free(a.residual);
    free(a.layers);
    p.total = w.bytes;
    p.logits = w.kind_bytes[ACT_LOGITS];
    p.attention = w.kind_bytes[ACT_ATTENTION];
    p.adapters = w.kind_bytes[ACT_ADAPTERS];
    return p;
}

size_t iopo_model_activation_bytes(const iopo_model_config *c, int B, int T) {
    return iopo_model_activation_plan(c, B, T).total;
}

size_t iopo_model_activation_bytes_allocated(const iopo_model *m) { return m->acts.bytes; }

/* The views of the current batch shape (every activation is one). */
/* Frees the views of the current batch shape (every one the walk made: the list is the walk's own) and clears the
 * pointers to them, keeping the allocation. */
static void free_views(model_acts *a, int L) {
    if (!a->layers) return;
    for (int i = 0; a->views && i < a->nbase; i++) {
        iopo_tensor_free(a->views[i]);
        a->views[i] = NULL;
    }
    memset(a->layers, 0, (size_t)L * sizeof *a->layers);
    memset(a->residual, 0, (size_t)(L + 1) * sizeof *a->residual);
    model_acts keep = {.Bcap = a->Bcap, .Tcap = a->Tcap, .head_chunked = a->head_chunked, .head_rows = a->head_rows,
                       .base = a->base, .views = a->views, .nbase = a->nbase, .residual = a->residual,
                       .layers = a->layers, .bytes = a->bytes};
    *a = keep;
}

static void free_acts(iopo_model *m) {
    model_acts *a = &m->acts;
    free_views(a, m->cfg.n_layer);
    for (int i = 0; i < a->nbase; i++) iopo_tensor_free(a->base[i]);
    free(a->base);
    free(a->views);
    free(a->layers);
    free(a->residual);
    memset(a, 0, sizeof *a);
}

/* Activations for (Bcap, Tcap) allocated once; RoPE tables for Tcap positions. */
static void alloc_acts(iopo_model *m, int Bcap, int Tcap) {
    free_acts(m);
    const iopo_model_config *c = &m->cfg;
    model_acts *a = &m->acts, scratch = {0};
    a->Bcap = Bcap;
    a->Tcap = Tcap;
    a->layers = calloc((size_t)c->n_layer, sizeof *a->layers);
    a->residual = calloc((size_t)c->n_layer + 1, sizeof *a->residual);
    scratch.layers = calloc((size_t)c->n_layer, sizeof *scratch.layers);
    scratch.residual = calloc((size_t)c->n_layer + 1, sizeof *scratch.residual);
    act_walk count = {.mode = WALK_COUNT};
    walk_acts(c, m->fam, Bcap, Tcap, &scratch, &count);
    a->base = calloc((size_t)count.nbase, sizeof *a->base);
    a->views = calloc((size_t)count.nbase, sizeof *a->views);
    act_walk w = {.mode = WALK_ALLOC, .ctx = m->ctx, .base = a->base};
    walk_acts(c, m->fam, Bcap, Tcap, &scratch, &w);
    a->nbase = w.nbase;
    a->bytes = w.bytes;
    a->head_chunked = w.head_chunked;
    a->head_rows = w.head_rows;
    free(scratch.layers);
    free(scratch.residual);
    if (!m->fam->learned_pos) {
        int hd = c->head_dim;
        float *cs = malloc((size_t)Tcap * (hd / 2) * sizeof *cs), *sn = malloc((size_t)Tcap * (hd / 2) * sizeof *sn);
        iopo_rope_tables(&c->rope, hd, Tcap, cs, sn);
        act_walk v = {.mode = WALK_VIEW, .base = a->base, .views = a->views, .head_chunked = a->head_chunked,
                      .head_rows = a->head_rows};
        walk_acts(c, m->fam, Bcap, Tcap, a, &v);
        iopo_tensor_upload(a->rope_cos, cs);
        iopo_tensor_upload(a->rope_sin, sn);
        free(cs);
        free(sn);
        free_views(a, c->n_layer);
    }
}

void iopo_model_set_recompute(iopo_model *m, bool on) {
    if (m->cfg.recompute == on) return;
    free_acts(m);
    m->cfg.recompute = on;
}

void iopo_model_set_logits_budget(iopo_model *m, size_t bytes) {
    if (m->cfg.logits_budget == bytes) return;
    free_acts(m);
    m->cfg.logits_budget = bytes;
}

void iopo_model_reserve(iopo_model *m, int B, int T) {
    model_acts *a = &m->acts;
    if (a->base && B <= a->Bcap && T <= a->Tcap) return;
    alloc_acts(m, a->base && a->Bcap > B ? a->Bcap : B, a->base && a->Tcap > T ? a->Tcap : T);
}

/* The activations of a (B, T) batch: views of the reserved ones (reserved anew, larger, if they do not fit). */
static void ensure_acts(iopo_model *m, int B, int T) {
    model_acts *a = &m->acts;
    if (a->layers && a->B == B && a->T == T) return;
    iopo_model_reserve(m, B, T);
    free_views(a, m->cfg.n_layer);
    act_walk v = {.mode = WALK_VIEW, .base = a->base, .views = a->views, .head_chunked = a->head_chunked,
                  .head_rows = a->head_rows};
    walk_acts(&m->cfg, m->fam, B, T, a, &v);
    a->B = B;
    a->T = T;
    if (a->positions) {
        /* Right-padded rows: every sequence starts at position 0. */
        int32_t *pos = malloc((size_t)B * T * sizeof *pos);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) pos[b * T + t] = t;
        iopo_tensor_upload(a->positions, pos);
        free(pos);
    }
}

/* ---- forward and backward ------------------------------------------------------------------------------------- */

static void norm_forward(iopo_model *m, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd,
                         const iopo_tensor *inp, const iopo_tensor *w, const iopo_tensor *b, int N) {
    if (m->fam->norm == NORM_LAYER)
        iopo_layernorm_forward(m->ctx, out, mean, rstd, inp, w, b, N, m->cfg.n_embd, m->cfg.norm_eps);
    else iopo_rmsnorm_forward(m->ctx, out, rstd, inp, w, N, m->cfg.n_embd, m->cfg.norm_eps);
}

static void norm_backward(iopo_model *m, iopo_tensor *dinp, iopo_tensor *dw, iopo_tensor *db,
                          const iopo_tensor *dout, const iopo_tensor *inp, const iopo_tensor *w,
                          const iopo_tensor *mean, const iopo_tensor *rstd, int N) {
    if (m->fam->norm == NORM_LAYER)
        iopo_layernorm_backward(m->ctx, dinp, dw, db, dout, inp, w, mean, rstd, N, m->cfg.n_embd);
    else iopo_rmsnorm_backward(m->ctx, dinp, dw, dout, inp, w, rstd, N, m->cfg.n_embd);
}

/* Every linear layer goes through these two (the place adapters will hook in). */
static void linear_forward(iopo_model *m, iopo_tensor *out, const iopo_tensor *inp, int layer, param_role w,
                           param_role b, int M, int K, int N) {
    iopo_matmul_forward(m->ctx, out, inp, W(m, layer, w), b == R_COUNT ? NULL : W(m, layer, b), M, K, N,
                        m->fam->layout);
    if (m->lora && layer >= 0) lora_linear_forward(m, out, inp, layer, w, M);
}

static void linear_backward(iopo_model *m, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp,
                            int layer, param_role w, param_role b, int M, int K, int N) {
    iopo_matmul_backward(m->ctx, dinp, G(m, layer, w), b == R_COUNT ? NULL : G(m, layer, b), dout, inp,
                         W(m, layer, w), M, K, N, m->fam->layout);
    if (m->lora && layer >= 0) lora_linear_backward(m, dinp, dout, inp, layer, w, M);
}

/* LM head: logits = normf @ head^T, the head being (V, C) = torch Linear's [out, in] in every family, then the
 * softmax cross-entropy. Chunked: per chunk (nb whole sequences, or len positions of one sequence) its rows are
 * copied into chunk tensors, and its results (per-token loss and lse, per-sequence log-prob sums and counts) copied
 * back, a piece of a sequence adding its sums to the pieces before it; the logits are dropped. */
typedef struct head_chunk {
    int b0, nb, t0, len;                                  /* sequences b0.., positions t0..t0+len of each */
    size_t r0, nr;                                        /* its rows of the (B*T) batch */
    iopo_tensor *in, *logits, *dnorm;                     /* (nr,C), (nr,V), (nr,C) */
    iopo_tensor *targets, *mask, *loss, *lse, *dloss;     /* (nb,len) */
    iopo_tensor *seq_logp, *seq_count, *dseq;             /* (nb) */
} head_chunk;

static head_chunk head_chunk_open(iopo_model *m, const iopo_batch *b, int b0, int nb, int t0, int len) {
    model_acts *a = &m->acts;
    int T = b->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    size_t r0 = (size_t)b0 * T + (size_t)t0, nr = (size_t)nb * len;
    int64_t rows[2] = {(int64_t)nr, C}, logit_rows[2] = {(int64_t)nr, V}, tok[2] = {nb, len}, seq[1] = {nb};
    head_chunk h = {
        .b0 = b0, .nb = nb, .t0 = t0, .len = len, .r0 = r0, .nr = nr,
        .in = iopo_tensor_view(a->c_in, 0, 2, rows), .logits = iopo_tensor_view(a->logits, 0, 2, logit_rows),
        .dnorm = iopo_tensor_view(a->c_dnorm, 0, 2, rows), .targets = iopo_tensor_view(a->c_targets, 0, 2, tok),
        .mask = iopo_tensor_view(a->c_mask, 0, 2, tok), .loss = iopo_tensor_view(a->c_loss, 0, 2, tok),
        .lse = iopo_tensor_view(a->c_lse, 0, 2, tok), .dloss = iopo_tensor_view(a->c_dloss, 0, 2, tok),
        .seq_logp = iopo_tensor_view(a->c_seq_logp, 0, 1, seq),
        .seq_count = iopo_tensor_view(a->c_seq_count, 0, 1, seq), .dseq = iopo_tensor_view(a->c_dseq, 0, 1, seq),
    };
    iopo_tensor_copy_range(h.in, 0, a->normf, r0 * C, nr * C);
    iopo_tensor_copy_range(h.targets, 0, b->targets, r0, nr);
    iopo_tensor_copy_range(h.mask, 0, b->mask, r0, nr);
    /* The logits of the chunk, which the backward recomputes rather than keeps. */
    iopo_matmul_forward(m->ctx, h.logits, h.in, W(m, -1, head_role(m)), NULL, (int)nr, C, V, IOPO_W_NK);
    return h;
}

static void head_chunk_close(head_chunk *h) {
    iopo_tensor *vs[] = {h->in, h->logits, h->dnorm, h->targets, h->mask, h->loss, h->lse, h->dloss, h->seq_logp,
                         h->seq_count, h->dseq};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) iopo_tensor_free(vs[i]);
}

static void head_chunk_forward(iopo_model *m, const iopo_batch *b, int b0, int nb, int t0, int len) {
    model_acts *a = &m->acts;
    head_chunk h = head_chunk_open(m, b, b0, nb, t0, len);
    iopo_softmax_ce_forward(m->ctx, h.loss, h.lse, h.seq_logp, h.seq_count, h.logits, h.targets, h.mask, nb, len,
                            m->cfg.vocab_size);
    iopo_tensor_copy_range(a->loss, h.r0, h.loss, 0, h.nr);
    iopo_tensor_copy_range(a->lse, h.r0, h.lse, 0, h.nr);
    if (len == b->T) {
        iopo_tensor_copy_range(a->seq_logp, (size_t)b0, h.seq_logp, 0, (size_t)nb);
        iopo_tensor_copy_range(a->seq_count, (size_t)b0, h.seq_count, 0, (size_t)nb);
    } else {   /* a piece of one sequence: its sums added to the pieces' before it, written after the last */
        if (t0 == 0) {
            iopo_tensor_copy_range(a->c_acc_logp, 0, h.seq_logp, 0, 1);
            iopo_tensor_copy_range(a->c_acc_count, 0, h.seq_count, 0, 1);
        } else {
            iopo_accumulate(m->ctx, a->c_acc_logp, h.seq_logp, 1);
            iopo_accumulate(m->ctx, a->c_acc_count, h.seq_count, 1);
        }
        if (t0 + len == b->T) {
            iopo_tensor_copy_range(a->seq_logp, (size_t)b0, a->c_acc_logp, 0, 1);
            iopo_tensor_copy_range(a->seq_count, (size_t)b0, a->c_acc_count, 0, 1);
        }
    }
    head_chunk_close(&h);
}

/* Chunked head backward: the chunk's logits are recomputed (one more head matmul per chunk), turned into dlogits in
 * place with the chunk's upstream gradients, and its rows of d(normf) written (each row belongs to one chunk). */
static void head_chunk_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss,
                                const iopo_tensor *dseq_logp, int b0, int nb, int t0, int len) {
    model_acts *a = &m->acts;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    head_chunk h = head_chunk_open(m, b, b0, nb, t0, len);
    iopo_tensor_copy_range(h.lse, 0, a->lse, h.r0, h.nr);
    if (dloss) iopo_tensor_copy_range(h.dloss, 0, dloss, h.r0, h.nr);
    if (dseq_logp) iopo_tensor_copy_range(h.dseq, 0, dseq_logp, (size_t)b0, (size_t)nb);
    iopo_softmax_ce_backward(m->ctx, h.logits, h.logits, h.lse, h.targets, h.mask, dloss ? h.dloss : NULL,
                             dseq_logp ? h.dseq : NULL, nb, len, V);
    iopo_tensor_zero(h.dnorm);
    iopo_matmul_backward(m->ctx, h.dnorm, G(m, -1, head_role(m)), NULL, h.logits, h.in, W(m, -1, head_role(m)),
                         (int)h.nr, C, V, IOPO_W_NK);
    iopo_tensor_copy_range(a->dnorm, h.r0 * C, h.dnorm, 0, h.nr * C);
    head_chunk_close(&h);
}

static int min_int(int a, int b) { return a < b ? a : b; }

static void head_forward(iopo_model *m, const iopo_batch *b) {
    model_acts *a = &m->acts;
    int B = b->B, T = b->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (!a->head_chunked) {
        iopo_matmul_forward(m->ctx, a->logits, a->normf, W(m, -1, head_role(m)), NULL, B * T, C, V, IOPO_W_NK);
        iopo_softmax_ce_forward(m->ctx, a->loss, a->lse, a->seq_logp, a->seq_count, a->logits, b->targets, b->mask, B,
                                T, V);
        return;
    }
    /* In order: a sequence's pieces from t0 = 0, which the forward's sums rely on. */
    head_split hs = head_chunking(B, T, a->head_rows);
    for (int b0 = 0; b0 < B; b0 += hs.seqs)
        for (int t0 = 0; t0 < T; t0 += hs.len)
            head_chunk_forward(m, b, b0, min_int(hs.seqs, B - b0), t0, min_int(hs.len, T - t0));
}

/* d(normf) into a->dnorm (overwritten) and the head weight's gradient (added). */
static void head_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss, const iopo_tensor *dseq_logp) {
    model_acts *a = &m->acts;
    int B = b->B, T = b->T, C = m->cfg.n_embd, V = m->cfg.vocab_size;
    if (!a->head_chunked) {
        /* In place: the logits buffer becomes dlogits (no second (BT, V) buffer). */
        iopo_softmax_ce_backward(m->ctx, a->logits, a->logits, a->lse, b->targets, b->mask, dloss, dseq_logp, B, T, V);
        iopo_tensor_zero(a->dnorm);
        iopo_matmul_backward(m->ctx, a->dnorm, G(m, -1, head_role(m)), NULL, a->logits, a->normf,
                             W(m, -1, head_role(m)), B * T, C, V, IOPO_W_NK);
        return;
    }
    head_split hs = head_chunking(B, T, a->head_rows);
    for (int b0 = 0; b0 < B; b0 += hs.seqs)
        for (int t0 = 0; t0 < T; t0 += hs.len)
            head_chunk_backward(m, b, dloss, dseq_logp, b0, min_int(hs.seqs, B - b0), t0, min_int(hs.len, T - t0));
}

/* A block's MLP on M rows: out (M,C) = down(act(in)), act = gelu(up(in)) or silu(gate(in)) * up(in); up, gate and
 * hidden (M,F) keep what the backward reads (gate NULL for GELU). */
void model_mlp_forward(iopo_model *m, int l, iopo_tensor *out, const iopo_tensor *in, iopo_tensor *up,
                       iopo_tensor *gate, iopo_tensor *hidden, int M) {
    int C = m->cfg.n_embd, F = m->cfg.n_ffn;
    linear_forward(m, up, in, l, R_UP_W, R_UP_B, M, C, F);
    if (m->fam->mlp == MLP_SWIGLU) {
        linear_forward(m, gate, in, l, R_GATE_W, R_COUNT, M, C, F);
        iopo_swiglu_forward(m->ctx, hidden, gate, up, (size_t)M * F);
    } else {
        iopo_gelu_forward(m->ctx, hidden, up, (size_t)M * F);
    }
    linear_forward(m, out, hidden, l, R_DOWN_W, R_DOWN_B, M, F, C);
}

/* The projection's packed q|k|v (B,T,W) made what attention reads, into out: the per-head q/k RMSNorm (rstd saved)
 * where the family has it, then RoPE at positions (B,T) from tables of npos rows (in place). Without q/k norm out is
 * qkv itself. */
void model_qkv_prepare(iopo_model *m, int l, iopo_tensor *out, iopo_tensor *qk_rstd, const iopo_tensor *qkv,
                       const iopo_tensor *cos_t, const iopo_tensor *sin_t, const iopo_tensor *positions, int B, int T,
                       int npos) {
    const iopo_model_config *c = &m->cfg;
    if (m->fam->qk_norm)
        iopo_qk_rmsnorm_forward(m->ctx, out, qk_rstd, qkv, W(m, l, R_Q_NORM), W(m, l, R_K_NORM), B * T, c->n_head,
                                c->n_kv_head, c->head_dim, c->norm_eps);
    if (!m->fam->learned_pos)
        iopo_rope_forward(m->ctx, out, out, cos_t, sin_t, positions, B, T, c->n_head, c->n_kv_head, c->head_dim, npos);
}

/* Block l of the forward: residual[l] -> residual[l + 1], keeping in layers[l] what its backward reads (with
 * recomputation every block shares one set, and the backward runs this again first). */
static void block_forward(iopo_model *m, const iopo_batch *b, int l) {
    const iopo_model_config *c = &m->cfg;
    int B = b->B, T = b->T, C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, hd = c->head_dim;
    int Wd = qkv_width(c), A = NH * hd, BT = B * T;
    model_acts *a = &m->acts;
    iopo_ctx *x = m->ctx;
    layer_acts *la = &a->layers[l];
    norm_forward(m, la->norm1, la->norm1_mean, la->norm1_rstd, a->residual[l], W(m, l, R_ATTN_NORM_W),
                 W(m, l, R_ATTN_NORM_B), BT);
    linear_forward(m, la->qkv, la->norm1, l, R_QKV_W, R_QKV_B, BT, C, Wd);   /* (BT, q|k|v) */
    model_qkv_prepare(m, l, la->qkv_att, la->qk_rstd, la->qkv, a->rope_cos, a->rope_sin, a->positions, B, T, T);
    iopo_attention_forward(x, la->atty, la->att_lse, la->qkv_att, b->lengths, B, T, NH, NKV, hd);
    linear_forward(m, a->tmp, la->atty, l, R_O_W, R_O_B, BT, A, C);
    iopo_add(x, la->x_mid, a->residual[l], a->tmp, (size_t)BT * C);
    norm_forward(m, la->norm2, la->norm2_mean, la->norm2_rstd, la->x_mid, W(m, l, R_MLP_NORM_W),
                 W(m, l, R_MLP_NORM_B), BT);
    model_mlp_forward(m, l, a->tmp, la->norm2, la->up, la->gate, la->hidden, BT);
    iopo_add(x, a->residual[l + 1], la->x_mid, a->tmp, (size_t)BT * C);
}

void iopo_model_forward(iopo_model *m, const iopo_batch *b) {
    const iopo_model_config *c = &m->cfg;
    int B = b->B, T = b->T, C = c->n_embd, V = c->vocab_size, L = c->n_layer, BT = B * T;
    if (T > c->n_ctx) {
        fprintf(stderr, "iopo: internal error: sequence length %d exceeds the model's %d positions\n", T, c->n_ctx);
        abort();
    }
    ensure_acts(m, B, T);
    model_acts *a = &m->acts;
    iopo_embedding_forward(m->ctx, a->residual[0], b->tokens, W(m, -1, R_TOK_EMB), W(m, -1, R_POS_EMB), B, T, C, V);
    for (int l = 0; l < L; l++) block_forward(m, b, l);
    norm_forward(m, a->normf, a->normf_mean, a->normf_rstd, a->residual[L], W(m, -1, R_NORM_F_W),
                 W(m, -1, R_NORM_F_B), BT);
    head_forward(m, b);
}

void iopo_model_backward(iopo_model *m, const iopo_batch *b, const iopo_tensor *dloss, const iopo_tensor *dseq_logp) {
    const iopo_model_config *c = &m->cfg;
    const model_family *f = m->fam;
    int B = b->B, T = b->T, C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, hd = c->head_dim;
    int V = c->vocab_size, F = c->n_ffn, L = c->n_layer, Wd = qkv_width(c), A = NH * hd, BT = B * T;
    model_acts *a = &m->acts;
    iopo_ctx *x = m->ctx;
    head_backward(m, b, dloss, dseq_logp);
    iopo_tensor_zero(a->dres);
    norm_backward(m, a->dres, G(m, -1, R_NORM_F_W), G(m, -1, R_NORM_F_B), a->dnorm, a->residual[L],
                  W(m, -1, R_NORM_F_W), a->normf_mean, a->normf_rstd, BT);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *la = &a->layers[l];
        /* Recomputation: the block's activations again from its kept input (the last block's are still there). */
        if (c->recompute && l < L - 1) block_forward(m, b, l);
        /* dres holds d(block output); the MLP branch adds its share into it, which then is d(x_mid). */
        iopo_tensor_zero(a->dhidden);
        linear_backward(m, a->dhidden, a->dres, la->hidden, l, R_DOWN_W, R_DOWN_B, BT, F, C);
        iopo_tensor_zero(a->dup);
        if (f->mlp == MLP_SWIGLU) {
            iopo_tensor_zero(a->dgate);
            iopo_swiglu_backward(x, a->dgate, a->dup, a->dhidden, la->gate, la->up, (size_t)BT * F);
        } else {
            iopo_gelu_backward(x, a->dup, a->dhidden, la->up, (size_t)BT * F);
        }
        iopo_tensor_zero(a->dnorm);
        linear_backward(m, a->dnorm, a->dup, la->norm2, l, R_UP_W, R_UP_B, BT, C, F);
        if (f->mlp == MLP_SWIGLU) linear_backward(m, a->dnorm, a->dgate, la->norm2, l, R_GATE_W, R_COUNT, BT, C, F);
        norm_backward(m, a->dres, G(m, l, R_MLP_NORM_W), G(m, l, R_MLP_NORM_B), a->dnorm, la->x_mid,
                      W(m, l, R_MLP_NORM_W), la->norm2_mean, la->norm2_rstd, BT);
        /* Attention branch: dres is d(x_mid) and becomes d(block input). */
        iopo_tensor_zero(a->datty);
        linear_backward(m, a->datty, a->dres, la->atty, l, R_O_W, R_O_B, BT, A, C);
        iopo_tensor_zero(a->dqkv);
        iopo_attention_backward(x, a->dqkv, a->att_delta, a->datty, la->qkv_att, la->atty, la->att_lse, b->lengths, B,
                                T, NH, NKV, hd);
        iopo_tensor *dproj = a->dqkv;   /* d(projection output), once RoPE and the q/k norm are undone */
        if (!f->learned_pos) {
            iopo_tensor_zero(a->dqkv2);
            iopo_rope_backward(x, a->dqkv2, a->dqkv, a->rope_cos, a->rope_sin, a->positions, B, T, NH, NKV, hd, T);
            dproj = a->dqkv2;
        }
        if (f->qk_norm) {
            iopo_tensor *dpre = dproj == a->dqkv ? a->dqkv2 : a->dqkv;
            iopo_tensor_zero(dpre);
            iopo_qk_rmsnorm_backward(x, dpre, G(m, l, R_Q_NORM), G(m, l, R_K_NORM), dproj, la->qkv,
                                     W(m, l, R_Q_NORM), W(m, l, R_K_NORM), la->qk_rstd, BT, NH, NKV, hd);
            dproj = dpre;
        }
        iopo_tensor_zero(a->dnorm);
        linear_backward(m, a->dnorm, dproj, la->norm1, l, R_QKV_W, R_QKV_B, BT, C, Wd);
        norm_backward(m, a->dres, G(m, l, R_ATTN_NORM_W), G(m, l, R_ATTN_NORM_B), a->dnorm, a->residual[l],
                      W(m, l, R_ATTN_NORM_W), la->norm1_mean, la->norm1_rstd, BT);
    }
    if (G(m, -1, R_TOK_EMB) || G(m, -1, R_POS_EMB))   /* a frozen base has no embedding gradients */
        iopo_embedding_backward(x, G(m, -1, R_TOK_EMB), G(m, -1, R_POS_EMB), a->dres, b->tokens, B, T, C, V);
}

/* ---- for the KV-cached decoder (decode.c) ---- */

int model_qkv_width(const iopo_model_config *c) { return qkv_width(c); }
iopo_tensor *model_weight(const iopo_model *m, int layer, param_role r) { return W(m, layer, r); }
param_role model_head_role(const iopo_model *m) { return head_role(m); }
void model_norm_forward(iopo_model *m, iopo_tensor *out, iopo_tensor *mean, iopo_tensor *rstd, const iopo_tensor *inp,
                        const iopo_tensor *w, const iopo_tensor *b, int N) {
    norm_forward(m, out, mean, rstd, inp, w, b, N);
}
void model_linear_forward(iopo_model *m, iopo_tensor *out, const iopo_tensor *inp, int layer, param_role w,
                          param_role b, int M, int K, int N) {
    if (m->lora) {   /* an adapter keeps activations of the training batch's shape: decode a merged model */
        fprintf(stderr, "iopo: internal error: decoding a model with unmerged adapters (merge them first)\n");
        abort();
    }
    linear_forward(m, out, inp, layer, w, b, M, K, N);
}
/* Layer l's packed q|k|v rows as attention read them in the last forward ((B,T,W), after q/k norm and RoPE). */
iopo_tensor *model_layer_qkv(iopo_model *m, int l) { return m->acts.layers[l].qkv_att; }

/* ---- the rest of the interface -------------------------------------------------------------------------------- */

void model_invalidate_acts(iopo_model *m) { free_acts(m); }

static void free_compute(iopo_model *m) {
    for (int i = 0; i < m->nparams; i++) {
        iopo_tensor_free(m->params[i].compute);
        m->params[i].compute = NULL;
    }
    for (int s = 0; s < m->nsegments; s++) {
        iopo_tensor_free(m->segments[s].compute);
        m->segments[s].compute = NULL;
    }
    m->compute = IOPO_F32;
}

bool iopo_model_set_compute_dtype(iopo_model *m, iopo_dtype dt, char *err, size_t errlen) {
    if (dt == m->compute) return true;
    if (dt != IOPO_F32 && dt != IOPO_BF16 && dt != IOPO_F16) {
        snprintf(err, errlen, "compute dtype: expected float32, bfloat16 or float16");
        return false;
    }
    if (dt != IOPO_F32 && m->lora) {
        snprintf(err, errlen, "compute_dtype %s applies to full fine-tuning: a model with LoRA adapters keeps its "
                              "frozen base in the checkpoint's dtype and trains the adapters in fp32",
                 dt == IOPO_BF16 ? "bfloat16" : "float16");
        return false;
    }
    free_compute(m);
    if (dt == IOPO_F32) return true;
    m->compute = dt;
    /* Only fp32 matrices get a copy: a frozen matrix kept in its checkpoint's 16 bits is read as it is. */
    for (int s = 0; s < m->nsegments; s++) {
        iopo_param_segment *sg = &m->segments[s];
        if (sg->decay && sg->value->dtype == IOPO_F32)
            sg->compute = iopo_tensor_new1(m->ctx, dt, (int64_t)sg->value->numel);
    }
    for (int i = 0; i < m->nparams; i++) {
        iopo_param *p = &m->params[i];
        iopo_tensor *c = m->segments[p->segment].compute;
        if (c) p->compute = iopo_tensor_view(c, p->offset, p->ndim, p->shape);
    }
    iopo_model_refresh_compute(m);
    return true;
}

iopo_dtype iopo_model_compute_dtype(const iopo_model *m) { return m->compute; }

void iopo_model_refresh_compute(iopo_model *m) {
    /* The gaps between parameters are zero in the master segment and so in the copy. */
    for (int s = 0; s < m->nsegments; s++)
        if (m->segments[s].compute)
            iopo_convert(m->ctx, m->segments[s].compute, m->segments[s].value, m->segments[s].value->numel);
}

void iopo_model_free(iopo_model *m) {
    if (!m) return;
    free_acts(m);
    lora_free(m);
    free(m->src_dir);
    free_compute(m);
    for (int i = 0; i < m->nparams; i++) {
        iopo_tensor_free(m->params[i].value);
        iopo_tensor_free(m->params[i].grad);
    }
    for (int s = 0; s < m->nsegments; s++) {
        iopo_tensor_free(m->segments[s].value);
        iopo_tensor_free(m->segments[s].grad);
    }
    free(m->segments);
    free(m->params);
    free(m->meta);
    free(m->slot);
    free(m);
}

/* The trainable parameters: the adapters once there are any (the base is then frozen), else the model's own. */
void iopo_model_zero_grad(iopo_model *m) {
    for (int s = 0; s < iopo_model_segment_count(m); s++)
        if (iopo_model_segment(m, s)->grad) iopo_tensor_zero(iopo_model_segment(m, s)->grad);   /* frozen: none */
}

int iopo_model_segment_count(const iopo_model *m) { return m->lora ? m->lora->nsegments : m->nsegments; }
const iopo_param_segment *iopo_model_segment(const iopo_model *m, int i) {
    return m->lora ? &m->lora->segments[i] : &m->segments[i];
}

const iopo_model_config *iopo_model_get_config(const iopo_model *m) { return &m->cfg; }
iopo_ctx *iopo_model_ctx(const iopo_model *m) { return m->ctx; }
int iopo_model_param_count(const iopo_model *m) { return m->lora ? m->lora->nparams : m->nparams; }
iopo_param *iopo_model_param(iopo_model *m, int i) { return m->lora ? &m->lora->params[i] : &m->params[i]; }
size_t iopo_model_numel(const iopo_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++) n += m->params[i].value->numel;   /* the parameters, not the arenas' gaps */
    return n;
}
iopo_tensor *iopo_model_token_loss(iopo_model *m) { return m->acts.loss; }
iopo_tensor *iopo_model_seq_logp(iopo_model *m) { return m->acts.seq_logp; }
iopo_tensor *iopo_model_seq_count(iopo_model *m) { return m->acts.seq_count; }
iopo_tensor *iopo_model_logits(iopo_model *m) { return m->acts.head_chunked ? NULL : m->acts.logits; }

void iopo_batch_init(iopo_batch *b, iopo_ctx *ctx, int B, int T) {
    b->B = B;
    b->T = T;
    b->tokens = iopo_tensor_new2(ctx, IOPO_I32, B, T);
    b->targets = iopo_tensor_new2(ctx, IOPO_I32, B, T);
    b->mask = iopo_tensor_new2(ctx, IOPO_F32, B, T);
    b->lengths = iopo_tensor_new1(ctx, IOPO_I32, B);
}

void iopo_batch_view(iopo_batch *view, const iopo_batch *full, int T) { iopo_batch_view_rows(view, full, full->B, T); }

void iopo_batch_view_rows(iopo_batch *view, const iopo_batch *full, int B, int T) {
    int64_t shape[2] = {B, T};
    view->B = B;
    view->T = T;
    view->tokens = iopo_tensor_view(full->tokens, 0, 2, shape);
    view->targets = iopo_tensor_view(full->targets, 0, 2, shape);
    view->mask = iopo_tensor_view(full->mask, 0, 2, shape);
    view->lengths = iopo_tensor_view(full->lengths, 0, 1, shape);
}

void iopo_batch_free(iopo_batch *b) {
    iopo_tensor_free(b->tokens);
    iopo_tensor_free(b->targets);
    iopo_tensor_free(b->mask);
    iopo_tensor_free(b->lengths);
    memset(b, 0, sizeof *b);
}
