/* Loading preference and chat data into scored sequences; the formats are read in prefdata_formats.c, templated in
 * prefdata_template.c. This file walks the records of a JSON array or JSONL file, matches the data to the objective,
 * truncates and reports bad records. See include/iopo/prefdata.h and docs/TRAINING.md for the rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/prefdata_internal.h"
#include "iopo/fileio.h"
#include "iopo/prefdata.h"
#include "tokenizer/tok_internal.h"

/* Sequences of one output record: {prompt, response} indices in the order prefdata.h gives. */
typedef struct pd_group {
    int n;
    int pair[4][2];
} pd_group;

static const pd_group G_SFT = {1, {{0, 0}}}, G_DPO = {2, {{0, 0}, {0, 1}}},
                      G_IOPO = {4, {{0, 0}, {0, 1}, {1, 1}, {1, 0}}}, G_SFT_X2 = {1, {{1, 1}}};

typedef struct loader {
    iopo_pref_dataset *ds;
    int cap;
    const char *path;
    const iopo_tokenizer *tok;
    const iopo_pref_options *opt;
    bool is_array;
    bool have_format;
    pd_format fmt;
    bool have_template;
    pd_template tmpl;
    int vocab; /* ids must be below it; 0 = no bound (text data without opt->vocab) */
    const pd_group *groups[2];
    int ngroups;
    bool have_columns; /* opt->dataset_info given: records are read through it */
    pd_columns columns;
} loader;

static void where(const loader *L, int num, char *buf, size_t n) {
    if (L->is_array)
        snprintf(buf, n, "%s:record %d", L->path, num);
    else
        snprintf(buf, n, "%s:%d", L->path, num);
}

static const char *kind_name(int k) { return k == PD_KIND_SFT ? "sft" : k == PD_KIND_DPO ? "dpo" : "iopo"; }

/* The objective decides which data kinds it can use. An SFT run takes the preferred responses of preference data:
 * the chosen one of a DPO record, and both matching pairs (x1, y1) and (x2, y2) of an IOPO record (two SFT records,
 * as the IOPO paper's SFT baseline trains on both). */
/* The roles of a sharegpt record's turns, e.g. "human, bot", for the IOPO mismatch message. */
static const char *turn_roles(const cJSON *rec, char *buf, size_t max) {
    size_t k = 0;
    buf[0] = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(rec, "conversations")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "from");
        const char *s = cJSON_IsString(r) ? r->valuestring : "(no \"from\")";
        if (k + strlen(s) + 8 >= max) {
            snprintf(buf + k, max - k, ", ...");
            break;
        }
        k += (size_t)snprintf(buf + k, max - k, "%s%.40s", k ? ", " : "", s);
    }
    return buf;
}

static bool match_objective(loader *L, const cJSON *rec, int num, char *err, size_t errlen) {
    const pd_format_info *fi = pd_format_get(L->fmt);
    int obj = L->opt->objective, kind = fi->kind;
    char w[1100];
    where(L, num, w, sizeof w);
    const char *suffix = "";
    L->ngroups = 1;
    if (obj == (int)kind) {
        L->groups[0] = kind == PD_KIND_SFT ? &G_SFT : kind == PD_KIND_DPO ? &G_DPO : &G_IOPO;
    } else if (obj == IOPO_OBJ_SFT) {
        L->groups[0] = &G_SFT;
        if (kind == PD_KIND_IOPO) {
            L->groups[1] = &G_SFT_X2;
            L->ngroups = 2;
            suffix = ", (x1,y1) and (x2,y2) as SFT";
        } else {
            suffix = ", chosen as SFT target";
        }
    } else if (kind == PD_KIND_SFT) {
        snprintf(err, errlen,
                 "%s: the %s objective needs preference data (chosen and rejected responses); this file "
                 "is SFT data (%s)",
                 w, kind_name(obj), fi->name);
        return false;
    } else if (obj == IOPO_OBJ_IOPO && L->fmt == PD_DPO_SHAREGPT) {
        char roles[160];
        snprintf(err, errlen,
                 "%s: the iopo objective needs two instructions per record: \"conversations\" holds turns from %s; "
                 "the IOPO release's records hold two human (or user) turns, x1 and x2",
                 w, turn_roles(rec, roles, sizeof roles));
        return false;
    } else if (obj == IOPO_OBJ_IOPO) {
        snprintf(err, errlen,
                 "%s: the iopo objective needs two instructions per record (x1, x2 with responses y1, "
                 "y2); this file is DPO data (%s) with one prompt per record",
                 w, fi->name);
        return false;
    } else {
        snprintf(err, errlen,
                 "%s: this file is IOPO data (%s: two instructions per record); train it with the iopo "
                 "objective, not dpo",
                 w, fi->name);
        return false;
    }
    snprintf(L->ds->format, sizeof L->ds->format, "%s (%s)%s", fi->name, L->is_array ? "json array" : "jsonl", suffix);
    return true;
}

