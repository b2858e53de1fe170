/* IFEval's checkers (iopo_ifeval_validate / iopo_ifeval_follows, src/eval/): arbitrary bytes as the response and as
 * the kwargs of every instruction, strict and loose. First byte mod 25: the instruction (IFEval's order). Second byte
 * mod 3: 0 -> the rest is the response, checked against valid kwargs of the harness; 1 -> the rest is kwargs JSON, NUL,
 * the response; 2 -> the rest is a string, NUL, the response, the string replacing every string value of the valid
 * kwargs (keywords, letter, marker, spliter, end phrase, prompt to repeat, ...; relations and language too).
 * Invariants: every answer is 1, 0 or -1; -1 exactly when validate refuses, with a one-line message; the harness's
 * own kwargs validate; loose follows whenever strict does; a blank response follows nothing; the same call gives the
 * same answer twice; the text helpers' counts are at most the response's length and a detected language is a short
 * code. */
#include "fuzz_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ifeval_text.h"
#include "iopo/ifeval.h"

static const char *const VALID[25] = {
    "{\"keywords\": [\"ab\", \"note\"]}",
    "{\"keyword\": \"ab\", \"frequency\": 2, \"relation\": \"at least\"}",
    "{\"forbidden_words\": [\"ab\", \"x y\"]}",
    "{\"letter\": \"a\", \"let_frequency\": 3, \"let_relation\": \"less than\"}",
    "{\"language\": \"de\"}",
    "{\"num_sentences\": 3, \"relation\": \"less than\"}",
    "{\"num_paragraphs\": 2}",
    "{\"num_words\": 5, \"relation\": \"at least\"}",
    "{\"num_paragraphs\": 3, \"nth_paragraph\": 2, \"first_word\": \"ab\"}",
    "{\"num_placeholders\": 2}",
    "{\"postscript_marker\": \"P.P.S\"}",
    "{\"num_bullets\": 2}",
    "{}",
    "{\"num_highlights\": 2}",
    "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
    "{}",
    "{}",
    "{}",
    "{\"prompt_to_repeat\": \"Write ab\"}",
    "{\"end_phrase\": \"ab.\"}",
    "{\"capital_frequency\": 2, \"capital_relation\": \"at least\"}",
    "{}",
    "{}",
    "{}",
    "{}",
};

static void replace_strings(cJSON *item, const char *with) {
    cJSON *c = item->child;
    while (c) {
        cJSON *next = c->next;
        if (cJSON_IsString(c)) {
            cJSON_ReplaceItemViaPointer(item, c, cJSON_CreateString(with));
        } else if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            replace_strings(c, with);
        }
        c = next;
    }
}

static bool blank(const char *s) {
    size_t n = strlen(s);
    ifv_strip(&s, &n);
    return n == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 2) return 0;
    int idx = in[0] % 25, mode = in[1] % 3;
    const char *id = iopo_ifeval_id(idx);
    char *rest = malloc(size - 1);
    memcpy(rest, in + 2, size - 2);
    rest[size - 2] = 0;
    const char *response = rest, *part = NULL;
    size_t part_len = 0;
    if (mode != 0) {
        char *nul = memchr(rest, 0, size - 2);
        part = rest;
        part_len = nul ? (size_t)(nul - rest) : size - 2;
        response = nul ? nul + 1 : "";
    }
    cJSON *kw = NULL;
    if (mode == 1) {
        kw = cJSON_ParseWithLength(part, part_len);
    } else {
        kw = cJSON_Parse(VALID[idx]);
        FZ_CHECK(kw, "the harness's kwargs for %s do not parse", id);
        if (mode == 2) replace_strings(kw, part);
    }

    char err[1024];
    bool valid = iopo_ifeval_validate(id, kw, err, sizeof err);
    FZ_CHECK(valid || (err[0] && !strchr(err, '\n')), "%s: refused without a one-line message: '%s'", id, err);
    FZ_CHECK(mode != 0 || valid, "%s: the harness's own kwargs refused: %s", id, err);
    int strict = iopo_ifeval_follows(id, kw, "prompt", response, false, err, sizeof err);
    int again = iopo_ifeval_follows(id, kw, "prompt", response, false, err, sizeof err);
    int loose = iopo_ifeval_follows(id, kw, "prompt", response, true, err, sizeof err);
    FZ_CHECK(strict >= -1 && strict <= 1 && loose >= -1 && loose <= 1, "%s: answers %d / %d", id, strict, loose);
    FZ_CHECK(strict == again, "%s: strict gave %d, then %d", id, strict, again);
    FZ_CHECK((strict == -1) == !valid && (loose == -1) == !valid, "%s: validate %d but follows %d / %d", id, valid,
             strict, loose);
    FZ_CHECK(strict != 1 || loose == 1, "%s: strict follows, loose does not", id);
    FZ_CHECK(!blank(response) || (strict <= 0 && loose <= 0), "%s: a blank response follows", id);

    size_t n = strlen(response);
    FZ_CHECK(ifv_count_words(response, n) <= n && ifv_count_sentences(response, n) <= n &&
                 ifv_count_capital_words(response, n) <= n,
             "counts beyond the length %zu", n);
    const char *lang = ifv_detect_language(response, n);
    FZ_CHECK(!lang || (strlen(lang) >= 2 && strlen(lang) <= 5), "language code '%s'", lang ? lang : "");
    (void)ifv_json_valid(response, n);
    cJSON_Delete(kw);
    free(rest);
    return 0;
}
