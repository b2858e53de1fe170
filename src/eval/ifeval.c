/* IFEval's instruction table (the ids and keyword arguments of instructions_registry.py and input_data.jsonl), the
 * validation of an instruction's kwargs, and the strict and loose evaluation of a response (evaluation_lib.py): a
 * blank response follows nothing; loose also tries the response without its first line, its last line, both, and
 * each of the four with every '*' removed. */
#include "iopo/ifeval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ifeval_internal.h"
#include "eval/ifeval_text.h"

typedef enum {
    K_COUNT,    /* an integer >= 0: the threshold or count */
    K_NTH,      /* nth_paragraph: 1..num_paragraphs */
    K_RELATION, /* "less than" or "at least" */
    K_STRING,   /* a non-blank string, used as is */
    K_STRIPPED, /* a non-blank string, used without surrounding whitespace (IFEval strips it) */
    K_LIST,     /* a non-empty array of non-blank strings */
    K_LETTER,   /* one character, not whitespace */
    K_LANGUAGE, /* an ISO 639-1 code of IFEval's languages */
} key_kind;

typedef struct {
    const char *name;
    key_kind kind;
} key_spec;

typedef struct {
    const char *id;
    ifv_check_fn check;
    key_spec keys[3];
} instruction;

static const instruction TABLE[] = {
    {"keywords:existence", ifv_keywords_existence, {{"keywords", K_LIST}}},
    {"keywords:frequency",
     ifv_keywords_frequency,
     {{"keyword", K_STRIPPED}, {"frequency", K_COUNT}, {"relation", K_RELATION}}},
    {"keywords:forbidden_words", ifv_forbidden_words, {{"forbidden_words", K_LIST}}},
    {"keywords:letter_frequency",
     ifv_letter_frequency,
     {{"letter", K_LETTER}, {"let_frequency", K_COUNT}, {"let_relation", K_RELATION}}},
    {"language:response_language", ifv_response_language, {{"language", K_LANGUAGE}}},
    {"length_constraints:number_sentences",
     ifv_number_sentences,
     {{"num_sentences", K_COUNT}, {"relation", K_RELATION}}},
    {"length_constraints:number_paragraphs", ifv_number_paragraphs, {{"num_paragraphs", K_COUNT}}},
    {"length_constraints:number_words", ifv_number_words, {{"num_words", K_COUNT}, {"relation", K_RELATION}}},
    {"length_constraints:nth_paragraph_first_word",
     ifv_nth_paragraph_first_word,
     {{"num_paragraphs", K_COUNT}, {"nth_paragraph", K_NTH}, {"first_word", K_STRING}}},
    {"detectable_content:number_placeholders", ifv_number_placeholders, {{"num_placeholders", K_COUNT}}},
    {"detectable_content:postscript", ifv_postscript, {{"postscript_marker", K_STRIPPED}}},
    {"detectable_format:number_bullet_lists", ifv_number_bullet_lists, {{"num_bullets", K_COUNT}}},
    {"detectable_format:constrained_response", ifv_constrained_response, {{0}}},
    {"detectable_format:number_highlighted_sections",
     ifv_number_highlighted_sections,
     {{"num_highlights", K_COUNT}}},
    {"detectable_format:multiple_sections",
     ifv_multiple_sections,
     {{"section_spliter", K_STRIPPED}, {"num_sections", K_COUNT}}},
    {"detectable_format:json_format", ifv_json_format, {{0}}},
    {"detectable_format:title", ifv_title, {{0}}},
    {"combination:two_responses", ifv_two_responses, {{0}}},
    {"combination:repeat_prompt", ifv_repeat_prompt, {{"prompt_to_repeat", K_STRIPPED}}},
    {"startend:end_checker", ifv_end_checker, {{"end_phrase", K_STRIPPED}}},
    {"change_case:capital_word_frequency",
     ifv_capital_word_frequency,
     {{"capital_frequency", K_COUNT}, {"capital_relation", K_RELATION}}},
    {"change_case:english_capital", ifv_english_capital, {{0}}},
    {"change_case:english_lowercase", ifv_english_lowercase, {{0}}},
    {"punctuation:no_comma", ifv_no_comma, {{0}}},
    {"startend:quotation", ifv_quotation, {{0}}},
};
enum { COUNT = sizeof TABLE / sizeof TABLE[0], MAX_COUNT = 1000000000 };

int iopo_ifeval_count(void) { return COUNT; }

const char *iopo_ifeval_id(int i) { return i >= 0 && i < COUNT ? TABLE[i].id : NULL; }

int iopo_ifeval_index(const char *instruction_id) {
    if (!instruction_id) return -1;
    for (int i = 0; i < COUNT; i++)
        if (!strcmp(TABLE[i].id, instruction_id)) return i;
    return -1;
}

