/* IFEval's checkers (include/iopo/ifeval.h): for every one of the 25 instruction types, responses written by hand that
 * follow it and that do not, strict and loose (a leading "Sure! Here it is:" line, a closing remark, markdown
 * asterisks); kwargs errors that name the key; and the text helpers the checks rest on (src/eval/ifeval_text.h):
 * sentence, word and all-capital counts, case, language identification of a sentence in each of IFEval's 30
 * languages, JSON syntax. Expected values follow IFEval's definitions (instructions.py, evaluation_lib.py). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ifeval_text.h"
#include "iopo/ifeval.h"

#include "test_check.h"

typedef struct {
    const char *id, *kwargs, *response;
    int strict, loose;
} tcase;

static const tcase CASES[] = {
    /* keywords:existence: every keyword, case-insensitive, anywhere (IFEval's re.search has no word boundaries) */
    {"keywords:existence", "{\"keywords\": [\"correlated\", \"experiencing\"]}",
     "We are Experiencing CORRELATED events.", 1, 1},
    {"keywords:existence", "{\"keywords\": [\"correlated\", \"experiencing\"]}", "Nothing here correlates.", 0, 0},
    {"keywords:existence", "{\"keywords\": [\"correlated\", \"experiencing\"]}", "uncorrelatedness, experiencing", 1,
     1},
    {"keywords:existence", "{\"keywords\": [\"correlated\", \"experiencing\"]}", "*corre*lated* experiencing", 0, 1},
    /* keywords:frequency: non-overlapping occurrences, case-insensitive, inside words too */
    {"keywords:frequency", "{\"keyword\": \"war\", \"frequency\": 3, \"relation\": \"at least\"}",
     "War, war and warm tea.", 1, 1},
    {"keywords:frequency", "{\"keyword\": \"war\", \"frequency\": 3, \"relation\": \"at least\"}", "war and peace", 0,
     0},
    {"keywords:frequency", "{\"keyword\": \" sarah \", \"frequency\": 2, \"relation\": \"less than\"}",
     "Sarah met sarah.", 0, 0},
    {"keywords:frequency", "{\"keyword\": \"sarah\", \"frequency\": 2, \"relation\": \"less than\"}", "Sarah left.", 1,
     1},
    {"keywords:frequency", "{\"keyword\": \"sarah\", \"frequency\": 2, \"relation\": \"less than\"}",
     "Sarah here.\nSarah there.\nSarah again", 0, 1}, /* without both ends: one */
    {"keywords:frequency", "{\"keyword\": \"sarah\", \"frequency\": 2, \"relation\": \"less than\"}",
     "Sarah says hi:\nthe text\nSarah says bye", 0, 1},
    /* keywords:forbidden_words: whole words only (\b), case-insensitive */
    {"keywords:forbidden_words", "{\"forbidden_words\": [\"rock\", \"die\"]}", "The rocky road, diet soda.", 1, 1},
    {"keywords:forbidden_words", "{\"forbidden_words\": [\"rock\", \"die\"]}", "We ROCK.", 0, 0},
    {"keywords:forbidden_words", "{\"forbidden_words\": [\"rock\", \"die\"]}", "Sure, no rock here:\nA calm song.", 0,
     1},
    /* keywords:letter_frequency: characters of the lowercased text */
    {"keywords:letter_frequency", "{\"letter\": \"#\", \"let_frequency\": 4, \"let_relation\": \"at least\"}",
     "#a #b #c #d", 1, 1},
    {"keywords:letter_frequency", "{\"letter\": \"#\", \"let_frequency\": 4, \"let_relation\": \"at least\"}",
     "#a #b", 0, 0},
    {"keywords:letter_frequency", "{\"letter\": \"T\", \"let_frequency\": 2, \"let_relation\": \"less than\"}", "Tea",
     1, 1},
    {"keywords:letter_frequency", "{\"letter\": \"t\", \"let_frequency\": 2, \"let_relation\": \"less than\"}", "tTt",
     0, 0},
    {"keywords:letter_frequency", "{\"letter\": \"\\u00e9\", \"let_frequency\": 2, \"let_relation\": \"at least\"}",
     "\xc3\x89t\xc3\xa9", 1, 1},
    {"keywords:letter_frequency", "{\"letter\": \"*\", \"let_frequency\": 1, \"let_relation\": \"less than\"}",
     "a *b*", 0, 1},
    /* language:response_language */
    {"language:response_language", "{\"language\": \"de\"}", "Das ist ein kleines Haus und wir sind gl\xc3\xbc" "cklich.",
     1, 1},
    {"language:response_language", "{\"language\": \"de\"}", "This is a small house and we are happy.", 0, 0},
    {"language:response_language", "{\"language\": \"kn\"}",
     "\xe0\xb2\xb9\xe0\xb3\x8d\xe0\xb2\xaf\xe0\xb2\xbe\xe0\xb2\x82\xe0\xb2\xac\xe0\xb2\xb0\xe0\xb3\x8d\xe0\xb2\x97\xe0"
     "\xb2\xb0\xe0\xb3\x8d \xe0\xb2\x85\xe0\xb2\xb2\xe0\xb3\x8d\xe0\xb2\xb2.",
     1, 1},
    {"language:response_language", "{\"language\": \"de\"}",
     "Sure! Here is the answer you asked for, and it is in the language that you wanted:\nDas Haus ist klein.", 0, 1},
    {"language:response_language", "{\"language\": \"de\"}", "12345 !!!", 1, 1}, /* nothing to tell: followed */
    /* length_constraints:number_sentences */
    {"length_constraints:number_sentences", "{\"num_sentences\": 3, \"relation\": \"less than\"}", "One. Two! Three?", 0,
     0},
    {"length_constraints:number_sentences", "{\"num_sentences\": 3, \"relation\": \"less than\"}",
     "Dr. Smith arrived at 3.15 p.m. today. He sat down.", 1, 1},
    {"length_constraints:number_sentences", "{\"num_sentences\": 2, \"relation\": \"at least\"}",
     "Prices rose 3.5 percent. Then they fell.", 1, 1},
    {"length_constraints:number_sentences", "{\"num_sentences\": 2, \"relation\": \"less than\"}",
     "Sure. Here it is.\nOne sentence only", 0, 1},
    /* length_constraints:number_paragraphs: parts between "***" dividers */
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "A\n***\nB\n***\nC", 1, 1},
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "A\n***\nB", 0, 0},
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "A\n***\n***\nB\n***\nC", 0, 0},
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "***\nA\n***\nB\n***\nC\n***", 1, 1},
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "A *** B ***C", 1, 1},
    {"length_constraints:number_paragraphs", "{\"num_paragraphs\": 3}", "Sure.\n***\nA\n***\nB\n***\nC", 0, 1},
    /* length_constraints:number_words: runs of \w */
    {"length_constraints:number_words", "{\"num_words\": 5, \"relation\": \"less than\"}", "one two three four", 1, 1},
    {"length_constraints:number_words", "{\"num_words\": 6, \"relation\": \"less than\"}", "it's a well-known fact", 0,
     0},
    {"length_constraints:number_words", "{\"num_words\": 6, \"relation\": \"at least\"}", "it's a well-known fact", 1,
     1},
    {"length_constraints:number_words", "{\"num_words\": 4, \"relation\": \"less than\"}",
     "Here is my answer:\nyes indeed", 0, 1},
    /* length_constraints:nth_paragraph_first_word: paragraphs split at "\n\n" */
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"President\"}",
     "Aliens landed.\n\n\"President Smith spoke.\"", 1, 1},
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"president\"}",
     "Aliens landed.\n\nThe president spoke.", 0, 0},
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"president\"}",
     "A\n\nPresident x\n\nC", 0, 1}, /* without the last line: two */
    {"length_constraints:nth_paragraph_first_word",
     "{\"num_paragraphs\": 2, \"nth_paragraph\": 2, \"first_word\": \"president\"}",
     "Here you go:\n\nAliens.\n\nPresident, sir, spoke.", 0, 1},
    /* detectable_content:number_placeholders: [..] on one line */
    {"detectable_content:number_placeholders", "{\"num_placeholders\": 2}", "[name] lives at [address].", 1, 1},
    {"detectable_content:number_placeholders", "{\"num_placeholders\": 2}", "[name] lives at [addr\ness]", 0, 0},
    /* detectable_content:postscript */
    {"detectable_content:postscript", "{\"postscript_marker\": \"P.S.\"}", "Hi.\nP.S. Bye", 1, 1},
    {"detectable_content:postscript", "{\"postscript_marker\": \"P.S.\"}", "Hi. PS bye", 0, 0},
    {"detectable_content:postscript", "{\"postscript_marker\": \"P.P.S\"}", "Hi.\np. p. s. call me", 1, 1},
    {"detectable_content:postscript", "{\"postscript_marker\": \"P.S.\"}", "Hi.\n**P**.S. see you", 0, 1},
    {"detectable_content:postscript", "{\"postscript_marker\": \"Note:\"}", "Done.\nNOTE: bring snacks", 1, 1},
    /* detectable_format:number_bullet_lists: lines starting with "* " or "-" */
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "Intro:\n* one\n* two", 1, 1},
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "* one\n- two\n  * three", 0, 1},
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "**bold** intro\n* one\n- two", 1, 1},
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "* one\n* two\n* three", 0, 1},
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "* a\n* b\n* c\n* d\n* e", 0, 0},
    {"detectable_format:number_bullet_lists", "{\"num_bullets\": 2}", "*\nfoo\n*\nbar", 1, 1}, /* [^*] takes the newline */
    /* detectable_format:constrained_response */
    {"detectable_format:constrained_response", NULL, "My answer is yes.", 1, 1},
    {"detectable_format:constrained_response", "{}", "My answer is: yes", 0, 0},
    {"detectable_format:constrained_response", "{}", "My answer is *maybe*.", 0, 1},
    /* detectable_format:number_highlighted_sections: *x* and **x** */
    {"detectable_format:number_highlighted_sections", "{\"num_highlights\": 2}", "*one* and *two*", 1, 1},
    {"detectable_format:number_highlighted_sections", "{\"num_highlights\": 2}", "**bold** only", 0, 0},
    {"detectable_format:number_highlighted_sections", "{\"num_highlights\": 2}", "**bold** and *it*", 1, 1},
    {"detectable_format:number_highlighted_sections", "{\"num_highlights\": 1}", "* * and *a\nb*", 0, 0},
    /* detectable_format:multiple_sections: spliter, optional space, a number */
    {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
     "SECTION 1\nfoo\nSECTION 2\nbar", 1, 1},
    {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
     "Section 1\nfoo\nSection 2\nbar", 0, 0},
    {"detectable_format:multiple_sections", "{\"section_spliter\": \" Section \", \"num_sections\": 2}",
     "Section 1\nfoo\nSection2\nbar", 1, 1},
    {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
     "SECTION X\nSECTION Y", 0, 0},
    {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": 2}",
     "**SECTION** 1\nfoo\n**SECTION** 2\nbar", 0, 1},
    /* detectable_format:json_format */
    {"detectable_format:json_format", NULL, "```json\n{\"a\": [1, 2.5e3, null, true]}\n```", 1, 1},
    {"detectable_format:json_format", NULL, "{\"a\": 1,}", 0, 0},
    {"detectable_format:json_format", NULL, "Here is the JSON:\n{\"a\": 1}", 0, 1},
    {"detectable_format:json_format", NULL, "[NaN, -Infinity, \"x\"]", 1, 1},
    /* detectable_format:title */
    {"detectable_format:title", NULL, "<<Poem of Joy>>\nText", 1, 1},
    {"detectable_format:title", NULL, "<< >>\n<<<>>>", 0, 0},
    {"detectable_format:title", NULL, "<< >> and <<<>>>", 1, 1}, /* greedy: \"<< >> and <<<>>>\" is one title */
    {"detectable_format:title", NULL, "<<a\nb>>", 0, 0},
    {"detectable_format:title", NULL, "<*<Title>*>", 0, 1},
    /* combination:two_responses */
    {"combination:two_responses", NULL, "Answer one.\n******\nAnswer two.", 1, 1},
    {"combination:two_responses", NULL, "Same\n******\n Same ", 0, 0},
    {"combination:two_responses", NULL, "A\n******\n******\nB", 0, 0},
    {"combination:two_responses", NULL, "A ****** B ****** C", 0, 0},
    {"combination:two_responses", NULL, "******\nA\n******\nB\n******", 1, 1},
    {"combination:two_responses", NULL, "Here are two:\nA\n******\nB\n******\nC", 0, 1},
    /* combination:repeat_prompt */
    {"combination:repeat_prompt", "{\"prompt_to_repeat\": \"Write a haiku about moms. \"}",
     "  write a HAIKU about moms. Here it is...", 1, 1},
    {"combination:repeat_prompt", "{\"prompt_to_repeat\": \"Write a haiku about moms.\"}",
     "Sure!\nWrite a haiku about moms.\nMoms are great.", 0, 1},
    {"combination:repeat_prompt", "{\"prompt_to_repeat\": \"Write a haiku about moms.\"}", "A haiku about moms.", 0, 0},
    /* startend:end_checker */
    {"startend:end_checker", "{\"end_phrase\": \"Is there anything else I can help with?\"}",
     "Text.\nIs there anything else I can help with?", 1, 1},
    {"startend:end_checker", "{\"end_phrase\": \"Is there anything else I can help with?\"}",
     "\"Text. is there anything else i can help with?\" \n", 1, 1},
    {"startend:end_checker", "{\"end_phrase\": \"Is there anything else I can help with?\"}",
     "Text. Is there anything else I can help with? Thanks", 0, 0},
    {"startend:end_checker", "{\"end_phrase\": \"Is there anything else I can help with?\"}",
     "Text. Is there anything else I can help with?\nBest, Bot", 0, 1},
    /* change_case:capital_word_frequency */
    {"change_case:capital_word_frequency", "{\"capital_frequency\": 2, \"capital_relation\": \"at least\"}",
     "This is VERY IMPORTANT.", 1, 1},
    {"change_case:capital_word_frequency", "{\"capital_frequency\": 2, \"capital_relation\": \"at least\"}",
     "I am here.", 0, 0},
    {"change_case:capital_word_frequency", "{\"capital_frequency\": 2, \"capital_relation\": \"at least\"}",
     "DON'T stop", 1, 1},
    {"change_case:capital_word_frequency", "{\"capital_frequency\": 3, \"capital_relation\": \"less than\"}",
     "A B C D", 0, 0},
    {"change_case:capital_word_frequency", "{\"capital_frequency\": 2, \"capital_relation\": \"less than\"}",
     "NOTE WELL\nthe text is here", 0, 1},
    /* change_case:english_capital */
    {"change_case:english_capital", NULL, "HELLO, THIS IS THE ANSWER.", 1, 1},
    {"change_case:english_capital", NULL, "HELLO, this is the answer.", 0, 0},
    {"change_case:english_capital", NULL, "DAS IST EIN HAUS UND WIR SIND HIER.", 0, 0},
    {"change_case:english_capital", NULL, "Sure, here it is:\nTHIS IS THE ANSWER AND IT IS ALL IN CAPITALS.", 0, 1},
    /* change_case:english_lowercase */
    {"change_case:english_lowercase", NULL, "this is the answer, in lowercase.", 1, 1},
    {"change_case:english_lowercase", NULL, "This is the answer.", 0, 0},
    {"change_case:english_lowercase", NULL, "\xe4\xbd\xa0\xe5\xa5\xbd", 0, 0}, /* no cased letter */
    {"change_case:english_lowercase", NULL, "das ist ein haus und wir sind hier.", 0, 0},
    {"change_case:english_lowercase", NULL, "Here it is:\nthis is the answer and it is in lowercase.", 0, 1},
    /* punctuation:no_comma */
    {"punctuation:no_comma", NULL, "No commas here.", 1, 1},
    {"punctuation:no_comma", NULL, "One, two", 0, 0},
    {"punctuation:no_comma", NULL, "Sure, here:\nNo commas at all", 0, 1},
    /* startend:quotation */
    {"startend:quotation", NULL, "  \"Wrapped.\"\n", 1, 1},
    {"startend:quotation", NULL, "\"", 0, 0},
    {"startend:quotation", NULL, "Not wrapped", 0, 0},
    {"startend:quotation", NULL, "Here:\n\"Wrapped text.\"", 0, 1},
    /* a blank response follows nothing */
    {"punctuation:no_comma", NULL, "  \n\t ", 0, 0},
    {"startend:quotation", NULL, "", 0, 0},
};

