/* `iopo merge`: a LoRA adapter folded into its base model, written as a plain model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "iopo/fileio.h"
#include "iopo/model.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo merge --adapter DIR --out DIR [--model BASE] [--save-dtype float32|bfloat16] [--device N|cpu]\n\n"
            "Writes the model that BASE with the PEFT LoRA adapter in --adapter computes, as a plain Hugging Face\n"
            "model directory (config.json, model.safetensors, and the tokenizer files of the adapter directory,\n"
            "else of the base): every adapted weight W becomes W + scale * B A, as peft's merge_and_unload() does.\n"
            "transformers loads the result without peft.\n\n"
            "  --adapter DIR    adapter_config.json + adapter_model.safetensors (an `iopo train` LoRA run's final/ or\n"
            "                   checkpoint, or an adapter PEFT saved)\n"
            "  --model BASE     the base model (default: the adapter's base_model_name_or_path)\n"
            "  --out DIR        the merged model directory\n"
            "  --save-dtype T   float32 (default) or bfloat16 (torch's rounding)\n"
            "  --device N|cpu   where to merge (default: IOPO_DEVICE, else the best GPU)\n");
}

/* The tokenizer files a model directory carries, from the first directory that has each. */
static bool copy_side_files(const char *out, const char *a, const char *b, char *err, size_t errlen) {
    const char *files[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json", NULL};
    for (int i = 0; files[i]; i++) {
        const char *dirs[2] = {a, b};
        for (int d = 0; d < 2; d++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dirs[d], files[i]);
            if (access(path, F_OK) != 0) continue;
            size_t len;
            char *data = iopo_read_file(path, &len, err, errlen);
            if (!data) return false;
            snprintf(path, sizeof path, "%s/%s", out, files[i]);
            bool ok = iopo_write_file_atomic(path, data, len, err, errlen);
            free(data);
            if (!ok) return false;
            break;
        }
    }
    return true;
}

int cmd_merge(int argc, char **argv) {
    const char *adapter = NULL, *base = NULL, *out = NULL, *dtype = "float32", *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--adapter", &adapter)) {
        } else if (cli_flag_value(argc, argv, &i, "--model", &base)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out)) {
        } else if (cli_flag_value(argc, argv, &i, "--save-dtype", &dtype)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else {
            fprintf(stderr, "iopo merge: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!adapter || !out) {
        fprintf(stderr, "iopo merge: --adapter and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(dtype, "float32") && strcmp(dtype, "bfloat16")) {
        fprintf(stderr, "iopo merge: --save-dtype '%s': expected float32 or bfloat16\n", dtype);
        return 2;
    }
    char err[4608], base_dir[4096] = "", adapter_dir[4096];
    if (!iopo_model_dir_resolve(adapter, adapter_dir, sizeof adapter_dir, err, sizeof err) ||
        !iopo_adapter_dir_base(adapter_dir, base_dir, sizeof base_dir)) {
        fprintf(stderr, "iopo merge: %s: %s\n", adapter, err[0] ? err : "no adapter_config.json");
        return 1;
    }
    if (base) snprintf(base_dir, sizeof base_dir, "%s", base);
    if (!base_dir[0]) {
        fprintf(stderr, "iopo merge: %s/adapter_config.json names no base model: give --model BASE\n", adapter_dir);
        return 1;
    }
    iopo_ctx *ctx = cli_open_device(device, false);
    iopo_model *m = iopo_model_load(ctx, base_dir, err, sizeof err);
    bool ok = m && iopo_model_load_adapter(m, adapter_dir, err, sizeof err);
    if (ok) {
        iopo_model_merge_lora(m);
        ok = iopo_model_save_dtype(m, out, !strcmp(dtype, "bfloat16"), err, sizeof err) &&
             copy_side_files(out, adapter_dir, base_dir, err, sizeof err);
    }
    if (ok) fprintf(stderr, "merged %s into %s: %s\n", adapter_dir, base_dir, out);
    else fprintf(stderr, "iopo merge: %s\n", err);
    iopo_model_free(m);
    iopo_ctx_destroy(ctx);
    return ok ? 0 : 1;
}
