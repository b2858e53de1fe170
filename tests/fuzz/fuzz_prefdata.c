/* Preference and chat data read by iopo_pref_dataset_load: every SFT/DPO/IOPO format of include/iopo/prefdata.h
 * (TRL strings and messages, alpaca, sharegpt, IOPO conversations, pre-tokenized ids), as a JSON array or JSONL,
 * under each objective, with both templates, truncation to cutoff_len, skip mode and a vocabulary bound.
 * Input: byte 0 the options (bit 0: data.json instead of data.jsonl; bits 2-3 mod 3: objective SFT, DPO, IOPO;
 * bit 4: chatml instead of plain; bit 5: skip bad records; bit 6: no tokenizer; bit 7: vocabulary 300), byte 1
 * cutoff_len / 2, the rest is the file. The tokenizer is the Split-regex one with ChatML tokens (fuzz_util.h).
 * Invariants of a loaded dataset: sequences per record = the objective's; each sequence holds 1..cutoff_len ids in
 * [0, vocab) with label[0] = 0; the loss mask is the response, a non-empty suffix after a non-empty prompt; sequences
 * that share a prompt (DPO's pair, each IOPO instruction's pair) hold the same prompt tokens. */
#include "fuzz_util.h"
#include "iopo/prefdata.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_tokenizer(FZ_TOK_SPLIT);
    return 0;
}

/* Tokens before the first loss token. */
static int prompt_len(const iopo_example *e) {
    int k = 0;
    while (k < e->n && !e->label[k]) k++;
    return k;
}

static void check_shared_prompt(const iopo_pref_record *r, int a, int b) {
    int pa = prompt_len(&r->seq[a]), pb = prompt_len(&r->seq[b]);
    FZ_CHECK(pa == pb && memcmp(r->seq[a].ids, r->seq[b].ids, (size_t)pa * sizeof(int32_t)) == 0,
             "line %d: sequences %d and %d share a prompt but hold different prompt tokens (%d vs %d)", r->line, a, b,
             pa, pb);
}

static void pref_data(const uint8_t *mode, const char *data, size_t size) {
    static const iopo_objective objs[3] = {IOPO_OBJ_SFT, IOPO_OBJ_DPO, IOPO_OBJ_IOPO};
    const iopo_tokenizer *tok = mode[0] & 64 ? NULL : fz_tokenizer(FZ_TOK_SPLIT);
    iopo_pref_options opt = {
        .objective = objs[((mode[0] >> 2) & 3) % 3],
        .template_name = mode[0] & 16 ? "chatml" : "plain",
        .cutoff_len = mode[1] * 2,
        .skip_bad = mode[0] & 32,
        .vocab = mode[0] & 128 ? 300 : tok ? 0 : 512,
    };
    int vocab = opt.vocab > 0 ? opt.vocab : iopo_tokenizer_vocab_size(tok);
    const char *path = fz_write(1, mode[0] & 1 ? "data.json" : "data.jsonl", data, size);
    char err[2048];
    iopo_pref_dataset ds;
    if (opt.skip_bad) fz_quiet_begin(); /* skipped records are reported on stderr, one line each */
    bool ok = iopo_pref_dataset_load(&ds, path, tok, &opt, err, sizeof err);
    fz_quiet_end();
    unlink(path);
    if (!ok) {
        FZ_CHECK(err[0], "refused without a message");
        return;
    }
    FZ_CHECK(ds.n > 0 && ds.format[0], "loaded %d records, format '%s'", ds.n, ds.format);
    FZ_CHECK(ds.nseq == (int)opt.objective, "%d sequences per record for objective %d", ds.nseq, (int)opt.objective);
    for (int i = 0; i < ds.n; i++) {
        const iopo_pref_record *r = &ds.rec[i];
        for (int s = 0; s < ds.nseq; s++) {
            const iopo_example *e = &r->seq[s];
            fz_check_example(e, opt.cutoff_len, vocab, "sequence");
            int p = prompt_len(e);
            FZ_CHECK(p >= 1 && p < e->n, "line %d seq %d: prompt of %d tokens in %d", r->line, s, p, e->n);
            for (int k = p; k < e->n; k++)
                FZ_CHECK(e->label[k] == 1, "line %d seq %d: loss mask is not the response suffix", r->line, s);
        }
        if (ds.nseq >= 2) check_shared_prompt(r, 0, 1);
        if (ds.nseq == 4) check_shared_prompt(r, 2, 3);
    }
    iopo_pref_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 2) return 0;
    pref_data(in, (const char *)in + 2, size - 2);
    return 0;
}
