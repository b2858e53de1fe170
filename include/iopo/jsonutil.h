/* JSON files as users write them: parse errors located by line and column, and numbers read from files (JSON
 * values, flags) as C integers, checked before the cast.

   Numbers read from files (JSON values, flags) as C integers, checked before the cast: cJSON's valueint saturates
 * silently and converting a double outside the target type's range is undefined behaviour. Every place a file's
 * number becomes an int or a long goes through iopo_num_to_long. */
#ifndef IOPO_JSONUTIL_H
#define IOPO_JSONUTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { IOPO_NUM_OK, IOPO_NUM_NOT_FINITE, IOPO_NUM_NOT_INTEGER, IOPO_NUM_OUT_OF_RANGE } iopo_num_status;

/* d as a long in [lo, hi] (bounds beyond +-2^53 are treated as +-2^53, where doubles stop being exact integers). */
iopo_num_status iopo_num_to_long(double d, long lo, long hi, long *out);
/* The value and the problem for a message, e.g. "1e+12 is not an integer in [1, 2147483647]". */
void iopo_num_describe(char *buf, size_t n, double d, long lo, long hi, iopo_num_status s);

/* A token id of a data file: an integer in [0, vocab) (vocab <= 0: any int32 id >= 0). false + the value and the
 * problem, to follow the field's name: "= 50300 is outside the vocabulary (ids 0 to 50256)". */
bool iopo_json_token_id(const cJSON *v, int vocab, int32_t *id, char *why, size_t n);

/* Parses text[0..len) of the file path (named in messages). NULL + "PATH:LINE:COLUMN: invalid JSON: what" where
 * the column counts bytes from 1; the position is the mistake's (a trailing comma, the start of a string left open
 * at its line's end, the end of the file with the opening bracket named) rather than where cJSON gave up. */
cJSON *iopo_json_parse(const char *path, const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses the file path: NULL + the read error or iopo_json_parse's message. */
cJSON *iopo_json_load(const char *path, char *err, size_t errlen);

/* A string from a file, made safe for a one-line message: control characters (a newline, a tab, DEL) as \xNN, and
 * at most about 80 bytes of it, "..." marking a cut (at a UTF-8 character boundary). Returns buf (cap >= 16). */
const char *iopo_json_shown(const char *s, char *buf, size_t cap);

/* Writes v as a JSON number in fmt (a printf format of one double), or null when v is not finite: printf writes nan
 * and inf, which are not JSON, and a reader would refuse the whole line. */
void iopo_json_write_number(FILE *f, const char *fmt, double v);

/* JSON Lines: calls each(user, where, line, record) for every non-blank line of path, in order, with where =
 * "PATH:LINE" for messages; stops at the first false (each fills err) or the first line that is not JSON
 * (iopo_json_parse's message). The record is freed after the call. *count (may be NULL) = records seen. */
typedef bool (*iopo_jsonl_fn)(void *user, const char *where, int line, const cJSON *record, char *err, size_t errlen);
bool iopo_jsonl_each(const char *path, iopo_jsonl_fn each, void *user, int *count, char *err, size_t errlen);

#endif
