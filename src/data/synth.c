/* `iopo data synth` (include/iopo/synth.h): builds instructions and responses from the bank and the constraint
 * library, checks every response with IFEval's checkers, and writes the training and evaluation files.
 *
 * Each item is built from its own random stream, seeded by (seed, stream, index, attempt), so an item that fails
 * verification is built again from the next attempt without shifting any other item, and the files follow from the
 * seed alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synth_internal.h"
#include "iopo/fileio.h"
#include "iopo/ifeval.h"
#include "iopo/synth.h"

#define MAXC (IOPO_SYNTH_MAX_CONSTRAINTS + 1)
#define MAX_ATTEMPTS 2000

static const char DEFAULT_HELD_OUT[] =
    "detectable_format:title,startend:quotation,keywords:frequency,length_constraints:number_sentences";

void iopo_synth_defaults(iopo_synth_options *o) {
    o->seed = IOPO_SYNTH_DEFAULT_SEED;
    o->train = IOPO_SYNTH_DEFAULT_TRAIN;
    o->eval = IOPO_SYNTH_DEFAULT_EVAL;
    o->max_constraints = IOPO_SYNTH_DEFAULT_MAX_CONSTRAINTS;
    o->held_out = NULL;
}

int iopo_synth_constraint_count(void) { return sy_kind_count(); }
const char *iopo_synth_constraint_id(int i) { return sy_kind_id(i); }
const char *iopo_synth_default_held_out(void) { return DEFAULT_HELD_OUT; }

/* ---- instructions ------------------------------------------------------------------------------------------- */

typedef struct instr {
    int n;
    sy_con con[MAXC];
    char prompt[SY_TEXT];
} instr;

static void instr_free(instr *x) {
    for (int i = 0; i < x->n; i++) sy_con_free(&x->con[i]);
    x->n = 0;
}

static void instr_text(instr *x, const sy_plan *p) {
    size_t len = (size_t)snprintf(x->prompt, sizeof x->prompt, "%s", p->task_text);
    for (int i = 0; i < x->n && len < sizeof x->prompt; i++) {
        char ph[SY_TEXT];
        sy_con_phrase(&x->con[i], p, ph, sizeof ph);
        len += (size_t)snprintf(x->prompt + len, sizeof x->prompt - len, " %s", ph);
    }
}

typedef struct gen {
    uint64_t seed;
    int max_constraints;
    bool held[32];               /* by kind */
    int train_kinds[32], ntrain; /* kinds training data draws */
    int held_kinds[32], nheld;
    int all_kinds[32], nall;
    char err[512];
    bool failed;                 /* a checker error: stops the run */
    long attempts, rejected;
} gen;

static uint64_t mix(uint64_t h, uint64_t v) {
    iopo_rng r;
    iopo_rng_seed(&r, h ^ (v * 0x9E3779B97F4A7C15ull));
    return iopo_rng_u64(&r);
}

static void item_rng(const gen *g, iopo_rng *r, int stream, int index, int attempt) {
    iopo_rng_seed(r, mix(mix(mix(g->seed, (uint64_t)stream + 1), (uint64_t)index + 1), (uint64_t)attempt + 1));
}

/* Draws constraint number x->n from kinds[0..nk) (one not in x yet, compatible with x). */
static bool draw_one(instr *x, const sy_plan *p, const int *kinds, int nk, iopo_rng *r) {
    for (int tries = 0; tries < 40; tries++) {
        int kind = kinds[iopo_rng_u64(r) % (uint64_t)nk];
        bool present = false;
        for (int i = 0; i < x->n; i++) present = present || x->con[i].kind == kind;
        if (present) continue;
        if (sy_con_draw(&x->con[x->n], kind, p, x->con, x->n, r)) {
            x->n++;
            return true;
        }
        sy_con_free(&x->con[x->n]);
    }
    return false;
}

/* 1 when every constraint gives its wanted result (all followed, or all but `violate` which fails), 0 when one
 * does not, -1 on a checker error (g->failed). */
