/* IFEval-format evaluation sets: reading, responses, scoring, the report and IFEval's own output files
 * (include/iopo/eval.h). The checks themselves are include/iopo/ifeval.h's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_responses.h"
#include "iopo/eval.h"
#include "iopo/fileio.h"
#include "iopo/ifeval.h"
#include "iopo/jsonutil.h"

static bool add_item(void *user, const char *where, int line, const cJSON *rec, char *err, size_t errlen) {
    iopo_ifeval_set *s = user;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(rec, "prompt");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(rec, "instruction_id_list");
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(rec, "kwargs");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "key");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(rec, "split");
    if (!cJSON_IsObject(rec) || !cJSON_IsString(prompt) || !cJSON_IsArray(ids)) {
        snprintf(err, errlen, "%s: expected {\"key\", \"prompt\", \"instruction_id_list\", \"kwargs\"} (IFEval's "
                              "input_data.jsonl format)", where);
        return false;
    }
    int n = cJSON_GetArraySize(ids);
    if (n == 0) {
        snprintf(err, errlen, "%s: instruction_id_list is empty", where);
        return false;
    }
    if (kwargs && !cJSON_IsNull(kwargs) && (!cJSON_IsArray(kwargs) || cJSON_GetArraySize(kwargs) != n)) {
        snprintf(err, errlen, "%s: kwargs must be a list of %d objects, one per instruction", where, n);
        return false;
    }
    if (split && !cJSON_IsNull(split) && !cJSON_IsString(split)) {
        snprintf(err, errlen, "%s: \"split\" must be a string", where);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *id = cJSON_GetArrayItem(ids, i);
        const cJSON *kw = cJSON_IsArray(kwargs) ? cJSON_GetArrayItem(kwargs, i) : NULL;
        char why[512];
        if (!cJSON_IsString(id)) {
            snprintf(err, errlen, "%s: instruction_id_list[%d] is not a string", where, i);
            return false;
        }
        if (iopo_ifeval_index(id->valuestring) < 0) {
            snprintf(err, errlen, "%s: instruction_id_list[%d] '%s' is not an IFEval instruction", where, i,
                     iopo_json_shown(id->valuestring, why, sizeof why));
            return false;
        }
        if (kw && !cJSON_IsNull(kw) && !cJSON_IsObject(kw)) {
            snprintf(err, errlen, "%s: kwargs[%d] is not an object", where, i);
            return false;
        }
        if (!iopo_ifeval_validate(id->valuestring, cJSON_IsObject(kw) ? kw : NULL, why, sizeof why)) {
            snprintf(err, errlen, "%s: kwargs[%d] of %s: %s", where, i, id->valuestring, why);
            return false;
        }
    }
    s->items = realloc(s->items, (size_t)(s->n + 1) * sizeof *s->items);
    iopo_ifeval_item *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->key_json = key && !cJSON_IsNull(key) ? cJSON_PrintUnformatted(key) : NULL;
    it->prompt = strdup(prompt->valuestring);
    it->n = n;
    it->ids = calloc((size_t)n, sizeof *it->ids);
    it->kwargs = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        it->ids[i] = strdup(cJSON_GetArrayItem(ids, i)->valuestring);
        const cJSON *kw = cJSON_IsArray(kwargs) ? cJSON_GetArrayItem(kwargs, i) : NULL;
        cJSON_AddItemToArray(it->kwargs, cJSON_IsObject(kw) ? cJSON_Duplicate(kw, true) : cJSON_CreateObject());
    }
    it->split = cJSON_IsString(split) ? strdup(split->valuestring) : NULL;
    return true;
}

bool iopo_ifeval_set_load(iopo_ifeval_set *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!iopo_jsonl_each(path, add_item, s, NULL, err, errlen)) {
        iopo_ifeval_set_free(s);
        return false;
    }
    if (s->n == 0) {
        snprintf(err, errlen, "%s: no prompts", path);
        iopo_ifeval_set_free(s);
        return false;
    }
    return true;
}

void iopo_ifeval_set_keep(iopo_ifeval_set *s, int n) {
    for (int i = n; i < s->n; i++) {
        iopo_ifeval_item *it = &s->items[i];
        for (int k = 0; k < it->n; k++) free(it->ids[k]);
        free(it->ids), free(it->key_json), free(it->prompt), free(it->split), free(it->response);
        free(it->strict), free(it->loose);
        cJSON_Delete(it->kwargs);
    }
    if (n < s->n) s->n = n;
}

void iopo_ifeval_set_free(iopo_ifeval_set *s) {
    iopo_ifeval_set_keep(s, 0);
    free(s->items);
    free(s->path);
    memset(s, 0, sizeof *s);
}

bool iopo_ifeval_set_attach_responses(iopo_ifeval_set *s, const char *path, char *err, size_t errlen) {
    eval_keyed *keyed = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *keyed);
    for (int i = 0; i < s->n; i++)
        keyed[i] = (eval_keyed){s->items[i].key_json, s->items[i].prompt, s->items[i].line, &s->items[i].response};
    bool ok = eval_attach_responses(path, "key", false, s->path, keyed, s->n, err, errlen);
    free(keyed);
    return ok;
}

bool iopo_ifeval_set_score(iopo_ifeval_set *s, char *err, size_t errlen) {
    for (int i = 0; i < s->n; i++) {
        iopo_ifeval_item *it = &s->items[i];
        if (!it->response) {
            snprintf(err, errlen, "%s:%d: no response to score", s->path, it->line);
            return false;
        }
        free(it->strict), free(it->loose);
        it->strict = calloc((size_t)it->n, sizeof *it->strict);
        it->loose = calloc((size_t)it->n, sizeof *it->loose);
        for (int k = 0; k < it->n; k++) {
            const cJSON *kw = cJSON_GetArrayItem(it->kwargs, k);
            char why[512];
            int st = iopo_ifeval_follows(it->ids[k], kw, it->prompt, it->response, false, why, sizeof why);
            int lo = st < 0 ? st : iopo_ifeval_follows(it->ids[k], kw, it->prompt, it->response, true, why, sizeof why);
            if (st < 0 || lo < 0) {
                snprintf(err, errlen, "%s:%d: %s: %s", s->path, it->line, it->ids[k], why);
                return false;
            }
            it->strict[k] = st == 1;
            it->loose[k] = lo == 1;
        }
    }
    return true;
}

static bool all_of(const bool *v, int n) {
    for (int i = 0; i < n; i++)
        if (!v[i]) return false;
    return true;
}

/* Accuracy counts of the items that pass `keep` (NULL: all). */
typedef struct tally {
    int prompts, prompts_strict, prompts_loose, instr, instr_strict, instr_loose;
} tally;

