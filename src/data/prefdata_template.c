/* Chat templates. Text from the data is always encoded with special = false, so a user who writes "<|im_end|>" gets
 * those characters, not the marker; the markers themselves are pushed as ids. The text between two markers is encoded
 * as one piece (role header and content together), which is what a Hugging Face tokenizer does with the whole
 * templated string: its added tokens cut the string into exactly these pieces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/prefdata_internal.h"
#include "iopo/prefdata.h"
#include "tokenizer/tok_internal.h"

static bool encode_into(const iopo_tokenizer *tok, const char *text, size_t len, pd_ids *out, char *why, size_t n) {
    int32_t *ids;
    long k = iopo_tokenizer_encode(tok, text, len, false, &ids, why, n);
    if (k < 0) return false;
    pd_ids_push(out, ids, (int)k);
    free(ids);
    return true;
}

static bool marker(const iopo_tokenizer *tok, const char *tmpl, const char *token, const char *tok_name, int vocab,
                   int32_t *id, char *err, size_t errlen) {
    *id = iopo_tokenizer_token_id(tok, token);
    if (*id < 0) {
        snprintf(err, errlen,
                 "template %s needs the token %s, which tokenizer %s lacks (use a tokenizer that has it, or %s)", tmpl,
                 token, tok_name, strcmp(tmpl, "plain") != 0 ? "template plain" : "pre-tokenized data");
        return false;
    }
    if (vocab > 0 && *id >= vocab) {
        snprintf(err, errlen, "template %s: %s of tokenizer %s has id %d, outside the model's vocabulary of %d", tmpl,
                 token, tok_name, *id, vocab);
        return false;
    }
    return true;
}

bool pd_template_init(pd_template *t, const char *name, const iopo_tokenizer *tok, const char *tok_name, int vocab,
                      char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->tok = tok;
    t->im_start = t->im_end = t->eot = t->bos = -1;
    if (!name) {
        snprintf(err, errlen, "text data needs a chat template (chatml, llama3 or plain)");
        return false;
    }
    if (strcmp(name, "auto") == 0) name = iopo_template_for_tokenizer(tok);
    if (strcmp(name, "llama3") == 0) {
        t->kind = PD_TEMPLATE_LLAMA3;
        if (!marker(tok, name, "<|begin_of_text|>", tok_name, vocab, &t->bos, err, errlen) ||
            !marker(tok, name, "<|start_header_id|>", tok_name, vocab, &t->im_start, err, errlen) ||
            !marker(tok, name, "<|end_header_id|>", tok_name, vocab, &t->im_end, err, errlen) ||
            !marker(tok, name, "<|eot_id|>", tok_name, vocab, &t->eot, err, errlen))
            return false;
        if (!encode_into(tok, "\n\n", 2, &t->nl, err, errlen) ||
            !encode_into(tok, "assistant", 9, &t->gen, err, errlen)) {
            pd_template_free(t);
            return false;
        }
        return true;
    }
    if (strcmp(name, "chatml") == 0) {
        t->kind = PD_TEMPLATE_CHATML;
        if (!marker(tok, name, "<|im_start|>", tok_name, vocab, &t->im_start, err, errlen) ||
            !marker(tok, name, "<|im_end|>", tok_name, vocab, &t->im_end, err, errlen))
            return false;
        if (!encode_into(tok, "\n", 1, &t->nl, err, errlen) ||
            !encode_into(tok, "assistant\n", 10, &t->gen, err, errlen)) {
            pd_template_free(t);
            return false;
        }
        return true;
    }
    if (strcmp(name, "plain") == 0) {
        t->kind = PD_TEMPLATE_PLAIN;
        return marker(tok, name, "<|endoftext|>", tok_name, vocab, &t->eot, err, errlen);
    }
    snprintf(err, errlen, "unknown chat template \"%s\" (auto, chatml, llama3 or plain)", name);
    return false;
}

void pd_template_free(pd_template *t) {
    pd_ids_free(&t->nl);
    pd_ids_free(&t->gen);
}

/* ChatML block: <|im_start|> "{role}\n{content}" <|im_end|> "\n". */
static bool chatml_block(const pd_template *t, const char *role, const char *content, pd_ids *out, char *why,
                         size_t n) {
    size_t a = strlen(role), b = strlen(content);
    char *s = malloc(a + b + 2);
    memcpy(s, role, a);
    s[a] = '\n';
    memcpy(s + a + 1, content, b + 1);
    pd_ids_push(out, &t->im_start, 1);
    bool ok = encode_into(t->tok, s, a + 1 + b, out, why, n);
    free(s);
    pd_ids_push(out, &t->im_end, 1);
    pd_ids_push(out, t->nl.v, t->nl.n);
    return ok;
}

/* Llama 3 block: <|start_header_id|> "{role}" <|end_header_id|> "\n\n{content}" <|eot_id|>, the content trimmed of
 * surrounding whitespace as Llama 3's own template does (`message['content'] | trim`). */
