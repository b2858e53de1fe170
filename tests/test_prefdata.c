/* Preference and chat data (include/iopo/prefdata.h): every sample file of assets/data with the objectives that
 * accept it; exact ids of a ChatML and a plain record (expected ids from tools/make_tokenizer.py's independent encoder,
 * the ChatML markers 512/513 added to a copy of the demo tokenizer here); label masks; the IOPO sequence order;
 * truncation; one error message per kind of bad record, with file and line; skip mode; objective/format mismatches.
 * Usage: test_prefdata REPO_ROOT */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iopo/fileio.h"
#include "iopo/prefdata.h"
#include "iopo/tokenizer.h"

#include "test_check.h"

static char tmpdir[256], err[2048], root[1024];
static iopo_tokenizer *demo, *chatml; /* demo: no ChatML tokens; chatml: the demo + <|im_start|> 512, <|im_end|> 513 */
static iopo_tokenizer *llama3;        /* the demo + <|begin_of_text|> 512 ... <|eot_id|> 515 */
static char chatml_path[512];
enum { IM_START = 512, IM_END = 513, EOT = 511 };

static const char *tmp_file(const char *name, const char *content) {
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
    return p;
}

static bool load(iopo_pref_dataset *ds, const char *path, const iopo_tokenizer *tok, iopo_objective obj,
                 const char *tmpl, int cutoff, bool skip, int vocab) {
    iopo_pref_options o = {
        .objective = obj, .template_name = tmpl, .cutoff_len = cutoff, .skip_bad = skip, .vocab = vocab};
    err[0] = 0;
    return iopo_pref_dataset_load(ds, path, tok, &o, err, sizeof err);
}

static void print_ids(const char *label, const int32_t *v, int n) {
    printf("    %s:", label);
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

/* Sequence e must be exactly prompt + response with labels on the response only. */
static void expect_seq(const iopo_example *e, const int32_t *prompt, int np, const int32_t *resp, int nr,
                       const char *what) {
    bool same = e->n == np + nr && memcmp(e->ids, prompt, (size_t)np * 4) == 0 &&
                memcmp(e->ids + np, resp, (size_t)nr * 4) == 0;
    CHECK(same, "%s: ids", what);
    if (!same) {
        print_ids("got ", e->ids, e->n);
        print_ids("want prompt", prompt, np);
        print_ids("want response", resp, nr);
    }
    int bad = -1;
    for (int i = 0; i < e->n && bad < 0; i++)
        if (e->label[i] != (i >= np)) bad = i;
    CHECK(bad < 0, "%s: label[%d] = %d, want %d", what, bad, bad >= 0 ? e->label[bad] : 0, bad >= np);
}

static char *decode(const iopo_tokenizer *t, const int32_t *ids, int n) {
    char *s = iopo_tokenizer_decode(t, ids, (size_t)n, NULL, err, sizeof err);
    CHECK(s != NULL, "decode: %s", err);
    return s ? s : calloc(1, 1);
}

/* The prompt part and the response part of e, decoded, against the expected texts. */
static void expect_text(const iopo_tokenizer *t, const iopo_example *e, const char *prompt, const char *resp,
                        const char *what) {
    int np = 0;
    while (np < e->n && !e->label[np]) np++;
    char *p = decode(t, e->ids, np), *r = decode(t, e->ids + np, e->n - np);
    CHECK(strcmp(p, prompt) == 0, "%s: prompt \"%s\", want \"%s\"", what, p, prompt);
    CHECK(strcmp(r, resp) == 0, "%s: response \"%s\", want \"%s\"", what, r, resp);
    free(p);
    free(r);
}

/* Loading fails and the message starts with prefix and contains part. */
static void expect_error(bool ok, const char *prefix, const char *part, const char *what) {
    CHECK(!ok, "%s: loaded, want an error", what);
    if (ok) return;
    CHECK(strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, part) != NULL, "%s: error \"%s\", want \"%s...%s\"",
          what, err, prefix, part);
    CHECK(strchr(err, '\n') == NULL, "%s: error is not one line", what);
}

/* ---- the sample files ---- */

static const struct sample {
    const char *file;
    iopo_objective obj;
    int n;
    const char *format;
} samples[] = {
    {"iopo_sharegpt.json", IOPO_OBJ_IOPO, 4, "iopo sharegpt (json array)"},
    {"iopo_sharegpt.json", IOPO_OBJ_SFT, 8, "iopo sharegpt (json array), (x1,y1) and (x2,y2) as SFT"},
    {"dpo_trl.jsonl", IOPO_OBJ_DPO, 4, "dpo trl (jsonl)"},
    {"dpo_trl.jsonl", IOPO_OBJ_SFT, 4, "dpo trl (jsonl), chosen as SFT target"},
    {"dpo_trl_messages.jsonl", IOPO_OBJ_DPO, 3, "dpo trl messages (jsonl)"},
    {"dpo_alpaca.json", IOPO_OBJ_DPO, 4, "dpo alpaca (json array)"},
    {"dpo_sharegpt.json", IOPO_OBJ_DPO, 3, "dpo sharegpt (json array)"},
    {"dpo_sharegpt.json", IOPO_OBJ_SFT, 3, "dpo sharegpt (json array), chosen as SFT target"},
    {"sft_messages.jsonl", IOPO_OBJ_SFT, 4, "sft messages (jsonl)"},
    {"sft_sharegpt.json", IOPO_OBJ_SFT, 3, "sft sharegpt (json array)"},
    {"sft_alpaca.json", IOPO_OBJ_SFT, 4, "sft alpaca (json array)"},
    {"sft_ids.jsonl", IOPO_OBJ_SFT, 3, "sft pre-tokenized (jsonl)"},
    {"dpo_ids.jsonl", IOPO_OBJ_DPO, 3, "dpo pre-tokenized (jsonl)"},
    {"dpo_ids.jsonl", IOPO_OBJ_SFT, 3, "dpo pre-tokenized (jsonl), chosen as SFT target"},
    {"iopo_ids.jsonl", IOPO_OBJ_IOPO, 3, "iopo pre-tokenized (jsonl)"},
    {"iopo_ids.jsonl", IOPO_OBJ_SFT, 6, "iopo pre-tokenized (jsonl), (x1,y1) and (x2,y2) as SFT"},
};

