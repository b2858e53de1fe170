/* The TRACE evaluation file (REFERENCE.md §2) as released: reading, responses, the predictions file its judge
 * scripts read, and a report of what was generated (include/iopo/eval.h). TRACE's score comes from an LLM judge;
 * iopo does not pretend to compute it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_responses.h"
#include "iopo/eval.h"
#include "iopo/fileio.h"
#include "iopo/jsonutil.h"

static const char *str_field(const cJSON *rec, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The user turn as the release builds it from its fields: "{description}\n{constraints}\n# Inputs:\n{input}\n",
 * without the "# Inputs" part where input is "NULL". */
static char *rebuild_user_turn(const cJSON *rec) {
    const char *d = str_field(rec, "description"), *c = str_field(rec, "constraints"), *in = str_field(rec, "input");
    size_t n = strlen(d) + strlen(c) + strlen(in) + 32;
    char *s = malloc(n);
    if (!strcmp(in, "NULL")) snprintf(s, n, "%s\n%s\n", d, c);
    else snprintf(s, n, "%s\n%s\n# Inputs:\n%s\n", d, c, in);
    return s;
}

static bool add_trace(void *user, const char *where, int line, const cJSON *rec, char *err, size_t errlen) {
    iopo_trace_set *s = user;
    static const char *const need_str[] = {"id", "description", "constraints", "input"};
    for (size_t i = 0; i < sizeof need_str / sizeof *need_str; i++)
        if (!str_field(rec, need_str[i])) {
            snprintf(err, errlen, "%s: \"%s\" missing or not a string (expected a record of TRACE's "
                                  "202409_trace_evaluation.jsonl)", where, need_str[i]);
            return false;
        }
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(rec, "constraints_num");
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(rec, "levels2");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(rec, "messages");
    long cn;
    if (!cJSON_IsNumber(num) || iopo_num_to_long(num->valuedouble, 1, 1000, &cn) != IOPO_NUM_OK) {
        snprintf(err, errlen, "%s: \"constraints_num\" must be an integer in [1, 1000]", where);
        return false;
    }
    if (!cJSON_IsArray(levels)) {
        snprintf(err, errlen, "%s: \"levels2\" must be a list of constraint types", where);
        return false;
    }
    const cJSON *l;
    cJSON_ArrayForEach(l, levels) {
        if (!cJSON_IsString(l)) {
            snprintf(err, errlen, "%s: \"levels2\" holds a value that is not a string", where);
            return false;
        }
    }
    const char *system = NULL, *usr = NULL;
    int nm = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
    for (int i = 0; i < nm; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const char *role = str_field(m, "role"), *content = str_field(m, "content");
        if (!role || !content) {
            snprintf(err, errlen, "%s: messages[%d] needs string \"role\" and \"content\"", where, i);
            return false;
        }
        if (!strcmp(role, "system") && i == 0) system = content;
        else if (!strcmp(role, "user") && i == nm - 1) usr = content;
        else {
            char shown[96];
            snprintf(err, errlen, "%s: messages[%d] has role '%s': expected an optional system turn, then one user "
                                  "turn", where, i, iopo_json_shown(role, shown, sizeof shown));
            return false;
        }
    }
    if (!usr) {
        snprintf(err, errlen, "%s: \"messages\" must end with a user turn", where);
        return false;
    }
    s->items = realloc(s->items, (size_t)(s->n + 1) * sizeof *s->items);
    iopo_trace_item *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->line = line;
    it->record = cJSON_Duplicate(rec, true);
    /* Pointers into our own copy of the record, which lives as long as the item. */
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(it->record, "messages");
    it->system = system ? str_field(cJSON_GetArrayItem(own, 0), "content") : NULL;
    it->user = str_field(cJSON_GetArrayItem(own, nm - 1), "content");
    char *rebuilt = rebuild_user_turn(rec);
    s->rebuilt_mismatch += strcmp(rebuilt, usr) != 0;
    free(rebuilt);
    return true;
}

bool iopo_trace_set_load(iopo_trace_set *s, const char *path, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!iopo_jsonl_each(path, add_trace, s, NULL, err, errlen)) {
        iopo_trace_set_free(s);
        return false;
    }
    if (!s->n) {
        snprintf(err, errlen, "%s: no records", path);
        iopo_trace_set_free(s);
        return false;
    }
    return true;
}

void iopo_trace_set_keep(iopo_trace_set *s, int n) {
    for (int i = n; i < s->n; i++) cJSON_Delete(s->items[i].record), free(s->items[i].response);
    if (n < s->n) s->n = n;
}

void iopo_trace_set_free(iopo_trace_set *s) {
    iopo_trace_set_keep(s, 0);
    free(s->items);
    free(s->path);
    memset(s, 0, sizeof *s);
}

bool iopo_trace_set_attach_responses(iopo_trace_set *s, const char *path, char *err, size_t errlen) {
    eval_keyed *keyed = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *keyed);
    for (int i = 0; i < s->n; i++)
        keyed[i] = (eval_keyed){str_field(s->items[i].record, "id"), s->items[i].user, s->items[i].line,
                                &s->items[i].response};
    bool ok = eval_attach_responses(path, "id", true, s->path, keyed, s->n, err, errlen);
    free(keyed);
    return ok;
}