static bool llama3_block(const pd_template *t, const char *role, const char *content, pd_ids *out, char *why,
                         size_t n) {
    pd_ids_push(out, &t->im_start, 1);
    if (!encode_into(t->tok, role, strlen(role), out, why, n)) return false;
    pd_ids_push(out, &t->im_end, 1);
    const char *b = content, *e = content + strlen(content);
    while (b < e && strchr(" \t\n\r\v\f", *b)) b++;
    while (e > b && strchr(" \t\n\r\v\f", e[-1])) e--;
    size_t k = (size_t)(e - b);
    char *s = malloc(k + 3);
    memcpy(s, "\n\n", 2);
    memcpy(s + 2, b, k);
    s[k + 2] = 0;
    bool ok = encode_into(t->tok, s, k + 2, out, why, n);
    free(s);
    pd_ids_push(out, &t->eot, 1);
    return ok;
}

bool pd_template_prompt(const pd_template *t, const pd_prompt *p, pd_ids *out, char *why, size_t n) {
    if (t->kind == PD_TEMPLATE_LLAMA3) {
        pd_ids_push(out, &t->bos, 1);
        if (p->system && !llama3_block(t, "system", p->system, out, why, n)) return false;
        for (int i = 0; i < p->n; i++)
            if (!llama3_block(t, p->turn[i].assistant ? "assistant" : "user", p->turn[i].content, out, why, n))
                return false;
        pd_ids_push(out, &t->im_start, 1);
        pd_ids_push(out, t->gen.v, t->gen.n);
        pd_ids_push(out, &t->im_end, 1);
        pd_ids_push(out, t->nl.v, t->nl.n);
        return true;
    }
    if (t->kind == PD_TEMPLATE_CHATML) {
        if (p->system && !chatml_block(t, "system", p->system, out, why, n)) return false;
        for (int i = 0; i < p->n; i++)
            if (!chatml_block(t, p->turn[i].assistant ? "assistant" : "user", p->turn[i].content, out, why, n))
                return false;
        pd_ids_push(out, &t->im_start, 1);
        pd_ids_push(out, t->gen.v, t->gen.n);
        return true;
    }
    /* plain: system and turns joined by blank lines, and a blank line before the response. */
    size_t len = p->system ? strlen(p->system) + 2 : 0;
    for (int i = 0; i < p->n; i++) len += strlen(p->turn[i].content) + 2;
    char *s = malloc(len + 1), *w = s;
    for (int i = -1; i < p->n; i++) {
        const char *c = i < 0 ? p->system : p->turn[i].content;
        if (!c) continue;
        size_t k = strlen(c);
        memcpy(w, c, k);
        memcpy(w + k, "\n\n", 2);
        w += k + 2;
    }
    *w = 0;
    bool ok = encode_into(t->tok, s, len, out, why, n);
    free(s);
    return ok;
}

bool pd_template_response(const pd_template *t, const char *content, pd_ids *out, char *why, size_t n) {
    if (!encode_into(t->tok, content, strlen(content), out, why, n)) return false;
    pd_ids_push(out, t->kind == PD_TEMPLATE_CHATML ? &t->im_end : &t->eot, 1);
    return true;
}

const char *iopo_template_for_tokenizer(const iopo_tokenizer *tok) {
    if (iopo_tokenizer_token_id(tok, "<|im_start|>") >= 0 && iopo_tokenizer_token_id(tok, "<|im_end|>") >= 0)
        return "chatml";
    if (iopo_tokenizer_token_id(tok, "<|start_header_id|>") >= 0 && iopo_tokenizer_token_id(tok, "<|eot_id|>") >= 0 &&
        iopo_tokenizer_token_id(tok, "<|begin_of_text|>") >= 0 && iopo_tokenizer_token_id(tok, "<|end_header_id|>") >= 0)
        return "llama3";
    return "plain";
}

/* The templates as the Jinja strings of tokenizer_config.json's chat_template, so that transformers'
 * apply_chat_template builds the same ids iopo trained on. */
const char *iopo_template_jinja(const char *name) {
    if (strcmp(name, "chatml") == 0)
        return "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}";
    if (strcmp(name, "llama3") == 0)
        return "{{ '<|begin_of_text|>' }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
               "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    if (strcmp(name, "plain") == 0)
        return "{% for message in messages %}{{ message['content'] + '\\n\\n' }}{% endfor %}";
    return NULL;
}

long iopo_template_encode_prompt(const iopo_tokenizer *tok, const char *name, const char *system, const char *user,
                                 int32_t **ids, int32_t *stop_id, char *err, size_t errlen) {
    pd_template t;
    if (!pd_template_init(&t, name, tok, tok->path, 0, err, errlen)) return -1;
    pd_turn turn = {.assistant = false, .content = user};
    pd_prompt p = {.system = system, .turn = &turn, .n = 1};
    pd_ids out = {0};
    bool ok = pd_template_prompt(&t, &p, &out, err, errlen);
    *stop_id = t.kind == PD_TEMPLATE_CHATML ? t.im_end : t.eot;
    pd_template_free(&t);
    if (!ok) {
        pd_ids_free(&out);
        return -1;
    }
    *ids = out.v ? out.v : malloc(4);
    return out.n;
}
