/* The constraint library of `iopo data synth`: each constraint is an IFEval instruction id with the kwargs it drew,
 * its phrase in the instruction, and a transformer on the response plan that makes the response follow it or fail
 * it. Whether a response follows is never decided here: sy_con_follows asks IFEval's checker (include/iopo/ifeval.h).
 * Kinds are listed in IFEval's order. */
#include <stdio.h>
#include <string.h>

#include "data/synth_internal.h"
#include "iopo/ifeval.h"

enum {
    K_EXISTENCE, K_FREQUENCY, K_FORBIDDEN, K_SENTENCES, K_PARAGRAPHS, K_WORDS, K_NTH, K_PLACEHOLDERS, K_POSTSCRIPT,
    K_BULLETS, K_CONSTRAINED, K_HIGHLIGHTS, K_SECTIONS, K_JSON, K_TITLE, K_REPEAT, K_END, K_QUOTATION, K_CAPS_FREQ,
    K_CAPITAL, K_LOWER, K_NO_COMMA, K_COUNT
};

static const char *const IDS[K_COUNT] = {
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:repeat_prompt",
    "startend:end_checker",
    "startend:quotation",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
};

/* IFEval's kwargs values: the postscript markers as its input file writes them, and the rendered marker. */
static const char *const PS_MARKERS[2] = {"P.S.", "P.P.S"};
static const char *const PS_TEXT[2] = {"P.S.", "P.P.S."};
static const char *const SPLITERS[2] = {"Section", "SECTION"};
static const int WORDS_AT_LEAST[] = {20, 25, 30, 35, 40, 50};
static const int WORDS_LESS_THAN[] = {20, 25, 30, 40, 50, 60};

int sy_kind_count(void) { return K_COUNT; }
const char *sy_kind_id(int kind) { return kind >= 0 && kind < K_COUNT ? IDS[kind] : NULL; }

int sy_kind_of(const char *id) {
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(IDS[k], id) == 0) return k;
    return -1;
}

static int rnd(iopo_rng *r, int lo, int hi) { return lo + (int)(iopo_rng_u64(r) % (uint64_t)(hi - lo + 1)); }

static const char *rel_name(sy_relation rel) { return rel == SY_AT_LEAST ? "at least" : "less than"; }

static bool uses_word(const sy_con *c, const char *w) {
    for (int i = 0; i < c->nwords; i++)
        if (strcmp(c->words[i], w) == 0) return true;
    return false;
}

static bool is_layout(int k) { return k == K_BULLETS || k == K_SECTIONS || k == K_PARAGRAPHS || k == K_NTH; }

/* One direction of the pair rule; sy_con_compatible asks both. */
static bool conflicts(const sy_con *a, const sy_con *b) {
    int x = a->kind, y = b->kind;
    if (x == K_LOWER && y == K_CAPITAL) return true;
    if (is_layout(x) && is_layout(y)) return true;
    if (x == K_JSON && (is_layout(y) || y == K_TITLE || y == K_POSTSCRIPT || y == K_END || y == K_QUOTATION ||
                        y == K_REPEAT))
        return true;
    if (x == K_QUOTATION && (y == K_END || y == K_REPEAT)) return true;
    /* blank-line paragraphs: whatever else stands in a paragraph of its own would be counted */
    if (x == K_NTH && (y == K_TITLE || y == K_REPEAT || y == K_CONSTRAINED || y == K_POSTSCRIPT || y == K_END))
        return true;
    /* constrained_response and section headers are matched case-sensitively */
    if (x == K_CONSTRAINED && (y == K_LOWER || y == K_CAPITAL)) return true;
    if (x == K_SECTIONS && (y == K_LOWER || (y == K_CAPITAL && strcmp(SPLITERS[a->variant], "SECTION") != 0)))
        return true;
    if (x == K_CAPS_FREQ && ((y == K_LOWER && a->rel == SY_AT_LEAST) || (y == K_CAPITAL && a->rel == SY_LESS_THAN)))
        return true;
    for (int i = 0; i < a->nwords; i++)
        if ((x == K_EXISTENCE || x == K_FREQUENCY) && (y == K_EXISTENCE || y == K_FREQUENCY) &&
            uses_word(b, a->words[i]))
            return true;
    return false;
}

bool sy_con_compatible(const sy_con *a, const sy_con *b) {
    return a->kind != b->kind && !conflicts(a, b) && !conflicts(b, a);
}

