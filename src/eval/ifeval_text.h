/* Text helpers of the IFEval checkers (ifeval_text.c, ifeval_language.c, ifeval_json.c): UTF-8 decoding, the character
 * classes Python's str methods and `re` use (isspace, \w, \d, lower/upper, cased letters), the counts IFEval takes
 * from Python libraries (words, sentences, all-capital words), language identification and JSON syntax. Every
 * function reads exactly the n bytes it is given (no NUL needed); invalid UTF-8 bytes are read one by one as
 * U+FFFD, a character that belongs to no class. docs/EVAL.md lists where these differ from IFEval's Python tools. */
#ifndef IOPO_IFEVAL_TEXT_H
#define IOPO_IFEVAL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The code point at s[*i] (i < n), advancing *i past it. */
uint32_t ifv_decode(const char *s, size_t n, size_t *i);
/* Start of the code point that ends at byte i (lo < i): what Python sees as the previous character. */
size_t ifv_prev(const char *s, size_t lo, size_t i);
bool ifv_utf8_valid(const char *s, size_t n);
/* Number of code points (each invalid byte counts as one). */
size_t ifv_length(const char *s, size_t n);

bool ifv_is_space(uint32_t c);   /* str.isspace(), re's \s */
bool ifv_is_word(uint32_t c);    /* re's \w: str.isalnum() or '_' */
bool ifv_is_mark(uint32_t c);    /* combining marks (Mn, Mc, Me): not \w, yet part of a word for a reader */
bool ifv_is_decimal(uint32_t c); /* re's \d */
uint32_t ifv_lower(uint32_t c);  /* one-to-one lowercase (str.lower() where it maps one character to one) */
uint32_t ifv_upper(uint32_t c);

/* Python's str.isupper() / str.islower(): at least one cased character, and all cased ones upper (lower). */
bool ifv_is_upper_text(const char *s, size_t n);
bool ifv_is_lower_text(const char *s, size_t n);

/* str.strip(): *s and *n narrowed to drop leading and trailing whitespace. */
void ifv_strip(const char **s, size_t *n);

/* The lowercased code points of s, *count of them, in a malloc'd array (NULL only when out of memory). */
uint32_t *ifv_lower_codepoints(const char *s, size_t n, size_t *count);

/* IFEval's count_words: runs of \w characters (nltk's RegexpTokenizer(r"\w+")). */
size_t ifv_count_words(const char *s, size_t n);
/* Sentences, in place of nltk's punkt English model (rules in ifeval_text.c). */
size_t ifv_count_sentences(const char *s, size_t n);
/* Tokens, in place of nltk.word_tokenize, for which str.isupper() holds. */
size_t ifv_count_capital_words(const char *s, size_t n);

/* The language of the text, in place of langdetect: an ISO 639-1 code (those of IFEval's list, and a few others for
 * other scripts; "zh-cn" for Chinese as langdetect names it; "und" for a script it does not tell apart), or NULL when
 * it cannot tell (no letters; Latin letters and none of the words or letters it knows). */
const char *ifv_detect_language(const char *s, size_t n);
/* The languages ifv_detect_language can tell apart that IFEval's instructions ask for (ISO 639-1). */
bool ifv_language_known(const char *code);

/* Whether s is one JSON value as Python's json.loads accepts it (RFC 8259, plus NaN, Infinity and -Infinity; no
 * control characters inside strings), surrounded by JSON whitespace only. */
bool ifv_json_valid(const char *s, size_t n);

#endif
