/* iopo: preference-tunes language models on any Vulkan GPU or the CPU. Entry point and subcommand table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list Vulkan devices with the limits and features iopo uses"},
    {"init", cmd_init, "write a new model directory of any family (gpt2, llama, qwen2, qwen3), seeded"},
    {"train", cmd_train, "train a model (SFT, DPO, IOPO; full or LoRA) from a config and flags; checkpoints, resume"},
    {"score", cmd_score, "per-record losses and log-probs of a data file, and optionally its gradients"},
    {"generate", cmd_generate, "continue a prompt with a model (greedy, or temperature / top-k sampling)"},
    {"plot", cmd_plot, "draw metrics.jsonl files of training runs as an SVG chart (runs overlaid, eval points)"},
    {"selftest", cmd_selftest, "check every op on a device against the CPU reference (pass/fail table)"},
    {"bench", cmd_bench, "time ops against the device's measured peak FMA rate and copy bandwidth"},
    {"eval", cmd_eval, "score a model or responses on IFEval, iopo-synth or TRACE (checked in C, offline)"},
    {"merge", cmd_merge, "fold a LoRA adapter into its base model (what peft's merge_and_unload gives)"},
    {"data", cmd_data, "generate data: `iopo data synth` writes verifiable complex-instruction train/eval sets"},
    {"tokenize", cmd_tokenize, "text to token ids and back with a tokenizer.json or GPT-2 encoder.json"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo <command> [options]   (iopo <command> --help for its options)\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nenvironment:\n"
            "  IOPO_DEVICE=N|cpu   device to compute on (as --device); default: discrete GPU, else integrated,\n"
            "                      else the CPU Vulkan device\n"
            "  IOPO_VALIDATE=1     enable Vulkan validation layers; any message makes the exit status non-zero\n");
}

/* What the library cannot return (see iopo_set_failure_handler) ends the command here. */
static void on_failure(const char *message, void *user) {
    (void)user;
    fprintf(stderr, "iopo: %s\n", message);
    exit(1);
}

int main(int argc, char **argv) {
    iopo_set_failure_handler(on_failure, NULL);
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        int rc = commands[i].run(argc - 1, argv + 1);
        uint64_t msgs = iopo_validation_message_count();
        if (msgs) {
            fprintf(stderr, "iopo: %llu Vulkan validation message(s): failing\n", (unsigned long long)msgs);
            if (rc == 0) rc = 3;
        }
        return rc;
    }
    fprintf(stderr, "iopo: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
