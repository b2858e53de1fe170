/* A model and its Hugging Face directory: config.json through the family's reader and writer, initialisation as the
 * family's transformers class does it, safetensors in and out under the checkpoint's tensor names (a fused
 * parameter is several checkpoint tensors). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/rng.h"
#include "iopo/safetensors.h"
#include "model/model_internal.h"
#include "util/half.h"

static const model_family *const families[] = {&family_gpt2, &family_llama, &family_qwen2, &family_qwen3};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

const model_family *family_find(const char *name) {
    for (int i = 0; i < NFAMILIES; i++)
        if (strcmp(families[i]->name, name) == 0) return families[i];
    return NULL;
}

const char *family_names(void) {
    static char names[128];
    if (!names[0])
        for (int i = 0; i < NFAMILIES; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", families[i]->name);
    return names;
}

const char *iopo_model_families(void) { return family_names(); }

bool iopo_model_config_defaults(iopo_model_config *c, char *err, size_t errlen) {
    const model_family *f = family_find(c->arch);
    if (!f) {
        snprintf(err, errlen, "architecture \"%s\" is not supported (supported: %s)", c->arch, family_names());
        return false;
    }
    f->defaults(c);
    return true;
}

/* bos_token_id / eos_token_id: an id, a list of ids (the first one counts here) or null. */
static bool token_id(const cJSON *root, const char *key, int vocab, int *out, const char *path, char *err,
                     size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = -1;
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!v || cJSON_IsNull(v)) return true;
    long id;
    if (!cJSON_IsNumber(v) || iopo_num_to_long(v->valuedouble, 0, vocab - 1, &id) != IOPO_NUM_OK) {
        snprintf(err, errlen, "%s: \"%s\" must be a token id in [0, %d)", path, key, vocab);
        return false;
    }
    *out = (int)id;
    return true;
}

bool iopo_model_config_load(iopo_model_config *cfg, const char *dir, char *err, size_t errlen) {
    char path[4096], base[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    /* An adapter directory: its base's config, with the adapter's LoRA settings. */
    if (access(path, F_OK) != 0 && iopo_adapter_dir_base(dir, base, sizeof base) && base[0] && strcmp(base, dir)) {
        iopo_lora_config lc;
        if (!iopo_adapter_config_read(dir, &lc, err, errlen) || !iopo_model_config_load(cfg, base, err, errlen))
            return false;
        cfg->lora = lc;
        return true;
    }
    size_t len;
    char ferr[512];
    char *text = iopo_read_file(path, &len, ferr, sizeof ferr);
    if (!text) {
        snprintf(err, errlen, "%s", ferr);
        return false;
    }
    cJSON *root = iopo_json_parse(path, text, len, err, errlen);
    free(text);
    if (!root) return false;
    bool ok = false;
    memset(cfg, 0, sizeof *cfg);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const model_family *f = cJSON_IsString(type) ? family_find(type->valuestring) : NULL;
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
    } else if (!f) {
        snprintf(err, errlen, "%s: model_type %s%s%s is not supported (supported: %s)", path,
                 cJSON_IsString(type) ? "\"" : "", cJSON_IsString(type) ? type->valuestring : "(missing)",
                 cJSON_IsString(type) ? "\"" : "", family_names());
    } else if (cfg_int(root, "vocab_size", 1, 1 << 24, &cfg->vocab_size, path, err, errlen)) {
        snprintf(cfg->arch, sizeof cfg->arch, "%s", f->name);
        if (!cfg->vocab_size) snprintf(err, errlen, "%s: missing \"vocab_size\"", path);
        else ok = f->read_config(cfg, root, path, err, errlen) &&
                  token_id(root, "bos_token_id", cfg->vocab_size, &cfg->bos_id, path, err, errlen) &&
                  token_id(root, "eos_token_id", cfg->vocab_size, &cfg->eos_id, path, err, errlen);
    }
    cJSON_Delete(root);
    if (!ok) return false;
    char cerr[256];
    if (!iopo_model_config_check(cfg, cerr, sizeof cerr)) {
        snprintf(err, errlen, "%s: %s", path, cerr);
        return false;
    }
    return true;
}