/* First record: the format, the objective check, the template and the id bound. */
static bool setup(loader *L, const cJSON *rec, int num, char *err, size_t errlen) {
    char w[1100], why[512];
    where(L, num, w, sizeof w);
    if (!pd_detect(rec, &L->fmt, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", w, why);
        return false;
    }
    L->have_format = true;
    if (!match_objective(L, rec, num, err, errlen)) return false;
    const pd_format_info *fi = pd_format_get(L->fmt);
    L->vocab = L->opt->vocab > 0 ? L->opt->vocab : 0;
    if (fi->tokenized) {
        if (L->vocab <= 0 && L->tok) L->vocab = iopo_tokenizer_vocab_size(L->tok);
        if (L->vocab <= 0) {
            snprintf(err, errlen, "%s: pre-tokenized data needs the vocabulary size to check its ids", L->path);
            return false;
        }
        return true;
    }
    if (!L->tok) {
        snprintf(err, errlen, "%s: text data (%s) needs a tokenizer%s%s", L->path, fi->name,
                 L->opt->no_tokenizer ? ", and " : "", L->opt->no_tokenizer ? L->opt->no_tokenizer : "");
        return false;
    }
    char terr[900];
    if (!pd_template_init(&L->tmpl, L->opt->template_name, L->tok, L->tok->path, L->vocab, terr, sizeof terr)) {
        snprintf(err, errlen, "%s: %s", L->path, terr);
        return false;
    }
    L->have_template = true;
    return true;
}

static void add_record(loader *L, int line, pd_ids *seq, const int *plen, int nseq) {
    iopo_pref_dataset *ds = L->ds;
    if (ds->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        ds->rec = realloc(ds->rec, (size_t)L->cap * sizeof *ds->rec);
    }
    iopo_pref_record *r = &ds->rec[ds->n++];
    memset(r, 0, sizeof *r);
    r->line = line;
    for (int k = 0; k < nseq; k++) {
        iopo_example *e = &r->seq[k];
        e->n = seq[k].n;
        e->ids = seq[k].v; /* ownership moves to the record */
        e->label = calloc((size_t)e->n, 1);
        memset(e->label + plen[k], 1, (size_t)(e->n - plen[k]));
        memset(&seq[k], 0, sizeof seq[k]);
    }
}

/* Truncation: responses are never cut (a cut response loses its end token and would teach or score another reply).
 * When prompt + response exceeds cutoff_len, the prompt loses tokens from its start and keeps its end (the latest
 * turn and the generation prompt), but it keeps at least min(prompt length, max(1, cutoff_len / 4)) tokens; a
 * response too long for that is over-long. A prompt shared by several sequences of a record (DPO's one prompt, each
 * IOPO instruction) is cut once, for its longest response, so those sequences score the same prompt. */
static bool plan(const loader *L, const pd_group *g, const pd_ids *prompt, const pd_ids *resp, int keep[2], bool *cut,
                 char *why, size_t n) {
    int C = L->opt->cutoff_len;
    int min_keep_cap = C / 4 > 1 ? C / 4 : 1;
    *cut = false;
    for (int p = 0; p < 2; p++) {
        int rmax = -1;
        for (int k = 0; k < g->n; k++)
            if (g->pair[k][0] == p && resp[g->pair[k][1]].n > rmax) rmax = resp[g->pair[k][1]].n;
        keep[p] = 0;
        if (rmax < 0) continue;
        int P = prompt[p].n, min_keep = P < min_keep_cap ? P : min_keep_cap;
        if (rmax > C - min_keep) {
            snprintf(why, n,
                     "over-long: a response of %d tokens and at least %d of the prompt's %d tokens exceed "
                     "cutoff_len %d",
                     rmax, min_keep, P, C);
            return false;
        }
        keep[p] = P < C - rmax ? P : C - rmax;
        *cut |= keep[p] < P;
    }
    return true;
}

static void emit(loader *L, int line, const pd_group *g, const pd_ids *prompt, const pd_ids *resp, const int keep[2],
                 bool cut) {
    pd_ids seq[4] = {{0}};
    int plen[4];
    for (int k = 0; k < g->n; k++) {
        const pd_ids *pp = &prompt[g->pair[k][0]], *rr = &resp[g->pair[k][1]];
        int kp = keep[g->pair[k][0]];
        pd_ids_push(&seq[k], pp->v + pp->n - kp, kp);
        pd_ids_push(&seq[k], rr->v, rr->n);
        plen[k] = kp;
    }
    add_record(L, line, seq, plen, g->n);
    L->ds->truncated += cut;
}

static bool check_vocab(const loader *L, const pd_ids *a, int na, char *why, size_t n) {
    if (L->vocab <= 0) return true;
    for (int i = 0; i < na; i++)
        for (int k = 0; k < a[i].n; k++)
            if (a[i].v[k] < 0 || a[i].v[k] >= L->vocab) {
                snprintf(why, n, "token id %d from the tokenizer is outside the model's vocabulary of %d", a[i].v[k],
                         L->vocab);
                return false;
            }
    return true;
}

/* One record: true when it became sequences, false with the reason when it is bad. */
static bool record(loader *L, const cJSON *rec, int line, char *why, size_t n) {
    pd_item it;
    if (!pd_parse(L->fmt, rec, L->vocab, &it, why, n)) {
        pd_item_free(&it);
        return false;
    }
    bool ok = true;
    if (!pd_format_get(L->fmt)->tokenized) {
        for (int i = 0; ok && i < it.nprompt; i++)
            ok = pd_template_prompt(&L->tmpl, &it.prompt[i], &it.prompt_ids[i], why, n);
        for (int i = 0; ok && i < it.nresp; i++)
            ok = pd_template_response(&L->tmpl, it.resp[i], &it.resp_ids[i], why, n);
        ok = ok && check_vocab(L, it.prompt_ids, it.nprompt, why, n) && check_vocab(L, it.resp_ids, it.nresp, why, n);
    }
    /* Every group must fit before any is added, so a record is kept or dropped whole. */
    int keep[2][2];
    bool cut[2];
    for (int gi = 0; ok && gi < L->ngroups; gi++)
        ok = plan(L, L->groups[gi], it.prompt_ids, it.resp_ids, keep[gi], &cut[gi], why, n);
    for (int gi = 0; ok && gi < L->ngroups; gi++)
        emit(L, line, L->groups[gi], it.prompt_ids, it.resp_ids, keep[gi], cut[gi]);
    pd_item_free(&it);
    return ok;
}

/* Handles one record (rec NULL: it did not parse, parse_why says why). Returns false on a fatal error (err set). */
static bool visit(loader *L, const cJSON *rec, int num, const char *parse_why, char *err, size_t errlen) {
    char why[1024];
    bool ok;
    cJSON *renamed = NULL;
    if (rec && L->have_columns && cJSON_IsObject(rec)) {
        renamed = pd_columns_apply(&L->columns, rec, why, sizeof why);
        if (!renamed && !L->have_format) {   /* the first record decides: a wrong entry is not one bad record */
            char w[1100];
            where(L, num, w, sizeof w);
            snprintf(err, errlen, "%s: %s", w, why);
            return false;
        }
        rec = renamed;
        if (!rec) parse_why = why;
    }
    if (!rec) {
        if (parse_why != why) snprintf(why, sizeof why, "%s", parse_why);
        ok = false;
    } else if (!cJSON_IsObject(rec)) {
        snprintf(why, sizeof why, "a record must be a JSON object, not %s",
                 cJSON_IsArray(rec)    ? "an array"
                 : cJSON_IsString(rec) ? "a string"
                                       : "a scalar");
        ok = false;
    } else {
        if (!L->have_format && !setup(L, rec, num, err, errlen)) {
            cJSON_Delete(renamed);
            return false;
        }
        ok = record(L, rec, num, why, sizeof why);
    }
    cJSON_Delete(renamed);
    if (ok) return true;
    char w[1100];
    where(L, num, w, sizeof w);
    if (!L->opt->skip_bad) {
        snprintf(err, errlen, "%s: %s", w, why);
        return false;
    }
    fprintf(stderr, "%s: %s (record skipped)\n", w, why);
    L->ds->dropped++;
    return true;
}

static int line_at(const char *text, const char *pos) {
    int line = 1;
    for (const char *p = text; p < pos; p++) line += *p == '\n';
    return line;
}

static bool load_array(loader *L, const char *text, size_t len, const char *start, char *err, size_t errlen) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(start, len - (size_t)(start - text), &end, false);
    if (!root) {
        const char *at = end ? end : start;
        const char *bol = at;
        while (bol > text && bol[-1] != '\n') bol--;
        snprintf(err, errlen, "%s:%d: invalid JSON at column %d in the array of records; nothing loaded", L->path,
                 line_at(text, at), (int)(at - bol) + 1);
        return false;
    }
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
    if (end && end < text + len) {
        snprintf(err, errlen, "%s:%d: text after the JSON array of records", L->path, line_at(text, end));
        cJSON_Delete(root);
        return false;
    }
    int num = 0;
    bool ok = true;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, root) {
        if (!(ok = visit(L, rec, ++num, NULL, err, errlen))) break;
    }
    cJSON_Delete(root);
    return ok;
}

