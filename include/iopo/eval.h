/* Evaluation sets behind `iopo eval`: IFEval-format sets (IFEval's input_data.jsonl, and iopo-synth's files, which add
 * a "split"), scored with the checkers of include/iopo/ifeval.h; and the TRACE evaluation file, whose responses an
 * LLM judge scores (iopo writes them in the layout its scripts read and reports what it generated). */
#ifndef IOPO_EVAL_H
#define IOPO_EVAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct iopo_ifeval_item {
    int line;                   /* in the input file, from 1 */
    char *key_json;             /* "key" as JSON (IFEval: an integer), or NULL */
    char *prompt;
    int n;                      /* instructions */
    char **ids;                 /* (n) instruction ids */
    cJSON *kwargs;              /* array of n objects (owned) */
    char *split;                /* iopo-synth: "in_domain" | "held_out"; NULL in IFEval's file */
    char *response;             /* UTF-8, NUL-terminated; NULL until attached or generated */
    bool *strict, *loose;       /* (n) per instruction, after scoring */
} iopo_ifeval_item;

typedef struct iopo_ifeval_set {
    char *path;
    iopo_ifeval_item *items;
    int n;
} iopo_ifeval_set;

/* Reads an IFEval-format JSONL file: one {"key"?, "prompt", "instruction_id_list", "kwargs", "split"?} per line;
 * every id known and every kwargs valid (iopo_ifeval_validate), kwargs one object per id. false + "FILE:LINE: ...". */
bool iopo_ifeval_set_load(iopo_ifeval_set *s, const char *path, char *err, size_t errlen);
void iopo_ifeval_set_free(iopo_ifeval_set *s);
/* Keeps the first n items (--limit). */
void iopo_ifeval_set_keep(iopo_ifeval_set *s, int n);

/* Attaches responses from a JSONL of {"key" | "prompt", "response"} (IFEval's input_response_data.jsonl, or
 * `iopo generate --out`): matched by key where the line has one, else by prompt text. Every item needs one; a
 * response line matching no item, or two lines for one item, is an error naming the line. */
bool iopo_ifeval_set_attach_responses(iopo_ifeval_set *s, const char *path, char *err, size_t errlen);

/* Checks every instruction of every item, strict and loose (items must have responses). */
bool iopo_ifeval_set_score(iopo_ifeval_set *s, char *err, size_t errlen);

/* The summary: prompt-level and instruction-level accuracy, strict and loose, a per-instruction-type table and, where
 * items carry a split, the same per split and per IF-S (one instruction) / IF-M (several). */
cJSON *iopo_ifeval_report(const iopo_ifeval_set *s);
/* Prints the report as tables. */
void iopo_ifeval_print_report(const cJSON *report, FILE *out);

/* IFEval's own output files in dir: eval_results_strict.jsonl and eval_results_loose.jsonl, one line per prompt
 * ({"instruction_id_list", "prompt", "response", "follow_all_instructions", "follow_instruction_list"}), each
 * written atomically. */
bool iopo_ifeval_write_results(const iopo_ifeval_set *s, const char *dir, char *err, size_t errlen);

/* TRACE (REFERENCE.md §2): 202409_trace_evaluation.jsonl as released. */
typedef struct iopo_trace_item {
    int line;
    cJSON *record;   /* the whole record, as read (owned) */
    const char *system, *user;   /* from its "messages" */
    char *response;
} iopo_trace_item;

typedef struct iopo_trace_set {
    char *path;
    iopo_trace_item *items;
    int n;
    int rebuilt_mismatch;   /* items whose user turn differs from the one the release's fields build */
} iopo_trace_set;

/* Reads the file; every record needs "id", "messages" (an optional system turn, then one user turn), "description",
 * "constraints", "input", "constraints_num" and "levels2". false + "FILE:LINE: ..." otherwise. */
bool iopo_trace_set_load(iopo_trace_set *s, const char *path, char *err, size_t errlen);
void iopo_trace_set_free(iopo_trace_set *s);
void iopo_trace_set_keep(iopo_trace_set *s, int n);
/* Attaches responses from a JSONL of {"id" | "prompt", "response"}. */
bool iopo_trace_set_attach_responses(iopo_trace_set *s, const char *path, char *err, size_t errlen);
/* Writes FILE: one line per item, the record as read plus the fields the judge scripts read (QAPrediction's
 * "question", "answer", "generated"), atomically. */
bool iopo_trace_write_predictions(const iopo_trace_set *s, const char *path, char *err, size_t errlen);
/* Items generated and response lengths (characters and UTF-8 bytes), per constraint type (levels2) and per
 * constraints count; no score: TRACE's score is the judge's. */
cJSON *iopo_trace_report(const iopo_trace_set *s);
void iopo_trace_print_report(const cJSON *report, FILE *out);

#endif