static int check(gen *g, const instr *x, const char *text, int violate) {
    for (int i = 0; i < x->n; i++) {
        int f = sy_con_follows(&x->con[i], x->prompt, text, g->err, sizeof g->err);
        if (f < 0) {
            g->failed = true;
            return -1;
        }
        if (f != (i != violate)) return 0;
    }
    return 1;
}

static int follows_all(gen *g, const instr *x, const char *text) { return check(g, x, text, -1); }

/* Renders the response of x from the base plan: every constraint followed, or all but `violate` followed and that
 * one failed. The lengths are settled by adding content sentences (the next fillers) or dropping the last ones, as
 * the checkers ask. 1 done, 0 not possible for this item, -1 checker error. */
static int solve(gen *g, const sy_plan *base, const instr *x, int violate, char *out) {
    sy_plan p = *base;
    for (int i = 0; i < x->n; i++) sy_con_apply(&x->con[i], &p, i != violate);
    for (int iter = 0; iter < 32; iter++) {
        bool more;
        if (!sy_render(&p, out, SY_TEXT, &more)) {
            if (!more || p.nsent >= p.npool) return 0;
            p.nsent++;
            continue;
        }
        int up = 0, down = 0;
        bool done = true;
        for (int i = 0; i < x->n; i++) {
            bool want = i != violate;
            int f = sy_con_follows(&x->con[i], x->prompt, out, g->err, sizeof g->err);
            if (f < 0) {
                g->failed = true;
                return -1;
            }
            if (f == want) continue;
            done = false;
            int d = sy_con_repair(&x->con[i], want);
            if (d > 0) up++;
            else if (d < 0) down++;
            else return 0;
        }
        if (done) return 1;
        if (up && down) return 0;
        if (up && p.nsent >= p.npool) return 0;
        if (down && p.nsent <= 1) return 0;
        p.nsent += up ? 1 : -1;
    }
    return 0;
}

/* The near miss of x: one constraint violated (tried in a random order), the rest followed. */
static int near_miss(gen *g, const sy_plan *base, const instr *x, iopo_rng *r, char *out) {
    int start = (int)(iopo_rng_u64(r) % (uint64_t)x->n);
    for (int k = 0; k < x->n; k++) {
        int rc = solve(g, base, x, (start + k) % x->n, out);
        if (rc) return rc;
    }
    return 0;
}

static bool kwargs_valid(gen *g, const instr *x) {
    for (int i = 0; i < x->n; i++) {
        char why[256];
        if (!iopo_ifeval_validate(sy_kind_id(x->con[i].kind), x->con[i].kwargs, why, sizeof why)) {
            snprintf(g->err, sizeof g->err, "%s: kwargs rejected by the checker: %s", sy_kind_id(x->con[i].kind),
                     why);
            g->failed = true;
            return false;
        }
    }
    return true;
}

/* ---- output records ---------------------------------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
    bool oom;
} text;

static void text_add(text *t, const char *s) {
    size_t l = strlen(s);
    if (t->oom) return;
    if (t->len + l + 2 > t->cap) {
        size_t cap = t->cap ? t->cap : 1 << 16;
        while (t->len + l + 2 > cap) cap *= 2;
        char *ns = realloc(t->s, cap);
        if (!ns) {
            t->oom = true;
            return;
        }
        t->s = ns;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, l + 1);
    t->len += l;
}

/* Appends the record as one JSON line and frees it. */
static void emit(text *t, cJSON *rec) {
    char *s = rec ? cJSON_PrintUnformatted(rec) : NULL;
    cJSON_Delete(rec);
    if (!s) {
        t->oom = true;
        return;
    }
    text_add(t, s);
    text_add(t, "\n");
    free(s);
}

static cJSON *ids_json(const instr *x) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < x->n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(sy_kind_id(x->con[i].kind)));
    return a;
}

static cJSON *kwargs_json(const instr *x) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < x->n; i++) cJSON_AddItemToArray(a, cJSON_Duplicate(x->con[i].kwargs, true));
    return a;
}

static void add_constraints(cJSON *rec, const char *prefix, const instr *x) {
    char k1[64], k2[64];
    snprintf(k1, sizeof k1, "%sinstruction_id_list", prefix);
    snprintf(k2, sizeof k2, "%skwargs", prefix);
    cJSON_AddItemToObject(rec, k1, ids_json(x));
    cJSON_AddItemToObject(rec, k2, kwargs_json(x));
}

