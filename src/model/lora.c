/* LoRA adapters on the linear layers of the blocks, in PEFT's layout: for a module with weight W (out n, in K),
 * y = x W^T + scale * dropout(x) A^T B^T with A (r, K), B (n, r), scale = alpha / r (alpha / sqrt(r) for rsLoRA).
 * A fused q|k|v weight holds three modules; each adapter's update goes into its own columns of the fused output.
 * The base is frozen: its gradients are never allocated, so only A and B get gradients and AdamW state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/rng.h"
#include "model/model_internal.h"

/* ---- which modules -------------------------------------------------------------------------------------------- */

static bool is_linear_weight(param_role r) {
    return r == R_QKV_W || r == R_O_W || r == R_UP_W || r == R_GATE_W || r == R_DOWN_W;
}

/* Every linear module of a block, in the family's parameter order. */
static int all_sites(const iopo_model_config *c, const model_family *f, lora_site *out) {
    int C = c->n_embd, F = c->n_ffn, A = c->n_head * c->head_dim, KV = c->n_kv_head * c->head_dim;
    int n = 0;
    for (int i = 0; i < f->nlayer; i++) {
        const family_param *fp = &f->layer[i];
        if (!is_linear_weight(fp->role)) continue;
        int K = fp->role == R_O_W ? A : fp->role == R_DOWN_W ? F : C;
        int N = fp->role == R_QKV_W ? A + 2 * KV : fp->role == R_UP_W || fp->role == R_GATE_W ? F : C;
        int npieces = fp->names[1] ? (fp->names[2] ? 3 : 2) : 1;
        int col = 0;
        for (int p = 0; p < npieces && n < LORA_MAX_SITES; p++) {
            lora_site *s = &out[n++];
            memset(s, 0, sizeof *s);
            s->role = fp->role;
            s->K = K, s->N = N;
            s->n = npieces == 1 ? N : p == 0 ? A : KV;
            s->col0 = col;
            col += s->n;
            const char *name = fp->names[p], *dot = strrchr(name, '.');   /* drop ".weight" */
            size_t len = dot ? (size_t)(dot - name) : strlen(name);
            snprintf(s->path, sizeof s->path, "%s%.*s", f->module_prefix ? f->module_prefix : "", (int)len, name);
            const char *last = strrchr(s->path, '.');
            snprintf(s->name, sizeof s->name, "%s", last ? last + 1 : s->path);
        }
    }
    return n;
}

static bool target_has(const char *target, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = target; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == nl && !strncmp(p, name, nl)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

int lora_select(const iopo_model_config *c, const model_family *f, lora_site *out, char *err, size_t errlen) {
    lora_site all[LORA_MAX_SITES];
    int na = all_sites(c, f, all), n = 0;
    const char *t = c->lora.target[0] ? c->lora.target : "all";
    bool everything = !strcmp(t, "all");
    for (int i = 0; i < na; i++)
        if (everything || target_has(t, all[i].name)) out[n++] = all[i];
    /* Every name given must select something. */
    char names[256] = "";
    for (int i = 0; i < na; i++)
        if (!strstr(names, all[i].name)) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                                                  names[0] ? ", " : "", all[i].name);
    for (const char *p = t; !everything && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char one[64];
        snprintf(one, sizeof one, "%.*s", (int)(len < 63 ? len : 63), p);
        char *s = one;
        while (*s == ' ') s++;
        for (size_t k = strlen(s); k && s[k - 1] == ' ';) s[--k] = 0;
        bool found = false;
        for (int i = 0; i < na && !found; i++) found = !strcmp(all[i].name, s);
        if (!found) {
            if (err) snprintf(err, errlen, "lora_target '%s': %s has no linear module of that name (it has: %s; or all)",
                              s, f->name, names);
            return -1;
        }
        if (!e) break;
        p = e + 1;
    }
    if (n == 0 && err) snprintf(err, errlen, "lora_target '%s' selects no module", t);
    return n ? n : -1;
}

/* ---- adding adapters ----------------------------------------------------------------------------------------- */

static float lora_scale(const iopo_lora_config *lc) {
    return lc->rslora ? lc->alpha / sqrtf((float)lc->rank) : lc->alpha / (float)lc->rank;
}

