/* Training data files read by iopo_dataset_load: plain text (.txt, packed), JSONL {"text"}, {"input_ids",
 * "labels_mask"} and {"prompt_ids", "response_ids"}, with a tokenizer or without (pre-tokenized), with a vocabulary
 * bound. Input: byte 0 the options (bit 0: .txt instead of .jsonl; bit 2: no tokenizer; bit 3: vocabulary 300
 * instead of 512), byte 1 the packing length (1..128), the rest is the file.
 * Invariants of a loaded dataset: ids in [0, vocab), 1..max_tokens tokens per example, label[0] = 0, labels 0/1, the
 * label count matches, and a host batch filled from it holds in-range tokens, masked targets and a 0/1 mask. */
#include "fuzz_util.h"
#include "iopo/dataset.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_tokenizer(FZ_TOK_DEMO);
    return 0;
}

static void plain_data(const uint8_t *mode, const char *data, size_t size) {
    bool txt = mode[0] & 1;
    const iopo_tokenizer *tok = mode[0] & 4 ? NULL : fz_tokenizer(FZ_TOK_DEMO);
    int max_tokens = 1 + mode[1] % 128;
    int vocab = mode[0] & 8 ? 300 : 512;
    const char *path = fz_write(1, txt ? "data.txt" : "data.jsonl", data, size);
    char err[2048];
    iopo_dataset ds;
    bool ok = iopo_dataset_load(&ds, path, tok, max_tokens, vocab, err, sizeof err);
    unlink(path);
    if (!ok) {
        FZ_CHECK(err[0], "refused without a message");
        iopo_dataset_free(&ds);
        return;
    }
    FZ_CHECK(ds.format[0], "no format named");
    size_t labels = 0;
    for (int i = 0; i < ds.n; i++) {
        fz_check_example(&ds.ex[i], max_tokens, vocab, "example");
        for (int k = 0; k < ds.ex[i].n; k++) labels += ds.ex[i].label[k];
    }
    FZ_CHECK(iopo_dataset_label_tokens(&ds) == labels, "label_tokens %zu, counted %zu",
             iopo_dataset_label_tokens(&ds), labels);
    if (ds.n > 0) {
        iopo_host_batch hb;
        int T = max_tokens > 1 ? max_tokens - 1 : 1, idx[2] = {0, ds.n - 1};
        iopo_host_batch_alloc(&hb, 2, T);
        iopo_host_batch_fill(&hb, &ds, idx, 2);
        double mask = 0;
        for (int i = 0; i < 2 * T; i++) {
            FZ_CHECK(hb.tokens[i] >= 0 && hb.tokens[i] < vocab, "batch token %d", hb.tokens[i]);
            FZ_CHECK(hb.mask[i] == 0 || hb.mask[i] == 1, "batch mask %g", (double)hb.mask[i]);
            FZ_CHECK(hb.mask[i] == 0 || (hb.targets[i] >= 0 && hb.targets[i] < vocab), "masked target %d",
                     hb.targets[i]);
            mask += hb.mask[i];
        }
        FZ_CHECK(mask == hb.label_count, "label_count %g, mask sum %g", hb.label_count, mask);
        iopo_host_batch_free(&hb);
    }
    iopo_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 2) return 0;
    plain_data(in, (const char *)in + 2, size - 2);
    return 0;
}
