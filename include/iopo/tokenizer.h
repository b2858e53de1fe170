/* Byte-level BPE tokenizers: Hugging Face tokenizer.json (GPT-2, Qwen2/Qwen3, Llama 3 style) and GPT-2's original
 * encoder.json + vocab.bpe. Encode and decode are exact: they give the ids the reference implementations give.
 * A loaded tokenizer is read-only: encode and decode may run on it from several threads at once. */
#ifndef IOPO_TOKENIZER_H
#define IOPO_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct iopo_tokenizer iopo_tokenizer;

/* path: a tokenizer.json, an encoder.json (vocab.bpe beside it), or a directory holding tokenizer.json or those two.
 * tokenizer.json support: model BPE (merges as "a b" or ["a", "b"], ignore_merges), added_tokens (special, lstrip,
 * rstrip, single_word), normalizer null or NFC, pre_tokenizer ByteLevel (with or without its regex) and Split
 * (Regex or String pattern, behavior Isolated) in a Sequence; anything else is refused rather than approximated.
 * An encoder.json's <|endoftext|> becomes a special added token, as in Hugging Face's GPT-2 tokenizer.
 * NULL + a one-line message naming the file and the problem. */
iopo_tokenizer *iopo_tokenizer_load(const char *path, char *err, size_t errlen);
void iopo_tokenizer_free(iopo_tokenizer *tok);

/* Encodes UTF-8 text (len bytes; invalid UTF-8 is encoded byte-wise, so decode gives the same bytes back). With
 * special = true, occurrences of added tokens marked special (e.g. <|endoftext|>, <|im_start|>) in the text become
 * their ids, as Hugging Face tokenizers do by default; with false they are encoded as plain text. Added tokens not
 * marked special (Qwen3's <think>) always become their ids, as there. No BOS/EOS is added (the post-processor is not
 * applied). Returns the number of ids written to a malloc'd array *ids (free with free()), or -1 with a message in
 * err. */
long iopo_tokenizer_encode(const iopo_tokenizer *tok, const char *text, size_t len, bool special, int32_t **ids,
                           char *err, size_t errlen);
/* Decodes ids into malloc'd text (NUL-terminated; *len gets its length if non-NULL): added tokens give their content,
 * the others their bytes. The text is UTF-8 when the ids came from encoding UTF-8 (a cut through a character gives its
 * bytes as they are). Unknown ids are an error (NULL + message). */
char *iopo_tokenizer_decode(const iopo_tokenizer *tok, const int32_t *ids, size_t n, size_t *len, char *err,
                            size_t errlen);
/* Text fit for JSON from decoded bytes (n of them): valid UTF-8 as Python's decode("utf-8", errors="replace") gives
 * it, each ill-formed or cut sequence one U+FFFD; a NUL byte also becomes U+FFFD (the result is a C string). Returns
 * malloc'd, NUL-terminated text (*len its length if non-NULL), or NULL when out of memory. */
char *iopo_utf8_lossy(const char *s, size_t n, size_t *len);
/* Size of the id space: the largest id + 1 over the vocabulary and added tokens. */
int iopo_tokenizer_vocab_size(const iopo_tokenizer *tok);
/* Id of a token given by its vocabulary or added-token string (e.g. "<|endoftext|>"), or -1. */
int32_t iopo_tokenizer_token_id(const iopo_tokenizer *tok, const char *token);

#endif