static void check_samples(void) {
    char path[1200];
    for (size_t s = 0; s < sizeof samples / sizeof *samples; s++) {
        const struct sample *sm = &samples[s];
        snprintf(path, sizeof path, "%s/assets/data/%s", root, sm->file);
        bool ids = strstr(sm->file, "_ids") != NULL;
        for (int t = 0; t < (ids ? 1 : 2); t++) {
            const char *tmpl = t == 0 ? "chatml" : "plain";
            int32_t end = ids ? EOT : t == 0 ? IM_END : EOT;
            iopo_pref_dataset ds;
            bool ok = load(&ds, path,
                           ids      ? NULL
                           : t == 0 ? chatml
                                    : demo,
                           sm->obj, ids ? NULL : tmpl, 1024, false, ids ? 512 : 0);
            CHECK(ok, "%s (%s, objective %d): %s", sm->file, tmpl, sm->obj, err);
            if (!ok) continue;
            CHECK(ds.n == sm->n && ds.nseq == (int)sm->obj, "%s: %d records of %d sequences, want %d of %d", sm->file,
                  ds.n, ds.nseq, sm->n, (int)sm->obj);
            CHECK(strcmp(ds.format, sm->format) == 0, "%s: format \"%s\", want \"%s\"", sm->file, ds.format,
                  sm->format);
            CHECK(ds.truncated == 0 && ds.dropped == 0, "%s: %d truncated, %d dropped", sm->file, ds.truncated,
                  ds.dropped);
            for (int i = 0; i < ds.n; i++)
                for (int k = 0; k < ds.nseq; k++) {
                    const iopo_example *e = &ds.rec[i].seq[k];
                    int np = 0;
                    while (np < e->n && !e->label[np]) np++;
                    bool suffix = np >= 1 && np < e->n;
                    for (int j = np; j < e->n; j++) suffix &= e->label[j] == 1;
                    CHECK(suffix && e->ids[e->n - 1] == end,
                          "%s (%s) record %d seq %d: labels not a response suffix "
                          "ending in %d",
                          sm->file, tmpl, i, k, end);
                    for (int j = 0; j < e->n; j++)
                        if (e->ids[j] < 0 || e->ids[j] >= (t == 0 && !ids ? 514 : 512)) {
                            CHECK(false, "%s record %d seq %d: id %d", sm->file, i, k, e->ids[j]);
                            break;
                        }
                }
            /* Line numbers: JSONL records are one per line; a JSON array counts records. */
            CHECK(ds.rec[ds.n - 1].line == (sm->obj == IOPO_OBJ_SFT && (ds.n == 8 || ds.n == 6) ? ds.n / 2 : ds.n),
                  "%s: last record's line %d", sm->file, ds.rec[ds.n - 1].line);
            iopo_pref_dataset_free(&ds);
        }
    }
    /* Every file in assets/data is covered above, so a new sample cannot go untested. */
    snprintf(path, sizeof path, "%s/assets/data", root);
    DIR *d = opendir(path);
    CHECK(d != NULL, "opendir %s", path);
    int files = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        files++;
        bool known = false;
        for (size_t s = 0; s < sizeof samples / sizeof *samples; s++) known |= strcmp(samples[s].file, de->d_name) == 0;
        CHECK(known, "assets/data/%s is not in the test's table", de->d_name);
    }
    if (d) closedir(d);
    CHECK(files == 11, "assets/data holds %d files, want 11", files);
}

/* ---- exact ids ---- */

static void check_exact(void) {
    /* ChatML, TRL messages with a system prompt. Pieces (make_tokenizer.py encode --no-special):
     * "system\nBe brief." "\n" "user\nName a color." "assistant\n" "Blue." "Red is a color." */
    const char *path =
        tmp_file("exact_chatml.jsonl",
                 "{\"prompt\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", "
                 "\"content\": \"Name a color.\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": "
                 "\"Blue.\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Red is a color.\"}]}\n");
    static const int32_t prompt[] = {IM_START, 115, 121,      115, 359, 109, 10,  66,  101, 270, 468, 101, 102, 46,
                                     IM_END,   10,  IM_START, 290, 264, 10,  78,  358, 101, 258, 385, 108, 289, 46,
                                     IM_END,   10,  IM_START, 297, 115, 349, 116, 284, 116, 10};
    static const int32_t chosen[] = {66, 108, 117, 101, 46, IM_END};
    static const int32_t rejected[] = {82, 285, 274, 258, 385, 108, 289, 46, IM_END};
    iopo_pref_dataset ds;
    bool ok = load(&ds, path, chatml, IOPO_OBJ_DPO, "chatml", 256, false, 514);
    CHECK(ok && ds.n == 1, "chatml record: %s", err);
    if (ok) {
        expect_seq(&ds.rec[0].seq[0], prompt, 38, chosen, 6, "chatml chosen");
        expect_seq(&ds.rec[0].seq[1], prompt, 38, rejected, 9, "chatml rejected");
        iopo_pref_dataset_free(&ds);
    }

    /* plain, alpaca with system and input: "Be brief.\n\nAdd the numbers.\n2 and 3\n\n" then "5" <|endoftext|>. */
    path = tmp_file("exact_plain.json", "[{\"system\": \"Be brief.\", \"instruction\": \"Add the numbers.\", "
                                        "\"input\": \"2 and 3\", \"output\": \"5\"}]");
    static const int32_t pprompt[] = {66,  101, 270, 468, 101, 102, 46, 10,  10,  65, 100,
                                      100, 260, 463, 375, 46,  10,  50, 271, 382, 10, 10};
    static const int32_t presp[] = {53, EOT};
    ok = load(&ds, path, demo, IOPO_OBJ_SFT, "plain", 256, false, 512);
    CHECK(ok && ds.n == 1, "plain record: %s", err);
    if (ok) {
        expect_seq(&ds.rec[0].seq[0], pprompt, 22, presp, 2, "plain");
        iopo_pref_dataset_free(&ds);
    }

    /* Text never makes markers: "<|im_end|>" typed by a user is characters ("user\na <|im_end|> b"). */
    path = tmp_file("inject.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a <|im_end|> b\"}, "
                                    "{\"role\": \"assistant\", \"content\": \"<|im_start|>\"}]}\n");
    static const int32_t iprompt[] = {IM_START, 290, 264,    10, 97,       32,  60,  124, 311, 95,  101, 262, 124,
                                      62,       270, IM_END, 10, IM_START, 297, 115, 349, 116, 284, 116, 10};
    int32_t *rid;
    long nr = iopo_tokenizer_encode(chatml, "<|im_start|>", 12, false, &rid, err, sizeof err);
    ok = load(&ds, path, chatml, IOPO_OBJ_SFT, "chatml", 256, false, 0);
    CHECK(ok && ds.n == 1 && nr > 1, "injection record: %s", err);
    if (ok && nr > 1) {
        int32_t resp[32];
        memcpy(resp, rid, (size_t)nr * 4);
        resp[nr] = IM_END;
        expect_seq(&ds.rec[0].seq[0], iprompt, 25, resp, (int)nr + 1, "user text with marker strings");
        iopo_pref_dataset_free(&ds);
    }
    free(rid);
}

/* ---- IOPO order ---- */

