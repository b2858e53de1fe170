/* Private pieces of the IFEval checkers: ifeval.c validates an instruction's kwargs into ifv_args and runs the check
 * on each variant of the response (ifeval_checks.c), strict or loose. */
#ifndef IOPO_IFEVAL_INTERNAL_H
#define IOPO_IFEVAL_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* One instruction's validated keyword arguments (strings borrowed from the kwargs' cJSON tree). */
typedef struct ifv_args {
    long num;        /* the count or threshold: num_words, frequency, num_paragraphs, ... */
    long nth;        /* nth_paragraph */
    bool less;       /* relation "less than" (otherwise "at least") */
    const char *str; /* keyword, letter, language, postscript_marker, section_spliter, end_phrase, prompt_to_repeat,
                      * first_word: stripped where IFEval strips it */
    size_t str_len;
    const cJSON *list; /* keywords, forbidden_words: an array of non-empty strings */
} ifv_args;

/* Whether the response text s[0, n) (never empty after stripping) follows: 1, 0, or -1 when out of memory. */
typedef int (*ifv_check_fn)(const ifv_args *a, const char *s, size_t n);

int ifv_keywords_existence(const ifv_args *a, const char *s, size_t n);
int ifv_keywords_frequency(const ifv_args *a, const char *s, size_t n);
int ifv_forbidden_words(const ifv_args *a, const char *s, size_t n);
int ifv_letter_frequency(const ifv_args *a, const char *s, size_t n);
int ifv_response_language(const ifv_args *a, const char *s, size_t n);
int ifv_number_sentences(const ifv_args *a, const char *s, size_t n);
int ifv_number_paragraphs(const ifv_args *a, const char *s, size_t n);
int ifv_number_words(const ifv_args *a, const char *s, size_t n);
int ifv_nth_paragraph_first_word(const ifv_args *a, const char *s, size_t n);
int ifv_number_placeholders(const ifv_args *a, const char *s, size_t n);
int ifv_postscript(const ifv_args *a, const char *s, size_t n);
int ifv_number_bullet_lists(const ifv_args *a, const char *s, size_t n);
int ifv_constrained_response(const ifv_args *a, const char *s, size_t n);
int ifv_number_highlighted_sections(const ifv_args *a, const char *s, size_t n);
int ifv_multiple_sections(const ifv_args *a, const char *s, size_t n);
int ifv_json_format(const ifv_args *a, const char *s, size_t n);
int ifv_title(const ifv_args *a, const char *s, size_t n);
int ifv_two_responses(const ifv_args *a, const char *s, size_t n);
int ifv_repeat_prompt(const ifv_args *a, const char *s, size_t n);
int ifv_end_checker(const ifv_args *a, const char *s, size_t n);
int ifv_capital_word_frequency(const ifv_args *a, const char *s, size_t n);
int ifv_english_capital(const ifv_args *a, const char *s, size_t n);
int ifv_english_lowercase(const ifv_args *a, const char *s, size_t n);
int ifv_no_comma(const ifv_args *a, const char *s, size_t n);
int ifv_quotation(const ifv_args *a, const char *s, size_t n);

#endif
