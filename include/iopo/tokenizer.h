/* Byte-level BPE tokenizers: Hugging Face tokenizer.json (GPT-2, Qwen2/Qwen3, Llama 3 style) and GPT-2's original
 * encoder.json + vocab.bpe. Encode and decode are exact: they give the ids the reference implementations give. */
#ifndef IOPO_TOKENIZER_H
#define IOPO_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct iopo_tokenizer iopo_tokenizer;

/* path: a tokenizer.json, an encoder.json (vocab.bpe beside it), or a directory holding tokenizer.json or those two.
 * NULL + a one-line message naming the file and the problem. */
iopo_tokenizer *iopo_tokenizer_load(const char *path, char *err, size_t errlen);
void iopo_tokenizer_free(iopo_tokenizer *tok);

/* Encodes UTF-8 text (len bytes; invalid UTF-8 is encoded byte-wise, as the references do). With special = true,
 * occurrences of added tokens marked special (e.g. <|endoftext|>, <|im_start|>) in the text become their ids, as
 * Hugging Face tokenizers do by default; with false they are encoded as plain text. Returns the number of ids written
 * to a malloc'd array *ids (free with free()), or -1 with a message in err. */
long iopo_tokenizer_encode(const iopo_tokenizer *tok, const char *text, size_t len, bool special, int32_t **ids,
                           char *err, size_t errlen);
/* Decodes ids into malloc'd UTF-8 text (NUL-terminated; *len gets its length if non-NULL). Unknown ids are an
 * error (NULL + message). */
char *iopo_tokenizer_decode(const iopo_tokenizer *tok, const int32_t *ids, size_t n, size_t *len, char *err,
                            size_t errlen);
/* Size of the id space: the largest id + 1 over the vocabulary and added tokens. */
int iopo_tokenizer_vocab_size(const iopo_tokenizer *tok);
/* Id of a token given by its vocabulary or added-token string (e.g. "<|endoftext|>"), or -1. */
int32_t iopo_tokenizer_token_id(const iopo_tokenizer *tok, const char *token);

#endif
