/* YAML run configs to typed top-level keys (config_yaml.h), with libyaml's event parser. Plain scalars are typed as
 * PyYAML types them (YAML 1.1: yes/no/on/off are booleans too), except that a number written with an exponent and no
 * point (5e-6) is a number, as LLaMA-Factory's loader (OmegaConf) reads it; quoted and block scalars are strings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "train/config_yaml.h"

const char *cy_type_name(cy_type t) {
    switch (t) {
    case CY_NULL: return "null";
    case CY_BOOL: return "true or false";
    case CY_INT: return "an integer";
    case CY_FLOAT: return "a number";
    case CY_STR: return "a string";
    case CY_LIST: return "a list";
    case CY_MAP: return "a mapping";
    }
    return "?";
}

static bool one_of(const char *s, const char *const *words) {
    for (int i = 0; words[i]; i++)
        if (!strcmp(s, words[i])) return true;
    return false;
}

/* Digits with '_' separators between them (YAML 1.1), at least one digit; *p advances past them. */
static bool digits(const char **p, bool allow_sep) {
    const char *s = *p;
    if (*s < '0' || *s > '9') return false;
    while ((*s >= '0' && *s <= '9') || (allow_sep && *s == '_' && s[1] >= '0' && s[1] <= '9')) s++;
    *p = s;
    return true;
}

/* Decimal integers and floats of PyYAML's resolver (leading zeros excepted: 1.1 reads 010 as octal, so such a value
 * stays a string and a numeric key then refuses it instead of reading another number), and an exponent without a
 * point. */
static cy_type number_kind(const char *s) {
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return CY_FLOAT;
    if (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN"))) return CY_FLOAT;
    const char *start = p;
    bool int_part = digits(&p, true), frac = false, has_exp = false;
    if (int_part && start[0] == '0' && p - start > 1) return CY_STR;
    if (*p == '.') {
        p++;
        frac = true;
        const char *q = p;
        if (digits(&q, true)) p = q;
        else if (!int_part) return CY_STR;   /* "." alone */
    }
    if (!int_part && !frac) return CY_STR;
    if ((*p == 'e' || *p == 'E') && (int_part || p > start + 1)) {
        const char *q = p + 1;
        if (*q == '+' || *q == '-') q++;
        if (!digits(&q, false)) return CY_STR;
        p = q;
        has_exp = true;
    }
    if (*p) return CY_STR;
    return frac || has_exp ? CY_FLOAT : CY_INT;
}

static const char *const NULLS[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TRUES[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL};
static const char *const FALSES[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};

/* Fills e's type and value from a scalar's text; tag is its explicit tag (NULL: none), plain whether it was written
 * without quotes. false + why for a tag iopo does not know or a value that does not fit its tag. */
static bool resolve(cy_entry *e, const char *text, const char *tag, bool plain, char *why, size_t n) {
    const char *t = tag;
    if (t && !strncmp(t, "tag:yaml.org,2002:", 18)) t += 18;
    else if (t && !strcmp(t, "!")) t = "str";   /* the non-specific tag of a quoted scalar */
    else if (t) {
        snprintf(why, n, "the tag %.60s is not one iopo reads (!!str, !!int, !!float, !!bool, !!null)", tag);
        return false;
    }
    cy_type want, is = one_of(text, NULLS)                            ? CY_NULL
                       : one_of(text, TRUES) || one_of(text, FALSES) ? CY_BOOL
                                                                      : number_kind(text);
    if (!t) want = plain ? is : CY_STR;
    else if (!strcmp(t, "str")) want = CY_STR;
    else if (!strcmp(t, "null")) want = CY_NULL;
    else if (!strcmp(t, "bool")) want = CY_BOOL;
    else if (!strcmp(t, "int")) want = CY_INT;
    else if (!strcmp(t, "float")) want = CY_FLOAT;
    else {
        snprintf(why, n, "the tag !!%.40s is not one iopo reads (!!str, !!int, !!float, !!bool, !!null)", t);
        return false;
    }
    if (t) {   /* an explicit tag: the text must be of that kind */
        bool fits = want == CY_STR || is == want || (want == CY_FLOAT && is == CY_INT);
        if (!fits) {
            snprintf(why, n, "'%.40s' is not %s (its tag is !!%s)", text, cy_type_name(want), t);
            return false;
        }
    }
    e->type = want;
    size_t len = strlen(text);
    e->text = malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (!(want == CY_INT || want == CY_FLOAT) || text[i] != '_') e->text[k++] = text[i];
    e->text[k] = 0;
    if (want == CY_BOOL) e->b = one_of(text, TRUES);
    if (want == CY_INT || want == CY_FLOAT) {
        const char *p = e->text;
        bool neg = *p == '-';
        if (*p == '+' || *p == '-') p++;
        if (p[0] == '.' && (p[1] == 'i' || p[1] == 'I')) e->num = neg ? -HUGE_VAL : HUGE_VAL;
        else if (p[0] == '.' && (p[1] == 'n' || p[1] == 'N')) e->num = NAN;
        else e->num = strtod(e->text, NULL);
    }
    return true;
}

/* An anchored value, for aliases (*name) to it. */
typedef struct anchor {
    char *name;
    cy_entry value;   /* key unused */
} anchor;

typedef struct reader {
    const char *path;
    yaml_parser_t parser;
    cy_doc *doc;
    anchor *anchors;
    int nanchors;
    char *err;
    size_t errlen;
} reader;

static void add_anchor(reader *R, const char *name, const cy_entry *v) {
    R->anchors = realloc(R->anchors, (size_t)(R->nanchors + 1) * sizeof *R->anchors);
    anchor *a = &R->anchors[R->nanchors++];
    a->name = strdup(name);
    a->value = *v;
    a->value.key = NULL;
    a->value.text = strdup(v->text ? v->text : "");
}

static bool next(reader *R, yaml_event_t *ev) {
    if (yaml_parser_parse(&R->parser, ev)) return true;
    const yaml_parser_t *p = &R->parser;
    char ctx[160] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s at line %zu, column %zu)", p->context, p->context_mark.line + 1,
                 p->context_mark.column + 1);
    snprintf(R->err, R->errlen, "%s:%zu:%zu: invalid YAML: %s%s", R->path, p->problem_mark.line + 1,
             p->problem_mark.column + 1, p->problem ? p->problem : "parse error", ctx);
    return false;
}

