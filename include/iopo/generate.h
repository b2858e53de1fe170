/* Generation: a model, its tokenizer and its chat template answering prompts, batched over a KV cache (greedy, or
 * sampled with temperature, top-k and top-p, seeded). `iopo generate` and `iopo eval` both answer through this. */
#ifndef IOPO_GENERATE_H
#define IOPO_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iopo/context.h"

typedef struct iopo_gen_options {
    double temperature;   /* 0: greedy; above: sample softmax(logits / T) */
    double top_p;         /* keep the smallest set of probability >= top_p (1: all) */
    int top_k;            /* keep the K most likely (0: all) */
    int max_tokens;       /* per response */
    int batch;            /* prompts decoded together over one cache */
    bool cache;           /* false: recompute the whole sequence at every token (same tokens, slower) */
    uint64_t seed;        /* one generator for the whole call, drawn in prompt order */
} iopo_gen_options;

/* temperature 0, top_p 1, top_k 0, max_tokens 64, batch 8, cache on, seed 0. */
iopo_gen_options iopo_gen_options_default(void);

typedef struct iopo_gen_request {
    const char *prompt, *system;   /* in: the user turn (raw text with template "none") and an optional system turn */
    char *response;                /* out (malloc'd): the decoded response bytes, as the tokenizer gives them */
    size_t response_len;           /*      a response cut inside a UTF-8 character ends inside it */
    int tokens;                    /* out: tokens generated */
    bool eos;                      /* out: stopped at an end-of-turn / end-of-text token, not at a length limit */
} iopo_gen_request;

/* done of total prompts answered, tokens generated so far, seconds since the call began. */
typedef void (*iopo_gen_progress)(void *user, int done, int total, long tokens, double seconds);

typedef struct iopo_responder iopo_responder;

/* Opens model_dir (a model directory, a run directory or an adapter directory, as every command resolves it) on ctx:
 * its tokenizer.json, the model (an adapter merged into its base for decoding), and the template: a name
 * (chatml, llama3, plain), "auto" (the one `iopo train` recorded in tokenizer_config.json, else the one the
 * tokenizer's special tokens call for) or "none" (continue the raw text). NULL + err otherwise. */
iopo_responder *iopo_responder_open(iopo_ctx *ctx, const char *model_dir, const char *template_name, char *err,
                                    size_t errlen);
/* The template in use ("none" included) and the resolved model directory. */
const char *iopo_responder_template(const iopo_responder *r);
const char *iopo_responder_model_dir(const iopo_responder *r);
void iopo_responder_free(iopo_responder *r);

/* Answers reqs[0..n) in order, o->batch at a time. Generation stops at the template's end-of-turn token, config.json's
 * eos_token_id or <|endoftext|>, after o->max_tokens, or at the model's context. Every prompt is encoded and checked
 * (non-empty, in the vocabulary, shorter than the context) before any is generated: false + "prompt N: ..." (N from
 * 1) otherwise. progress (may be NULL) is called after each batch. */
bool iopo_respond(iopo_responder *r, iopo_gen_request *reqs, int n, const iopo_gen_options *o,
                  iopo_gen_progress progress, void *user, char *err, size_t errlen);
/* Frees the responses of reqs[0..n). */
void iopo_gen_requests_clear(iopo_gen_request *reqs, int n);

#endif