static void check_iopo_order(void) {
    const char *path = tmp_file(
        "order.jsonl", "\n{\"conversations\": [{\"from\": \"human\", \"value\": \"First question.\"}, "
                       "{\"from\": \"human\", \"value\": \"Second question.\"}], \"chosen\": {\"from\": \"gpt\", "
                       "\"value\": \"Answer one.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"Answer two."
                       "\"}, \"system\": \"Sys.\"}\n");
    iopo_pref_dataset ds;
    bool ok = load(&ds, path, chatml, IOPO_OBJ_IOPO, "chatml", 256, false, 0);
    CHECK(ok && ds.n == 1 && ds.nseq == 4, "iopo order: %s", err);
    if (ok) {
        CHECK(ds.rec[0].line == 2, "iopo record line %d, want 2 (after a blank line)", ds.rec[0].line);
        const char *x[2] = {"<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nFirst question.<|im_end|>\n"
                            "<|im_start|>assistant\n",
                            "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nSecond question.<|im_end|>\n"
                            "<|im_start|>assistant\n"};
        const char *y[2] = {"Answer one.<|im_end|>", "Answer two.<|im_end|>"};
        static const int order[4][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
        for (int k = 0; k < 4; k++) {
            char what[32];
            snprintf(what, sizeof what, "iopo seq %d", k);
            expect_text(chatml, &ds.rec[0].seq[k], x[order[k][0]], y[order[k][1]], what);
        }
        iopo_pref_dataset_free(&ds);
    }
    /* plain template, same record: prompts joined by blank lines, <|endoftext|> after the response. */
    ok = load(&ds, path, demo, IOPO_OBJ_IOPO, "plain", 256, false, 0);
    CHECK(ok, "iopo plain: %s", err);
    if (ok) {
        expect_text(demo, &ds.rec[0].seq[3], "Sys.\n\nSecond question.\n\n", "Answer one.<|endoftext|>", "plain seq 3");
        iopo_pref_dataset_free(&ds);
    }
    path = tmp_file("order_ids.jsonl", "{\"x1_ids\": [1, 2], \"y1_ids\": [3], \"x2_ids\": [4, 5], \"y2_ids\": [6, 7]}");
    ok = load(&ds, path, NULL, IOPO_OBJ_IOPO, NULL, 64, false, 8);
    CHECK(ok && ds.n == 1, "iopo ids: %s", err);
    if (ok) {
        static const int32_t x1[] = {1, 2}, y1[] = {3}, x2[] = {4, 5}, y2[] = {6, 7};
        expect_seq(&ds.rec[0].seq[0], x1, 2, y1, 1, "ids chosen_v1");
        expect_seq(&ds.rec[0].seq[1], x1, 2, y2, 2, "ids rejected_v1");
        expect_seq(&ds.rec[0].seq[2], x2, 2, y2, 2, "ids chosen_v2");
        expect_seq(&ds.rec[0].seq[3], x2, 2, y1, 1, "ids rejected_v2");
        iopo_pref_dataset_free(&ds);
    }
}

/* ---- truncation ---- */

static void check_truncation(void) {
    static const int32_t tail5[] = {6, 7, 8, 9, 10}, tail4[] = {7, 8, 9, 10}, r3[] = {20, 21, 22}, c2[] = {30, 31},
                         r4[] = {40, 41, 42, 43};
    iopo_pref_dataset ds;
    /* cutoff 8: the response stays whole, the prompt keeps its last 8 - 3 tokens. */
    const char *path =
        tmp_file("trunc.jsonl", "{\"prompt_ids\": [1,2,3,4,5,6,7,8,9,10], \"response_ids\": [20,21,22]}\n"
                                "{\"prompt_ids\": [1,2], \"response_ids\": [20,21,22]}\n");
    bool ok = load(&ds, path, NULL, IOPO_OBJ_SFT, NULL, 8, false, 64);
    CHECK(ok && ds.n == 2 && ds.truncated == 1, "truncation: %s (n %d, truncated %d)", err, ds.n, ds.truncated);
    if (ok) {
        expect_seq(&ds.rec[0].seq[0], tail5, 5, r3, 3, "truncated sft");
        iopo_pref_dataset_free(&ds);
    }
    /* DPO: one prompt cut for the longer response, the same in both sequences. */
    path = tmp_file("trunc_dpo.jsonl", "{\"prompt_ids\": [1,2,3,4,5,6,7,8,9,10], \"chosen_ids\": [30,31], "
                                       "\"rejected_ids\": [40,41,42,43]}\n");
    ok = load(&ds, path, NULL, IOPO_OBJ_DPO, NULL, 8, false, 64);
    CHECK(ok && ds.n == 1 && ds.truncated == 1, "dpo truncation: %s", err);
    if (ok) {
        expect_seq(&ds.rec[0].seq[0], tail4, 4, c2, 2, "truncated chosen");
        expect_seq(&ds.rec[0].seq[1], tail4, 4, r4, 4, "truncated rejected");
        iopo_pref_dataset_free(&ds);
    }
    /* Over-long: a 7-token response leaves 1 < cutoff/4 = 2 prompt tokens; a 1-token prompt fits exactly. */
    path = tmp_file("overlong.jsonl", "{\"prompt_ids\": [1], \"response_ids\": [1,2,3,4,5,6,7]}\n"
                                      "{\"prompt_ids\": [1,2,3,4,5,6,7,8,9,10], \"response_ids\": [1,2,3,4,5,6,7]}\n");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:2: ", path);
    expect_error(load(&ds, path, NULL, IOPO_OBJ_SFT, NULL, 8, false, 64), prefix, "over-long", "over-long record");
    /* Text through ChatML: the response and its <|im_end|> survive, the prompt keeps its end. */
    path = tmp_file("trunc_text.jsonl",
                    "{\"prompt\": \"The sun warms the ground, and the ground warms the air above it. Warm air is "
                    "light, so it rises. Cool air is heavy, so it sinks. Say it short.\", \"chosen\": \"Warm air "
                    "rises.\", \"rejected\": \"Cold air rises.\"}\n");
    ok = load(&ds, path, chatml, IOPO_OBJ_DPO, "chatml", 32, false, 0);
    CHECK(ok && ds.truncated == 1, "chatml truncation: %s", err);
    if (ok) {
        const iopo_example *e = &ds.rec[0].seq[0], *e1 = &ds.rec[0].seq[1];
        CHECK((e->n > e1->n ? e->n : e1->n) == 32, "truncated lengths %d, %d: the longer should be 32", e->n, e1->n);
        int np = 0;
        while (np < e->n && !e->label[np]) np++;
        char *p = decode(chatml, e->ids, np), *r = decode(chatml, e->ids + np, e->n - np);
        const char *end = "short.<|im_end|>\n<|im_start|>assistant\n";
        CHECK(strcmp(r, "Warm air rises.<|im_end|>") == 0, "truncated response \"%s\"", r);
        CHECK(strlen(p) > strlen(end) && strcmp(p + strlen(p) - strlen(end), end) == 0 && strstr(p, "The sun") == NULL,
              "truncated prompt \"%s\" should keep its end only", p);
        free(p);
        free(r);
        iopo_pref_dataset_free(&ds);
    }
}

/* ---- bad records ---- */

static const char *GOOD_TRL = "{\"prompt\": \"Hi.\", \"chosen\": \"Hello.\", \"rejected\": \"Go.\"}";
static const char *GOOD_MSG = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"assistant\", "
                              "\"content\": \"Hello.\"}]}";
static const char *GOOD_IOPO = "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"human\", "
                               "\"value\": \"B.\"}], \"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, \"rejected\": "
                               "{\"from\": \"gpt\", \"value\": \"D.\"}}";
static const char *GOOD_SG = "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}], \"chosen\": {\"from\": "
                             "\"gpt\", \"value\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}";
static const char *GOOD_IDS = "{\"prompt_ids\": [1, 2], \"chosen_ids\": [3], \"rejected_ids\": [4]}";

static const struct bad {
    const char **good;
    iopo_objective obj;
    const char *record, *part;
} bads[] = {
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"Hi.\", \"chosen\": ", "invalid JSON at column"},
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"Hi.\"} trailing", "invalid JSON at column 18"},
    {&GOOD_TRL, IOPO_OBJ_DPO, "[1, 2]", "must be a JSON object, not an array"},
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"Hi.\", \"chosen\": \"Hello.\"}", "missing \"rejected\""},
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"Hi.\", \"chosen\": 5, \"rejected\": \"Go.\"}",
     "\"chosen\" must be a string, not a number"},
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"\", \"chosen\": \"Hello.\", \"rejected\": \"Go.\"}",
     "\"prompt\" is empty"},
    {&GOOD_TRL, IOPO_OBJ_DPO, "{\"prompt\": \"Hi.\", \"chosen\": \"Hello.\", \"rejected\": \"\"}",
     "\"rejected\" is empty"},
    {&GOOD_MSG, IOPO_OBJ_SFT, "{\"messages\": [{\"role\": \"robot\", \"content\": \"Hi.\"}]}",
     "\"messages\"[0]: unknown role \"robot\""},
    {&GOOD_MSG, IOPO_OBJ_SFT, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi.\"}]}",
     "must end with an assistant turn"},
    {&GOOD_MSG, IOPO_OBJ_SFT,
     "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"user\", \"content\": \"Yo.\"}]}",
     "\"messages\"[1]: expected an assistant turn, got user"},
    {&GOOD_MSG, IOPO_OBJ_SFT,
     "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"system\", \"content\": \"S.\"}]}",
     "\"messages\"[1]: a system turn may only come first"},
    {&GOOD_MSG, IOPO_OBJ_SFT,
     "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"assistant\", \"content\": \"\"}]}",
     "\"messages\"[1]: \"content\" is empty"},
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"human\", \"value\": \"B.\"}, "
     "{\"from\": \"human\", \"value\": \"E.\"}], \"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, \"rejected\": "
     "{\"from\": \"gpt\", \"value\": \"D.\"}}",
     "exactly 2 human turns (x1, x2), not 3"},
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"human\", \"value\": \"B.\"}], "
     "\"chosen\": {\"from\": \"human\", \"value\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "\"chosen\": \"from\" must be gpt or assistant (the response), not \"human\""},
    /* Roles and keys other than the release's: the one found and the ones accepted. */
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"bot\", \"value\": \"B.\"}], "
     "\"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "\"conversations\"[1]: unknown role \"bot\" in \"from\" (accepted: human or user, gpt or assistant, system)"},
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"role\": \"user\", \"content\": \"A.\"}, {\"role\": \"user\", \"content\": \"B.\"}], "
     "\"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "\"conversations\"[0]: missing \"from\" (keys found: \"role\", \"content\"; sharegpt turns are {\"from\": role, "
     "\"value\": text})"},
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"human\", \"value\": \"B.\"}], "
     "\"chosen\": {\"from\": \"gpt\", \"content\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "\"chosen\": missing \"value\" (keys found: \"from\", \"content\"; a sharegpt response is {\"from\": \"gpt\", "
     "\"value\": text})"},
    {&GOOD_MSG, IOPO_OBJ_SFT, "{\"messages\": [{\"from\": \"user\", \"value\": \"Hi.\"}]}",
     "\"messages\"[0]: missing \"role\" (keys found: \"from\", \"value\"; messages turns are {\"role\": role, "
     "\"content\": text})"},
    {&GOOD_IOPO, IOPO_OBJ_IOPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"human\", \"value\": \"B.\"}], "
     "\"chosen\": \"C.\", \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "\"chosen\" must be an object"},
    {&GOOD_SG, IOPO_OBJ_DPO,
     "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"gpt\", \"value\": \"B.\"}], "
     "\"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}",
     "must end with a human turn (the prompt), not gpt (2 turns)"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1, 2], \"chosen_ids\": [3], \"rejected_ids\": [99]}",
     "\"rejected_ids\"[0] = 99 is outside the model's vocabulary (ids 0 to 63)"},
    /* Ids that are no ids: each named with its value, never converted (1e30 and 3e9 do not fit an int). */
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1, -1], \"chosen_ids\": [3], \"rejected_ids\": [4]}",
     "\"prompt_ids\"[1] = -1 is negative: token ids are 0 to 63"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1, 2.5], \"chosen_ids\": [3], \"rejected_ids\": [4]}",
     "\"prompt_ids\"[1] = 2.5 is not an integer token id"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1e30], \"chosen_ids\": [3], \"rejected_ids\": [4]}",
     "\"prompt_ids\"[0] = 1e+30 is outside the model's vocabulary (ids 0 to 63)"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [3000000000], \"chosen_ids\": [3], \"rejected_ids\": [4]}",
     "\"prompt_ids\"[0] = 3000000000 is outside the model's vocabulary (ids 0 to 63)"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1], \"chosen_ids\": [\"3\"], \"rejected_ids\": [4]}",
     "\"chosen_ids\"[0] is a string, not a token id"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1], \"chosen_ids\": [3], \"rejected_ids\": [-1e400]}",
     "\"rejected_ids\"[0] = -inf is not an integer token id"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [], \"chosen_ids\": [3], \"rejected_ids\": [4]}",
     "\"prompt_ids\" is empty"},
    {&GOOD_IDS, IOPO_OBJ_DPO, "{\"prompt_ids\": [1], \"chosen_ids\": [3, 3, 3, 3, 3, 3, 3, 3], \"rejected_ids\": [4]}",
     "over-long"},
};

