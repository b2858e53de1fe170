/* LLaMA-Factory configs: the YAML run config (iopo_train_config_load_yaml: libyaml, the key mapping, dataset_dir's
 * dataset_info.json lookup), a dataset_info.json registry, and records read through a dataset_info entry.
 * First input byte mod 3: 0 -> the rest is run.yaml (read in the scratch directory, which holds a registry naming
 * "d" and its file d.json); 1 -> the rest is dataset_info.json, looked up by a fixed run.yaml for dataset "d"; 2 ->
 * byte 1 picks one of the entries below (and the objective), the rest is the data file read through it.
 * Invariants: a refusal has a one-line message; an accepted YAML config validates or refuses with a message, and its
 * dataset_info passes iopo_pref_dataset_info_check; loaded records have 1..cutoff_len ids inside the vocabulary and a
 * response-suffix loss mask. */
#include "fuzz_util.h"
#include "iopo/prefdata.h"
#include "iopo/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_tokenizer(FZ_TOK_SPLIT);
    devnull = fopen("/dev/null", "w");
    return 0;
}

static void one_line(const char *err, const char *what) {
    FZ_CHECK(err[0], "%s: refused without a message", what);
    FZ_CHECK(!strchr(err, '\n'), "%s: a message of several lines: %s", what, err);
}

/* run.yaml at path, the registry beside it: load, then validate what was accepted. */
static void load_yaml(const char *path) {
    iopo_train_config c;
    iopo_train_config_defaults(&c);
    char err[2048];
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd)) return;
    if (chdir(fz_dir()) != 0) return;   /* dataset_dir is relative to the current directory, as in LLaMA-Factory */
    bool ok = iopo_train_config_load_yaml(&c, path, devnull, err, sizeof err);
    if (chdir(cwd) != 0) fz_fail("could not return to %s", cwd);
    if (!ok) {
        one_line(err, "load_yaml");
        return;
    }
    char why[600];
    FZ_CHECK(!c.dataset_info[0] || iopo_pref_dataset_info_check(c.dataset_info, why, sizeof why),
             "accepted dataset_info that the loader refuses: %s (%s)", c.dataset_info, why);
    FZ_CHECK(!c.dataset_info[0] || c.data[0], "dataset_info without data");
    if (!c.model[0]) snprintf(c.model, sizeof c.model, "m");
    if (!c.data[0]) snprintf(c.data, sizeof c.data, "d");
    if (!c.out[0]) snprintf(c.out, sizeof c.out, "o");
    if (!iopo_train_config_validate(&c, err, sizeof err)) one_line(err, "validate");
}

static const char REGISTRY[] = "{\"d\": {\"file_name\": \"d.json\", \"formatting\": \"sharegpt\", \"ranking\": true, "
                               "\"columns\": {\"messages\": \"conversations\", \"chosen\": \"chosen\", \"rejected\": "
                               "\"rejected\"}}}";
static const char DATA[] = "[{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}], \"chosen\": {\"from\": "
                           "\"gpt\", \"value\": \"b\"}, \"rejected\": {\"from\": \"gpt\", \"value\": \"c\"}}]";
static const char FIXED_YAML[] = "model_name_or_path: m\nstage: dpo\ndataset: d\ndataset_dir: .\noutput_dir: o\n";

/* Entries the data mode reads records through: renamed alpaca columns, default alpaca, sharegpt with tags. */
static const char *const ENTRIES[] = {
    "{\"formatting\": \"alpaca\", \"ranking\": true, \"columns\": {\"prompt\": \"q\", \"query\": \"x\", \"chosen\": "
    "\"a\", \"rejected\": \"b\", \"system\": \"s\", \"history\": \"h\"}}",
    "{\"formatting\": \"alpaca\"}",
    "{\"columns\": {\"query\": \"q\", \"response\": \"r\"}}",
    "{\"formatting\": \"sharegpt\", \"columns\": {\"messages\": \"m\", \"system\": \"s\"}, \"tags\": {\"role_tag\": "
    "\"role\", \"content_tag\": \"content\", \"user_tag\": \"user\", \"assistant_tag\": \"assistant\"}}",
    "{\"formatting\": \"sharegpt\", \"ranking\": true}",
};

static void records(uint8_t pick, const char *data, size_t size) {
    static const iopo_objective objs[3] = {IOPO_OBJ_SFT, IOPO_OBJ_DPO, IOPO_OBJ_IOPO};
    const char *info = ENTRIES[pick % (sizeof ENTRIES / sizeof ENTRIES[0])];
    iopo_pref_options opt = {.objective = objs[(pick >> 3) % 3], .template_name = pick & 128 ? "chatml" : "plain",
                             .cutoff_len = 64, .skip_bad = pick & 64, .dataset_info = info};
    const iopo_tokenizer *tok = fz_tokenizer(FZ_TOK_SPLIT);
    const char *path = fz_write(1, "records.json", data, size);
    char err[2048];
    iopo_pref_dataset ds;
    if (opt.skip_bad) fz_quiet_begin();
    bool ok = iopo_pref_dataset_load(&ds, path, tok, &opt, err, sizeof err);
    fz_quiet_end();
    unlink(path);
    if (!ok) {
        one_line(err, "records");
        return;
    }
    int vocab = iopo_tokenizer_vocab_size(tok);
    for (int i = 0; i < ds.n; i++)
        for (int s = 0; s < ds.nseq; s++) {
            const iopo_example *e = &ds.rec[i].seq[s];
            fz_check_example(e, opt.cutoff_len, vocab, "sequence");
            int p = 0;
            while (p < e->n && !e->label[p]) p++;
            FZ_CHECK(p >= 1 && p < e->n, "record %d seq %d: prompt of %d tokens in %d", ds.rec[i].line, s, p, e->n);
            for (int k = p; k < e->n; k++)
                FZ_CHECK(e->label[k] == 1, "record %d: mask is not a suffix", ds.rec[i].line);
        }
    iopo_pref_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
    if (size < 1) return 0;
    const char *data = (const char *)in + 1;
    size_t n = size - 1;
    switch (in[0] % 3) {
    case 0:
        fz_write(2, "dataset_info.json", REGISTRY, sizeof REGISTRY - 1);
        fz_write(3, "d.json", DATA, sizeof DATA - 1);
        load_yaml(fz_write(0, "run.yaml", data, n));
        break;
    case 1:
        fz_write(2, "dataset_info.json", data, n);
        fz_write(3, "d.json", DATA, sizeof DATA - 1);
        load_yaml(fz_write(0, "run.yaml", FIXED_YAML, sizeof FIXED_YAML - 1));
        break;
    default:
        if (n < 1) return 0;
        records((uint8_t)data[0], data + 1, n - 1);
        break;
    }
    return 0;
}