/* Skips the rest of a list or mapping whose start event was just read (nested ones included). */
static bool skip_collection(reader *R) {
    int depth = 1;
    while (depth > 0) {
        yaml_event_t ev;
        if (!next(R, &ev)) return false;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) depth++;
        if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) depth--;
        yaml_event_delete(&ev);
    }
    return true;
}

static const anchor *find_anchor(const reader *R, const char *name) {
    for (int i = R->nanchors - 1; i >= 0; i--)   /* a redefined anchor: the latest */
        if (!strcmp(R->anchors[i].name, name)) return &R->anchors[i];
    return NULL;
}

/* The value of the key just read into e (its start event is ev). */
static bool read_value(reader *R, yaml_event_t *ev, cy_entry *e) {
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    char why[256];
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *text = (const char *)ev->data.scalar.value;
        if (strlen(text) != ev->data.scalar.length) {
            snprintf(R->err, R->errlen, "%s:%d:%d: the value of %s holds a NUL character", R->path, line, col, e->key);
            return false;
        }
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!resolve(e, text, (const char *)ev->data.scalar.tag, plain, why, sizeof why)) {
            snprintf(R->err, R->errlen, "%s:%d:%d: %s: %s", R->path, line, col, e->key, why);
            return false;
        }
        if (ev->data.scalar.anchor) add_anchor(R, (const char *)ev->data.scalar.anchor, e);
        return true;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        const anchor *a = find_anchor(R, (const char *)ev->data.alias.anchor);
        if (!a) {   /* libyaml reports undefined aliases only when composing documents, not as events */
            snprintf(R->err, R->errlen, "%s:%d:%d: %s: the alias *%.60s names no anchor before it", R->path, line, col,
                     e->key, (const char *)ev->data.alias.anchor);
            return false;
        }
        char *key = e->key;
        int kline = e->line;
        *e = a->value;
        e->key = key, e->line = kline;
        e->text = strdup(a->value.text);
        return true;
    }
    bool list = ev->type == YAML_SEQUENCE_START_EVENT;
    const yaml_char_t *anc = list ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    e->type = list ? CY_LIST : CY_MAP;
    e->text = strdup("");
    if (anc) add_anchor(R, (const char *)anc, e);
    return skip_collection(R);
}