static cJSON *turn(const char *k1, const char *v1, const char *k2, const char *v2) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, k1, v1);
    cJSON_AddStringToObject(o, k2, v2);
    return o;
}

static cJSON *sft_record(const instr *x, const char *y) {
    cJSON *rec = cJSON_CreateObject(), *m = cJSON_AddArrayToObject(rec, "messages");
    cJSON_AddItemToArray(m, turn("role", "user", "content", x->prompt));
    cJSON_AddItemToArray(m, turn("role", "assistant", "content", y));
    add_constraints(rec, "", x);
    return rec;
}

static cJSON *dpo_record(const instr *x, const char *chosen, const char *rejected) {
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "prompt", x->prompt);
    cJSON_AddStringToObject(rec, "chosen", chosen);
    cJSON_AddStringToObject(rec, "rejected", rejected);
    add_constraints(rec, "", x);
    return rec;
}

/* ---- prompt set: evaluation prompts never repeat a training prompt or each other ----------------------------- */

typedef struct pset {
    char **s;
    size_t n, cap;
} pset;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool pset_has(const pset *p, const char *s) {
    if (!p->cap) return false;
    for (size_t i = fnv(s) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
        if (!p->s[i]) return false;
        if (strcmp(p->s[i], s) == 0) return true;
    }
}

static bool pset_add(pset *p, const char *s) {
    if (pset_has(p, s)) return true;
    if (2 * (p->n + 1) > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        char **ns = calloc(cap, sizeof *ns);
        if (!ns) return false;
        for (size_t i = 0; i < p->cap; i++) {
            if (!p->s[i]) continue;
            size_t j = fnv(p->s[i]) & (cap - 1);
            while (ns[j]) j = (j + 1) & (cap - 1);
            ns[j] = p->s[i];
        }
        free(p->s);
        p->s = ns;
        p->cap = cap;
    }
    size_t j = fnv(s) & (p->cap - 1);
    while (p->s[j]) j = (j + 1) & (p->cap - 1);
    if (!(p->s[j] = strdup(s))) return false;
    p->n++;
    return true;
}

static void pset_free(pset *p) {
    for (size_t i = 0; i < p->cap; i++) free(p->s[i]);
    free(p->s);
    memset(p, 0, sizeof *p);
}

/* ---- training pool -------------------------------------------------------------------------------------------- */

typedef struct quad {
    sy_plan base;
    instr x1, x2;
    bool add;                    /* x2 = x1 + one constraint; else one constraint of x1 changed */
    char y1[SY_TEXT], y2[SY_TEXT], r1[SY_TEXT], r2[SY_TEXT];
} quad;

/* x2 from x1 and y1: one constraint changed (redrawn, or replaced by another kind) or one added, such that y1 fails
 * it; 1 on success with y2 following x2 (and, for a change, failing x1). */
static int make_x2(gen *g, quad *q, iopo_rng *r) {
    const instr *x1 = &q->x1;
    bool can_add = x1->n < g->max_constraints;
    q->add = can_add && iopo_rng_u64(r) % 10 < 3;
    for (int tries = 0; tries < 30; tries++) {
        instr *x2 = &q->x2;
        int j = q->add ? x1->n : (int)(iopo_rng_u64(r) % (uint64_t)x1->n);
        /* the others: x1 without constraint j */
        x2->n = 0;
        bool ok = true;
        for (int i = 0; i < x1->n && ok; i++)
            if (i != j) ok = sy_con_copy(&x2->con[x2->n++], &x1->con[i]);
        if (!ok) {
            instr_free(x2);
            snprintf(g->err, sizeof g->err, "out of memory");
            g->failed = true;
            return -1;
        }
        int kind = !q->add && iopo_rng_u64(r) % 2 ? x1->con[j].kind
                                                  : g->train_kinds[iopo_rng_u64(r) % (uint64_t)g->ntrain];
        bool present = false;
        for (int i = 0; i < x2->n; i++) present = present || x2->con[i].kind == kind;
        sy_con c;
        if (present || !sy_con_draw(&c, kind, &q->base, x2->con, x2->n, r) ||
            (!q->add && sy_con_equal(&c, &x1->con[j]))) {
            if (!present) sy_con_free(&c);
            instr_free(x2);
            continue;
        }
        /* keep x1's order: the changed constraint takes its place, an added one goes last */
        int pos = q->add ? x2->n : j;
        memmove(&x2->con[pos + 1], &x2->con[pos], (size_t)(x2->n - pos) * sizeof c);
        x2->con[pos] = c;
        x2->n++;
        instr_text(x2, &q->base);
        int f = follows_all(g, x2, q->y1);
        int rc = f == 0 ? solve(g, &q->base, x2, -1, q->y2) : f;
        if (rc == 1 && !q->add) rc = follows_all(g, x1, q->y2) == 0 ? 1 : (g->failed ? -1 : 0);
        if (rc == 1) return 1;
        instr_free(x2);
        if (rc < 0) return -1;
    }
    return 0;
}

