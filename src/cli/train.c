/* `iopo train`: a JSON config (--config) with every key also a flag; flags override the file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/train.h"

int cmd_train(int argc, char **argv) {
    iopo_train_config c;
    iopo_train_config_defaults(&c);
    char err[2048];
    /* The config file first, wherever --config stands, so that flags override it. */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (cli_is_help(argv[i])) {
            printf("usage: iopo train [--config run.json] [--KEY VALUE ...]\n\n"
                   "Trains a model and writes checkpoints to --out: checkpoint-N/ (config.json, model.safetensors,\n"
                   "tokenizer.json, optimizer.safetensors, trainer_state.json), `latest`, and metrics.jsonl (one JSON\n"
                   "object per logged step). --resume continues a run bit-identically. Every key of the JSON config is\n"
                   "also a flag (underscores or dashes); flags override the file:\n\n");
            iopo_train_config_print_keys(stdout);
            return 0;
        }
        if (cli_flag_value(argc, argv, &i, "--config", &path) &&
            !iopo_train_config_load_json(&c, path, err, sizeof err)) {
            fprintf(stderr, "iopo train: %s\n", err);
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *path;
        if (cli_flag_value(argc, argv, &i, "--config", &path)) continue;
        if (!iopo_train_config_parse_flag(&c, argc, argv, &i, err, sizeof err)) {
            fprintf(stderr, "iopo train: %s\n", err);
            return 2;
        }
    }
    if (!iopo_train_config_validate(&c, err, sizeof err)) {
        fprintf(stderr, "iopo train: %s\n", err);
        return 2;
    }
    return iopo_train_run(&c);
}