static void check_bad_records(void) {
    for (size_t b = 0; b < sizeof bads / sizeof *bads; b++) {
        const struct bad *bd = &bads[b];
        char content[2048], name[32], prefix[600], what[64];
        snprintf(content, sizeof content, "%s\n\n%s\n%s\n", *bd->good, bd->record, *bd->good);
        snprintf(name, sizeof name, "bad%zu.jsonl", b);
        const char *path = tmp_file(name, content);
        bool ids = bd->good == &GOOD_IDS;
        snprintf(prefix, sizeof prefix, "%s:3: ", path);
        snprintf(what, sizeof what, "bad record %zu", b);
        iopo_pref_dataset ds;
        bool ok = load(&ds, path, ids ? NULL : demo, bd->obj, ids ? NULL : "plain", ids ? 8 : 64, false, ids ? 64 : 0);
        expect_error(ok, prefix, bd->part, what);
        if (ok) iopo_pref_dataset_free(&ds);
    }
    /* JSON arrays count records. */
    iopo_pref_dataset ds;
    char content[1024], prefix[600];
    snprintf(content, sizeof content, "[\n%s,\n{\"prompt\": \"Hi.\", \"rejected\": \"Go.\"}\n]\n", GOOD_TRL);
    const char *path = tmp_file("bad_array.json", content);
    snprintf(prefix, sizeof prefix, "%s:record 2: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "plain", 64, false, 0), prefix, "missing \"chosen\"",
                 "array record");
    /* A broken array cannot be cut into records: the error gives the line. */
    snprintf(content, sizeof content, "[\n%s,\n{\"prompt\": \"Hi.\",, }\n]\n", GOOD_TRL);
    path = tmp_file("broken_array.json", content);
    snprintf(prefix, sizeof prefix, "%s:3: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "plain", 64, false, 0), prefix, "invalid JSON", "broken array");
    path = tmp_file("unknown.jsonl", "{\"question\": \"Hi.\", \"answer\": \"Yo.\"}\n");
    snprintf(prefix, sizeof prefix, "%s:1: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_SFT, "plain", 64, true, 0), prefix,
                 "unknown record format (keys: \"question\", \"answer\")", "unknown format");
    path = tmp_file("empty.jsonl", "\n\n");
    snprintf(prefix, sizeof prefix, "%s: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_SFT, "plain", 64, false, 0), prefix, "no records", "empty file");
}

/* ---- skip mode ---- */

static char *capture_stderr_begin(int *saved) {
    static char path[512];
    snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
    fflush(stderr);
    *saved = dup(2);
    FILE *f = freopen(path, "w", stderr);
    (void)f;
    return path;
}

static char *capture_stderr_end(int saved, const char *path) {
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    char *text = iopo_read_file(path, &len, err, sizeof err);
    return text ? text : calloc(1, 1);
}

static void check_skip(void) {
    char content[2048];
    snprintf(content, sizeof content,
             "%s\n{\"prompt\": \"Hi.\", \n%s\n{\"prompt\": \"Hi.\", \"chosen\": \"Yo.\"}\n"
             "{\"prompt\": \"Hi.\", \"chosen\": \"%s\", \"rejected\": \"Go.\"}\n",
             GOOD_TRL, GOOD_TRL, "word word word word word word word word word word word word word word");
    const char *path = tmp_file("skip.jsonl", content);
    int saved;
    char *cap = capture_stderr_begin(&saved);
    iopo_pref_dataset ds;
    bool ok = load(&ds, path, demo, IOPO_OBJ_DPO, "plain", 16, true, 0);
    char *log = capture_stderr_end(saved, cap);
    CHECK(ok && ds.n == 2 && ds.dropped == 3, "skip: %s (n %d, dropped %d)", err, ds.n, ds.dropped);
    if (ok) {
        CHECK(ds.rec[0].line == 1 && ds.rec[1].line == 3, "kept lines %d, %d", ds.rec[0].line, ds.rec[1].line);
        iopo_pref_dataset_free(&ds);
    }
    int lines = 0;
    for (char *p = log; *p; p++) lines += *p == '\n';
    CHECK(lines == 3, "skip: %d lines on stderr, want 3:\n%s", lines, log);
    static const char *want[] = {":2: invalid JSON", ":4: missing \"rejected\"", ":5: over-long"};
    for (int i = 0; i < 3; i++) {
        char line[700];
        snprintf(line, sizeof line, "%s%s", path, want[i]);
        CHECK(strstr(log, line) != NULL, "skip: stderr lacks \"%s\":\n%s", line, log);
    }
    free(log);
    /* The same file without skip stops at line 2. */
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:2: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "plain", 16, false, 0), prefix, "invalid JSON", "no skip");
    /* Nothing usable left. */
    path = tmp_file("all_bad.jsonl", "{\"prompt\": \"Hi.\", \"chosen\": \"Yo.\"}\n{\"prompt\": 1}\n");
    cap = capture_stderr_begin(&saved);
    ok = load(&ds, path, demo, IOPO_OBJ_DPO, "plain", 16, true, 0);
    log = capture_stderr_end(saved, cap);
    snprintf(prefix, sizeof prefix, "%s: ", path);
    expect_error(ok, prefix, "no usable records (2 skipped)", "all skipped");
    free(log);
}

