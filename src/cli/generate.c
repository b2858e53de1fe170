/* `iopo generate`: continue prompts with a model, batched over a KV cache (greedy, or sampled with temperature,
 * top-k and top-p, seeded), one prompt from the command line or a JSONL file of them. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/generate.h"
#include "iopo/model.h"
#include "iopo/prefdata.h"
#include "iopo/rng.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo generate --model DIR (--prompt TEXT | --data prompts.jsonl [--out gens.jsonl])\n"
            "                     [--template auto|chatml|llama3|plain|none] [--system TEXT] [--max-tokens N]\n"
            "                     [--temperature T] [--top-k K] [--top-p P] [--seed S] [--batch-size B]\n"
            "                     [--no-cache] [--device N|cpu]\n\n"
            "--prompt prints the prompt's continuation. --data reads one JSON object per line, {\"prompt\": TEXT}\n"
            "(optionally \"system\", and any \"key\", which is copied), and writes one line per prompt, in order, to --out\n"
            "(default stdout): {\"prompt\", [\"key\",] \"response\", \"tokens\", \"stop\": \"eos\" | \"length\"}.\n\n"
            "--template wraps each prompt as one user turn of the chat template, with the generation prompt after it,\n"
            "as training builds prompts: auto (the default with --data) takes the template recorded in the model's\n"
            "tokenizer_config.json by `iopo train`, else the one its tokenizer's special tokens call for; none (the\n"
            "default with --prompt) continues the raw text. Generation stops at the template's end-of-turn token,\n"
            "config.json's eos_token_id or <|endoftext|>, after --max-tokens (default 64), or at the model's context.\n");
    fputs(cli_gen_options_help, out);
}

typedef struct prompt {
    char *text, *system, *key_json;   /* key_json: the record's "key" printed as JSON, or NULL */
} prompt;

typedef struct prompt_list {
    prompt *ps;
    int n, cap;
} prompt_list;

static bool add_prompt(void *user, const char *where, int line, const cJSON *rec, char *err, size_t errlen) {
    (void)line;
    prompt_list *l = user;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(rec, "prompt");
    const cJSON *sy = cJSON_GetObjectItemCaseSensitive(rec, "system");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "key");
    if (!cJSON_IsString(pr) || !pr->valuestring[0]) {
        snprintf(err, errlen, "%s: expected {\"prompt\": \"...\"} with a non-empty prompt", where);
        return false;
    }
    if (sy && !cJSON_IsString(sy)) {
        snprintf(err, errlen, "%s: \"system\" must be a string", where);
        return false;
    }
    if (l->n == l->cap) l->ps = realloc(l->ps, (size_t)(l->cap = l->cap ? 2 * l->cap : 16) * sizeof *l->ps);
    prompt *p = &l->ps[l->n++];
    p->text = strdup(pr->valuestring);
    p->system = sy ? strdup(sy->valuestring) : NULL;
    p->key_json = key ? cJSON_PrintUnformatted(key) : NULL;
    return true;
}

/* Reads --data: one {"prompt", "system"?, "key"?} per line; false + "FILE:LINE: ..." otherwise. */
static bool read_prompts(const char *path, prompt **out, int *n, char *err, size_t errlen) {
    prompt_list l = {0};
    bool ok = iopo_jsonl_each(path, add_prompt, &l, NULL, err, errlen);
    if (ok && l.n == 0) {
        snprintf(err, errlen, "%s: no prompts", path);
        ok = false;
    }
    *out = l.ps;
    *n = l.n;
    return ok;
}

static void print_progress(void *user, int done, int total, long tokens, double seconds) {
    (void)user;
    fprintf(stderr, "generate: %d/%d prompts, %ld tokens, %.1f tok/s\n", done, total, tokens,
            seconds > 0 ? (double)tokens / seconds : 0.0);
}