bool iopo_model_has_lora(const iopo_model *m) { return m->lora != NULL; }

void lora_free(iopo_model *m) {
    lora_state *s = m->lora;
    if (!s) return;
    for (int i = 0; i < s->nparams; i++) {
        iopo_tensor_free(s->params[i].value);
        iopo_tensor_free(s->params[i].grad);
    }
    for (int i = 0; i < s->nsegments; i++) {
        iopo_tensor_free(s->segments[i].value);
        iopo_tensor_free(s->segments[i].grad);
    }
    free(s->params);
    free(s->segments);
    free(s);
    m->lora = NULL;
}

/* The base's gradients go: a frozen weight's gradient is never computed (the driver passes NULL for it). */
static void freeze_base(iopo_model *m) {
    for (int i = 0; i < m->nparams; i++) {
        iopo_tensor_free(m->params[i].grad);
        m->params[i].grad = NULL;
    }
    for (int s = 0; s < m->nsegments; s++) {
        iopo_tensor_free(m->segments[s].grad);
        m->segments[s].grad = NULL;
    }
}

void iopo_model_freeze(iopo_model *m) {
    freeze_base(m);
    lora_state *s = m->lora;
    for (int i = 0; s && i < s->nparams; i++) {
        iopo_tensor_free(s->params[i].grad);
        s->params[i].grad = NULL;
    }
    for (int i = 0; s && i < s->nsegments; i++) {
        iopo_tensor_free(s->segments[i].grad);
        s->segments[i].grad = NULL;
    }
}

static void lora_param_name(const lora_site *s, int layer, bool b, char *out, size_t n) {
    char path[64];
    snprintf(path, sizeof path, s->path, layer);
    snprintf(out, n, "base_model.model.%s.lora_%c.weight", path, b ? 'B' : 'A');
}

bool iopo_model_add_lora(iopo_model *m, const iopo_lora_config *lc, uint64_t seed, char *err, size_t errlen) {
    if (m->lora) return snprintf(err, errlen, "the model already has adapters"), false;
    /* The base would be read through copies that nothing refreshes (a merge writes the fp32 values). */
    if (m->compute != IOPO_F32)
        return snprintf(err, errlen, "adapters on a model with a 16-bit compute_dtype: compute_dtype applies to full "
                                     "fine-tuning"), false;
    if (lc->rank < 1) return snprintf(err, errlen, "LoRA rank %d: must be at least 1", lc->rank), false;
    if (!(lc->dropout >= 0 && lc->dropout < 1))
        return snprintf(err, errlen, "LoRA dropout %g: must be in [0, 1)", (double)lc->dropout), false;
    iopo_model_config c = m->cfg;
    c.lora = *lc;
    lora_site sites[LORA_MAX_SITES];
    int ns = lora_select(&c, m->fam, sites, err, errlen);
    if (ns < 0) return false;
    lora_state *s = calloc(1, sizeof *s);
    memcpy(s->site, sites, sizeof sites);
    s->nsites = ns;
    s->scale = lora_scale(lc);
    int L = c.n_layer, r = lc->rank;
    s->nparams = 2 * L * ns;
    s->params = calloc((size_t)s->nparams, sizeof *s->params);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < ns; k++)
            for (int b = 0; b < 2; b++) {
                iopo_param *p = &s->params[2 * (l * ns + k) + b];
                lora_param_name(&sites[k], l, b, p->name, sizeof p->name);
                p->ndim = 2;
                p->shape[0] = b ? sites[k].n : r;
                p->shape[1] = b ? r : sites[k].K;
                p->decay = true;   /* 2-D weights, as the Hugging Face Trainer decays them */
            }
    model_alloc_arenas(m->ctx, s->params, s->nparams, true, &s->segments, &s->nsegments);
    /* A: kaiming_uniform_(a = sqrt(5)) as PEFT's reset_lora_parameters does, i.e. U(-1/sqrt(K), 1/sqrt(K)); B: 0. */
    iopo_rng rng;
    iopo_rng_seed(&rng, seed ^ 0x4c6f5241ull);
    for (int i = 0; i < s->nparams; i += 2) {
        iopo_param *a = &s->params[i];
        float bound = 1.0f / sqrtf((float)a->shape[1]), *h = malloc(a->value->numel * sizeof *h);
        iopo_rng_fill_uniform(&rng, h, a->value->numel, -bound, bound);
        iopo_tensor_upload(a->value, h);
        free(h);
        iopo_tensor_zero(s->params[i + 1].value);
    }
    for (int i = 0; i < s->nsegments; i++) iopo_tensor_zero(s->segments[i].grad);
    m->lora = s;
    m->cfg.lora = *lc;
    freeze_base(m);
    model_invalidate_acts(m);
    return true;
}