static int build_quad(gen *g, int index, quad *q) {
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        iopo_rng r;
        item_rng(g, &r, 1, index, attempt);
        g->attempts++;
        sy_plan_base(&q->base, &r);
        int k = iopo_rng_u64(&r) % 3 == 0 ? 1 : 2 + (int)(iopo_rng_u64(&r) % (uint64_t)(g->max_constraints - 1));
        if (k > g->ntrain) k = g->ntrain;
        q->x1.n = 0;
        q->x2.n = 0;
        bool drawn = true;
        while (drawn && q->x1.n < k) drawn = draw_one(&q->x1, &q->base, g->train_kinds, g->ntrain, &r);
        int rc = 0;
        if (drawn) {
            instr_text(&q->x1, &q->base);
            rc = solve(g, &q->base, &q->x1, -1, q->y1);
            if (rc == 1) rc = make_x2(g, q, &r);
            if (rc == 1) rc = near_miss(g, &q->base, &q->x1, &r, q->r1);
            if (rc == 1) rc = near_miss(g, &q->base, &q->x2, &r, q->r2);
            /* the whole quadruple once more, as the files will hold it */
            if (rc == 1)
                rc = follows_all(g, &q->x1, q->y1) == 1 && follows_all(g, &q->x2, q->y2) == 1 &&
                     follows_all(g, &q->x2, q->y1) == 0 && follows_all(g, &q->x1, q->r1) == 0 &&
                     follows_all(g, &q->x2, q->r2) == 0 && kwargs_valid(g, &q->x1) && kwargs_valid(g, &q->x2);
        }
        if (rc == 1 && !g->failed) return 1;
        instr_free(&q->x1);
        instr_free(&q->x2);
        if (g->failed) return -1;
        g->rejected++;
    }
    snprintf(g->err, sizeof g->err,
             "training item %d: no verified quadruple in %d attempts (%d constraint types left for training: too "
             "few compatible ones for --max-constraints %d?)",
             index, MAX_ATTEMPTS, g->ntrain, g->max_constraints);
    return -1;
}

/* ---- evaluation items ------------------------------------------------------------------------------------------ */

enum { EV_IFS_IN, EV_IFS_HELD, EV_IFM_IN, EV_IFM_HELD, EV_COUNT };
static const char *const EV_FILE[EV_COUNT] = {"eval_ifs_in_domain.jsonl", "eval_ifs_held_out.jsonl",
                                              "eval_ifm_in_domain.jsonl", "eval_ifm_held_out.jsonl"};

