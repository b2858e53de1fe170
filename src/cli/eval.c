/* `iopo eval`: a model (or another system's responses) on IFEval, iopo-synth or TRACE, offline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/eval.h"
#include "iopo/fileio.h"
#include "iopo/generate.h"
#include "iopo/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo eval --benchmark ifeval|iopo-synth|trace --data FILE (--model DIR | --responses FILE)\n"
            "                 [--out DIR | --out report.json] [--template auto|chatml|llama3|plain] [--system TEXT]\n"
            "                 [--limit N] [--device N|cpu] [--max-tokens N] [--temperature T] [--top-k K]\n"
            "                 [--top-p P] [--seed S] [--batch-size B] [--no-cache]\n\n"
            "ifeval      --data is IFEval's input_data.jsonl ({\"key\", \"prompt\", \"instruction_id_list\", \"kwargs\"}).\n"
            "            Every instruction is checked in C, strict and loose; prints prompt- and instruction-level\n"
            "            accuracy and a per-instruction-type table.\n"
            "iopo-synth  --data is an eval file of `iopo data synth` (IFEval's format plus \"split\"): the same checks,\n"
            "            reported per split (in_domain, held_out) and for IF-S (one constraint) / IF-M (several).\n"
            "trace       --data is TRACE's 202409_trace_evaluation.jsonl: responses to its messages (system + user\n"
            "            turn as released) are written for TRACE's LLM judge; iopo reports per constraint type how\n"
            "            many items it answered and their lengths (the score itself is the judge's).\n\n"
            "Responses are generated with the model's chat template (--template, default auto: the one training\n"
            "recorded, else the tokenizer's), greedy by default, --max-tokens 256 each, batched over a KV cache, with\n"
            "progress and ETA on stderr; or read from --responses, a JSONL of {\"key\" (trace: \"id\") or \"prompt\",\n"
            "\"response\"} from any system (`iopo generate --out` writes one).\n\n"
            "--out DIR writes report.json and responses.jsonl, and eval_results_strict.jsonl +\n"
            "eval_results_loose.jsonl (IFEval's own output files) or trace_predictions.jsonl (the judge's input:\n"
            "each record with \"question\", \"answer\" and \"generated\"); --out FILE.json writes the report only.\n"
            "--limit N evaluates the first N records.\n\n");
    fputs(cli_gen_options_help, out);
}

static void print_progress(void *user, int done, int total, long tokens, double seconds) {
    (void)user;
    double left = done ? seconds * (total - done) / done : 0;
    fprintf(stderr, "eval: %d/%d prompts, %ld tokens, %.1f tok/s, %.0f s, ETA %dm%02ds\n", done, total, tokens,
            seconds > 0 ? (double)tokens / seconds : 0.0, seconds, (int)(left / 60), (int)left % 60);
}

/* Generates one response per prompt; responses[i] malloc'd, valid UTF-8. */
static bool generate_all(const char *model_dir, const char *device, const char *tmpl, const char *const *prompts,
                         const char *const *systems, int n, const iopo_gen_options *o, char **responses,
                         char *used_template, size_t tlen, char *err, size_t errlen) {
    iopo_ctx *ctx = cli_open_device(device, false);
    iopo_responder *r = iopo_responder_open(ctx, model_dir, tmpl, err, errlen);
    bool ok = r != NULL;
    if (r && !strcmp(iopo_responder_template(r), "none")) {
        snprintf(err, errlen, "--template none: eval asks chat questions, pick a chat template");
        ok = false;
    }
    iopo_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    for (int i = 0; i < n; i++) reqs[i].prompt = prompts[i], reqs[i].system = systems[i];
    if (ok) {
        snprintf(used_template, tlen, "%s", iopo_responder_template(r));
        fprintf(stderr, "eval: %d prompts, model %s, template %s\n", n, iopo_responder_model_dir(r), used_template);
        ok = iopo_respond(r, reqs, n, o, print_progress, NULL, err, errlen);
    }
    for (int i = 0; i < n; i++) {
        responses[i] = ok ? iopo_utf8_lossy(reqs[i].response, reqs[i].response_len, NULL) : NULL;
        if (ok && !responses[i]) responses[i] = calloc(1, 1);
    }
    iopo_gen_requests_clear(reqs, n);
    free(reqs);
    iopo_responder_free(r);
    iopo_ctx_destroy(ctx);
    return ok;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* responses.jsonl: {"key"|"id", "prompt", "response"} per record, readable back with --responses. */
static bool write_responses(const char *path, const char *key_name, char *const *keys_json,
                            const char *const *prompts, char *const *responses, int n, char *err, size_t errlen) {
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) return false;
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (keys_json[i]) cJSON_AddRawToObject(o, key_name, keys_json[i]);
        cJSON_AddStringToObject(o, "prompt", prompts[i]);
        cJSON_AddStringToObject(o, "response", responses[i]);
        char *line = cJSON_PrintUnformatted(o);
        fprintf(af.f, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    }
    return iopo_atomic_commit(&af, err, errlen);
}