/* ---- objective / format / template mismatches ---- */

/* ---- role vocabularies ---- */

/* The same conversation in each style with either vocabulary (user/assistant, human/gpt) gives the same sequences;
 * an IOPO record whose first record has an unknown role is named with the roles found. */
static void check_role_vocabularies(void) {
    static const char *variants[][3] = {
        {"sft_messages", "{\"messages\": [{\"role\": \"%s\", \"content\": \"Hi there.\"}, {\"role\": \"%s\", "
                         "\"content\": \"Hello.\"}]}\n", "sft messages (jsonl)"},
        {"sft_sharegpt", "{\"conversations\": [{\"from\": \"%s\", \"value\": \"Hi there.\"}, {\"from\": \"%s\", "
                         "\"value\": \"Hello.\"}]}\n", "sft sharegpt (jsonl)"},
        {"iopo_sharegpt", "{\"conversations\": [{\"from\": \"%s\", \"value\": \"Hi there.\"}, {\"from\": \"%s\", "
                          "\"value\": \"Be brief.\"}], \"chosen\": {\"from\": \"%s\", \"value\": \"Hello.\"}, "
                          "\"rejected\": {\"from\": \"gpt\", \"value\": \"Hi.\"}}\n", "iopo sharegpt (jsonl)"},
    };
    static const char *vocab[2][2] = {{"user", "assistant"}, {"human", "gpt"}};
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        bool iopo = strncmp(variants[v][0], "iopo", 4) == 0;
        iopo_pref_dataset ds[2];
        bool ok[2];
        for (int w = 0; w < 2; w++) {
            char content[1024], name[64];
            const char *u = vocab[w][0], *a = vocab[w][1];
            if (iopo) snprintf(content, sizeof content, variants[v][1], u, vocab[1 - w][0], a);
            else snprintf(content, sizeof content, variants[v][1], u, a);
            snprintf(name, sizeof name, "%s_%d.jsonl", variants[v][0], w);
            ok[w] = load(&ds[w], tmp_file(name, content), demo, iopo ? IOPO_OBJ_IOPO : IOPO_OBJ_SFT, "plain", 64,
                         false, 0);
            CHECK(ok[w], "%s with %s/%s: %s", variants[v][0], u, a, err);
        }
        if (!ok[0] || !ok[1]) continue;
        bool same = ds[0].n == 1 && ds[1].n == 1 && ds[0].nseq == ds[1].nseq;
        for (int k = 0; same && k < ds[0].nseq; k++) {
            const iopo_example *x = &ds[0].rec[0].seq[k], *y = &ds[1].rec[0].seq[k];
            same = x->n == y->n && memcmp(x->ids, y->ids, (size_t)x->n * 4) == 0 &&
                   memcmp(x->label, y->label, (size_t)x->n) == 0;
        }
        CHECK(same, "%s: user/assistant and human/gpt give the same sequences", variants[v][0]);
        CHECK(strcmp(ds[0].format, variants[v][2]) == 0 && strcmp(ds[1].format, variants[v][2]) == 0,
              "%s: format \"%s\" / \"%s\", want \"%s\"", variants[v][0], ds[0].format, ds[1].format, variants[v][2]);
        iopo_pref_dataset_free(&ds[0]);
        iopo_pref_dataset_free(&ds[1]);
    }
    iopo_pref_dataset ds;
    const char *path = tmp_file("iopo_bot.jsonl",
                                "{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}, {\"from\": \"bot\", "
                                "\"value\": \"B.\"}], \"chosen\": {\"from\": \"gpt\", \"value\": \"C.\"}, "
                                "\"rejected\": {\"from\": \"gpt\", \"value\": \"D.\"}}\n");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:1: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_IOPO, "plain", 64, false, 0), prefix,
                 "\"conversations\" holds turns from human, bot; the IOPO release's records hold two human (or user) "
                 "turns, x1 and x2",
                 "iopo first record with an unknown role");
}