void iopo_model_set_lora_training(iopo_model *m, bool training, uint32_t seed) {
    if (!m->lora) return;
    m->lora->training = training;
    m->lora->seed = seed;
}

/* ---- forward and backward ------------------------------------------------------------------------------------ */

/* A (rows, cols) view at the start of a scratch activation sized for the widest module. */
static iopo_tensor *scratch(iopo_tensor *t, int rows, int cols) {
    int64_t shape[2] = {rows, cols};
    return iopo_tensor_view(t, 0, 2, shape);
}

static uint32_t site_seed(const lora_state *s, int layer, int k) {
    uint64_t z = ((uint64_t)s->seed << 32) ^ (uint64_t)(layer * LORA_MAX_SITES + k + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(z ^ (z >> 31));
}

void lora_linear_forward(iopo_model *m, iopo_tensor *out, const iopo_tensor *inp, int layer, param_role w, int M) {
    // out (M, N) +=, inp (M, K)
    lora_state *s = m->lora;
    model_acts *a = &m->acts;
    bool drop = s->training && m->cfg.lora.dropout > 0;
    for (int k = 0; k < s->nsites; k++) {
        const lora_site *st = &s->site[k];
        if (st->role != w) continue;
        iopo_param *A = &s->params[2 * (layer * s->nsites + k)], *B = A + 1;
        int r = (int)A->shape[0];
        iopo_tensor *xd = drop ? scratch(a->lora_xd, M, st->K) : NULL;
        if (drop) iopo_lora_dropout(m->ctx, xd, inp, (size_t)M * st->K, site_seed(s, layer, k), m->cfg.lora.dropout, false);
        iopo_tensor *h = a->layers[layer].lora_h[k];   /* (M, r) = x A^T, kept for the backward */
        iopo_gemm(m->ctx, h, drop ? xd : inp, A->value, M, r, st->K, false, true, 1.0f, 0.0f);
        if (st->n == st->N) {
            iopo_gemm(m->ctx, out, h, B->value, M, st->N, r, false, true, s->scale, 1.0f);
        } else {   /* a module of a fused weight: its update into its columns */
            iopo_tensor *part = scratch(a->lora_part, M, st->n);
            iopo_gemm(m->ctx, part, h, B->value, M, st->n, r, false, true, s->scale, 0.0f);
            iopo_lora_cols(m->ctx, out, part, M, st->n, st->N, st->col0, st->n, 0, 1.0f, true);
            iopo_tensor_free(part);
        }
        iopo_tensor_free(xd);
    }
}

void lora_linear_backward(iopo_model *m, iopo_tensor *dinp, const iopo_tensor *dout, const iopo_tensor *inp,
                          int layer, param_role w, int M) {
    // dinp (M, K) +=, dout (M, N), inp (M, K)
    lora_state *s = m->lora;
    model_acts *a = &m->acts;
    bool drop = s->training && m->cfg.lora.dropout > 0;
    for (int k = 0; k < s->nsites; k++) {
        const lora_site *st = &s->site[k];
        if (st->role != w) continue;
        iopo_param *A = &s->params[2 * (layer * s->nsites + k)], *B = A + 1;
        int r = (int)A->shape[0];
        iopo_tensor *part = st->n != st->N ? scratch(a->lora_part, M, st->n) : NULL;
        if (part) iopo_lora_cols(m->ctx, part, dout, M, st->n, st->n, 0, st->N, st->col0, 1.0f, false);
        const iopo_tensor *dd = part ? part : dout;   /* (M, n): this module's columns of the output gradient */
        const iopo_tensor *h = a->layers[layer].lora_h[k];
        iopo_gemm(m->ctx, B->grad, dd, h, st->n, r, M, true, false, s->scale, 1.0f);       /* dB += s dd^T h */
        iopo_gemm(m->ctx, a->lora_dh, dd, B->value, M, r, st->n, false, false, s->scale, 0.0f);   /* dh = s dd B */
        iopo_tensor_free(part);
        if (!drop) {
            iopo_gemm(m->ctx, A->grad, a->lora_dh, inp, r, st->K, M, true, false, 1.0f, 1.0f);      /* dA += dh^T x */
            iopo_gemm(m->ctx, dinp, a->lora_dh, A->value, M, st->K, r, false, false, 1.0f, 1.0f);   /* dx += dh A */
            continue;
        }
        /* With dropout: the forward's mask again, from the same seed, on the input and on dx. */
        iopo_tensor *xd = scratch(a->lora_xd, M, st->K), *dx = scratch(a->lora_dx, M, st->K);
        uint32_t seed = site_seed(s, layer, k);
        iopo_lora_dropout(m->ctx, xd, inp, (size_t)M * st->K, seed, m->cfg.lora.dropout, false);
        iopo_gemm(m->ctx, A->grad, a->lora_dh, xd, r, st->K, M, true, false, 1.0f, 1.0f);
        iopo_gemm(m->ctx, dx, a->lora_dh, A->value, M, st->K, r, false, false, 1.0f, 0.0f);
        iopo_lora_dropout(m->ctx, dinp, dx, (size_t)M * st->K, seed, m->cfg.lora.dropout, true);
        iopo_tensor_free(xd);
        iopo_tensor_free(dx);
    }
}

/* ---- merging ------------------------------------------------------------------------------------------------- */

void iopo_model_merge_lora(iopo_model *m) {
    lora_state *s = m->lora;
    if (!s) return;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int k = 0; k < s->nsites; k++) {
            const lora_site *st = &s->site[k];
            iopo_param *A = &s->params[2 * (l * s->nsites + k)], *B = A + 1;
            int r = (int)A->shape[0];
            iopo_tensor *W = model_weight(m, l, st->role);
            if (W->dtype != IOPO_F32) {   /* a frozen 16-bit base: merge into an fp32 load of it (iopo merge does) */
                fprintf(stderr, "iopo: internal error: merging adapters into %s weights\n", iopo_dtype_name(W->dtype));
                abort();
            }
            if (m->fam->layout == IOPO_W_KN) {   /* W (K, N) += s A^T B^T: GPT-2's modules are whole layers */
                iopo_gemm(m->ctx, W, A->value, B->value, st->K, st->N, r, true, true, s->scale, 1.0f);
                continue;
            }
            /* W (N, K): the module's rows col0 .. col0+n, contiguous, += s B A. Computed on the host when the rows
             * do not start where a view may bind. */
            int64_t shape[2] = {st->n, st->K};
            size_t off = (size_t)st->col0 * st->K;
            iopo_tensor *rows = (off * 4) % 256 == 0 ? iopo_tensor_view(W, off, 2, shape) : NULL;
            if (rows) {
                iopo_gemm(m->ctx, rows, B->value, A->value, st->n, st->K, r, false, false, s->scale, 1.0f);
                iopo_tensor_free(rows);
                continue;
            }
            float *w = malloc(W->numel * sizeof *w), *a = malloc(A->value->numel * sizeof *a),
                  *b = malloc(B->value->numel * sizeof *b);
            iopo_tensor_download(W, w);
            iopo_tensor_download(A->value, a);
            iopo_tensor_download(B->value, b);
            for (int i = 0; i < st->n; i++)
                for (int j = 0; j < st->K; j++) {
                    double d = 0;
                    for (int q = 0; q < r; q++) d += (double)b[(size_t)i * r + q] * a[(size_t)q * st->K + j];
                    w[off + (size_t)i * st->K + j] += s->scale * (float)d;
                }
            iopo_tensor_upload(W, w);
            free(w), free(a), free(b);
        }
    lora_free(m);
    m->cfg.lora = (iopo_lora_config){0};
    model_invalidate_acts(m);
}