static bool load_jsonl(loader *L, const char *text, size_t len, char *err, size_t errlen) {
    int line = 0, records = 0;
    const char *p = text;
    while (p < text + len) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        const char *rec = p;
        p += ll + 1;
        line++;
        size_t k = 0;
        while (k < ll && (rec[k] == ' ' || rec[k] == '\t' || rec[k] == '\r')) k++;
        if (k == ll) continue;
        if (line == 1 && ll >= 3 && memcmp(rec, "\xEF\xBB\xBF", 3) == 0) rec += 3, ll -= 3; /* UTF-8 BOM */
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithLengthOpts(rec, ll, &end, false);
        const char *tail = end;
        while (root && tail && tail < rec + ll && (*tail == ' ' || *tail == '\t' || *tail == '\r')) tail++;
        char why[256] = "";
        if (!root || (tail && tail < rec + ll)) {
            const char *at = end && end >= rec && end <= rec + ll ? end : rec;
            snprintf(why, sizeof why, "invalid JSON at column %d%s", (int)(at - rec) + 1,
                     records == 0 ? " (JSONL holds one record per line; a multi-line file must be a JSON array)" : "");
            cJSON_Delete(root);
            root = NULL;
        }
        records++;
        bool ok = visit(L, root, line, why, err, errlen);
        cJSON_Delete(root);
        if (!ok) return false;
    }
    return true;
}