static int build_eval(gen *g, int split, int index, const pset *seen, instr *x, char *y) {
    bool held = split == EV_IFS_HELD || split == EV_IFM_HELD, multi = split >= EV_IFM_IN;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        iopo_rng r;
        item_rng(g, &r, 2 + split, index, attempt);
        g->attempts++;
        sy_plan base;
        sy_plan_base(&base, &r);
        int k = multi ? 2 + (int)(iopo_rng_u64(&r) % (uint64_t)(g->max_constraints - 1)) : 1;
        x->n = 0;
        /* held-out items: the first constraint is a held-out kind, the others any kind */
        bool drawn = held ? draw_one(x, &base, g->held_kinds, g->nheld, &r)
                          : draw_one(x, &base, g->train_kinds, g->ntrain, &r);
        while (drawn && x->n < k)
            drawn = held ? draw_one(x, &base, g->all_kinds, g->nall, &r)
                         : draw_one(x, &base, g->train_kinds, g->ntrain, &r);
        int rc = 0;
        if (drawn) {
            /* shuffle, so a held-out constraint is not always the first one named */
            for (int i = x->n - 1; i > 0; i--) {
                int j = (int)(iopo_rng_u64(&r) % (uint64_t)(i + 1));
                sy_con t = x->con[i];
                x->con[i] = x->con[j];
                x->con[j] = t;
            }
            instr_text(x, &base);
            if (!pset_has(seen, x->prompt)) rc = solve(g, &base, x, -1, y);
            if (rc == 1) rc = follows_all(g, x, y) == 1 && kwargs_valid(g, x);
        }
        if (rc == 1 && !g->failed) return 1;
        instr_free(x);
        if (g->failed) return -1;
        g->rejected++;
    }
    snprintf(g->err, sizeof g->err, "%s item %d: no verified instruction in %d attempts", EV_FILE[split], index,
             MAX_ATTEMPTS);
    return -1;
}

/* ---- options and files ------------------------------------------------------------------------------------------ */

static bool parse_held_out(gen *g, const char *list, char *err, size_t errlen) {
    if (!list) list = DEFAULT_HELD_OUT;
    if (strcmp(list, "none") == 0) list = "";
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        char id[128];
        if (l == 0 || l >= sizeof id) {
            snprintf(err, errlen, "--held-out: empty or over-long id in '%s'", list);
            return false;
        }
        memcpy(id, s, l);
        id[l] = 0;
        int k = sy_kind_of(id);
        if (k < 0) {
            snprintf(err, errlen,
                     "--held-out: '%s' is %s; the library draws: ", id,
                     iopo_ifeval_index(id) < 0 ? "not an IFEval instruction id" : "not one the synth library draws");
            for (int i = 0; i < sy_kind_count(); i++) {
                size_t el = strlen(err);
                snprintf(err + el, errlen - el, "%s%s", i ? "," : "", sy_kind_id(i));
            }
            return false;
        }
        g->held[k] = true;
        s += l;
        if (*s == ',') s++;
    }
    for (int k = 0; k < sy_kind_count(); k++) {
        g->all_kinds[g->nall++] = k;
        if (g->held[k]) g->held_kinds[g->nheld++] = k;
        else g->train_kinds[g->ntrain++] = k;
    }
    if (g->ntrain < 2) {
        snprintf(err, errlen, "--held-out: at least 2 constraint types must stay for training (%d held out of %d)",
                 g->nheld, sy_kind_count());
        return false;
    }
    return true;
}

static bool write_text(const char *dir, const char *name, const text *t, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return iopo_write_file_atomic(path, t->s ? t->s : "", t->len, err, errlen);
}

static void count(cJSON *files, const char *name, int records, int seqs, long bytes) {
    cJSON *o = cJSON_AddObjectToObject(files, name);
    cJSON_AddNumberToObject(o, "records", records);
    if (seqs >= 0) {
        cJSON_AddNumberToObject(o, "sequences", seqs);
        cJSON_AddNumberToObject(o, "response_bytes_scored", (double)bytes);
    }
}