static void check_mismatch(void) {
    char path[1200], prefix[1300];
    iopo_pref_dataset ds;
    struct {
        const char *file;
        iopo_objective obj;
        const char *part;
    } cases[] = {
        {"sft_messages.jsonl", IOPO_OBJ_DPO, "the dpo objective needs preference data"},
        {"sft_alpaca.json", IOPO_OBJ_IOPO, "the iopo objective needs preference data"},
        {"sft_ids.jsonl", IOPO_OBJ_DPO, "the dpo objective needs preference data"},
        {"dpo_trl.jsonl", IOPO_OBJ_IOPO, "the iopo objective needs two instructions per record"},
        {"dpo_ids.jsonl", IOPO_OBJ_IOPO, "the iopo objective needs two instructions per record"},
        {"iopo_sharegpt.json", IOPO_OBJ_DPO, "this file is IOPO data"},
        {"iopo_ids.jsonl", IOPO_OBJ_DPO, "this file is IOPO data"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snprintf(path, sizeof path, "%s/assets/data/%s", root, cases[c].file);
        snprintf(prefix, sizeof prefix, "%s:%s: ", path, strstr(cases[c].file, ".jsonl") ? "1" : "record 1");
        bool ids = strstr(cases[c].file, "_ids") != NULL;
        expect_error(load(&ds, path, ids ? NULL : demo, cases[c].obj, "plain", 64, true, 512), prefix, cases[c].part,
                     cases[c].file);
    }
    snprintf(path, sizeof path, "%s/assets/data/dpo_trl.jsonl", root);
    snprintf(prefix, sizeof prefix, "%s: ", path);
    char demo_path[1100];
    snprintf(demo_path, sizeof demo_path, "<|im_start|>, which tokenizer %s/assets/demo/tokenizer.json lacks", root);
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "chatml", 64, false, 0), prefix, demo_path,
                 "chatml without tokens");
    expect_error(load(&ds, path, chatml, IOPO_OBJ_DPO, "chatml", 64, false, 512), prefix, "<|im_start|> of tokenizer",
                 "marker outside the model's vocabulary");
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "vicuna", 64, false, 0), prefix,
                 "unknown chat template \"vicuna\" (auto, chatml, llama3 or plain)", "unknown template");
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, "llama3", 64, false, 0), prefix,
                 "template llama3 needs the token <|begin_of_text|>", "llama3 without its tokens");
    expect_error(load(&ds, path, NULL, IOPO_OBJ_DPO, "plain", 64, false, 512), prefix, "needs a tokenizer",
                 "text without tokenizer");
    snprintf(path, sizeof path, "%s/assets/data/dpo_ids.jsonl", root);
    snprintf(prefix, sizeof prefix, "%s: ", path);
    expect_error(load(&ds, path, demo, IOPO_OBJ_DPO, NULL, 1, false, 512), prefix, "cutoff_len 1 is too small",
                 "cutoff");
}