static void test_cases(void) {
    char err[512];
    bool covered[64] = {false};
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const tcase *c = &CASES[i];
        cJSON *kw = c->kwargs ? cJSON_Parse(c->kwargs) : NULL;
        CHECK(!c->kwargs || kw, "case %zu: kwargs do not parse", i);
        int idx = iopo_ifeval_index(c->id);
        CHECK(idx >= 0, "case %zu: unknown id %s", i, c->id);
        if (idx >= 0) covered[idx] = true;
        CHECK(iopo_ifeval_validate(c->id, kw, err, sizeof err), "case %zu (%s): validate: %s", i, c->id, err);
        int s = iopo_ifeval_follows(c->id, kw, "prompt", c->response, false, err, sizeof err);
        int l = iopo_ifeval_follows(c->id, kw, "prompt", c->response, true, err, sizeof err);
        CHECK(s == c->strict, "case %zu (%s) strict: %d, expected %d: \"%s\"", i, c->id, s, c->strict, c->response);
        CHECK(l == c->loose, "case %zu (%s) loose: %d, expected %d: \"%s\"", i, c->id, l, c->loose, c->response);
        cJSON_Delete(kw);
    }
    /* every instruction has a case that follows and one that does not, and one where only loose follows */
    for (int i = 0; i < iopo_ifeval_count(); i++) {
        bool yes = false, no = false, loose_only = false;
        for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
            if (strcmp(CASES[k].id, iopo_ifeval_id(i))) continue;
            yes |= CASES[k].strict == 1;
            no |= CASES[k].strict == 0 && CASES[k].loose == 0;
            loose_only |= CASES[k].strict == 0 && CASES[k].loose == 1;
        }
        /* these two count things within one line that neither a removed line nor a removed '*' can add: no
         * response fails strict and passes loose */
        bool structural = !strcmp(iopo_ifeval_id(i), "detectable_content:number_placeholders") ||
                          !strcmp(iopo_ifeval_id(i), "detectable_format:number_highlighted_sections");
        CHECK(covered[i] && yes && no, "%s: needs a case that follows and one that does not", iopo_ifeval_id(i));
        CHECK(structural || loose_only, "%s: needs a case only loose follows", iopo_ifeval_id(i));
    }
}

