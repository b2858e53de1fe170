/* Preference and chat data: the formats TRL, LLaMA-Factory and the IOPO release use (REFERENCE.md §2), chat
 * templates, truncation, and bad-record reporting. Every record becomes the token sequences its objective scores:
 *   SFT:  1 sequence  (prompt, response)
 *   DPO:  2 sequences (prompt, chosen), (prompt, rejected)
 *   IOPO: 4 sequences (x1, y1), (x1, y2), (x2, y2), (x2, y1)   -- the official trainer's chosen_v1, rejected_v1,
 *                                                                  chosen_v2, rejected_v2
 * A sequence is the templated prompt followed by the response; only response tokens carry loss, and the response ends
 * with the template's end-of-turn token (ChatML: <|im_end|>) or the tokenizer's end-of-text token (plain).
 *
 * Formats (a JSON array of records or JSONL; the first record decides, every record must follow it):
 *   IOPO  {"conversations": [{"from": "human", "value": x1}, {"from": "human", "value": x2}],
 *          "chosen": {"from": "gpt", "value": y1}, "rejected": {"from": "gpt", "value": y2}, "system"?}
 *   DPO   TRL {"prompt", "chosen", "rejected"} as strings, or as messages: "prompt" a list of {"role", "content"}
 *         ending with a user turn, "chosen"/"rejected" a list holding one assistant message;
 *         alpaca {"instruction", "input"?, "chosen", "rejected", "system"?, "history"?};
 *         sharegpt {"conversations": [odd number of turns, human first and last], "chosen", "rejected", "system"?}
 *   SFT   {"messages": [...]} and sharegpt {"conversations": [...]} ending with the response turn;
 *         alpaca {"instruction", "input"?, "output", "system"?, "history"?}
 *   pre-tokenized {"prompt_ids", "response_ids"}, {"prompt_ids", "chosen_ids", "rejected_ids"},
 *         {"x1_ids", "y1_ids", "x2_ids", "y2_ids"}: sequence = prompt ids + response ids as given, no template.
 * Roles: user or human, assistant or gpt, and system, in either style (role/content or from/value; a turn with the
 * other style's keys is an error naming the keys found). Turns alternate user and assistant; a system turn may come
 * first only. Alpaca's user turn is the instruction and
 * the input joined by "\n"; "history" holds earlier [query, response] pairs. Earlier assistant turns of a multi-turn
 * prompt are context (no loss). Keys a format does not use are ignored.
 *
 * Objective and data: DPO and IOPO need their own kind of data (DPO data under IOPO, IOPO data under DPO and SFT
 * data under either are errors). SFT also takes preference data, using the preferred responses: a DPO record gives
 * (prompt, chosen); an IOPO record gives two SFT records, (x1, y1) and (x2, y2), both with the record's line.
 *
 * Templates ("chatml" needs <|im_start|> and <|im_end|> in the tokenizer, "plain" needs <|endoftext|>):
 *   chatml  prompt = [<|im_start|>system\n{system}<|im_end|>\n] + per turn <|im_start|>{role}\n{content}<|im_end|>\n
 *                    + <|im_start|>assistant\n;   response = {content}<|im_end|>
 *           The newline after the final <|im_end|> is not part of the response (generation stops at <|im_end|>; in
 *           a longer conversation that newline opens the next turn), as in LLaMA-Factory's qwen template.
 *   plain   prompt = system and turn texts joined by "\n\n", then "\n\n";   response = {content}<|endoftext|>
 * Data text is encoded with special = false (a user who types "<|im_end|>" gets those characters); the markers are
 * pushed as ids. The text between two markers is encoded as one piece, as Hugging Face tokenizers do.
 *
 * Truncation to cutoff_len: responses are never cut. When prompt + response is longer, the prompt loses tokens from
 * its start (the end, with the latest turn and the generation prompt, stays), but keeps at least
 * min(prompt length, max(1, cutoff_len / 4)) tokens; a response too long for that makes the record over-long, a bad
 * record. A prompt shared by several sequences of a record is cut once, for its longest response, so DPO's two
 * sequences and each IOPO instruction's two sequences keep the same prompt tokens.
 *
 * Bad records (invalid JSON, not an object, missing field, wrong type, empty text or ids, unknown role, wrong turn
 * order or count, ids outside the vocabulary, over-long) stop the load with "FILE:LINE: reason" (JSONL: the line;
 * JSON array: "FILE:record N", N 1-based), or with skip_bad are printed on stderr as "FILE:LINE: reason (record
 * skipped)", one line each, and counted in dropped. A first record that matches no format, an objective/format
 * mismatch, a missing template token and an unparseable JSON array stop the load even with skip_bad. */