bool iopo_pref_dataset_load(iopo_pref_dataset *ds, const char *path, const iopo_tokenizer *tok,
                            const iopo_pref_options *opt, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    if (opt->objective != IOPO_OBJ_SFT && opt->objective != IOPO_OBJ_DPO && opt->objective != IOPO_OBJ_IOPO) {
        snprintf(err, errlen, "%s: unknown objective %d", path, (int)opt->objective);
        return false;
    }
    if (opt->cutoff_len < 2) {
        snprintf(err, errlen, "%s: cutoff_len %d is too small (a sequence needs a prompt and a response token)", path,
                 opt->cutoff_len);
        return false;
    }
    loader L = {.ds = ds, .path = path, .tok = tok, .opt = opt};
    if (opt->dataset_info && opt->dataset_info[0]) {
        char why[600];
        if (!pd_columns_parse(opt->dataset_info, &L.columns, why, sizeof why)) {
            snprintf(err, errlen, "%s: dataset_info: %s", path, why);
            return false;
        }
        L.have_columns = true;
    }
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) {
        if (L.have_columns) pd_columns_free(&L.columns);
        return false;
    }
    ds->nseq = (int)opt->objective;
    const char *s = text;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
    while (s < text + len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++;
    L.is_array = s < text + len && *s == '[';
    ds->is_array = L.is_array;
    bool ok = L.is_array ? load_array(&L, text, len, s, err, errlen) : load_jsonl(&L, text, len, err, errlen);
    if (ok && ds->n == 0) {
        if (ds->dropped)
            snprintf(err, errlen, "%s: no usable records (%d skipped)", path, ds->dropped);
        else
            snprintf(err, errlen, "%s: no records", path);
        ok = false;
    }
    if (L.have_template) pd_template_free(&L.tmpl);
    if (L.have_columns) pd_columns_free(&L.columns);
    free(text);
    if (!ok) iopo_pref_dataset_free(ds);
    return ok;
}

void iopo_pref_dataset_free(iopo_pref_dataset *ds) {
    for (int i = 0; i < ds->n; i++)
        for (int k = 0; k < 4; k++) {
            free(ds->rec[i].seq[k].ids);
            free(ds->rec[i].seq[k].label);
        }
    free(ds->rec);
    memset(ds, 0, sizeof *ds);
}
