/* `iopo eval`'s evaluation sets (include/iopo/eval.h): arbitrary bytes as an evaluation file and a responses file,
 * split at the first 0xFF byte (data before it, responses after; no 0xFF: no responses). Both parsers read the same
 * pair: IFEval-format (iopo_ifeval_set_load, attach_responses, score, report, print_report, write_results) and
 * TRACE (iopo_trace_set_load, attach_responses, report, print_report, write_predictions).
 * Invariants: every refusal is one line; a loaded set has items, each IFEval item 1+ known instruction ids with one
 * kwargs object each; after attaching, every item has a response and scoring never refuses (kwargs were validated
 * when loading); the report counts the set's prompts and instructions, with accuracies in [0, 1], strict never above
 * loose; IFEval's two results files and TRACE's predictions file hold one JSON object a line, one per item, carrying
 * the item's response; TRACE's report counts every item. */
#include "fuzz_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/eval.h"
#include "iopo/fileio.h"
#include "iopo/ifeval.h"

static FILE *g_null;

static bool one_line(const char *msg) { return msg[0] && !strchr(msg, '\n'); }

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    FZ_CHECK(cJSON_IsNumber(v), "report: \"%s\" missing", k);
    return v->valuedouble;
}

static void check_tally(const cJSON *t, const char *what) {
    FZ_CHECK(cJSON_IsObject(t), "report: no \"%s\"", what);
    static const char *const acc[] = {"prompt_level_strict", "instruction_level_strict", "prompt_level_loose",
                                      "instruction_level_loose"};
    for (int i = 0; i < 4; i++) {
        double a = num(t, acc[i]);
        FZ_CHECK(a >= 0 && a <= 1, "report %s: %s = %g", what, acc[i], a);
    }
    FZ_CHECK(num(t, "prompt_level_strict") <= num(t, "prompt_level_loose") &&
                 num(t, "instruction_level_strict") <= num(t, "instruction_level_loose"),
             "report %s: strict above loose", what);
}

/* The lines of a written JSONL file, each checked to be an object whose field `field` is the item's response. */
typedef const char *(*response_of)(const void *set, int i);

static void check_jsonl(const char *path, int n, const char *field, response_of resp, const void *set) {
    size_t len;
    char err[512];
    char *text = iopo_read_file(path, &len, err, sizeof err);
    FZ_CHECK(text, "written file unreadable: %s", err);
    int lines = 0;
    for (char *s = text, *e; s < text + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(text + len - s));
        FZ_CHECK(e, "%s: the last line has no newline", path);
        FZ_CHECK(lines < n, "%s: more than %d lines", path, n);
        cJSON *o = cJSON_ParseWithLength(s, (size_t)(e - s));
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, field);
        FZ_CHECK(cJSON_IsObject(o) && cJSON_IsString(r), "%s:%d: not an object with a string \"%s\"", path,
                 lines + 1, field);
        FZ_CHECK(!strcmp(r->valuestring, resp(set, lines)), "%s:%d: \"%s\" is not the item's response", path,
                 lines + 1, field);
        cJSON_Delete(o);
        lines++;
    }
    FZ_CHECK(lines == n, "%s: %d lines for %d items", path, lines, n);
    free(text);
}

static const char *ifeval_response(const void *set, int i) { return ((const iopo_ifeval_set *)set)->items[i].response; }
static const char *trace_response(const void *set, int i) { return ((const iopo_trace_set *)set)->items[i].response; }