int cmd_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt_text = NULL, *data = NULL, *out_path = NULL, *device = NULL;
    const char *tmpl = NULL, *system = NULL;
    iopo_gen_options o = iopo_gen_options_default();
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (cli_flag_value(argc, argv, &i, "--prompt", &prompt_text)) {
        } else if (cli_flag_value(argc, argv, &i, "--data", &data)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out_path)) {
        } else if (cli_flag_value(argc, argv, &i, "--template", &tmpl)) {
        } else if (cli_flag_value(argc, argv, &i, "--system", &system)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_gen_option(argc, argv, &i, &o)) {
        } else {
            fprintf(stderr, "iopo generate: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!model_dir || !!prompt_text == !!data) {
        fprintf(stderr, "iopo generate: --model and one of --prompt or --data are required\n");
        return 2;
    }
    if (out_path && !data) {
        fprintf(stderr, "iopo generate: --out goes with --data (--prompt prints to stdout)\n");
        return 2;
    }
    if (tmpl && strcmp(tmpl, "none") && strcmp(tmpl, "auto") && !iopo_template_jinja(tmpl)) {
        fprintf(stderr, "iopo generate: --template '%s': expected auto, chatml, llama3, plain or none\n", tmpl);
        return 2;
    }
    char err[4608];
    prompt *ps = NULL;
    int np = 0;
    if (data && !read_prompts(data, &ps, &np, err, sizeof err)) {
        fprintf(stderr, "iopo generate: %s\n", err);
        for (int i = 0; i < np; i++) free(ps[i].text), free(ps[i].system), free(ps[i].key_json);
        free(ps);
        return 1;
    }
    if (!data) {
        ps = calloc(1, sizeof *ps);
        ps[0].text = strdup(prompt_text);
        ps[0].system = system ? strdup(system) : NULL;
        np = 1;
    }
    int rc = 0;
    iopo_ctx *ctx = NULL;
    iopo_responder *r = NULL;
    ctx = cli_open_device(device, false);
    if (ctx) {
        r = iopo_responder_open(ctx, model_dir, tmpl ? tmpl : data ? "auto" : "none", err, sizeof err);
        if (!r) fprintf(stderr, "iopo generate: %s\n", err), rc = 1;
    } else {
        rc = 1;
    }
    iopo_gen_request *reqs = calloc((size_t)np, sizeof *reqs);
    for (int i = 0; i < np; i++) reqs[i].prompt = ps[i].text, reqs[i].system = ps[i].system;
    if (r && !iopo_respond(r, reqs, np, &o, data && out_path ? print_progress : NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "iopo generate: %s%s%s\n", data ? data : "--prompt", data ? ":" : ": ", err);
        rc = 1;
    }
    iopo_atomic_file af = {0};
    FILE *out = stdout;
    if (!rc && out_path) {
        if (!iopo_atomic_open(&af, out_path, err, sizeof err)) {
            fprintf(stderr, "iopo generate: %s\n", err);
            rc = 1;
        }
        out = af.f;
    }
    for (int i = 0; i < np && !rc; i++) {
        if (!data) {
            fputs(ps[i].text, out);
            fwrite(reqs[i].response, 1, reqs[i].response_len, out);
            fputc('\n', out);
            continue;
        }
        /* JSON strings are UTF-8: a response cut inside a character ends in U+FFFD */
        char *text = iopo_utf8_lossy(reqs[i].response, reqs[i].response_len, NULL);
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "prompt", ps[i].text);
        if (ps[i].key_json) cJSON_AddRawToObject(rec, "key", ps[i].key_json);
        cJSON_AddStringToObject(rec, "response", text ? text : "");
        cJSON_AddNumberToObject(rec, "tokens", reqs[i].tokens);
        cJSON_AddStringToObject(rec, "stop", reqs[i].eos ? "eos" : "length");
        char *line = cJSON_PrintUnformatted(rec);
        fprintf(out, "%s\n", line);
        free(line);
        cJSON_Delete(rec);
        free(text);
    }
    if (!rc && out_path && !iopo_atomic_commit(&af, err, sizeof err)) {
        fprintf(stderr, "iopo generate: %s\n", err);
        rc = 1;
    } else if (rc && af.f) {
        iopo_atomic_abort(&af);
    }
    iopo_gen_requests_clear(reqs, np);
    free(reqs);
    for (int i = 0; i < np; i++) free(ps[i].text), free(ps[i].system), free(ps[i].key_json);
    free(ps);
    iopo_responder_free(r);
    if (ctx) iopo_ctx_destroy(ctx);
    return rc;
}