/* ---- PEFT's files -------------------------------------------------------------------------------------------- */

bool iopo_adapter_dir_base(const char *dir, char *base, size_t n) {
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    size_t len;
    char *text = iopo_read_file(path, &len, err, sizeof err);
    if (!text) return false;
    if (base && n) {
        base[0] = 0;
        cJSON *root = cJSON_ParseWithLength(text, len);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "base_model_name_or_path");
        if (cJSON_IsString(b)) snprintf(base, n, "%s", b->valuestring);
        cJSON_Delete(root);
    }
    free(text);
    return true;
}

bool iopo_model_save_adapter(iopo_model *m, const char *dir, const char *base, char *err, size_t errlen) {
    lora_state *s = m->lora;
    if (!s) return snprintf(err, errlen, "the model has no adapters to save"), false;
    const iopo_lora_config *lc = &m->cfg.lora;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddStringToObject(root, "task_type", "CAUSAL_LM");
    if (!base) base = m->src_dir ? m->src_dir : "";
    cJSON_AddStringToObject(root, "base_model_name_or_path", base);
    cJSON_AddNumberToObject(root, "r", lc->rank);
    cJSON_AddNumberToObject(root, "lora_alpha", lc->alpha);
    cJSON_AddNumberToObject(root, "lora_dropout", lc->dropout);
    cJSON *tm = cJSON_AddArrayToObject(root, "target_modules");
    for (int k = 0; k < s->nsites; k++) {
        bool seen = false;
        for (int j = 0; j < k; j++) seen = seen || !strcmp(s->site[j].name, s->site[k].name);
        if (!seen) cJSON_AddItemToArray(tm, cJSON_CreateString(s->site[k].name));
    }
    cJSON_AddStringToObject(root, "bias", "none");
    cJSON_AddBoolToObject(root, "use_rslora", lc->rslora);
    cJSON_AddBoolToObject(root, "fan_in_fan_out", m->fam->layout == IOPO_W_KN);
    cJSON_AddBoolToObject(root, "inference_mode", true);
    cJSON_AddItemToObject(root, "modules_to_save", cJSON_CreateNull());
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    bool ok = iopo_write_file_atomic(path, json, strlen(json), err, errlen);
    free(json);
    if (!ok) return false;
    iopo_st_entry *e = calloc((size_t)s->nparams, sizeof *e);
    for (int i = 0; i < s->nparams; i++) {
        iopo_param *p = &s->params[i];
        float *h = malloc(p->value->numel * sizeof *h);
        iopo_tensor_download(p->value, h);
        e[i] = (iopo_st_entry){.name = p->name, .data = h, .ndim = 2, .shape = {p->shape[0], p->shape[1]}};
    }
    const char *meta[] = {"format", "pt", NULL};
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    ok = iopo_st_write(path, e, s->nparams, meta, err, errlen);
    for (int i = 0; i < s->nparams; i++) free((void *)e[i].data);
    free(e);
    return ok;
}