static void run_ifeval(const char *data, const char *responses) {
    char err[1024] = "";
    iopo_ifeval_set s;
    if (!iopo_ifeval_set_load(&s, data, err, sizeof err)) {
        FZ_CHECK(one_line(err), "ifeval load refused without a one-line message: '%s'", err);
        FZ_CHECK(s.n == 0 && !s.items, "a refused set keeps items");
        return;
    }
    FZ_CHECK(s.n >= 1, "an IFEval set of %d items", s.n);
    int instr = 0;
    for (int i = 0; i < s.n; i++) {
        const iopo_ifeval_item *it = &s.items[i];
        FZ_CHECK(it->n >= 1 && cJSON_GetArraySize(it->kwargs) == it->n && it->prompt && !it->response,
                 "item %d: %d ids, %d kwargs", i, it->n, cJSON_GetArraySize(it->kwargs));
        for (int k = 0; k < it->n; k++) {
            FZ_CHECK(iopo_ifeval_index(it->ids[k]) >= 0, "item %d: unknown id '%s' loaded", i, it->ids[k]);
            FZ_CHECK(cJSON_IsObject(cJSON_GetArrayItem(it->kwargs, k)), "item %d: kwargs[%d] not an object", i, k);
        }
        FZ_CHECK(i == 0 || it->line > s.items[i - 1].line, "item lines not ascending");
        instr += it->n;
    }
    if (!responses || !iopo_ifeval_set_attach_responses(&s, responses, err, sizeof err)) {
        FZ_CHECK(!responses || one_line(err), "ifeval attach refused without a one-line message: '%s'", err);
        char err2[512] = "";
        /* Without every response, scoring refuses (an item without one) or, where the attach got far enough
         * before failing, still works; it never crashes. */
        bool complete = true;
        for (int i = 0; i < s.n; i++) complete = complete && s.items[i].response;
        bool scored = iopo_ifeval_set_score(&s, err2, sizeof err2);
        FZ_CHECK(scored == complete && (scored || one_line(err2)), "score of a set with missing responses: %d '%s'",
                 scored, err2);
        iopo_ifeval_set_free(&s);
        return;
    }
    for (int i = 0; i < s.n; i++) FZ_CHECK(s.items[i].response, "item %d has no response after attaching", i);
    FZ_CHECK(iopo_ifeval_set_score(&s, err, sizeof err), "scoring refused a loaded set: %s", err);
    cJSON *r = iopo_ifeval_report(&s);
    const cJSON *overall = cJSON_GetObjectItemCaseSensitive(r, "overall");
    check_tally(overall, "overall");
    FZ_CHECK(num(overall, "prompts") == s.n && num(overall, "instructions") == instr, "report: %g prompts, %g "
             "instructions for %d, %d", num(overall, "prompts"), num(overall, "instructions"), s.n, instr);
    const cJSON *ifs = cJSON_GetObjectItemCaseSensitive(r, "if_s"), *ifm = cJSON_GetObjectItemCaseSensitive(r, "if_m");
    check_tally(ifs, "if_s");
    check_tally(ifm, "if_m");
    FZ_CHECK(num(ifs, "prompts") + num(ifm, "prompts") == s.n, "IF-S + IF-M prompts != %d", s.n);
    const cJSON *sp;
    cJSON_ArrayForEach(sp, cJSON_GetObjectItemCaseSensitive(r, "splits")) check_tally(cJSON_GetObjectItemCaseSensitive(sp, "all"), "split");
    double counted = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(r, "per_instruction")) counted += num(t, "count");
    FZ_CHECK(counted == instr, "per-instruction counts sum to %g, not %d", counted, instr);
    iopo_ifeval_print_report(r, g_null);
    cJSON_Delete(r);

    FZ_CHECK(iopo_ifeval_write_results(&s, fz_dir(), err, sizeof err), "write_results: %s", err);
    char path[600];
    snprintf(path, sizeof path, "%s/eval_results_strict.jsonl", fz_dir());
    check_jsonl(path, s.n, "response", ifeval_response, &s);
    snprintf(path, sizeof path, "%s/eval_results_loose.jsonl", fz_dir());
    check_jsonl(path, s.n, "response", ifeval_response, &s);
    iopo_ifeval_set_free(&s);
}

static void run_trace(const char *data, const char *responses) {
    char err[1024] = "";
    iopo_trace_set s;
    if (!iopo_trace_set_load(&s, data, err, sizeof err)) {
        FZ_CHECK(one_line(err), "trace load refused without a one-line message: '%s'", err);
        FZ_CHECK(s.n == 0 && !s.items, "a refused set keeps items");
        return;
    }
    FZ_CHECK(s.n >= 1 && s.rebuilt_mismatch >= 0 && s.rebuilt_mismatch <= s.n, "a TRACE set of %d items, %d "
             "differing", s.n, s.rebuilt_mismatch);
    for (int i = 0; i < s.n; i++) FZ_CHECK(s.items[i].user && s.items[i].record, "item %d without a user turn", i);
    bool attached = responses && iopo_trace_set_attach_responses(&s, responses, err, sizeof err);
    FZ_CHECK(attached || !responses || one_line(err), "trace attach refused without a one-line message: '%s'", err);
    if (attached)
        for (int i = 0; i < s.n; i++) FZ_CHECK(s.items[i].response, "item %d has no response after attaching", i);
    /* The report and predictions of a partly attached set still work (a missing response counts as empty). */
    cJSON *r = iopo_trace_report(&s);
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "all"), "items");
    FZ_CHECK(cJSON_IsObject(all) && num(all, "items") == s.n, "the TRACE report does not count %d items", s.n);
    iopo_trace_print_report(r, g_null);
    cJSON_Delete(r);
    if (attached) {
        char path[600];
        snprintf(path, sizeof path, "%s/trace_predictions.jsonl", fz_dir());
        FZ_CHECK(iopo_trace_write_predictions(&s, path, err, sizeof err), "write_predictions: %s", err);
        check_jsonl(path, s.n, "generated", trace_response, &s);
    }
    iopo_trace_set_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (!g_null) g_null = fopen("/dev/null", "w");
    const uint8_t *sep = memchr(in, 0xFF, size);
    size_t dlen = sep ? (size_t)(sep - in) : size;
    const char *data = fz_write(0, "data.jsonl", in, dlen);
    const char *responses = sep ? fz_write(1, "responses.jsonl", sep + 1, size - dlen - 1) : NULL;
    run_ifeval(data, responses);
    run_trace(data, responses);
    return 0;
}