iopo_model *iopo_model_create(iopo_ctx *ctx, const iopo_model_config *cfg, uint64_t seed, char *err, size_t errlen) {
    iopo_model *m = model_new(ctx, cfg, err, errlen);
    if (!m) return NULL;
    iopo_rng rng;
    iopo_rng_seed(&rng, seed);
    /* In parameter order, one draw per element of each normal-initialised tensor: a seed gives the same model. */
    for (int i = 0; i < m->nparams; i++) {
        iopo_param *p = &m->params[i];
        size_t n = p->value->numel;
        float *h = calloc(n ? n : 1, sizeof *h), std = 0;
        init_kind k = m->fam->init(cfg, m->meta[i].role, &std);
        if (k == INIT_ONES)
            for (size_t j = 0; j < n; j++) h[j] = 1.0f;
        else if (k == INIT_NORMAL) iopo_rng_fill_normal(&rng, h, n, 0.0f, std);
        iopo_tensor_upload(p->value, h);
        free(h);
    }
    return m;
}

static bool is_ignored(const model_family *f, const iopo_model_config *c, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; f->ignored && f->ignored[i]; i++) {
        size_t k = strlen(f->ignored[i]);
        if (n >= k && strcmp(name + n - k, f->ignored[i]) == 0) return true;
    }
    /* A tied model's file may still carry the head (some exporters write it): it equals the embedding. */
    return c->tied && (strcmp(name, "lm_head.weight") == 0 || strcmp(name, "transformer.lm_head.weight") == 0);
}

static iopo_model *load_plain(iopo_ctx *ctx, const char *dir, bool frozen, char *err, size_t errlen);

/* A model directory, or a PEFT adapter directory: its base (base_model_name_or_path) with the adapter on it. */
static iopo_model *load(iopo_ctx *ctx, const char *dir, bool frozen, char *err, size_t errlen) {
    char probe[4200], base[4096];
    snprintf(probe, sizeof probe, "%s/config.json", dir);
    if (access(probe, F_OK) == 0 || !iopo_adapter_dir_base(dir, base, sizeof base))
        return load_plain(ctx, dir, frozen, err, errlen);
    if (!base[0]) {
        snprintf(err, errlen, "%s/adapter_config.json: no base_model_name_or_path: give the base model (--model BASE "
                              "with --adapter %s)", dir, dir);
        return NULL;
    }
    char why[4096];
    iopo_model *m = load_plain(ctx, base, frozen, why, sizeof why);
    if (!m) {
        snprintf(err, errlen, "%s: the adapter's base model %s: %s", dir, base, why);
        return NULL;
    }
    if (!iopo_model_load_adapter(m, dir, err, errlen)) {
        iopo_model_free(m);
        return NULL;
    }
    return m;
}

iopo_model *iopo_model_load(iopo_ctx *ctx, const char *dir, char *err, size_t errlen) {
    return load(ctx, dir, false, err, errlen);
}

iopo_model *iopo_model_load_frozen(iopo_ctx *ctx, const char *dir, char *err, size_t errlen) {
    return load(ctx, dir, true, err, errlen);
}

/* The 16-bit dtype every checkpoint tensor of a parameter is stored in, or F32 (mixed, fp32, or missing). */
static iopo_dtype stored_16bit(const iopo_safetensors *st, const param_meta *pm) {
    iopo_dtype dt = IOPO_F32;
    for (int k = 0; k < pm->npieces; k++) {
        const iopo_st_tensor *t = iopo_st_find(st, pm->piece[k].name);
        iopo_dtype d = !t ? IOPO_F32 : t->dtype == IOPO_ST_BF16 ? IOPO_BF16 : t->dtype == IOPO_ST_F16 ? IOPO_F16 : IOPO_F32;
        if (d == IOPO_F32 || (k > 0 && d != dt)) return IOPO_F32;
        dt = d;
    }
    return dt;
}