#ifndef IOPO_PREFDATA_H
#define IOPO_PREFDATA_H

#include <stdbool.h>
#include <stddef.h>

#include "iopo/dataset.h"
#include "iopo/tokenizer.h"

typedef enum { IOPO_OBJ_SFT = 1, IOPO_OBJ_DPO = 2, IOPO_OBJ_IOPO = 4 } iopo_objective;   /* value = sequences */

typedef struct iopo_pref_record {
    iopo_example seq[4];     /* objective's sequences in the order above; ids + label flags as in dataset.h */
    int line;                /* 1-based line (JSONL) or array index + 1 (JSON array) in the file */
} iopo_pref_record;

typedef struct iopo_pref_dataset {
    iopo_pref_record *rec;
    int n, nseq;             /* records, sequences per record */
    char format[64];         /* detected format, e.g. "iopo sharegpt (json array)" or, for SFT on preference data,
                              * "dpo trl (jsonl), chosen as SFT target" */
    int truncated;           /* records whose prompts were shortened to fit cutoff_len */
    int dropped;             /* records skipped (bad, or unfixable by truncation) with on_bad_record = skip */
    bool is_array;           /* a JSON array of records: line is the record's index */
} iopo_pref_dataset;

typedef struct iopo_pref_options {
    iopo_objective objective;
    const char *template_name;   /* "auto", "chatml", "llama3" or "plain" (text data only; ignored for pre-tokenized
                                    files); auto: iopo_template_for_tokenizer */
    int cutoff_len;              /* max tokens per sequence (prompt + response), at least 2 */
    bool skip_bad;               /* on_bad_record: "skip" (report each, continue) instead of "error" */
    int vocab;                   /* every id (template markers and text ids too) must be < vocab; <= 0: no bound
                                  * beyond the tokenizer's own ids (pre-tokenized files without tok need vocab > 0) */
    const char *no_tokenizer;    /* when tok is NULL: why, and how to give one, for text data's error (may be NULL) */
    /* NULL or "": records are read by their own keys (the formats above). Otherwise a LLaMA-Factory dataset_info.json
     * entry as a JSON object {"formatting": "alpaca" | "sharegpt", "ranking": bool, "columns": {...}, "tags": {...}}
     * (file_name and the rest left out): each record is read through the entry's column names (columns.prompt names
     * the key read as alpaca's instruction, query as input, response as output, messages as sharegpt's
     * conversations; history, system, chosen, rejected likewise) and sharegpt turns through its tags (role_tag,
     * content_tag, user_tag, assistant_tag, system_tag), and only what the entry names is read, as LLaMA-Factory
     * reads it. Without columns: instruction/input/output or conversations; chosen and rejected by those names. A
     * record lacking a column the entry needs is a bad record naming the column (and the format the record has
     * instead, e.g. sharegpt records under an alpaca entry). */
    const char *dataset_info;
} iopo_pref_options;

/* Loads path (JSON array or JSONL; the format detected from the first record and printed by the caller). tok may be
 * NULL only for pre-tokenized files. Errors: "FILE:LINE: reason" (or "FILE:record N: reason", "FILE: reason");
 * skipped records are reported on stderr, one line each. A file with no record left is an error. */
bool iopo_pref_dataset_load(iopo_pref_dataset *ds, const char *path, const iopo_tokenizer *tok,
                            const iopo_pref_options *opt, char *err, size_t errlen);
void iopo_pref_dataset_free(iopo_pref_dataset *ds);

/* Checks a dataset_info entry as iopo_pref_options.dataset_info takes it; false + why (without a file name). */
bool iopo_pref_dataset_info_check(const char *dataset_info, char *why, size_t n);

/* The chat template a tokenizer's special tokens call for: chatml (<|im_start|>, <|im_end|>: Qwen), llama3
 * (<|begin_of_text|>, <|start_header_id|>, <|end_header_id|>, <|eot_id|>), else plain. */
const char *iopo_template_for_tokenizer(const iopo_tokenizer *tok);
/* A template as the Jinja string of tokenizer_config.json's chat_template; NULL for an unknown name. */
const char *iopo_template_jinja(const char *name);

/* The ids of a one-turn chat prompt (system may be NULL) under template `name` (auto resolves by the tokenizer),
 * ending in the template's generation prompt, as training builds prompts; *stop_id = the template's end-of-turn token
 * (plain: <|endoftext|>). Returns the count (*ids malloc'd), or -1 with a message. */
long iopo_template_encode_prompt(const iopo_tokenizer *tok, const char *name, const char *system, const char *user,
                                 int32_t **ids, int32_t *stop_id, char *err, size_t errlen);

#endif