static cJSON *build_kwargs(const sy_con *c, const sy_plan *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = true;
#define NUM(k, v) ok = ok && cJSON_AddNumberToObject(o, k, v)
#define STR(k, v) ok = ok && cJSON_AddStringToObject(o, k, v)
    switch (c->kind) {
    case K_EXISTENCE:
    case K_FORBIDDEN: {
        cJSON *a = cJSON_AddArrayToObject(o, c->kind == K_EXISTENCE ? "keywords" : "forbidden_words");
        ok = a != NULL;
        for (int i = 0; ok && i < c->nwords; i++) {
            cJSON *s = cJSON_CreateString(c->words[i]);
            ok = s && cJSON_AddItemToArray(a, s);
        }
        break;
    }
    case K_FREQUENCY:
        STR("keyword", c->words[0]);
        NUM("frequency", c->n);
        STR("relation", rel_name(c->rel));
        break;
    case K_SENTENCES:
        NUM("num_sentences", c->n);
        STR("relation", rel_name(c->rel));
        break;
    case K_PARAGRAPHS: NUM("num_paragraphs", c->n); break;
    case K_WORDS:
        NUM("num_words", c->n);
        STR("relation", rel_name(c->rel));
        break;
    case K_NTH: {
        char w[SY_WORD];
        snprintf(w, sizeof w, "%s", c->words[0]);
        for (char *s = w; *s; s++) *s = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
        NUM("num_paragraphs", c->n);
        NUM("nth_paragraph", c->variant);
        STR("first_word", w);
        break;
    }
    case K_PLACEHOLDERS: NUM("num_placeholders", c->n); break;
    case K_POSTSCRIPT: STR("postscript_marker", PS_MARKERS[c->variant]); break;
    case K_BULLETS: NUM("num_bullets", c->n); break;
    case K_HIGHLIGHTS: NUM("num_highlights", c->n); break;
    case K_SECTIONS:
        STR("section_spliter", SPLITERS[c->variant]);
        NUM("num_sections", c->n);
        break;
    case K_REPEAT: STR("prompt_to_repeat", p->task_text); break;
    case K_END: STR("end_phrase", sy_end_phrase(c->variant)); break;
    case K_CAPS_FREQ:
        NUM("capital_frequency", c->n);
        STR("capital_relation", rel_name(c->rel));
        break;
    default: break;
    }
#undef NUM
#undef STR
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool has_word(const char *s, const char *w) {
    size_t wl = strlen(w);
    for (const char *q = s; (q = strcasestr(q, w)); q++) {
        bool before = q == s || !((q[-1] >= 'a' && q[-1] <= 'z') || (q[-1] >= 'A' && q[-1] <= 'Z'));
        char a = q[wl];
        if (before && !((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z'))) return true;
    }
    return false;
}

bool sy_con_draw(sy_con *c, int kind, const sy_plan *p, const sy_con *others, int n, iopo_rng *r) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->rel = iopo_rng_u64(r) % 2 ? SY_LESS_THAN : SY_AT_LEAST;
    switch (kind) {
    case K_EXISTENCE:
    case K_FREQUENCY: {
        int want = kind == K_EXISTENCE ? rnd(r, 1, 2) : 1;
        for (int tries = 0; c->nwords < want && tries < 40; tries++) {
            const char *w = sy_keyword(rnd(r, 0, sy_keyword_count() - 1));
            bool taken = uses_word(c, w);
            for (int i = 0; i < n; i++) taken = taken || uses_word(&others[i], w);
            if (!taken) snprintf(c->words[c->nwords++], SY_WORD, "%s", w);
        }
        if (c->nwords < want) return false;
        if (kind == K_FREQUENCY) c->n = c->rel == SY_AT_LEAST ? rnd(r, 1, 3) : rnd(r, 2, 4);
        break;
    }
    case K_FORBIDDEN: {
        /* adjectives of the base answer that can be reworded */
        const char *cand[8];
        int nc = 0;
        const sy_topic *t = sy_topic_at(p->topic);
        for (int a = 0; a < 3; a++) {
            bool in = false;
            for (int s = 0; s < p->nsent; s++) in = in || has_word(p->pool[s], t->adjs[a]);
            if (in && sy_synonym(t->adjs[a]) && !has_word(p->task_text, t->adjs[a])) cand[nc++] = t->adjs[a];
        }
        if (!nc) return false;
        int want = rnd(r, 1, nc < 2 ? nc : 2), first = rnd(r, 0, nc - 1);
        for (int i = 0; i < want; i++) snprintf(c->words[c->nwords++], SY_WORD, "%s", cand[(first + i) % nc]);
        break;
    }
    case K_SENTENCES: c->n = c->rel == SY_AT_LEAST ? rnd(r, 2, 6) : rnd(r, 3, 7); break;
    case K_WORDS:
        c->n = c->rel == SY_AT_LEAST ? WORDS_AT_LEAST[rnd(r, 0, 5)] : WORDS_LESS_THAN[rnd(r, 0, 5)];
        break;
    case K_PARAGRAPHS: c->n = rnd(r, 2, 4); break;
    case K_NTH:
        c->n = rnd(r, 2, 4);
        c->variant = rnd(r, 1, c->n);
        snprintf(c->words[0], SY_WORD, "%s", sy_first_word(rnd(r, 0, sy_first_word_count() - 1)));
        c->nwords = 1;
        break;
    case K_PLACEHOLDERS: c->n = rnd(r, 1, 3); break;
    case K_POSTSCRIPT:
        c->variant = rnd(r, 0, 1);
        c->n = rnd(r, 0, sy_ps_count() - 1);
        break;
    case K_BULLETS: c->n = rnd(r, 2, 5); break;
    case K_CONSTRAINED:
        if (!p->question) return false;
        break;
    case K_HIGHLIGHTS: c->n = rnd(r, 1, 3); break;
    case K_SECTIONS:
        c->variant = rnd(r, 0, 1);
        c->n = rnd(r, 2, 4);
        break;
    case K_TITLE: c->variant = rnd(r, 0, sy_title_count() - 1); break;
    case K_END: c->variant = rnd(r, 0, sy_end_phrase_count() - 1); break;
    case K_CAPS_FREQ: c->n = c->rel == SY_AT_LEAST ? rnd(r, 1, 3) : rnd(r, 2, 4); break;
    case K_JSON:
    case K_REPEAT:
    case K_QUOTATION:
    case K_CAPITAL:
    case K_LOWER:
    case K_NO_COMMA: break;
    default: return false;
    }
    if (kind != K_FREQUENCY && kind != K_WORDS && kind != K_SENTENCES && kind != K_CAPS_FREQ) c->rel = SY_AT_LEAST;
    for (int i = 0; i < n; i++)
        if (!sy_con_compatible(c, &others[i])) return false;
    c->kwargs = build_kwargs(c, p);
    return c->kwargs != NULL;
}

void sy_con_free(sy_con *c) {
    cJSON_Delete(c->kwargs);
    c->kwargs = NULL;
}

bool sy_con_copy(sy_con *dst, const sy_con *src) {
    *dst = *src;
    dst->kwargs = src->kwargs ? cJSON_Duplicate(src->kwargs, true) : NULL;
    return !src->kwargs || dst->kwargs;
}

bool sy_con_equal(const sy_con *a, const sy_con *b) {
    if (a->kind != b->kind || a->n != b->n || a->rel != b->rel || a->nwords != b->nwords || a->variant != b->variant)
        return false;
    for (int i = 0; i < a->nwords; i++)
        if (strcmp(a->words[i], b->words[i]) != 0) return false;
    return true;
}

void sy_con_phrase(const sy_con *c, const sy_plan *p, char *b, size_t n) {
    (void)p;
    const char *lt = c->rel == SY_AT_LEAST ? "at least" : "fewer than";
    switch (c->kind) {
    case K_EXISTENCE:
        if (c->nwords == 1) snprintf(b, n, "Include the word %s.", c->words[0]);
        else snprintf(b, n, "Include the words %s and %s.", c->words[0], c->words[1]);
        break;
    case K_FREQUENCY:
        if (c->rel == SY_AT_LEAST && c->n == 1) snprintf(b, n, "Use the word %s at least once.", c->words[0]);
        else snprintf(b, n, "Use the word %s %s %d times.", c->words[0], lt, c->n);
        break;
    case K_FORBIDDEN:
        if (c->nwords == 1) snprintf(b, n, "Do not use the word %s.", c->words[0]);
        else snprintf(b, n, "Do not use the words %s or %s.", c->words[0], c->words[1]);
        break;
    case K_SENTENCES: snprintf(b, n, "Answer in %s %d sentences.", lt, c->n); break;
    case K_PARAGRAPHS: snprintf(b, n, "Write exactly %d paragraphs separated by ***.", c->n); break;
    case K_WORDS: snprintf(b, n, "Answer in %s %d words.", lt, c->n); break;
    case K_NTH:
        snprintf(b, n, "Write exactly %d paragraphs separated by blank lines, and start paragraph %d with the word %s.",
                 c->n, c->variant, c->words[0]);
        break;
    case K_PLACEHOLDERS:
        snprintf(b, n, "Include at least %d placeholder%s in square brackets, like [name].", c->n, c->n > 1 ? "s" : "");
        break;
    case K_POSTSCRIPT: snprintf(b, n, "End with a postscript that starts with %s", PS_TEXT[c->variant]); break;
    case K_BULLETS: snprintf(b, n, "Use exactly %d bullet points starting with *.", c->n); break;
    case K_CONSTRAINED:
        snprintf(b, n, "Answer with one of these: My answer is yes. My answer is no. My answer is maybe.");
        break;
    case K_HIGHLIGHTS:
        snprintf(b, n, "Highlight at least %d word%s with stars, like *word*.", c->n, c->n > 1 ? "s" : "");
        break;
    case K_SECTIONS:
        snprintf(b, n, "Split your answer into %d sections marked %s 1, %s 2 and so on.", c->n, SPLITERS[c->variant],
                 SPLITERS[c->variant]);
        break;
    case K_JSON: snprintf(b, n, "Wrap your whole answer in JSON."); break;
    case K_TITLE: snprintf(b, n, "Give your answer a title in double angular brackets, like <<title>>."); break;
    case K_REPEAT: snprintf(b, n, "Start by repeating the first sentence of this request word for word."); break;
    case K_END: snprintf(b, n, "End your answer with these exact words: %s", sy_end_phrase(c->variant)); break;
    case K_QUOTATION: snprintf(b, n, "Wrap your whole answer in double quotation marks."); break;
    case K_CAPS_FREQ:
        if (c->rel == SY_AT_LEAST && c->n == 1) snprintf(b, n, "Write at least one word in all capital letters.");
        else snprintf(b, n, "Write %s %d words in all capital letters.", lt, c->n);
        break;
    case K_CAPITAL: snprintf(b, n, "Write your whole answer in capital letters."); break;
    case K_LOWER: snprintf(b, n, "Write your whole answer in lowercase letters."); break;
    case K_NO_COMMA: snprintf(b, n, "Do not use any commas."); break;
    default: snprintf(b, n, "?"); break;
    }
}

static void mention(sy_plan *p, const char *w, int times) {
    for (int i = 0; i < times && p->nment < (int)(sizeof p->ment / sizeof p->ment[0]); i++)
        snprintf(p->ment[p->nment++], SY_WORD, "%s", w);
}

void sy_con_apply(const sy_con *c, sy_plan *p, bool sat) {
    /* a count the near miss misses by one */
    int miss = sat ? c->n : c->n - 1;
    switch (c->kind) {
    case K_EXISTENCE:
        for (int i = 0; i < c->nwords - !sat; i++) mention(p, c->words[i], 1);
        break;
    case K_FREQUENCY:
        if (c->rel == SY_AT_LEAST) mention(p, c->words[0], miss);
        else mention(p, c->words[0], sat ? c->n - 1 : c->n);
        break;
    case K_FORBIDDEN:
        for (int i = 0; sat && i < c->nwords && p->nforbid < 4; i++)
            snprintf(p->forbid[p->nforbid++], SY_WORD, "%s", c->words[i]);
        break;
    case K_PARAGRAPHS:
    case K_BULLETS:
    case K_SECTIONS:
        p->layout = c->kind == K_PARAGRAPHS ? SY_LAYOUT_PARAGRAPHS
                    : c->kind == K_BULLETS  ? SY_LAYOUT_BULLETS
                                            : SY_LAYOUT_SECTIONS;
        p->layout_n = miss;
        p->spliter = SPLITERS[c->variant];
        break;
    case K_NTH:
        p->layout = SY_LAYOUT_BLANKS;
        p->layout_n = c->n;
        p->nth = c->variant;
        p->first_word = sat ? c->words[0] : NULL;
        break;
    case K_PLACEHOLDERS: p->placeholders = miss; break;
    case K_HIGHLIGHTS: p->highlights = miss; break;
    case K_POSTSCRIPT:
        p->ps = sat ? c->n : -1;
        p->ps_marker = PS_TEXT[c->variant];
        break;
    case K_CONSTRAINED: p->answer = sat; break;
    case K_JSON: p->json = sat; break;
    case K_TITLE: p->title = sat ? c->variant : -1; break;
    case K_REPEAT: p->repeat = sat; break;
    case K_END: p->end_phrase = sat ? c->variant : -1; break;
    case K_QUOTATION: p->quote = sat; break;
    case K_CAPS_FREQ:
        if (c->rel == SY_AT_LEAST) p->caps_words = miss;
        else p->caps_words = sat ? 0 : c->n;
        break;
    case K_CAPITAL:
        if (sat) p->casing = SY_CASE_UPPER;
        break;
    case K_LOWER:
        if (sat) p->casing = SY_CASE_LOWER;
        break;
    case K_NO_COMMA:
        p->no_comma = sat;
        p->add_comma = !sat;
        break;
    default: break;
    }
}

int sy_con_repair(const sy_con *c, bool want_follow) {
    if (c->kind != K_WORDS && c->kind != K_SENTENCES) return 0;
    bool up = (c->rel == SY_AT_LEAST) == want_follow;
    return up ? 1 : -1;
}

int sy_con_follows(const sy_con *c, const char *prompt, const char *text, char *err, size_t errlen) {
    return iopo_ifeval_follows(IDS[c->kind], c->kwargs, prompt, text, false, err, errlen);
}