/* A parameter kept in its checkpoint's 16-bit dtype: its pieces' raw values side by side. */
static bool load_16bit(const iopo_safetensors *st, const iopo_param *p, const param_meta *pm, char *err,
                       size_t errlen) {
    uint16_t *h = malloc(p->value->numel * sizeof *h + 4);
    bool ok = true;
    for (int k = 0; k < pm->npieces && ok; k++) {
        const param_piece *pc = &pm->piece[k];
        const iopo_st_tensor *t = iopo_st_find(st, pc->name);
        size_t n = (size_t)pc->shape[0] * (pc->ndim == 2 ? (size_t)pc->shape[1] : 1);
        ok = t && t->ndim == pc->ndim && t->shape[0] == pc->shape[0] && (pc->ndim < 2 || t->shape[1] == pc->shape[1]);
        if (!ok) {   /* the fp32 path reads it again and says what is wrong */
            float *f = malloc(n * sizeof *f + 4);
            iopo_st_load_f32(st, pc->name, pc->ndim, pc->shape, f, err, errlen);
            free(f);
            break;
        }
        memcpy(h + pc->offset, t->data, n * sizeof *h);
    }
    if (ok) iopo_tensor_upload(p->value, h);
    free(h);
    return ok;
}

static iopo_model *load_plain(iopo_ctx *ctx, const char *dir, bool frozen, char *err, size_t errlen) {
    iopo_model_config cfg;
    if (!iopo_model_config_load(&cfg, dir, err, errlen)) return NULL;
    iopo_safetensors *st = iopo_st_open(dir, err, errlen);
    if (!st) return NULL;
    iopo_model *m = model_build(ctx, &cfg, err, errlen);
    if (!m) {
        iopo_st_close(st);
        return NULL;
    }
    /* GPT-2 files written by transformers say "transformer.wte.weight": iopo then keeps that name (model.safetensors,
     * score --grads), so every tensor leaves iopo named as the checkpoint named it. */
    const iopo_st_tensor *first = m->nparams ? iopo_st_find(st, m->meta[0].piece[0].name) : NULL;
    if (first && strncmp(first->name, "transformer.", 12) == 0 && strncmp(m->meta[0].piece[0].name, "transformer.", 12))
        for (int i = 0; i < m->nparams; i++) {
            for (int k = 0; k < m->meta[i].npieces; k++) {
                char *n = m->meta[i].piece[k].name, tmp[96];
                snprintf(tmp, sizeof tmp, "%s", n);
                snprintf(n, sizeof m->meta[i].piece[k].name, "transformer.%.80s", tmp);
            }
            char tmp[96];
            snprintf(tmp, sizeof tmp, "%s", m->params[i].name);
            snprintf(m->params[i].name, sizeof m->params[i].name, "transformer.%.80s", tmp);
        }
    /* Frozen: the matrices keep a 16-bit checkpoint's dtype, and nothing gets a gradient. */
    for (int i = 0; frozen && i < m->nparams; i++)
        if (m->params[i].decay) m->params[i].dtype = stored_16bit(st, &m->meta[i]);
    model_alloc_arenas(ctx, m->params, m->nparams, !frozen, &m->segments, &m->nsegments);
    bool ok = true;
    int used = 0;
    for (int i = 0; i < m->nparams && ok; i++) {
        iopo_param *p = &m->params[i];
        if (p->dtype != IOPO_F32) {
            ok = load_16bit(st, p, &m->meta[i], err, errlen);
            used += m->meta[i].npieces;
            continue;
        }
        float *h = malloc(p->value->numel * sizeof *h + 4);
        for (int k = 0; k < m->meta[i].npieces && ok; k++) {
            const param_piece *pc = &m->meta[i].piece[k];
            ok = iopo_st_load_f32(st, pc->name, pc->ndim, pc->shape, h + pc->offset, err, errlen);
            used++;
        }
        if (ok) iopo_tensor_upload(p->value, h);
        free(h);
    }
    /* A tensor the model has no place for means config.json and the weights disagree: say so, never drop it. */
    for (int i = 0; ok && used < iopo_st_count(st) && i < iopo_st_count(st); i++) {
        const iopo_st_tensor *t = iopo_st_at(st, i);
        if (is_ignored(m->fam, &cfg, t->name)) continue;
        bool known = false;
        const char *bare = strncmp(t->name, "transformer.", 12) == 0 ? t->name + 12 : t->name;
        for (int j = 0; j < m->nparams && !known; j++)
            for (int k = 0; k < m->meta[j].npieces && !known; k++)
                known = strcmp(m->meta[j].piece[k].name, t->name) == 0 || strcmp(m->meta[j].piece[k].name, bare) == 0;
        if (!known) {
            snprintf(err, errlen, "%s: tensor '%s' is not a parameter of this %s model (does config.json match the "
                                  "weights?)", t->file, t->name, cfg.arch);
            ok = false;
        }
    }
    iopo_st_close(st);
    if (!ok) {
        iopo_model_free(m);
        return NULL;
    }
    m->src_dir = realpath(dir, NULL);   /* what an adapter trained on it names as its base */
    return m;
}

