/* Private pieces of the preference-data loader (prefdata.c): the record formats (prefdata_formats.c) turn a JSON
 * record into prompts and responses, still text or already ids; the templates (prefdata_template.c) turn text into
 * ids. Strings are borrowed from the cJSON tree except those listed in pd_item.owned. */
#ifndef IOPO_PREFDATA_INTERNAL_H
#define IOPO_PREFDATA_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/tokenizer.h"

typedef enum {
    PD_IOPO_SHAREGPT,
    PD_DPO_TRL,
    PD_DPO_TRL_MESSAGES,
    PD_DPO_ALPACA,
    PD_DPO_SHAREGPT,
    PD_SFT_MESSAGES,
    PD_SFT_SHAREGPT,
    PD_SFT_ALPACA,
    PD_SFT_IDS,
    PD_DPO_IDS,
    PD_IOPO_IDS,
} pd_format;

/* What a format's records hold, in sequences of the matching objective: 1 (SFT), 2 (DPO), 4 (IOPO). */
typedef enum { PD_KIND_SFT = 1, PD_KIND_DPO = 2, PD_KIND_IOPO = 4 } pd_kind;

typedef struct pd_format_info {
    const char *name; /* for the format line, e.g. "dpo trl messages" */
    pd_kind kind;
    bool tokenized; /* ids in the file: no tokenizer, no template */
} pd_format_info;

const pd_format_info *pd_format_get(pd_format f);

/* The first record decides the format of the whole file. false + a reason when no format fits its keys. */
bool pd_detect(const cJSON *rec, pd_format *f, char *why, size_t n);

typedef struct pd_ids {
    int32_t *v;
    int n, cap;
} pd_ids;

void pd_ids_push(pd_ids *a, const int32_t *v, int n);
void pd_ids_free(pd_ids *a);

typedef struct pd_turn {
    bool assistant; /* else user */
    const char *content;
} pd_turn;

/* A prompt is the optional system text and the turns up to and including the last user turn; earlier assistant
 * turns are context, not targets. */
typedef struct pd_prompt {
    const char *system; /* NULL: none */
    pd_turn *turn;
    int n;
} pd_prompt;

/* One record: prompt[0..nprompt) and resp[0..nresp), as text or (tokenized formats) ids.
 * SFT: prompt 0, response 0. DPO: prompt 0, chosen 0, rejected 1. IOPO: x1, x2 and y1, y2. */
typedef struct pd_item {
    int nprompt, nresp;
    pd_prompt prompt[2];
    const char *resp[2];
    pd_ids prompt_ids[2], resp_ids[2];
    char *owned[4]; /* strings built from several fields (alpaca instruction + input) */
    int nowned;
} pd_item;

/* Fills it from rec, which must follow format f; false + a reason (without the file and line). vocab bounds the ids
 * of tokenized formats. */
bool pd_parse(pd_format f, const cJSON *rec, int vocab, pd_item *it, char *why, size_t n);
void pd_item_free(pd_item *it);

/* A LLaMA-Factory dataset_info.json entry (prefdata_columns.c): the record key holding each of the formats' keys, and
 * the words of sharegpt turns. */
typedef enum {
    PD_COL_INSTRUCTION, PD_COL_INPUT, PD_COL_OUTPUT, PD_COL_HISTORY, /* alpaca: prompt, query, response, history */
    PD_COL_CONVERSATIONS,                                            /* sharegpt: messages */
    PD_COL_SYSTEM, PD_COL_CHOSEN, PD_COL_REJECTED,                   /* both */
    PD_COL_COUNT
} pd_col;
typedef enum {
    PD_TAG_ROLE, PD_TAG_CONTENT, PD_TAG_USER, PD_TAG_ASSISTANT, PD_TAG_SYSTEM, PD_TAG_OBSERVATION, PD_TAG_FUNCTION,
    PD_TAG_COUNT
} pd_tag;
typedef struct pd_columns {
    bool sharegpt, ranking;
    bool prompt_from_query;   /* alpaca without a prompt column: the query column is the whole user turn */
    char *src[PD_COL_COUNT];  /* the record's key read as each pd_col; NULL: not read */
    char *tag[PD_TAG_COUNT];  /* sharegpt turns' keys and role words (LLaMA-Factory's defaults where not given) */
} pd_columns;

/* Parses the entry's JSON object (see iopo_pref_options.dataset_info); false + why. */
bool pd_columns_parse(const char *json, pd_columns *c, char *why, size_t n);
void pd_columns_free(pd_columns *c);
/* A new record holding only what the entry reads from rec, under the formats' key names (sharegpt turns as from/value
 * with human/gpt/system). NULL + why when rec lacks a column the entry needs (naming it, and the format rec has
 * instead where it has another). */
cJSON *pd_columns_apply(const pd_columns *c, const cJSON *rec, char *why, size_t n);

/* Chat templates: how text prompts and responses become ids. */
typedef enum { PD_TEMPLATE_CHATML, PD_TEMPLATE_PLAIN, PD_TEMPLATE_LLAMA3 } pd_template_kind;

typedef struct pd_template {
    pd_template_kind kind;
    const iopo_tokenizer *tok;
    int32_t im_start, im_end, eot; /* -1 where the template does not use it (llama3: start/end header, eot_id) */
    int32_t bos;                   /* llama3: <|begin_of_text|> opens the prompt */
    pd_ids nl, gen;                /* ChatML: "\n" after <|im_end|>, "assistant\n" after the last <|im_start|>;
                                      llama3: "\n\n" after <|end_header_id|>, "assistant" in the last header */
} pd_template;

/* Checks that tok has the template's tokens and that they fit in vocab (vocab <= 0: no bound). */
bool pd_template_init(pd_template *t, const char *name, const iopo_tokenizer *tok, const char *tok_name, int vocab,
                      char *err, size_t errlen);
void pd_template_free(pd_template *t);
bool pd_template_prompt(const pd_template *t, const pd_prompt *p, pd_ids *out, char *why, size_t n);
bool pd_template_response(const pd_template *t, const char *content, pd_ids *out, char *why, size_t n);

#endif
