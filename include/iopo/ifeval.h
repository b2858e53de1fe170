/* IFEval's verifiable instructions (Zhou et al. 2023; REFERENCE.md §8), checked in C from their definitions: the same
 * 25 instruction ids and the same keyword arguments as IFEval's input_data.jsonl, strict and loose. Used by
 * `iopo eval` (IFEval and iopo-synth) and by `iopo data synth`, whose constraint library is built on these checks. */
#ifndef IOPO_IFEVAL_H
#define IOPO_IFEVAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The instruction ids, in IFEval's order: 0 <= i < iopo_ifeval_count(). */
int iopo_ifeval_count(void);
const char *iopo_ifeval_id(int i);
/* Index of an id, or -1 if IFEval has no such instruction. */
int iopo_ifeval_index(const char *instruction_id);

/* Checks the keyword arguments of one instruction (one element of a record's "kwargs"; NULL or {} where the
 * instruction takes none) without a response: names and types of the keys, allowed values (relations, languages,
 * letters, ...). Keys whose value is null are absent, as IFEval's input file writes them. false + a message naming
 * the key otherwise. */
bool iopo_ifeval_validate(const char *instruction_id, const cJSON *kwargs, char *err, size_t errlen);

/* Whether `response` follows one instruction. prompt: the record's prompt (IFEval's combination:repeat_prompt reads
 * its kwargs' prompt_to_repeat; nothing else reads the prompt). loose: IFEval's loose check, which also accepts the
 * response with its first line removed, its last line removed, both, and each of those with every '*' removed.
 * Returns 1 followed, 0 not followed, -1 when the id or kwargs are invalid (err says which). Never reads past the
 * NUL-terminated strings, whatever their content. */
int iopo_ifeval_follows(const char *instruction_id, const cJSON *kwargs, const char *prompt, const char *response,
                        bool loose, char *err, size_t errlen);

#endif