/* A key of adapter_config.json that must be absent or hold its neutral value. */
static bool neutral(const cJSON *root, const char *key, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return true;
    if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child) return true;
    return snprintf(err, errlen, "%s: \"%s\" is set; iopo's LoRA does not support it", path, key), false;
}

bool iopo_adapter_config_read(const char *dir, iopo_lora_config *out, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    cJSON *root = iopo_json_load(path, err, errlen);
    if (!root) return false;
    bool ok = false;
    iopo_lora_config lc = {0};
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "r");
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(root, "lora_dropout");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "use_rslora");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(root, "target_modules");
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(root, "bias");
    const char *unsupported[] = {"use_dora", "modules_to_save", "layers_to_transform", "layers_pattern",
                                 "rank_pattern", "alpha_pattern", "trainable_token_indices", NULL};
    if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "LORA")) {
        snprintf(err, errlen, "%s: \"peft_type\" must be \"LORA\"", path);
        goto done;
    }
    if (!cJSON_IsNumber(r) || r->valuedouble < 1 || r->valuedouble != floor(r->valuedouble) || r->valuedouble > 65536) {
        snprintf(err, errlen, "%s: \"r\" must be a positive integer", path);
        goto done;
    }
    lc.rank = (int)r->valuedouble;
    lc.alpha = cJSON_IsNumber(al) ? (float)al->valuedouble : 8.0f;   /* PEFT's default */
    lc.dropout = cJSON_IsNumber(dr) ? (float)dr->valuedouble : 0.0f;
    lc.rslora = cJSON_IsTrue(rs);
    if (!isfinite(lc.alpha)) {
        snprintf(err, errlen, "%s: \"lora_alpha\" must be a finite number", path);
        goto done;
    }
    if (!(lc.dropout >= 0 && lc.dropout < 1)) {
        snprintf(err, errlen, "%s: \"lora_dropout\" must be in [0, 1)", path);
        goto done;
    }
    if (bias && !(cJSON_IsString(bias) && !strcmp(bias->valuestring, "none"))) {
        snprintf(err, errlen, "%s: \"bias\" must be \"none\" (adapter biases are not supported)", path);
        goto done;
    }
    for (int i = 0; unsupported[i]; i++)
        if (!neutral(root, unsupported[i], path, err, errlen)) goto done;
    if (!cJSON_IsArray(tm) || !tm->child) {
        snprintf(err, errlen, "%s: \"target_modules\" must be a list of module names (a regex string is not "
                              "supported)", path);
        goto done;
    }
    for (const cJSON *t = tm->child; t; t = t->next) {
        /* iopo keeps the targets as one comma-separated list: an empty name or one with a comma would change it */
        if (!cJSON_IsString(t) || !t->valuestring[0] || strchr(t->valuestring, ',') ||
            strlen(lc.target) + strlen(t->valuestring) + 2 >= sizeof lc.target) {
            snprintf(err, errlen, "%s: \"target_modules\" must be a list of module names", path);
            goto done;
        }
        snprintf(lc.target + strlen(lc.target), sizeof lc.target - strlen(lc.target), "%s%s", lc.target[0] ? "," : "",
                 t->valuestring);
    }
    *out = lc;
    ok = true;