static void test_table(void) {
    CHECK(iopo_ifeval_count() == 25, "%d instruction ids", iopo_ifeval_count());
    CHECK(!strcmp(iopo_ifeval_id(0), "keywords:existence") && !strcmp(iopo_ifeval_id(24), "startend:quotation"),
          "order");
    CHECK(iopo_ifeval_id(25) == NULL && iopo_ifeval_id(-1) == NULL, "ids out of range");
    CHECK(iopo_ifeval_index("detectable_format:title") == 16, "index of title");
    CHECK(iopo_ifeval_index("detectable_format:rephrase") == -1 && iopo_ifeval_index(NULL) == -1, "unknown ids");
}

/* kwargs that are refused, each with a word its message must hold */
static void test_invalid(void) {
    static const struct {
        const char *id, *kwargs, *needle;
    } BAD[] = {
        {"keywords:frequency", "{\"keyword\": \"war\", \"frequency\": 2}", "\"relation\""},
        {"keywords:frequency", "{\"keyword\": \"war\", \"frequency\": 2, \"relation\": \"more than\"}", "more than"},
        {"keywords:frequency", "{\"keyword\": \"  \", \"frequency\": 2, \"relation\": \"at least\"}", "\"keyword\""},
        {"punctuation:no_comma", "{\"foo\": 1}", "\"foo\""},
        {"keywords:letter_frequency", "{\"letter\": \"ab\", \"let_frequency\": 2, \"let_relation\": \"at least\"}",
         "\"letter\""},
        {"keywords:letter_frequency", "{\"letter\": \" \", \"let_frequency\": 2, \"let_relation\": \"at least\"}",
         "\"letter\""},
        {"language:response_language", "{\"language\": \"xx\"}", "\"language\""},
        {"language:response_language", "{\"language\": 7}", "\"language\""},
        {"length_constraints:number_words", "{\"num_words\": -1, \"relation\": \"at least\"}", "\"num_words\""},
        {"length_constraints:number_words", "{\"num_words\": 2.5, \"relation\": \"at least\"}", "\"num_words\""},
        {"length_constraints:number_words", "{\"num_words\": \"3\", \"relation\": \"at least\"}", "\"num_words\""},
        {"length_constraints:number_words", "{\"num_words\": 1e300, \"relation\": \"at least\"}", "\"num_words\""},
        {"length_constraints:nth_paragraph_first_word",
         "{\"num_paragraphs\": 2, \"nth_paragraph\": 3, \"first_word\": \"a\"}", "\"nth_paragraph\""},
        {"length_constraints:nth_paragraph_first_word",
         "{\"num_paragraphs\": 2, \"nth_paragraph\": 0, \"first_word\": \"a\"}", "\"nth_paragraph\""},
        {"detectable_format:number_highlighted_sections", "[1]", "object"},
        {"keywords:existence", "{\"keywords\": []}", "\"keywords\""},
        {"keywords:existence", "{\"keywords\": [\"a\", 3]}", "\"keywords\""},
        {"keywords:forbidden_words", "{\"forbidden_words\": \"rock\"}", "\"forbidden_words\""},
        {"combination:repeat_prompt", "{}", "\"prompt_to_repeat\""},
        {"startend:end_checker", "{\"end_phrase\": \"\"}", "\"end_phrase\""},
        {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": true}",
         "\"num_sections\""},
        {"detectable_format:multiple_sections", "{\"section_spliter\": \"SECTION\", \"num_sections\": 2, "
                                                "\"section_spliter\": \"Part\"}", "twice"},
        {"change_case:capital_word_frequency", "{\"capital_frequency\": 2, \"capital_relation\": \"at most\"}",
         "\"capital_relation\""},
        {"detectable_content:postscript", "{\"postscript_marker\": \"P.S.\\u0001\\n\", \"x\\ny\": 1}", "x\\x0Ay"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        cJSON *kw = cJSON_Parse(BAD[i].kwargs);
        CHECK(kw, "bad case %zu: kwargs do not parse", i);
        err[0] = 0;
        bool ok = iopo_ifeval_validate(BAD[i].id, kw, err, sizeof err);
        CHECK(!ok && strstr(err, BAD[i].needle) && !strchr(err, '\n'), "bad case %zu (%s): %s, message '%s'", i,
              BAD[i].id, ok ? "accepted" : "refused", err);
        err[0] = 0;
        int r = iopo_ifeval_follows(BAD[i].id, kw, "p", "response", true, err, sizeof err);
        CHECK(r == -1 && strstr(err, BAD[i].needle), "bad case %zu: follows gave %d, '%s'", i, r, err);
        cJSON_Delete(kw);
    }
    CHECK(iopo_ifeval_follows("keywords:rephrase", NULL, "p", "r", false, err, sizeof err) == -1 &&
              strstr(err, "keywords:rephrase"),
          "unknown id: '%s'", err);
    /* null-valued keys are absent: IFEval's files write every instruction's keys with null where unused */
    cJSON *kw = cJSON_Parse("{\"num_highlights\": 2, \"relation\": null, \"keywords\": null, \"language\": null}");
    CHECK(iopo_ifeval_validate("detectable_format:number_highlighted_sections", kw, err, sizeof err),
          "null keys: %s", err);
    cJSON_Delete(kw);
    kw = cJSON_Parse("{\"num_highlights\": null}");
    CHECK(!iopo_ifeval_validate("detectable_format:number_highlighted_sections", kw, err, sizeof err) &&
              strstr(err, "missing key \"num_highlights\""),
          "a null required key is missing: '%s'", err);
    cJSON_Delete(kw);
}

/* kwargs as IFEval's input_data.jsonl writes them (records 1000, 1021, 1122, 1129, 1609, 1246, 1012, 1040, 1075) */
static void test_ifeval_forms(void) {
    static const struct {
        const char *id, *kwargs;
    } F[] = {
        {"detectable_format:number_highlighted_sections", "{\"num_highlights\": 3}"},
        {"length_constraints:number_words", "{\"relation\": \"at least\", \"num_words\": 300}"},
        {"punctuation:no_comma", "{}"},
        {"detectable_format:multiple_sections", "{\"section_spliter\": \"PARAGRAPH\", \"num_sections\": 2}"},
        {"keywords:letter_frequency", "{\"let_relation\": \"at least\", \"letter\": \"#\", \"let_frequency\": 4}"},
        {"keywords:letter_frequency", "{\"let_relation\": \"at least\", \"letter\": \"!\", \"let_frequency\": 6}"},
        {"length_constraints:nth_paragraph_first_word",
         "{\"first_word\": \"weekend\", \"num_paragraphs\": 4, \"nth_paragraph\": 1}"},
        {"detectable_content:postscript", "{\"postscript_marker\": \"P.P.S\"}"},
        {"combination:repeat_prompt",
         "{\"prompt_to_repeat\": \"Write an email to my boss telling him that I am quitting. The email must contain a "
         "title wrapped in double angular brackets, i.e. <<title>>.\"}"},
        {"change_case:capital_word_frequency", "{\"capital_relation\": \"less than\", \"capital_frequency\": 10}"},
        {"language:response_language", "{\"language\": \"kn\"}"},
        {"keywords:existence", "{\"keywords\": [\"correlated\", \"experiencing\"]}"},
        {"keywords:frequency", "{\"relation\": \"less than\", \"keyword\": \"photography\", \"frequency\": 1}"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        cJSON *kw = cJSON_Parse(F[i].kwargs);
        CHECK(kw && iopo_ifeval_validate(F[i].id, kw, err, sizeof err), "IFEval's kwargs %s refused: %s", F[i].kwargs,
              err);
        cJSON_Delete(kw);
    }
}

static void test_text(void) {
    static const struct {
        const char *text;
        size_t sentences;
    } S[] = {
        {"Hello world.", 1},
        {"Hi. How are you? Fine!", 3},
        {"Mr. Smith went to Washington. He left.", 2},
        {"It costs 3.50 dollars. Cheap.", 2},
        {"Wait... what now", 1},
        {"Wait... What now?", 2},
        {"The U.S. Army is big.", 1},
        {"I live in the U.S. The weather is nice.", 2},
        {"", 0},
        {"  \n ", 0},
        {"no end mark", 1},
        {"Line one\nLine two", 1},
        {"He said \"Stop.\" Then he left.", 2},
        {"Use e.g. this one.", 1},
        {"J. R. R. Tolkien wrote books.", 1},
        {"Really?! Yes!!! Okay.", 3},
        {"1. First item\n2. Second item", 3}, /* punkt too: "1." is a sentence before a capitalized word */
        {"Chapter 3. then more", 1},
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        size_t got = ifv_count_sentences(S[i].text, strlen(S[i].text));
        CHECK(got == S[i].sentences, "sentences of \"%s\": %zu, expected %zu", S[i].text, got, S[i].sentences);
    }
    static const struct {
        const char *text;
        size_t words, capitals;
    } W[] = {
        {"it's a well-known fact", 6, 0},
        {"hello_world 42", 2, 0},
        {"", 0, 0},
        {"caf\xc3\xa9 na\xc3\xafve", 2, 0},
        /* नमस्ते: the virama and the vowel sign are marks, not \w: two words for Python's regex */
        {"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87", 2, 0},
        {"NASA and the FBI", 4, 2},
        {"I", 1, 1},
        {"U.S. ARMY", 3, 2},
        {"WELL-KNOWN", 2, 1},
        {"DON'T", 2, 2},
        {"McDonald 123", 2, 0},
        {"HELLO,WORLD (OK)", 3, 3},
        {"\xc3\x89" "COLE \xd0\x9f\xd0\xa0\xd0\x98", 2, 2},
    };
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) {
        size_t n = strlen(W[i].text);
        CHECK(ifv_count_words(W[i].text, n) == W[i].words, "words of \"%s\": %zu", W[i].text,
              ifv_count_words(W[i].text, n));
        CHECK(ifv_count_capital_words(W[i].text, n) == W[i].capitals, "capital words of \"%s\": %zu", W[i].text,
              ifv_count_capital_words(W[i].text, n));
    }
    CHECK(ifv_is_upper_text("HELLO 123", 9) && !ifv_is_upper_text("123", 3) && !ifv_is_upper_text("HeLLO", 5),
          "isupper, ASCII");
    CHECK(ifv_is_upper_text("\xc3\x89" "COLE", 5) && !ifv_is_upper_text("\xc3\x89" "cole", 5), "isupper, Latin-1");
    CHECK(ifv_is_lower_text("stra\xc3\x9f" "e", 7) && ifv_is_lower_text("\xd0\xbc\xd0\xb8\xd1\x80", 6),
          "islower: ß and Cyrillic");
    CHECK(!ifv_is_lower_text("\xe4\xbd\xa0", 3) && !ifv_is_upper_text("\xe4\xbd\xa0", 3), "Han is not cased");
    const char *p = " \xe3\x80\x80 x\xc2\xa0 ";
    size_t n = strlen(p);
    ifv_strip(&p, &n);
    CHECK(n == 1 && *p == 'x', "strip of ideographic and no-break spaces");
    /* invalid UTF-8 is read byte by byte, never past the end */
    const char bad[] = "\xe4\xbd";
    size_t i = 0;
    CHECK(ifv_decode(bad, 2, &i) == 0xFFFD && i == 1, "truncated sequence");
    CHECK(!ifv_utf8_valid("\xc0\x80", 2) && ifv_utf8_valid("\xef\xbf\xbd", 3), "utf8 validity");
}

static void test_language(void) {
    static const struct {
        const char *code, *text;
    } L[] = {
        {"en", "The weather is nice today and we are going to the park."},
        {"es", "El tiempo es muy bueno hoy y vamos a ir al parque con los ni\xc3\xb1os."},
        {"pt", "O tempo est\xc3\xa1 muito bom hoje e n\xc3\xb3s vamos ao parque com as crian\xc3\xa7" "as."},
        {"fr", "Le temps est tr\xc3\xa8s beau aujourd'hui et nous allons au parc avec les enfants."},
        {"de", "Das Wetter ist heute sehr sch\xc3\xb6n und wir gehen mit den Kindern in den Park."},
        {"it", "Il tempo \xc3\xa8 molto bello oggi e andiamo al parco con i bambini."},
        {"pl", "Pogoda jest dzisiaj bardzo \xc5\x82" "adna i idziemy do parku z dzie\xc4\x87mi."},
        {"vi", "H\xc3\xb4m nay th\xe1\xbb\x9di ti\xe1\xba\xbft r\xe1\xba\xa5t \xc4\x91\xe1\xba\xb9p v\xc3\xa0 ch\xc3\xbang "
               "t\xc3\xb4i s\xe1\xba\xbd \xc4\x91i \xc4\x91\xe1\xba\xbfn c\xc3\xb4ng vi\xc3\xaan v\xe1\xbb\x9bi c\xc3\xa1" "c con."},
        {"sw", "Hali ya hewa ni nzuri sana leo na tutaenda kwenye bustani pamoja na watoto."},
        {"fi", "S\xc3\xa4\xc3\xa4 on t\xc3\xa4n\xc3\xa4\xc3\xa4n todella kaunis ja me menemme puistoon lasten kanssa."},
        {"ru", "Сегодня очень хорошая погода, и мы идём в парк с детьми."},
        {"uk", "Сьогодні дуже гарна погода, і ми йдемо в парк з дітьми."},
        {"bg", "Днес времето е много хубаво и ние ще отидем в парка с децата."},
        {"ar", "الطقس جميل جدا اليوم ونحن ذاهبون إلى الحديقة مع الأطفال."},
        {"fa", "امروز هوا بسیار خوب است و ما با بچه‌ها به پارک می‌رویم."},
        {"ur", "آج موسم بہت اچھا ہے اور ہم بچوں کے ساتھ پارک جا رہے ہیں۔"},
        {"hi", "आज मौसम बहुत अच्छा है और हम बच्चों के साथ पार्क जा रहे हैं।"},
        {"mr", "आज हवामान खूप छान आहे आणि आम्ही मुलांबरोबर उद्यानात जात आहोत."},
        {"ne", "आज मौसम धेरै राम्रो छ र हामी बच्चाहरूसँग पार्क जाँदैछौं।"},
        {"bn", "আজ আবহাওয়া খুব ভালো এবং আমরা বাচ্চাদের সাথে পার্কে যাচ্ছি।"},
        {"pa", "ਅੱਜ ਮੌਸਮ ਬਹੁਤ ਵਧੀਆ ਹੈ ਅਤੇ ਅਸੀਂ ਬੱਚਿਆਂ ਨਾਲ ਪਾਰਕ ਜਾ ਰਹੇ ਹਾਂ।"},
        {"gu", "આજે હવામાન ખૂબ સરસ છે અને અમે બાળકો સાથે બગીચામાં જઈ રહ્યા છીએ."},
        {"ta", "இன்று வானிலை மிகவும் நன்றாக உள்ளது, நாங்கள் குழந்தைகளுடன் பூங்காவிற்கு செல்கிறோம்."},
        {"te", "ఈ రోజు వాతావరణం చాలా బాగుంది మరియు మేము పిల్లలతో పార్కుకు వెళ్తున్నాము."},
        {"kn", "ಇಂದು ಹವಾಮಾನ ತುಂಬಾ ಚೆನ್ನಾಗಿದೆ ಮತ್ತು ನಾವು ಮಕ್ಕಳೊಂದಿಗೆ ಉದ್ಯಾನಕ್ಕೆ ಹೋಗುತ್ತಿದ್ದೇವೆ."},
        {"ml", "ഇന്ന് കാലാവസ്ഥ വളരെ നല്ലതാണ്, ഞങ്ങൾ കുട്ടികളുമായി പാർക്കിലേക്ക് പോകുന്നു."},
        {"th", "วันนี้อากาศดีมากและเรากำลังจะไปสวนสาธารณะกับเด็กๆ"},
        {"he", "מזג האוויר יפה מאוד היום ואנחנו הולכים לפארק עם הילדים."},
        {"ko", "오늘 날씨가 정말 좋아서 아이들과 함께 공원에 갑니다."},
        {"ja", "今日はとても良い天気なので、子供たちと公園に行きます。"},
        {"zh-cn", "今天天气很好，我们和孩子们一起去公园。"},
        {"en", "HELLO, THIS IS THE ANSWER AND IT IS IN CAPITALS."},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        const char *got = ifv_detect_language(L[i].text, strlen(L[i].text));
        CHECK(got && !strcmp(got, L[i].code), "language of \"%s\": %s, expected %s", L[i].text, got ? got : "(none)",
              L[i].code);
        CHECK(!strcmp(L[i].code, "zh-cn") || ifv_language_known(L[i].code), "%s is one of IFEval's codes", L[i].code);
    }
    CHECK(ifv_detect_language("12 + 7 = 19 !!", 14) == NULL, "no letters: cannot tell");
    CHECK(ifv_detect_language("Xyzzy plugh", 11) == NULL, "unknown Latin words: cannot tell");
    CHECK(!ifv_language_known("zh") && !ifv_language_known("xx") && ifv_language_known("sw"), "known codes");
}

static void test_json(void) {
    static const char *const OK[] = {
        "{\"a\": [1, -2.5e+3, \"x\\u00e9\\n\", true, false, null]}", "\"str\"", "42", "[]", "{}", " [ NaN , Infinity , "
        "-Infinity ] ", "{\"a\": {\"b\": [[], {}]}, \"c\": 0.5}", "-0", "\"\xe2\x82\xac\""};
    static const char *const BAD[] = {"{\"a\":1,}", "[1 2]", "01",   "1.",     ".5",   "{'a':1}", "\"tab\there\"",
                                      "[",         "",      "{\"a\"}", "nul",  "[1]]", "\"\\x\"", "{\"a\":1}{}",
                                      "+1",        "[,]",   "\"\\u12\"", "{1: 2}", "-"};
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++)
        CHECK(ifv_json_valid(OK[i], strlen(OK[i])), "valid JSON refused: %s", OK[i]);
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        CHECK(!ifv_json_valid(BAD[i], strlen(BAD[i])), "invalid JSON accepted: %s", BAD[i]);
    size_t depth = 5000;
    char *deep = malloc(2 * 20000 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    CHECK(ifv_json_valid(deep, 2 * depth), "5000 nested arrays");
    memset(deep, '[', 20000);
    memset(deep + 20000, ']', 20000);
    CHECK(!ifv_json_valid(deep, 40000), "20000 nested arrays are refused, without recursion");
    free(deep);
}

/* --jsonl: one {"id", "kwargs", "response"} per line on stdin -> "STRICT LOOSE" per line (for ifeval_regex_check.py) */
static int jsonl(void) {
    static char line[1 << 20];
    char err[512];
    while (fgets(line, sizeof line, stdin)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItem(o, "id"), *r = cJSON_GetObjectItem(o, "response");
        if (!cJSON_IsString(id) || !cJSON_IsString(r)) {
            fprintf(stderr, "test_ifeval --jsonl: a line without \"id\" and \"response\" strings\n");
            cJSON_Delete(o);
            return 2;
        }
        const cJSON *kw = cJSON_GetObjectItem(o, "kwargs");
        int s = iopo_ifeval_follows(id->valuestring, kw, "", r->valuestring, false, err, sizeof err);
        int l = iopo_ifeval_follows(id->valuestring, kw, "", r->valuestring, true, NULL, 0);
        printf("%d %d\n", s, l);
        cJSON_Delete(o);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--jsonl")) return jsonl();
    test_table();
    test_cases();
    test_invalid();
    test_ifeval_forms();
    test_text();
    test_language();
    test_json();
    printf("%d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