/* The demo tokenizer plus special added tokens names[0..n) at ids 512.., written to the temp dir as file. */
static iopo_tokenizer *make_tokenizer(const char *const *names, int n, const char *file, char *saved, size_t savedlen) {
    char path[1100];
    snprintf(path, sizeof path, "%s/assets/demo/tokenizer.json", root);
    size_t len;
    char *text = iopo_read_file(path, &len, err, sizeof err);
    CHECK(text != NULL, "%s", err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", IM_START + i);
        cJSON_AddStringToObject(t, "content", names[i]);
        cJSON_AddFalseToObject(t, "single_word");
        cJSON_AddFalseToObject(t, "lstrip");
        cJSON_AddFalseToObject(t, "rstrip");
        cJSON_AddFalseToObject(t, "normalized");
        cJSON_AddTrueToObject(t, "special");
        cJSON_AddItemToArray(added, t);
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    snprintf(saved, savedlen, "%s", tmp_file(file, out));
    free(out);
    iopo_tokenizer *tok = iopo_tokenizer_load(saved, err, sizeof err);
    CHECK(tok != NULL, "%s tokenizer: %s", file, err);
    CHECK(tok && iopo_tokenizer_vocab_size(tok) == 512 + n && iopo_tokenizer_token_id(tok, names[n - 1]) == 511 + n,
          "%s tokenizer ids", file);
    return tok;
}

static void make_chatml_tokenizer(void) {
    static const char *const names[] = {"<|im_start|>", "<|im_end|>"};
    chatml = make_tokenizer(names, 2, "tokenizer_chatml.json", chatml_path, sizeof chatml_path);
    static const char *const l3[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    static char l3_path[512];
    llama3 = make_tokenizer(l3, 4, "tokenizer_llama3.json", l3_path, sizeof l3_path);
}

/* ---- llama3 and auto templates ---- */

static void check_llama3_and_auto(void) {
    /* The user turn carries surrounding whitespace: Llama 3's template trims it. */
    const char *path = tmp_file(
        "llama3_iopo.jsonl", "{\"conversations\": [{\"from\": \"human\", \"value\": \" First question.\\n\"}, "
                             "{\"from\": \"human\", \"value\": \"Second question.\"}], \"chosen\": {\"from\": "
                             "\"gpt\", \"value\": \"Answer one.\"}, \"rejected\": {\"from\": \"gpt\", \"value\": "
                             "\"Answer two.\"}, \"system\": \"Sys.\"}\n");
    iopo_pref_dataset ds;
    bool ok = load(&ds, path, llama3, IOPO_OBJ_IOPO, "llama3", 256, false, 0);
    CHECK(ok && ds.n == 1, "llama3: %s", ok ? "" : err);
    if (ok) {
        /* Llama 3's template: <|begin_of_text|>, then per message a header and the content trimmed, <|eot_id|>. */
        expect_text(llama3, &ds.rec[0].seq[0],
                    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys.<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\nFirst question.<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n",
                    "Answer one.<|eot_id|>", "llama3 seq 0");
        iopo_pref_dataset_free(&ds);
    }
    CHECK(!strcmp(iopo_template_for_tokenizer(llama3), "llama3") && !strcmp(iopo_template_for_tokenizer(chatml), "chatml") &&
              !strcmp(iopo_template_for_tokenizer(demo), "plain"),
          "auto picks llama3 / chatml / plain: %s / %s / %s", iopo_template_for_tokenizer(llama3),
          iopo_template_for_tokenizer(chatml), iopo_template_for_tokenizer(demo));
    /* auto loads exactly what the template it picks loads. */
    const iopo_tokenizer *toks[3] = {llama3, chatml, demo};
    const char *names[3] = {"llama3", "chatml", "plain"};
    for (int k = 0; k < 3; k++) {
        iopo_pref_dataset a, b;
        bool oa = load(&a, path, toks[k], IOPO_OBJ_IOPO, "auto", 256, false, 0);
        bool ob = oa && load(&b, path, toks[k], IOPO_OBJ_IOPO, names[k], 256, false, 0);
        CHECK(oa && ob && a.rec[0].seq[0].n == b.rec[0].seq[0].n &&
                  !memcmp(a.rec[0].seq[0].ids, b.rec[0].seq[0].ids, (size_t)a.rec[0].seq[0].n * 4),
              "auto with a %s tokenizer differs from %s", names[k], names[k]);
        if (oa) iopo_pref_dataset_free(&a);
        if (ob) iopo_pref_dataset_free(&b);
    }
    CHECK(iopo_template_jinja("chatml") && iopo_template_jinja("llama3") && iopo_template_jinja("plain") &&
              !iopo_template_jinja("vicuna"),
          "a Jinja string for each template");
}

/* ---- LLaMA-Factory dataset_info entries: renamed columns and tags ---- */

static bool load_info(iopo_pref_dataset *ds, const char *path, iopo_objective obj, const char *info, bool skip) {
    iopo_pref_options o = {.objective = obj, .template_name = "chatml", .cutoff_len = 256, .skip_bad = skip,
                           .dataset_info = info};
    err[0] = 0;
    return iopo_pref_dataset_load(ds, path, chatml, &o, err, sizeof err);
}

/* The same records, sequence by sequence, ids and labels. */
static void expect_same(const iopo_pref_dataset *a, const iopo_pref_dataset *b, const char *what) {
    bool same = a->n == b->n && a->nseq == b->nseq;
    for (int i = 0; same && i < a->n; i++)
        for (int k = 0; same && k < a->nseq; k++) {
            const iopo_example *x = &a->rec[i].seq[k], *y = &b->rec[i].seq[k];
            same = x->n == y->n && !memcmp(x->ids, y->ids, (size_t)x->n * 4) &&
                   !memcmp(x->label, y->label, (size_t)x->n);
        }
    CHECK(same, "%s: sequences differ from the canonical file's", what);
}

/* A renamed file through its entry against the canonical file it was made from (assets/llamafactory holds renamed
 * copies of assets/data samples). */
static void check_renamed(const char *renamed, const char *canonical, iopo_objective obj, const char *info,
                          const char *format) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/assets/llamafactory/%s", root, renamed);
    snprintf(b, sizeof b, "%s/assets/data/%s", root, canonical);
    iopo_pref_dataset x, y;
    bool ox = load_info(&x, a, obj, info, false);
    CHECK(ox, "%s through its entry: %s", renamed, err);
    bool oy = load_info(&y, b, obj, NULL, false);
    CHECK(oy, "%s: %s", canonical, err);
    if (ox && oy) {
        expect_same(&x, &y, renamed);
        CHECK(!strcmp(x.format, format), "%s: format \"%s\", want \"%s\"", renamed, x.format, format);
    }
    if (ox) iopo_pref_dataset_free(&x);
    if (oy) iopo_pref_dataset_free(&y);
}

static void check_dataset_info(void) {
    check_renamed("dpo_renamed.json", "dpo_alpaca.json", IOPO_OBJ_DPO,
                  "{\"formatting\": \"alpaca\", \"ranking\": true, \"columns\": {\"prompt\": \"question\", "
                  "\"query\": \"context\", \"chosen\": \"better\", \"rejected\": \"worse\", \"system\": \"sys\"}}",
                  "dpo alpaca (json array)");
    check_renamed("sft_openai.json", "sft_sharegpt.json", IOPO_OBJ_SFT,
                  "{\"formatting\": \"sharegpt\", \"columns\": {\"messages\": \"messages\"}, \"tags\": {\"role_tag\": "
                  "\"role\", \"content_tag\": \"content\", \"user_tag\": \"user\", \"assistant_tag\": \"assistant\", "
                  "\"system_tag\": \"system\"}}",
                  "sft sharegpt (json array)");
    check_renamed("iopo_demo.json", "iopo_sharegpt.json", IOPO_OBJ_IOPO,
                  "{\"formatting\": \"sharegpt\", \"ranking\": true, \"columns\": {\"messages\": \"conversations\", "
                  "\"system\": \"system\", \"chosen\": \"chosen\", \"rejected\": \"rejected\"}}",
                  "iopo sharegpt (json array)");

    /* Only what the entry names is read: a system column it leaves out is not the prompt's system text, and a
     * query column alone is the whole user turn (LLaMA-Factory joins prompt and query, either may be absent). */
    const char *f = tmp_file("info_alpaca.jsonl",
                             "{\"q\": \"Say hi.\", \"system\": \"Ignored.\", \"a\": \"Hi.\", \"messages\": 3}\n");
    iopo_pref_dataset ds;
    bool ok = load_info(&ds, f, IOPO_OBJ_SFT, "{\"columns\": {\"query\": \"q\", \"response\": \"a\"}}", false);
    CHECK(ok, "query-only alpaca: %s", err);
    if (ok) {
        expect_text(chatml, &ds.rec[0].seq[0], "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n",
                    "Hi.<|im_end|>", "query-only alpaca");
        CHECK(!strcmp(ds.format, "sft alpaca (jsonl)"), "query-only alpaca: format %s", ds.format);
        iopo_pref_dataset_free(&ds);
    }
    /* Without a columns object: instruction, input, output; system and history are not read. */
    f = tmp_file("info_default.jsonl",
                 "{\"instruction\": \"Say hi.\", \"system\": \"Ignored.\", \"output\": \"Hi.\"}\n");
    ok = load_info(&ds, f, IOPO_OBJ_SFT, "{\"formatting\": \"alpaca\"}", false);
    CHECK(ok, "default columns: %s", err);
    if (ok) {
        expect_text(chatml, &ds.rec[0].seq[0], "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n",
                    "Hi.<|im_end|>", "default columns");
        iopo_pref_dataset_free(&ds);
    }

    /* Tags with words of their own (not sharegpt's or OpenAI's, which the formats read anyway), for the turns and
     * the ranking responses; keys the tags do not name stay and are not read. */
    f = tmp_file("info_tags.jsonl",
                 "{\"dialog\": [{\"speaker\": \"boss\", \"text\": \"Be brief.\", \"from\": \"gpt\"}, "
                 "{\"speaker\": \"customer\", \"text\": \"Hello?\"}], \"good\": {\"speaker\": \"agent\", "
                 "\"text\": \"Hi.\"}, \"bad\": {\"speaker\": \"agent\", \"text\": \"Go.\"}}\n");
    ok = load_info(&ds, f, IOPO_OBJ_DPO,
                   "{\"formatting\": \"sharegpt\", \"ranking\": true, \"columns\": {\"messages\": \"dialog\", "
                   "\"chosen\": \"good\", \"rejected\": \"bad\"}, \"tags\": {\"role_tag\": \"speaker\", "
                   "\"content_tag\": \"text\", \"user_tag\": \"customer\", \"assistant_tag\": \"agent\", "
                   "\"system_tag\": \"boss\"}}",
                   false);
    CHECK(ok, "own tags: %s", err);
    if (ok) {
        const char *prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello?<|im_end|>\n"
                             "<|im_start|>assistant\n";
        expect_text(chatml, &ds.rec[0].seq[0], prompt, "Hi.<|im_end|>", "own tags, chosen");
        expect_text(chatml, &ds.rec[0].seq[1], prompt, "Go.<|im_end|>", "own tags, rejected");
        CHECK(!strcmp(ds.format, "dpo sharegpt (jsonl)"), "own tags: format %s", ds.format);
        iopo_pref_dataset_free(&ds);
    }

    /* A column the entry needs: named, with what the record is instead; the first record decides even with skip. */
    f = tmp_file("info_mismatch.json", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"A.\"}], \"chosen\": "
                                        "{\"from\": \"gpt\", \"value\": \"B.\"}, \"rejected\": {\"from\": \"gpt\", "
                                        "\"value\": \"C.\"}}]\n");
    char prefix[1300];
    snprintf(prefix, sizeof prefix, "%s:record 1: ", f);
    expect_error(load_info(&ds, f, IOPO_OBJ_DPO, "{\"formatting\": \"alpaca\", \"ranking\": true}", true), prefix,
                 "missing \"instruction\" (the prompt column of the dataset_info entry, formatting alpaca, ranking; "
                 "keys found: \"conversations\", \"chosen\", \"rejected\"); the record is dpo sharegpt data, "
                 "not alpaca",
                 "sharegpt records under an alpaca entry");
    f = tmp_file("info_ranking.json",
                 "[{\"instruction\": \"A.\", \"chosen\": \"B.\", \"rejected\": \"C.\"}]\n");
    snprintf(prefix, sizeof prefix, "%s:record 1: ", f);
    expect_error(load_info(&ds, f, IOPO_OBJ_SFT, "{\"formatting\": \"alpaca\"}", false), prefix,
                 "missing \"output\" (the response column of the dataset_info entry, formatting alpaca; keys found: "
                 "\"instruction\", \"chosen\", \"rejected\"); the record holds chosen and rejected responses: set "
                 "\"ranking\": true", "ranking data, ranking false");
    /* Later records lacking a column are bad records, skippable. */
    f = tmp_file("info_later.jsonl", "{\"question\": \"A.\", \"better\": \"B.\", \"worse\": \"C.\"}\n"
                                     "{\"question\": \"A.\", \"better\": \"B.\"}\n");
    const char *ren = "{\"ranking\": true, \"columns\": {\"prompt\": \"question\", \"chosen\": \"better\", "
                      "\"rejected\": \"worse\"}}";
    snprintf(prefix, sizeof prefix, "%s:2: ", f);
    expect_error(load_info(&ds, f, IOPO_OBJ_DPO, ren, false), prefix,
                 "missing \"worse\" (the rejected column of the dataset_info entry", "a later record lacks a column");
    int saved;
    char *cap = capture_stderr_begin(&saved);
    ok = load_info(&ds, f, IOPO_OBJ_DPO, ren, true);
    char *said = capture_stderr_end(saved, cap);
    CHECK(ok && ds.n == 1 && ds.dropped == 1, "skip a record lacking a column: %s", ok ? "" : err);
    CHECK(strstr(said, ":2: missing \"worse\"") && strstr(said, "(record skipped)"), "skip report: %s", said);
    if (ok) iopo_pref_dataset_free(&ds);
    free(said);

    /* Entries that cannot be read: one message each, naming the file. */
    static const struct {
        const char *info, *part;
    } bad[] = {
        {"[1]", "not a JSON object"},
        {"{\"formatting\": \"openai\"}", "formatting must be \"alpaca\" or \"sharegpt\" (write an openai file as"},
        {"{\"ranking\": \"yes\"}", "ranking must be true or false"},
        {"{\"columns\": {\"prompt\": 3}}", "columns.prompt must be a non-empty string"},
        {"{\"columns\": {\"tools\": \"t\"}}", "columns.tools is not supported (iopo has no tool calls)"},
        {"{\"columns\": {\"answer\": \"a\"}}", "unknown column \"answer\""},
        {"{\"columns\": {\"history\": \"h\"}}", "columns names neither prompt nor query"},
        {"{\"columns\": {\"prompt\": \"p\"}}", "columns does not name response"},
        {"{\"formatting\": \"sharegpt\", \"tags\": {\"speaker_tag\": \"s\"}}", "unknown tag \"speaker_tag\""},
        {"{\"file_name\": \"x.json\"}", "unknown member \"file_name\""},
    };
    f = tmp_file("info_any.jsonl", "{\"instruction\": \"A.\", \"output\": \"B.\"}\n");
    snprintf(prefix, sizeof prefix, "%s: dataset_info: ", f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_error(load_info(&ds, f, IOPO_OBJ_SFT, bad[i].info, false), prefix, bad[i].part, bad[i].info);
        char why[600];
        CHECK(!iopo_pref_dataset_info_check(bad[i].info, why, sizeof why) && strstr(why, bad[i].part),
              "check of %s: %s", bad[i].info, why);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REPO_ROOT\n", argv[0]);
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/iopo_prefdata_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/assets/demo/tokenizer.json", root);
    demo = iopo_tokenizer_load(path, err, sizeof err);
    if (!demo) {
        printf("FAIL: %s\n", err);
        rmdir(tmpdir);
        return 1;
    }
    make_chatml_tokenizer();
    if (chatml) {
        check_samples();
        check_exact();
        check_iopo_order();
        check_llama3_and_auto();
        check_truncation();
        check_bad_records();
        check_skip();
        check_mismatch();
        check_role_vocabularies();
        check_dataset_info();
    }
    iopo_tokenizer_free(demo);
    iopo_tokenizer_free(chatml);
    iopo_tokenizer_free(llama3);
    /* Only the files this test wrote are in tmpdir. */
    DIR *d = opendir(tmpdir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
    printf("prefdata: %d checks passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