int iopo_model_export(iopo_model *m, bool grads, iopo_st_entry **out) {
    if (grads && m->lora) {   /* a frozen base has no gradients: the adapters' (PEFT's names) */
        lora_state *s = m->lora;
        iopo_st_entry *e = calloc((size_t)s->nparams, sizeof *e);
        for (int i = 0; i < s->nparams; i++) {
            iopo_param *p = &s->params[i];
            float *h = malloc(p->grad->numel * sizeof *h + 4);
            iopo_tensor_download(p->grad, h);
            e[i] = (iopo_st_entry){.name = p->name, .data = h, .ndim = 2, .shape = {p->shape[0], p->shape[1]}};
        }
        *out = e;
        return s->nparams;
    }
    int n = 0;
    for (int i = 0; i < m->nparams; i++) n += m->meta[i].npieces;
    iopo_st_entry *e = calloc((size_t)n, sizeof *e);
    int k = 0;
    for (int i = 0; i < m->nparams; i++) {
        iopo_param *p = &m->params[i];
        const iopo_tensor *t = grads ? p->grad : p->value;
        float *h = malloc(t->numel * sizeof *h + 4);
        if (t->dtype == IOPO_F32) {
            iopo_tensor_download(t, h);
        } else {   /* a frozen 16-bit matrix: widened (exactly) */
            uint16_t *raw = malloc(t->numel * sizeof *raw + 4);
            iopo_tensor_download(t, raw);
            for (size_t k = 0; k < t->numel; k++)
                h[k] = t->dtype == IOPO_BF16 ? iopo_bf16_to_f32(raw[k]) : iopo_f16_to_f32(raw[k]);
            free(raw);
        }
        for (int j = 0; j < m->meta[i].npieces; j++, k++) {
            const param_piece *pc = &m->meta[i].piece[j];
            size_t cnt = (size_t)pc->shape[0] * (pc->ndim == 2 ? (size_t)pc->shape[1] : 1);
            float *d = malloc(cnt * sizeof *d + 4);
            memcpy(d, h + pc->offset, cnt * sizeof *d);
            e[k] = (iopo_st_entry){.name = pc->name, .data = d, .ndim = pc->ndim};
            for (int dd = 0; dd < pc->ndim; dd++) e[k].shape[dd] = pc->shape[dd];
        }
        free(h);
    }
    *out = e;
    return n;
}

void iopo_model_export_free(iopo_st_entry *e, int n) {
    for (int i = 0; i < n; i++) free((void *)e[i].data);
    free(e);
}

bool iopo_model_save(iopo_model *m, const char *dir, char *err, size_t errlen) {
    return iopo_model_save_dtype(m, dir, false, err, errlen);
}

bool iopo_model_save_dtype(iopo_model *m, const char *dir, bool bf16, char *err, size_t errlen) {
    if (!iopo_mkdirs(dir, err, errlen)) return false;
    const iopo_model_config *c = &m->cfg;
    cJSON *root = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(m->fam->architecture));
    cJSON_AddStringToObject(root, "model_type", m->fam->name);
    m->fam->write_config(c, root);
    if (c->bos_id >= 0) cJSON_AddNumberToObject(root, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(root, "eos_token_id", c->eos_id);
    /* torch_dtype (transformers 4) and dtype (transformers 5) say what the file holds. */
    cJSON_AddStringToObject(root, "torch_dtype", bf16 ? "bfloat16" : "float32");
    cJSON_AddStringToObject(root, "dtype", bf16 ? "bfloat16" : "float32");
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t jl = strlen(json);
    json = realloc(json, jl + 2);
    json[jl] = '\n';
    json[jl + 1] = 0;
    bool ok = iopo_write_file_atomic(path, json, jl + 1, err, errlen);
    free(json);
    if (!ok) return false;
    iopo_st_entry *e;
    int n = iopo_model_export(m, false, &e);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "pt", NULL};
    ok = bf16 ? iopo_st_write_bf16(path, e, n, meta, err, errlen) : iopo_st_write(path, e, n, meta, err, errlen);
    iopo_model_export_free(e, n);
    return ok;
}