static bool read_mapping(reader *R) {
    cy_doc *d = R->doc;
    for (;;) {
        yaml_event_t ev;
        if (!next(R, &ev)) return false;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        if (ev.type != YAML_SCALAR_EVENT || strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length ||
            !ev.data.scalar.length) {
            snprintf(R->err, R->errlen, "%s:%d:%d: a key must be a name (KEY: VALUE), not %s", R->path, line, col,
                     ev.type == YAML_SCALAR_EVENT ? "an empty or NUL-holding text"
                     : ev.type == YAML_ALIAS_EVENT ? "an alias" : "a list or mapping");
            yaml_event_delete(&ev);
            return false;
        }
        char *key = strdup((const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        for (int i = 0; i < d->n; i++)
            if (!strcmp(d->e[i].key, key)) {
                snprintf(R->err, R->errlen, "%s:%d:%d: %.100s is given twice (first at line %d)", R->path, line, col,
                         key, d->e[i].line);
                free(key);
                return false;
            }
        d->e = realloc(d->e, (size_t)(d->n + 1) * sizeof *d->e);
        cy_entry *e = &d->e[d->n++];
        memset(e, 0, sizeof *e);
        e->key = key;
        e->line = line;
        if (!next(R, &ev)) return false;
        bool ok = read_value(R, &ev, e);
        yaml_event_delete(&ev);
        if (!ok) return false;
    }
}

/* stream start, [document start, root, document end], stream end: the root must be a mapping (or nothing). */
static bool read_stream(reader *R) {
    yaml_event_t ev;
    bool have_doc = false;
    for (;;) {
        if (!next(R, &ev)) return false;
        yaml_event_type_t t = ev.type;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return true;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            if (have_doc) {
                snprintf(R->err, R->errlen, "%s:%d:%d: a second YAML document: a run config is one mapping of keys",
                         R->path, line, col);
                return false;
            }
            have_doc = true;
            continue;
        }
        if (t == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&ev);
            if (!read_mapping(R)) return false;
            continue;
        }
        if (t == YAML_SCALAR_EVENT && !ev.data.scalar.length && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            yaml_event_delete(&ev);   /* an empty document ("---" alone) */
            continue;
        }
        if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_ALIAS_EVENT) {
            snprintf(R->err, R->errlen, "%s:%d:%d: not a mapping of keys: a run config is KEY: VALUE lines, not %s",
                     R->path, line, col, t == YAML_SEQUENCE_START_EVENT ? "a list" : "a single value");
            yaml_event_delete(&ev);
            return false;
        }
        yaml_event_delete(&ev);   /* document end, stream start */
    }
}

bool cy_read(const char *path, const char *text, size_t len, cy_doc *doc, char *err, size_t errlen) {
    memset(doc, 0, sizeof *doc);
    reader R = {.path = path, .doc = doc, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&R.parser)) {
        snprintf(err, errlen, "%s: out of memory starting the YAML parser", path);
        return false;
    }
    yaml_parser_set_input_string(&R.parser, (const unsigned char *)text, len);
    bool ok = read_stream(&R);
    yaml_parser_delete(&R.parser);
    for (int i = 0; i < R.nanchors; i++) free(R.anchors[i].name), free(R.anchors[i].value.text);
    free(R.anchors);
    if (!ok) cy_free(doc);
    return ok;
}

void cy_free(cy_doc *doc) {
    for (int i = 0; i < doc->n; i++) free(doc->e[i].key), free(doc->e[i].text);
    free(doc->e);
    memset(doc, 0, sizeof *doc);
}
