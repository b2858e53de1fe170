/* `iopo train`: a JSON config (--config) with every key also a flag; flags override the file. SIGINT / SIGTERM ask
 * the trainer to stop after the current step (it checkpoints); a second signal exits at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "iopo/train.h"

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig) {
    /* Only async-signal-safe calls here: the trainer polls the request between steps. */
    if (signals_seen++) _exit(128 + sig);
    iopo_train_request_stop(sig);
    static const char msg[] = "\niopo train: stopping after this step to write a checkpoint (signal again to exit at "
                              "once; the last checkpoint stays intact)\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
}

static void print_quoted(const char *a) {
    bool plain = *a != 0;
    for (const char *p = a; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *p) != NULL;
    if (plain) {
        fputs(a, stderr);
        return;
    }
    fputc('\'', stderr);
    for (const char *p = a; *p; p++)
        if (*p == '\'') fputs("'\\''", stderr);
        else fputc(*p, stderr);
    fputc('\'', stderr);
}

/* The same command with a bare --resume: any --resume PATH is replaced (the run now lives in --out) and --overwrite
 * dropped (it would delete what the run just saved). */
static void print_resume_command(int argc, char **argv) {
    fputs("resume with: iopo train", stderr);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = !strcmp(a, "--resume") || !strcmp(a, "--overwrite");
        if (takes || !strncmp(a, "--resume=", 9) || !strncmp(a, "--overwrite=", 12)) {
            if (takes && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) i++;
            continue;
        }
        fputc(' ', stderr);
        print_quoted(a);
    }
    fputs(" --resume\n", stderr);
}

static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) return true;
    return false;
}

static bool is_yaml(const char *path) {
    size_t n = strlen(path);
    return (n >= 5 && !strcmp(path + n - 5, ".yaml")) || (n >= 4 && !strcmp(path + n - 4, ".yml"));
}

/* defaults <- the resumed run's saved config (if any) <- the --config file (wherever it stands; JSON, or a
 * LLaMA-Factory YAML) <- flags. notes: where the YAML reader reports the keys it ignores (NULL: the second assembly
 * of a resumed run, already reported). Returns 0, or the exit status of a bad file (1) or flag (2). */
static int assemble(iopo_train_config *c, int argc, char **argv, const char *saved, FILE *notes, char *err,
                    size_t errlen) {
    iopo_train_config_defaults(c);
    if (saved && !iopo_train_config_load_saved(c, saved, err, errlen)) return 1;
    bool yaml_overwrite = false;
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (!cli_flag_value(argc, argv, &i, "--config", &path)) continue;
        if (!iopo_train_config_load_file(c, path, notes, err, errlen)) return 1;
        yaml_overwrite = is_yaml(path) && c->overwrite;
    }
    bool overwrite_flag = false;
    for (int i = 1; i < argc; i++) {
        const char *path;
        if (cli_flag_value(argc, argv, &i, "--config", &path)) continue;
        overwrite_flag |= !strncmp(argv[i], "--overwrite", 11);
        if (!strcmp(argv[i], "--print-config")) continue;
        if (iopo_train_config_parse_switch(c, argc, argv, &i)) continue;
        if (!iopo_train_config_parse_flag(c, argc, argv, &i, err, errlen)) return 2;
    }
    iopo_train_config_finish(c);
    /* LLaMA-Factory's overwrite_output_dir means: start over rather than continue what is there; asked to continue
     * (--resume), the run continues (so the command printed to resume an interrupted run works as printed). */
    if (yaml_overwrite && !overwrite_flag && c->resume[0]) c->overwrite = 0;
    return 0;
}

int cmd_train(int argc, char **argv) {
    iopo_train_config c;
    char err[2048];
    if (wants_help(argc, argv)) {
        printf("usage: iopo train [--config run.json|run.yaml] [--KEY VALUE ...] [--print-config]\n\n"
               "Trains a model into the run directory --out: checkpoint-N/ (config.json, model.safetensors,\n"
               "tokenizer.json, optimizer.safetensors, trainer_state.json), `latest` (the newest checkpoint),\n"
               "final/ (the finished model alone), metrics.jsonl (one JSON object per logged step) and\n"
               "train_config.json (every key of the run, after flags).\n\n"
               "The run directory:\n"
               "  - one run at a time: a second run into the same --out stops at once naming the first (--out/.lock);\n"
               "  - an --out that holds a run is refused unless --resume (continue it) or --overwrite (remove it\n"
               "    first, listing what is removed); files that are not part of a run are never removed;\n"
               "  - --resume continues bit-identically, starting from the run's train_config.json (so\n"
               "    `iopo train --resume RUN` alone is enough); it prints the keys given again that differ and\n"
               "    refuses, unless --allow-config-change, changes to the keys that define the run:\n    ");
        iopo_train_config_print_meaning_keys(stdout, 96, "    ");
        printf(";\n"
               "  - Ctrl-C or SIGTERM: the current step finishes, a checkpoint is written and the command to\n"
               "    resume is printed (exit 130 / 143); a second signal exits at once (the last checkpoint stays);\n"
               "  - leftovers of an interrupted save are removed at start, with a line naming them.\n"
               "Commands that take a model directory also take a run directory (its latest checkpoint).\n\n"
               "--config run.yaml (or .yml) reads a LLaMA-Factory run config as LLaMA-Factory reads it (stage,\n"
               "finetuning_type, lora_*, pref_*, cutoff_len, learning_rate, ...; its dataset through\n"
               "dataset_dir/dataset_info.json); keys only PyTorch uses are reported and ignored, keys iopo\n"
               "cannot honour are errors (docs/TRAINING.md lists every key). --print-config prints the\n"
               "effective configuration as JSON and exits without training.\n\n"
               "Every key of the JSON config is also a flag (underscores or dashes); flags override the file:\n\n");
        iopo_train_config_print_keys(stdout);
        return 0;
    }
    int rc = assemble(&c, argc, argv, NULL, stderr, err, sizeof err);
    /* Resuming a run whose config was saved: what is not given again is the run's, not the defaults. */
    char saved[2200];
    if (!rc && iopo_train_config_saved_path(c.resume, saved, sizeof saved))
        rc = assemble(&c, argc, argv, saved, NULL, err, sizeof err);
    if (rc) {
        fprintf(stderr, "iopo train: %s\n", err);
        return rc;
    }
    if (!iopo_train_config_validate(&c, err, sizeof err)) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--print-config")) {
            char *json = iopo_train_config_to_json(&c);
            fputs(json, stdout);
            free(json);
            return 0;
        }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = iopo_train_run(&c);
    char latest[1100];
    snprintf(latest, sizeof latest, "%s/latest", c.out);
    if ((rc == 128 + SIGINT || rc == 128 + SIGTERM) && access(latest, F_OK) == 0) print_resume_command(argc, argv);
    return rc;
}