/* s for a one-line message: control characters (and every byte of invalid UTF-8) as \xNN, at most 60 bytes. */
static const char *shown(const char *s, char *buf, size_t cap) {
    bool utf8 = ifv_utf8_valid(s, strlen(s));
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 8 < cap; p++) {
        if (k >= 60) {
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        if (*p < 0x20 || *p == 0x7F || (*p >= 0x80 && !utf8)) k += (size_t)snprintf(buf + k, cap - k, "\\x%02X", *p);
        else buf[k++] = (char)*p;
    }
    buf[k] = 0;
    return buf;
}

static bool fail(char *err, size_t errlen, const char *fmt, const char *id, const char *key, const char *detail) {
    char a[128], b[128];
    if (errlen) snprintf(err, errlen, fmt, id, shown(key, a, sizeof a), detail ? shown(detail, b, sizeof b) : "");
    return false;
}

static bool nonblank_string(const cJSON *v, const char **s, size_t *n, bool strip) {
    if (!cJSON_IsString(v) || !v->valuestring) return false;
    const char *p = v->valuestring;
    size_t len = strlen(p), m = len;
    if (!ifv_utf8_valid(p, len)) return false;
    ifv_strip(&p, &m);
    if (m == 0) return false;
    if (!strip) p = v->valuestring, m = len;
    *s = p;
    *n = m;
    return true;
}

static bool read_key(const char *id, const key_spec *k, const cJSON *v, ifv_args *a, char *err, size_t errlen) {
    const char *s;
    size_t n;
    switch (k->kind) {
    case K_COUNT:
    case K_NTH:
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= MAX_COUNT) ||
            v->valuedouble != (double)(long)v->valuedouble)
            return fail(err, errlen, "%s: \"%s\" must be an integer in [0, 1000000000]%s", id, k->name, NULL);
        *(k->kind == K_NTH ? &a->nth : &a->num) = (long)v->valuedouble;
        return true;
    case K_RELATION:
        if (!cJSON_IsString(v) || !v->valuestring)
            return fail(err, errlen, "%s: \"%s\" must be the string \"less than\" or \"at least\"%s", id, k->name, NULL);
        if (strcmp(v->valuestring, "less than") && strcmp(v->valuestring, "at least"))
            return fail(err, errlen, "%s: \"%s\" must be \"less than\" or \"at least\", not \"%s\"", id, k->name,
                        v->valuestring);
        a->less = !strcmp(v->valuestring, "less than");
        return true;
    case K_STRING:
    case K_STRIPPED:
        if (!nonblank_string(v, &s, &n, k->kind == K_STRIPPED))
            return fail(err, errlen, "%s: \"%s\" must be a non-blank UTF-8 string%s", id, k->name, NULL);
        a->str = s;
        a->str_len = n;
        return true;
    case K_LIST: {
        bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) ok = ok && nonblank_string(e, &s, &n, false);
        if (!ok) return fail(err, errlen, "%s: \"%s\" must be a non-empty list of non-blank UTF-8 strings%s", id,
                             k->name, NULL);
        a->list = v;
        return true;
    }
    case K_LETTER: {
        size_t i = 0;
        bool ok = cJSON_IsString(v) && v->valuestring && (n = strlen(v->valuestring)) > 0 &&
                  ifv_utf8_valid(v->valuestring, n) && ifv_length(v->valuestring, n) == 1 &&
                  !ifv_is_space(ifv_decode(v->valuestring, n, &i));
        if (!ok) return fail(err, errlen, "%s: \"%s\" must be one character, not whitespace%s", id, k->name, NULL);
        a->str = v->valuestring;
        a->str_len = n;
        return true;
    }
    case K_LANGUAGE:
        if (!cJSON_IsString(v) || !v->valuestring)
            return fail(err, errlen, "%s: \"%s\" must be a string, a language code such as \"de\"%s", id, k->name, NULL);
        if (!ifv_language_known(v->valuestring))
            return fail(err, errlen,
                        "%s: \"%s\" is \"%s\", not one of IFEval's language codes (en es pt ar hi fr ru de ja it "
                        "bn uk th ur ta te bg ko pl he fa vi ne sw kn mr gu pa ml fi)",
                        id, k->name, v->valuestring);
        a->str = v->valuestring;
        a->str_len = strlen(v->valuestring);
        return true;
    }
    return false;
}

