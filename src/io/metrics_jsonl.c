/* metrics.jsonl (one JSON object per logged step) read into per-key series for plotting. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/plot.h"

static bool is_delim(char c) {
    return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == '\r' || c == 0;
}

/* Length of a non-finite number token at s (nan, NaN, -nan, inf, -Infinity, ...), or 0. */
static size_t nonfinite_token(const char *s, const char *end) {
    const char *p = s;
    if (p < end && (*p == '-' || *p == '+')) p++;
    static const char *const words[] = {"infinity", "nan", "inf"};
    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if ((size_t)(end - p) < n || strncasecmp(p, words[w], n) != 0) continue;
        if (p + n < end && !is_delim(p[n])) continue;
        return (size_t)(p + n - s);
    }
    return 0;
}

/* A copy of line[0..len) with every non-finite number token outside strings replaced by null: Python's json writes
 * NaN and Infinity and C's printf nan and inf, neither of which is JSON, so cJSON would refuse the whole record. */
static char *replace_nonfinite(const char *line, size_t len, size_t *outlen) {
    char *out = malloc(2 * len + 1);   /* the shortest token (3 bytes) becomes 4 */
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < len;) {
        char c = line[i];
        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len) out[o++] = line[++i];
            else if (c == '"') in_string = false;
            i++;
            continue;
        }
        if (c == '"') in_string = true;
        size_t t = (i == 0 || is_delim(line[i - 1]) || line[i - 1] == '[') ? nonfinite_token(line + i, line + len) : 0;
        if (t) {
            memcpy(out + o, "null", 4);
            o += 4;
            i += t;
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

static iopo_metric_series *series_for(iopo_metrics_run *run, const char *key) {
    for (int i = 0; i < run->nseries; i++)
        if (!strcmp(run->series[i].key, key)) return &run->series[i];
    if (run->nseries == run->cap) {
        run->cap = run->cap ? 2 * run->cap : 16;
        run->series = realloc(run->series, (size_t)run->cap * sizeof *run->series);
    }
    iopo_metric_series *s = &run->series[run->nseries++];
    memset(s, 0, sizeof *s);
    s->key = strdup(key);
    return s;
}

static void series_add(iopo_metric_series *s, double step, double value) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->step = realloc(s->step, (size_t)s->cap * sizeof *s->step);
        s->value = realloc(s->value, (size_t)s->cap * sizeof *s->value);
    }
    s->step[s->n] = step;
    s->value[s->n++] = value;
}

typedef struct point {
    double step, value;
    int order;
} point;

static int by_step(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->step != q->step) return p->step < q->step ? -1 : 1;
    return p->order - q->order;   /* equal steps keep their file order: the same file gives the same picture */
}

static void sort_series(iopo_metric_series *s) {
    bool sorted = true;
    for (int i = 1; i < s->n && sorted; i++) sorted = s->step[i - 1] <= s->step[i];
    if (sorted) return;
    point *p = malloc((size_t)s->n * sizeof *p);
    for (int i = 0; i < s->n; i++) p[i] = (point){s->step[i], s->value[i], i};
    qsort(p, (size_t)s->n, sizeof *p, by_step);
    for (int i = 0; i < s->n; i++) s->step[i] = p[i].step, s->value[i] = p[i].value;
    free(p);
}

void iopo_metrics_run_free(iopo_metrics_run *run) {
    for (int i = 0; i < run->nseries; i++) {
        free(run->series[i].key);
        free(run->series[i].step);
        free(run->series[i].value);
    }
    free(run->series);
    memset(run, 0, sizeof *run);
}

const iopo_metric_series *iopo_metrics_find(const iopo_metrics_run *run, const char *key) {
    for (int i = 0; i < run->nseries; i++)
        if (!strcmp(run->series[i].key, key) && run->series[i].n > 0) return &run->series[i];
    return NULL;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

bool iopo_metrics_read(const char *path, iopo_metrics_run *run, char *err, size_t errlen) {
    memset(run, 0, sizeof *run);
    size_t len;
    char *text = iopo_read_file(path, &len, err, errlen);
    if (!text) return false;
    bool ok = true;
    long points = 0;
    int lineno = 0;
    for (char *line = text, *next; ok && line < text + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        next = nl ? nl + 1 : text + len;
        size_t n = (size_t)((nl ? nl : text + len) - line);
        lineno++;
        if (blank(line, n)) continue;
        size_t clen;
        char *clean = replace_nonfinite(line, n, &clen);
        cJSON *rec = cJSON_ParseWithLength(clean, clen);
        free(clean);
        if (!cJSON_IsObject(rec)) {
            cJSON_Delete(rec);
            if (!nl) break;   /* the last line, cut short while it was written */
            snprintf(err, errlen, "%s:%d: not a JSON object", path, lineno);
            ok = false;
            break;
        }
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "step");
        if (!cJSON_IsNumber(st) || !isfinite(st->valuedouble)) {
            snprintf(err, errlen, "%s:%d: no numeric \"step\"", path, lineno);
            cJSON_Delete(rec);
            ok = false;
            break;
        }
        run->records++;
        for (const cJSON *v = rec->child; v; v = v->next) {
            if (!v->string || !strcmp(v->string, "step") || !cJSON_IsNumber(v) || !isfinite(v->valuedouble)) continue;
            series_add(series_for(run, v->string), st->valuedouble, v->valuedouble);
            points++;
        }
        cJSON_Delete(rec);
    }
    free(text);
    if (ok && points == 0) {
        snprintf(err, errlen, "%s: no numeric records (%d record%s, none with a finite value besides \"step\")", path,
                 run->records, run->records == 1 ? "" : "s");
        ok = false;
    }
    if (!ok) {
        iopo_metrics_run_free(run);
        return false;
    }
    for (int i = 0; i < run->nseries; i++) sort_series(&run->series[i]);
    return true;
}