bool iopo_trace_write_predictions(const iopo_trace_set *s, const char *path, char *err, size_t errlen) {
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) return false;
    for (int i = 0; i < s->n; i++) {
        cJSON *o = cJSON_Duplicate(s->items[i].record, true);
        /* The judge (TRACE/Eval_script, trace.py + template.py) reads a prediction's question, answer, generated,
         * constraints and description: constraints and description are the record's own. */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "question");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "answer");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "generated");
        cJSON_AddStringToObject(o, "question", s->items[i].user);
        cJSON_AddStringToObject(o, "answer", "");
        cJSON_AddStringToObject(o, "generated", s->items[i].response ? s->items[i].response : "");
        char *line = cJSON_PrintUnformatted(o);
        fprintf(af.f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    return iopo_atomic_commit(&af, err, errlen);
}

static long utf8_chars(const char *s) {
    long n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Adds one response to group[name]: items, characters and bytes. */
static void group_add(cJSON *groups, const char *name, const char *response) {
    cJSON *g = cJSON_GetObjectItemCaseSensitive(groups, name);
    if (!g) {
        g = cJSON_AddObjectToObject(groups, name);
        cJSON_AddNumberToObject(g, "items", 0);
        cJSON_AddNumberToObject(g, "empty", 0);
        cJSON_AddNumberToObject(g, "chars", 0);
        cJSON_AddNumberToObject(g, "bytes", 0);
    }
    long c = utf8_chars(response);
    cJSON *f;
    cJSON_ArrayForEach(f, g) {
        double add = !strcmp(f->string, "items") ? 1 : !strcmp(f->string, "empty") ? (c == 0)
                   : !strcmp(f->string, "chars") ? (double)c : (double)strlen(response);
        cJSON_SetNumberValue(f, f->valuedouble + add);
    }
}

/* Turns the sums of chars and bytes into means. */
static void group_means(cJSON *groups) {
    cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        double n = cJSON_GetObjectItemCaseSensitive(g, "items")->valuedouble;
        cJSON *c = cJSON_GetObjectItemCaseSensitive(g, "chars"), *b = cJSON_GetObjectItemCaseSensitive(g, "bytes");
        cJSON_AddNumberToObject(g, "mean_chars", n ? c->valuedouble / n : 0);
        cJSON_AddNumberToObject(g, "mean_bytes", n ? b->valuedouble / n : 0);
        cJSON_DeleteItemFromObjectCaseSensitive(g, "chars");
        cJSON_DeleteItemFromObjectCaseSensitive(g, "bytes");
    }
}

cJSON *iopo_trace_report(const iopo_trace_set *s) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "data", s->path);
    cJSON_AddNumberToObject(r, "user_turns_differing_from_rebuilt", s->rebuilt_mismatch);
    cJSON *all = cJSON_AddObjectToObject(r, "all");
    cJSON *by_type = cJSON_AddObjectToObject(r, "per_constraint_type");
    cJSON *by_num = cJSON_AddObjectToObject(r, "per_constraints_num");
    for (int i = 0; i < s->n; i++) {
        const char *resp = s->items[i].response ? s->items[i].response : "";
        group_add(all, "items", resp);
        const cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(s->items[i].record, "levels2"))
            group_add(by_type, l->valuestring, resp);
        char k[32];
        snprintf(k, sizeof k, "%d", cJSON_GetObjectItemCaseSensitive(s->items[i].record, "constraints_num")->valueint);
        group_add(by_num, k, resp);
    }
    group_means(all), group_means(by_type), group_means(by_num);
    return r;
}

static void print_groups(FILE *out, const char *title, const cJSON *groups) {
    fprintf(out, "%-32s %6s %6s %11s %11s\n", title, "items", "empty", "mean chars", "mean bytes");
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        fprintf(out, "%-32s %6.0f %6.0f %11.1f %11.1f\n", g->string,
                cJSON_GetObjectItemCaseSensitive(g, "items")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(g, "empty")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(g, "mean_chars")->valuedouble,
                cJSON_GetObjectItemCaseSensitive(g, "mean_bytes")->valuedouble);
    }
}

void iopo_trace_print_report(const cJSON *r, FILE *out) {
    print_groups(out, "TRACE responses", cJSON_GetObjectItemCaseSensitive(r, "all"));
    fputc('\n', out);
    print_groups(out, "constraint type (levels2)", cJSON_GetObjectItemCaseSensitive(r, "per_constraint_type"));
    fputc('\n', out);
    print_groups(out, "constraints per item", cJSON_GetObjectItemCaseSensitive(r, "per_constraints_num"));
    const cJSON *mm = cJSON_GetObjectItemCaseSensitive(r, "user_turns_differing_from_rebuilt");
    if (mm && mm->valuedouble > 0)
        fprintf(out, "\nnote: %.0f user turns differ from the one the record's description/constraints/input build; "
                     "iopo used the messages as given\n", mm->valuedouble);
}