static void tally_add(tally *t, const iopo_ifeval_item *it) {
    t->prompts++;
    t->prompts_strict += all_of(it->strict, it->n);
    t->prompts_loose += all_of(it->loose, it->n);
    for (int k = 0; k < it->n; k++) t->instr++, t->instr_strict += it->strict[k], t->instr_loose += it->loose[k];
}

static double frac(int a, int b) { return b ? (double)a / b : 0; }

static cJSON *tally_json(const tally *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompts", t->prompts);
    cJSON_AddNumberToObject(o, "instructions", t->instr);
    cJSON_AddNumberToObject(o, "prompt_level_strict", frac(t->prompts_strict, t->prompts));
    cJSON_AddNumberToObject(o, "instruction_level_strict", frac(t->instr_strict, t->instr));
    cJSON_AddNumberToObject(o, "prompt_level_loose", frac(t->prompts_loose, t->prompts));
    cJSON_AddNumberToObject(o, "instruction_level_loose", frac(t->instr_loose, t->instr));
    return o;
}

cJSON *iopo_ifeval_report(const iopo_ifeval_set *s) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "data", s->path);
    tally all = {0};
    bool any_split = false;
    for (int i = 0; i < s->n; i++) tally_add(&all, &s->items[i]), any_split |= s->items[i].split != NULL;
    cJSON_AddItemToObject(r, "overall", tally_json(&all));
    /* Per instruction type: how often it was asked and followed. */
    cJSON *types = cJSON_AddObjectToObject(r, "per_instruction");
    for (int t = 0; t < iopo_ifeval_count(); t++) {
        int n = 0, st = 0, lo = 0;
        for (int i = 0; i < s->n; i++)
            for (int k = 0; k < s->items[i].n; k++)
                if (!strcmp(s->items[i].ids[k], iopo_ifeval_id(t))) n++, st += s->items[i].strict[k], lo += s->items[i].loose[k];
        if (!n) continue;
        cJSON *o = cJSON_AddObjectToObject(types, iopo_ifeval_id(t));
        cJSON_AddNumberToObject(o, "count", n);
        cJSON_AddNumberToObject(o, "strict", frac(st, n));
        cJSON_AddNumberToObject(o, "loose", frac(lo, n));
    }
    /* IF-S (one instruction) and IF-M (several), and per split where the file names splits (iopo-synth). */
    tally single = {0}, multi = {0};
    for (int i = 0; i < s->n; i++) tally_add(s->items[i].n == 1 ? &single : &multi, &s->items[i]);
    cJSON_AddItemToObject(r, "if_s", tally_json(&single));
    cJSON_AddItemToObject(r, "if_m", tally_json(&multi));
    if (any_split) {
        cJSON *splits = cJSON_AddObjectToObject(r, "splits");
        for (int i = 0; i < s->n; i++) {
            const char *name = s->items[i].split ? s->items[i].split : "(none)";
            if (cJSON_GetObjectItemCaseSensitive(splits, name)) continue;
            tally t = {0}, ts = {0}, tm = {0};
            for (int j = i; j < s->n; j++) {
                const char *other = s->items[j].split ? s->items[j].split : "(none)";
                if (strcmp(other, name)) continue;
                tally_add(&t, &s->items[j]);
                tally_add(s->items[j].n == 1 ? &ts : &tm, &s->items[j]);
            }
            cJSON *o = cJSON_AddObjectToObject(splits, name);
            cJSON_AddItemToObject(o, "all", tally_json(&t));
            cJSON_AddItemToObject(o, "if_s", tally_json(&ts));
            cJSON_AddItemToObject(o, "if_m", tally_json(&tm));
        }
    }
    return r;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_tally(FILE *out, const char *name, const cJSON *t) {
    if (!t || num(t, "prompts") == 0) return;
    fprintf(out, "%-28s %7.0f %8.1f%% %8.1f%% %8.1f%% %8.1f%%\n", name, num(t, "prompts"),
            100 * num(t, "prompt_level_strict"), 100 * num(t, "instruction_level_strict"),
            100 * num(t, "prompt_level_loose"), 100 * num(t, "instruction_level_loose"));
}