/* Reads kwargs into *a: every key known to the instruction, every key of the instruction present (null = absent). */
static bool parse(int idx, const cJSON *kwargs, ifv_args *a, char *err, size_t errlen) {
    const instruction *in = &TABLE[idx];
    memset(a, 0, sizeof *a);
    if (kwargs && !cJSON_IsObject(kwargs) && !cJSON_IsNull(kwargs))
        return fail(err, errlen, "%s: the kwargs must be a JSON object%s%s", in->id, "", NULL);
    bool seen[3] = {false, false, false};
    const cJSON *v;
    if (kwargs && cJSON_IsObject(kwargs)) {
        cJSON_ArrayForEach(v, kwargs) {
            if (cJSON_IsNull(v)) continue;
            int k = 0;
            while (k < 3 && in->keys[k].name && strcmp(in->keys[k].name, v->string ? v->string : "")) k++;
            if (k == 3 || !in->keys[k].name) {
                char names[160] = "";
                for (int j = 0; j < 3 && in->keys[j].name; j++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "",
                             in->keys[j].name);
                return fail(err, errlen, names[0] ? "%s: unknown key \"%s\" (it takes %s)" : "%s: unknown key \"%s\" "
                                                                                            "(it takes none)%s",
                            in->id, v->string ? v->string : "", names);
            }
            if (seen[k]) return fail(err, errlen, "%s: \"%s\" is given twice%s", in->id, in->keys[k].name, NULL);
            seen[k] = true;
            if (!read_key(in->id, &in->keys[k], v, a, err, errlen)) return false;
        }
    }
    for (int k = 0; k < 3 && in->keys[k].name; k++)
        if (!seen[k]) return fail(err, errlen, "%s: missing key \"%s\"%s", in->id, in->keys[k].name, NULL);
    if (in->check == ifv_nth_paragraph_first_word && (a->nth < 1 || a->nth > a->num))
        return fail(err, errlen, "%s: \"%s\" must be in [1, num_paragraphs]%s", in->id, "nth_paragraph", NULL);
    return true;
}

static bool unknown_id(const char *id, char *err, size_t errlen) {
    char b[128];
    if (errlen) snprintf(err, errlen, "unknown IFEval instruction id \"%s\"", id ? shown(id, b, sizeof b) : "(null)");
    return false;
}

bool iopo_ifeval_validate(const char *instruction_id, const cJSON *kwargs, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    int idx = iopo_ifeval_index(instruction_id);
    if (idx < 0) return unknown_id(instruction_id, err, errlen);
    ifv_args a;
    return parse(idx, kwargs, &a, err, errlen);
}

/* One variant: blank text follows nothing (evaluation_lib's `response.strip() and ...`). */
static int run(const instruction *in, const ifv_args *a, const char *s, size_t n) {
    const char *t = s;
    size_t m = n;
    ifv_strip(&t, &m);
    return m == 0 ? 0 : in->check(a, s, n);
}

static size_t without_stars(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '*') out[k++] = s[i];
    return k;
}

int iopo_ifeval_follows(const char *instruction_id, const cJSON *kwargs, const char *prompt, const char *response,
                        bool loose, char *err, size_t errlen) {
    (void)prompt; /* combination:repeat_prompt reads prompt_to_repeat, as IFEval does */
    if (errlen) err[0] = 0;
    int idx = iopo_ifeval_index(instruction_id);
    if (idx < 0) {
        unknown_id(instruction_id, err, errlen);
        return -1;
    }
    ifv_args a;
    if (!parse(idx, kwargs, &a, err, errlen)) return -1;
    const instruction *in = &TABLE[idx];
    const char *s = response ? response : "";
    size_t n = strlen(s);
    int r = run(in, &a, s, n);
    if (r != 0 || !loose) goto done;

    /* response.split("\n"): without the first part, without the last, without both; each stripped */
    const char *nl1 = memchr(s, '\n', n), *nl2 = nl1 ? memrchr(s, '\n', n) : NULL;
    const char *vs[4] = {s, nl1 ? nl1 + 1 : s, s, nl2 > nl1 ? nl1 + 1 : s};
    size_t vn[4] = {n, nl1 ? n - (size_t)(nl1 + 1 - s) : 0, nl2 ? (size_t)(nl2 - s) : 0,
                    nl2 > nl1 ? (size_t)(nl2 - nl1 - 1) : 0};
    for (int v = 1; v < 4; v++) ifv_strip(&vs[v], &vn[v]);
    char *buf = malloc(n + 1);
    if (!buf) {
        r = -1;
        goto done;
    }
    /* IFEval's order: response, response without '*', then the three cut ones, then those without '*' */
    r = run(in, &a, buf, without_stars(vs[0], vn[0], buf));
    for (int v = 1; v < 4 && r == 0; v++) r = run(in, &a, vs[v], vn[v]);
    for (int v = 1; v < 4 && r == 0; v++) r = run(in, &a, buf, without_stars(vs[v], vn[v], buf));
    free(buf);
done:
    if (r < 0 && errlen) snprintf(err, errlen, "%s: out of memory", in->id);
    return r;
}