done:
    cJSON_Delete(root);
    return ok;
}

bool iopo_model_load_adapter(iopo_model *m, const char *dir, char *err, size_t errlen) {
    iopo_lora_config lc;
    if (!iopo_adapter_config_read(dir, &lc, err, errlen)) return false;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    bool ok = false;
    char why[512];
    if (!iopo_model_add_lora(m, &lc, 0, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        return false;
    }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    iopo_safetensors *sf = iopo_st_open(path, err, errlen);
    if (!sf) goto done;
    lora_state *s = m->lora;
    ok = true;
    for (int i = 0; i < s->nparams && ok; i++) {
        iopo_param *p = &s->params[i];
        float *h = malloc(p->value->numel * sizeof *h);
        ok = iopo_st_load_f32(sf, p->name, 2, p->shape, h, err, errlen);
        if (ok) iopo_tensor_upload(p->value, h);
        free(h);
    }
    for (int i = 0; i < iopo_st_count(sf) && ok; i++) {
        const char *name = iopo_st_at(sf, i)->name;
        bool used = false;
        for (int j = 0; j < s->nparams && !used; j++) used = !strcmp(s->params[j].name, name);
        if (!used) {
            snprintf(err, errlen, "%s: tensor %s is not an adapter of this model's target modules", path, name);
            ok = false;
        }
    }
    iopo_st_close(sf);
done:
    if (!ok) lora_free(m);
    return ok;
}

size_t iopo_lora_numel(const iopo_model_config *c, char *err, size_t errlen) {
    const model_family *f = family_find(c->arch);
    lora_site sites[LORA_MAX_SITES];
    int ns = f && c->lora.rank > 0 ? lora_select(c, f, sites, err, errlen) : -1;
    if (ns < 0) return 0;
    size_t per_block = 0;
    for (int k = 0; k < ns; k++) per_block += (size_t)c->lora.rank * (size_t)(sites[k].K + sites[k].n);
    return per_block * (size_t)c->n_layer;
}