static void add_run_info(cJSON *report, const char *benchmark, const char *model, const char *responses,
                         const char *tmpl, const iopo_gen_options *o) {
    cJSON_AddStringToObject(report, "benchmark", benchmark);
    if (responses) {
        cJSON_AddStringToObject(report, "responses", responses);
        return;
    }
    cJSON_AddStringToObject(report, "model", model);
    cJSON_AddStringToObject(report, "template", tmpl);
    cJSON *g = cJSON_AddObjectToObject(report, "generation");
    cJSON_AddNumberToObject(g, "max_tokens", o->max_tokens);
    cJSON_AddNumberToObject(g, "temperature", o->temperature);
    cJSON_AddNumberToObject(g, "top_k", o->top_k);
    cJSON_AddNumberToObject(g, "top_p", o->top_p);
    cJSON_AddNumberToObject(g, "seed", (double)o->seed);
}

static bool write_report(const cJSON *report, const char *path, char *err, size_t errlen) {
    char *text = cJSON_Print(report);
    size_t len = strlen(text);
    text = realloc(text, len + 2);
    text[len] = '\n', text[len + 1] = 0;
    bool ok = iopo_write_file_atomic(path, text, len + 1, err, errlen);
    free(text);
    return ok;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *bench = NULL, *data = NULL, *out = NULL, *responses_path = NULL, *device = NULL;
    const char *tmpl = "auto", *system = NULL, *v;
    long limit = 0;
    iopo_gen_options o = iopo_gen_options_default();
    o.max_tokens = 256;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--model", &model)) {
        } else if (cli_flag_value(argc, argv, &i, "--benchmark", &bench)) {
        } else if (cli_flag_value(argc, argv, &i, "--data", &data)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out)) {
        } else if (cli_flag_value(argc, argv, &i, "--responses", &responses_path)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--template", &tmpl)) {
        } else if (cli_flag_value(argc, argv, &i, "--system", &system)) {
        } else if (cli_flag_value(argc, argv, &i, "--limit", &v)) {
            limit = cli_parse_long("--limit", v, 1, 1L << 30);
        } else if (cli_gen_option(argc, argv, &i, &o)) {
        } else {
            fprintf(stderr, "iopo eval: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!bench || !data || !!model == !!responses_path) {
        fprintf(stderr, "iopo eval: --benchmark, --data and one of --model or --responses are required\n");
        return 2;
    }
    bool trace = !strcmp(bench, "trace");
    if (!trace && strcmp(bench, "ifeval") && strcmp(bench, "iopo-synth")) {
        fprintf(stderr, "iopo eval: --benchmark '%s': expected ifeval, iopo-synth or trace\n", bench);
        return 2;
    }
    char err[8192];
    bool report_only = out && ends_with(out, ".json");
    if (out && !report_only && !iopo_mkdirs(out, err, sizeof err)) {
        fprintf(stderr, "iopo eval: %s\n", err);
        return 1;
    }
    iopo_ifeval_set is = {0};
    iopo_trace_set ts = {0};
    bool ok = trace ? iopo_trace_set_load(&ts, data, err, sizeof err) : iopo_ifeval_set_load(&is, data, err, sizeof err);
    if (ok && !trace && !strcmp(bench, "ifeval")) {
        for (int i = 0; i < is.n && ok; i++)
            if (is.items[i].split) {
                snprintf(err, sizeof err, "%s:%d: a \"split\": this is an iopo-synth file (--benchmark iopo-synth)",
                         data, is.items[i].line);
                ok = false;
            }
    }
    int n = trace ? ts.n : is.n;
    if (ok && limit && limit < n) {
        n = (int)limit;
        if (trace) iopo_trace_set_keep(&ts, n);
        else iopo_ifeval_set_keep(&is, n);
    }
    const char **prompts = calloc((size_t)n + 1, sizeof *prompts), **systems = calloc((size_t)n + 1, sizeof *systems);
    char **keys = calloc((size_t)n + 1, sizeof *keys), **resp = calloc((size_t)n + 1, sizeof *resp);
    for (int i = 0; ok && i < n; i++) {
        prompts[i] = trace ? ts.items[i].user : is.items[i].prompt;
        systems[i] = trace ? (system ? system : ts.items[i].system) : system;
        if (trace) {
            keys[i] = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ts.items[i].record, "id"));
        } else {
            keys[i] = is.items[i].key_json ? strdup(is.items[i].key_json) : NULL;
        }
    }
    char used_template[64] = "";
    if (ok && responses_path) {
        ok = trace ? iopo_trace_set_attach_responses(&ts, responses_path, err, sizeof err)
                   : iopo_ifeval_set_attach_responses(&is, responses_path, err, sizeof err);
        for (int i = 0; ok && i < n; i++) resp[i] = strdup(trace ? ts.items[i].response : is.items[i].response);
    } else if (ok) {
        ok = generate_all(model, device, tmpl, prompts, systems, n, &o, resp, used_template, sizeof used_template, err,
                          sizeof err);
        for (int i = 0; ok && i < n; i++) {
            if (trace) ts.items[i].response = strdup(resp[i]);
            else is.items[i].response = strdup(resp[i]);
        }
    }
    cJSON *report = NULL;
    if (ok && !trace) ok = iopo_ifeval_set_score(&is, err, sizeof err);
    if (ok) {
        report = trace ? iopo_trace_report(&ts) : iopo_ifeval_report(&is);
        add_run_info(report, bench, model, responses_path, used_template, &o);
        if (trace) iopo_trace_print_report(report, stdout);
        else iopo_ifeval_print_report(report, stdout);
    }
    char path[4200];
    if (ok && out && report_only) ok = write_report(report, out, err, sizeof err);
    if (ok && out && !report_only) {
        snprintf(path, sizeof path, "%s/responses.jsonl", out);
        ok = write_responses(path, trace ? "id" : "key", keys, prompts, resp, n, err, sizeof err);
        if (ok && trace) {
            snprintf(path, sizeof path, "%s/trace_predictions.jsonl", out);
            ok = iopo_trace_write_predictions(&ts, path, err, sizeof err);
        } else if (ok) {
            ok = iopo_ifeval_write_results(&is, out, err, sizeof err);
        }
        snprintf(path, sizeof path, "%s/report.json", out);
        if (ok) ok = write_report(report, path, err, sizeof err);
        if (ok) fprintf(stderr, "eval: wrote %s\n", out);
    }
    if (!ok) fprintf(stderr, "iopo eval: %s\n", err);
    cJSON_Delete(report);
    for (int i = 0; i < n; i++) free(keys[i]), free(resp[i]);
    free(prompts), free(systems), free(keys), free(resp);
    iopo_trace_set_free(&ts);
    iopo_ifeval_set_free(&is);
    return ok ? 0 : 1;
}