void iopo_ifeval_print_report(const cJSON *r, FILE *out) {
    fprintf(out, "%-28s %7s %9s %9s %9s %9s\n", "", "prompts", "prompt-S", "instr-S", "prompt-L", "instr-L");
    print_tally(out, "all", cJSON_GetObjectItemCaseSensitive(r, "overall"));
    print_tally(out, "IF-S (one instruction)", cJSON_GetObjectItemCaseSensitive(r, "if_s"));
    print_tally(out, "IF-M (several)", cJSON_GetObjectItemCaseSensitive(r, "if_m"));
    const cJSON *splits = cJSON_GetObjectItemCaseSensitive(r, "splits"), *sp;
    cJSON_ArrayForEach(sp, splits) {
        char name[128];
        snprintf(name, sizeof name, "%.60s IF-S", sp->string);
        print_tally(out, name, cJSON_GetObjectItemCaseSensitive(sp, "if_s"));
        snprintf(name, sizeof name, "%.60s IF-M", sp->string);
        print_tally(out, name, cJSON_GetObjectItemCaseSensitive(sp, "if_m"));
    }
    fprintf(out, "\n%-44s %6s %8s %8s\n", "instruction", "count", "strict", "loose");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "per_instruction")) {
        fprintf(out, "%-44s %6.0f %7.1f%% %7.1f%%\n", t->string, num(t, "count"), 100 * num(t, "strict"),
                100 * num(t, "loose"));
    }
}

static bool write_results(const iopo_ifeval_set *s, const char *path, bool loose, char *err, size_t errlen) {
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) return false;
    for (int i = 0; i < s->n; i++) {
        const iopo_ifeval_item *it = &s->items[i];
        const bool *f = loose ? it->loose : it->strict;
        cJSON *o = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(o, "instruction_id_list");
        for (int k = 0; k < it->n; k++) cJSON_AddItemToArray(ids, cJSON_CreateString(it->ids[k]));
        cJSON_AddStringToObject(o, "prompt", it->prompt);
        cJSON_AddStringToObject(o, "response", it->response);
        cJSON_AddBoolToObject(o, "follow_all_instructions", all_of(f, it->n));
        cJSON *fl = cJSON_AddArrayToObject(o, "follow_instruction_list");
        for (int k = 0; k < it->n; k++) cJSON_AddItemToArray(fl, cJSON_CreateBool(f[k]));
        char *line = cJSON_PrintUnformatted(o);
        fprintf(af.f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    return iopo_atomic_commit(&af, err, errlen);
}

bool iopo_ifeval_write_results(const iopo_ifeval_set *s, const char *dir, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/eval_results_strict.jsonl", dir);
    if (!write_results(s, path, false, err, errlen)) return false;
    snprintf(path, sizeof path, "%s/eval_results_loose.jsonl", dir);
    return write_results(s, path, true, err, errlen);
}