bool iopo_synth_write(const char *dir, const iopo_synth_options *opt, iopo_synth_report *rep, char *err,
                      size_t errlen) {
    memset(rep, 0, sizeof *rep);
    if (opt->train < 1 || opt->train > 1000000 || opt->eval < 0 || opt->eval > 100000) {
        snprintf(err, errlen, "--train must be in [1, 1000000] and --eval in [0, 100000] (got %d, %d)", opt->train,
                 opt->eval);
        return false;
    }
    if (opt->max_constraints < 2 || opt->max_constraints > IOPO_SYNTH_MAX_CONSTRAINTS) {
        snprintf(err, errlen, "--max-constraints %d: must be in [2, %d]", opt->max_constraints,
                 IOPO_SYNTH_MAX_CONSTRAINTS);
        return false;
    }
    gen *g = calloc(1, sizeof *g);
    quad *q = malloc(sizeof *q);
    instr *x = malloc(sizeof *x);
    char *y = malloc(SY_TEXT);
    /* sft dpo iopo dpo4, eval splits, eval.jsonl, eval_responses.jsonl, corpus.txt */
    text out[4 + EV_COUNT + 3] = {{0}};
    text *corpus = &out[6 + EV_COUNT];
    pset seen = {0};
    bool ok = false;
    if (!g || !q || !x || !y) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    g->seed = opt->seed;
    g->max_constraints = opt->max_constraints;
    if (!parse_held_out(g, opt->held_out, err, errlen)) goto done;
    if (!iopo_mkdirs(dir, err, errlen)) goto done;

    long bytes[4] = {0};
    for (int i = 0; i < opt->train; i++) {
        if (build_quad(g, i, q) < 0) {
            snprintf(err, errlen, "%s", g->err);
            goto done;
        }
        long l1 = (long)strlen(q->y1), l2 = (long)strlen(q->y2);
        emit(&out[0], sft_record(&q->x1, q->y1));
        emit(&out[0], sft_record(&q->x2, q->y2));
        emit(&out[1], dpo_record(&q->x1, q->y1, q->r1));
        emit(&out[1], dpo_record(&q->x2, q->y2, q->r2));
        cJSON *rec = cJSON_CreateObject(), *conv = cJSON_AddArrayToObject(rec, "conversations");
        cJSON_AddItemToArray(conv, turn("from", "human", "value", q->x1.prompt));
        cJSON_AddItemToArray(conv, turn("from", "human", "value", q->x2.prompt));
        cJSON_AddItemToObject(rec, "chosen", turn("from", "gpt", "value", q->y1));
        cJSON_AddItemToObject(rec, "rejected", turn("from", "gpt", "value", q->y2));
        cJSON_AddStringToObject(rec, "edit", q->add ? "add" : "change");
        add_constraints(rec, "x1_", &q->x1);
        add_constraints(rec, "x2_", &q->x2);
        emit(&out[2], rec);
        for (int pair = 0; pair < 2; pair++) {
            cJSON *d = pair ? dpo_record(&q->x2, q->y2, q->y1) : dpo_record(&q->x1, q->y1, q->y2);
            cJSON_AddStringToObject(d, "edit", q->add ? "add" : "change");
            emit(&out[3], d);
        }
        const char *texts[4] = {q->x1.prompt, q->y1, q->x2.prompt, q->y2};
        for (int t = 0; t < 4; t++) {
            text_add(corpus, texts[t]);
            text_add(corpus, t % 2 ? "\n\n" : "\n");
        }
        bytes[0] += l1 + l2;
        bytes[1] += l1 + l2 + (long)strlen(q->r1) + (long)strlen(q->r2);
        bytes[2] += 2 * (l1 + l2);
        bytes[3] += 2 * (l1 + l2);
        bool added = pset_add(&seen, q->x1.prompt) && pset_add(&seen, q->x2.prompt);
        instr_free(&q->x1);
        instr_free(&q->x2);
        if (!added) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    rep->train_records[0] = rep->train_records[1] = rep->train_records[3] = 2 * opt->train;
    rep->train_records[2] = opt->train;

    int key = 1;
    for (int split = 0; split < EV_COUNT; split++) {
        bool held = split == EV_IFS_HELD || split == EV_IFM_HELD;
        if (held && !g->nheld) continue;
        for (int i = 0; i < opt->eval; i++) {
            if (build_eval(g, split, i, &seen, x, y) < 0) {
                snprintf(err, errlen, "%s", g->err);
                goto done;
            }
            bool added = pset_add(&seen, x->prompt);
            for (int copy = 0; copy < 2; copy++) {
                cJSON *rec = cJSON_CreateObject();
                cJSON_AddNumberToObject(rec, "key", key);
                cJSON_AddStringToObject(rec, "prompt", x->prompt);
                add_constraints(rec, "", x);
                cJSON_AddStringToObject(rec, "split", held ? "held_out" : "in_domain");
                cJSON_AddStringToObject(rec, "set", split >= EV_IFM_IN ? "IF-M" : "IF-S");
                cJSON_AddNumberToObject(rec, "num_constraints", x->n);
                emit(&out[copy ? 4 + EV_COUNT : 4 + split], rec);
            }
            cJSON *resp = cJSON_CreateObject();
            cJSON_AddNumberToObject(resp, "key", key);
            cJSON_AddStringToObject(resp, "prompt", x->prompt);
            cJSON_AddStringToObject(resp, "response", y);
            emit(&out[5 + EV_COUNT], resp);
            instr_free(x);
            key++;
            if (!added) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
        }
        rep->eval_records[split] = opt->eval;
    }
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        if (out[i].oom) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }

    static const char *const TRAIN_FILE[4] = {"sft.jsonl", "dpo.jsonl", "iopo.jsonl", "dpo4.jsonl"};
    static const int SEQS[4] = {1, 2, 4, 2};
    for (int f = 0; f < 4; f++)
        if (!write_text(dir, TRAIN_FILE[f], &out[f], err, errlen)) goto done;
    for (int s = 0; s < EV_COUNT; s++) {
        if (g->nheld || !(s == EV_IFS_HELD || s == EV_IFM_HELD)) {
            if (!write_text(dir, EV_FILE[s], &out[4 + s], err, errlen)) goto done;
            continue;
        }
        /* an earlier run's held-out files would contradict this manifest */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, EV_FILE[s]);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s: cannot remove the earlier run's file: %s", path, strerror(errno));
            goto done;
        }
    }
    if (!write_text(dir, "eval.jsonl", &out[4 + EV_COUNT], err, errlen) ||
        !write_text(dir, "eval_responses.jsonl", &out[5 + EV_COUNT], err, errlen) ||
        !write_text(dir, "corpus.txt", corpus, err, errlen))
        goto done;

    cJSON *man = cJSON_CreateObject();
    cJSON_AddStringToObject(man, "generator", "iopo data synth");
    cJSON_AddNumberToObject(man, "format_version", 1);
    cJSON_AddNumberToObject(man, "seed", (double)opt->seed);
    cJSON_AddNumberToObject(man, "train", opt->train);
    cJSON_AddNumberToObject(man, "eval", opt->eval);
    cJSON_AddNumberToObject(man, "max_constraints", opt->max_constraints);
    cJSON *ho = cJSON_AddArrayToObject(man, "held_out"), *tr = cJSON_AddArrayToObject(man, "train_ids");
    for (int i = 0; i < g->nheld; i++) cJSON_AddItemToArray(ho, cJSON_CreateString(sy_kind_id(g->held_kinds[i])));
    for (int i = 0; i < g->ntrain; i++) cJSON_AddItemToArray(tr, cJSON_CreateString(sy_kind_id(g->train_kinds[i])));
    cJSON *files = cJSON_AddObjectToObject(man, "files");
    for (int f = 0; f < 4; f++)
        count(files, TRAIN_FILE[f], rep->train_records[f], SEQS[f] * rep->train_records[f],
              bytes[f]);
    int total = 0;
    for (int s = 0; s < EV_COUNT; s++) {
        if (!g->nheld && (s == EV_IFS_HELD || s == EV_IFM_HELD)) continue;
        count(files, EV_FILE[s], rep->eval_records[s], -1, 0);
        total += rep->eval_records[s];
    }
    count(files, "eval.jsonl", total, -1, 0);
    count(files, "eval_responses.jsonl", total, -1, 0);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(files, "corpus.txt"), "bytes", (double)corpus->len);
    cJSON_AddNumberToObject(man, "attempts", (double)g->attempts);
    cJSON_AddNumberToObject(man, "rejected_attempts", (double)g->rejected);
    char *ms = cJSON_Print(man);
    cJSON_Delete(man);
    if (!ms) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    ok = iopo_write_file_atomic(path, ms, strlen(ms), err, errlen);
    free(ms);
    rep->attempts = g->attempts;
    rep->rejected = g->rejected;

done:
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) free(out[i].s);
    pset_free(&seen);
    free(g);
    free(q);
    free(x);
    free(y);
    return ok;
}
