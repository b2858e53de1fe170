/* Internals of `iopo data synth` (include/iopo/synth.h): the task bank (synth_bank.c), the response plan and its
 * rendering (synth_render.c), the constraint library (synth_constraints.c) and the generator (synth.c). */
#ifndef IOPO_SYNTH_INTERNAL_H
#define IOPO_SYNTH_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/rng.h"

/* ---- task bank ---------------------------------------------------------------------------------------------- */

typedef struct sy_topic {
    const char *name;          /* as it stands inside a sentence: "the sea" */
    const char *nouns[3];      /* plural nouns of the topic */
    const char *adjs[3];       /* adjectives, each from the synonym table */
} sy_topic;

int sy_topic_count(void);
const sy_topic *sy_topic_at(int i);
/* Synonym of an adjective of the table (what keywords:forbidden_words replaces it with); NULL if it has none. */
const char *sy_synonym(const char *word);
int sy_task_count(void);
/* The task sentence for a topic; *question: a yes/no question (detectable_format:constrained_response fits it). */
void sy_task_text(int task, const sy_topic *t, char *buf, size_t n, bool *question);
int sy_template_count(void);
/* Template i filled for topic t with nouns/adjectives picked by r; first letter capitalised. */
void sy_fill_template(int i, const sy_topic *t, iopo_rng *r, char *buf, size_t n);
int sy_keyword_count(void);
const char *sy_keyword(int i);
/* The k-th sentence that mentions keyword w (k cycles through a few templates). */
void sy_mention(const char *w, int k, char *buf, size_t n);
int sy_placeholder_count(void);
const char *sy_placeholder_sentence(int i);
int sy_end_phrase_count(void);
const char *sy_end_phrase(int i);
int sy_ps_count(void);
void sy_ps_sentence(int i, const sy_topic *t, char *buf, size_t n);
int sy_title_count(void);
void sy_title(int i, const sy_topic *t, char *buf, size_t n);
/* "My answer is yes." / no / maybe: IFEval's constrained_response options. */
const char *sy_answer(int i);
int sy_first_word_count(void);
const char *sy_first_word(int i);   /* capitalised: "Today" */

/* ---- response plan -------------------------------------------------------------------------------------------- */

#define SY_POOL 16            /* content sentences an item can use: its base answer, then the fillers in order */
#define SY_SENT 192
#define SY_WORD 32
#define SY_TEXT 4096

/* PARAGRAPHS: parts joined by ***; BLANKS: parts joined by blank lines (nth_paragraph_first_word) */
enum { SY_LAYOUT_PLAIN, SY_LAYOUT_BULLETS, SY_LAYOUT_SECTIONS, SY_LAYOUT_PARAGRAPHS, SY_LAYOUT_BLANKS };
enum { SY_CASE_NONE, SY_CASE_LOWER, SY_CASE_UPPER };

/* What a response is made of; a constraint's transformer sets fields, sy_render turns the plan into text. */
typedef struct sy_plan {
    int topic, task;
    bool question;
    char task_text[SY_SENT];
    int npool, nsent;                   /* content = pool[0..nsent); nsent grows into the fillers, shrinks to >= 1 */
    char pool[SY_POOL][SY_SENT];
    int answer_variant;                 /* which constrained-response answer the item gives */
    /* set by the constraints */
    int layout, layout_n;
    const char *spliter;
    int nth;                            /* BLANKS: this part (1-based) opens with first_word, if set */
    const char *first_word;
    int title;                          /* -1 none, else title variant */
    bool json, quote, repeat, answer, no_comma, add_comma;
    int ps;                             /* -1 none, else postscript sentence variant */
    const char *ps_marker;              /* "P.S." or "P.P.S." */
    int end_phrase;                     /* -1 none */
    int casing;
    int caps_words, highlights, placeholders;
    int nment;                          /* keyword mentions: one sentence each, after the content */
    char ment[8][SY_WORD];
    int nforbid;                        /* words replaced by their synonyms */
    char forbid[4][SY_WORD];
} sy_plan;

/* Builds a base plan: topic, task and a shuffled pool of template sentences, 3..5 of them in the base answer. */
void sy_plan_base(sy_plan *p, iopo_rng *r);
/* The response text; false when the plan cannot be laid out (*more: it needs more content sentences). */
bool sy_render(const sy_plan *p, char *out, size_t n, bool *more);
/* The instruction text: the task, then each constraint's phrase. */

/* ---- constraint library -------------------------------------------------------------------------------------- */

typedef enum { SY_AT_LEAST, SY_LESS_THAN } sy_relation;

typedef struct sy_con {
    int kind;                  /* index into the library */
    int n;                     /* the count the kind takes (words, sentences, bullets, ...) */
    sy_relation rel;
    int nwords;
    char words[2][SY_WORD];    /* keywords, forbidden words */
    int variant;               /* marker, spliter, end phrase, postscript or title variant */
    cJSON *kwargs;             /* IFEval's kwargs for the id, built by sy_con_finish */
} sy_con;

int sy_kind_count(void);
const char *sy_kind_id(int kind);
int sy_kind_of(const char *ifeval_id);
/* Draws a constraint of `kind` for plan p (its kwargs may depend on the base answer, e.g. forbidden words it uses),
 * compatible with the n others; false when the kind cannot apply here. c->kwargs is built. */
bool sy_con_draw(sy_con *c, int kind, const sy_plan *p, const sy_con *others, int n, iopo_rng *r);
void sy_con_free(sy_con *c);
bool sy_con_copy(sy_con *dst, const sy_con *src);
bool sy_con_equal(const sy_con *a, const sy_con *b);
/* Whether a and b can stand in one instruction (one casing, one layout, no JSON around a title, ...). */
bool sy_con_compatible(const sy_con *a, const sy_con *b);
/* The constraint's sentence in the instruction. */
void sy_con_phrase(const sy_con *c, const sy_plan *p, char *buf, size_t n);
/* The transformer: sets the plan so the response follows c (satisfy) or fails it (violate). */
void sy_con_apply(const sy_con *c, sy_plan *p, bool satisfy);
/* When a rendered response does not yet give c's wanted result: +1 if more content sentences would help, -1 if
 * fewer would, 0 if neither can. */
int sy_con_repair(const sy_con *c, bool want_follow);

/* Checks text against c with the IFEval checker (strict): 1 follows, 0 does not, -1 an error in err. */
int sy_con_follows(const sy_con *c, const char *prompt_to_repeat, const char *text, char *err, size_t errlen);

#endif
