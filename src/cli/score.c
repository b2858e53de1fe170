/* `iopo score`: per-record losses and summed log-probs of a data file under a model, and optionally the gradient of
 * the file's mean loss with respect to every parameter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "iopo/dataset.h"
#include "iopo/fileio.h"
#include "iopo/jsonutil.h"
#include "iopo/model.h"
#include "iopo/safetensors.h"
#include "iopo/tokenizer.h"
#include "train/objective.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo score --model DIR --data FILE [--objective sft|dpo|iopo] [--ref DIR] [--beta B]\n"
            "                  [--label-smoothing E] [--pref-ftx G] [--loss-type T] [--template NAME]\n"
            "                  [--device N|cpu] [--out scores.jsonl] [--grads grads.safetensors] [--batch-size B]\n"
            "                  [--seq-len N] [--tokenizer FILE] [--token-logps]\n\n"
            "Records are read and cut to --seq-len (default: the model's n_positions) exactly as `iopo train` reads\n"
            "them, so a record scores what training saw. Each output line ends with the record's \"line\" in the data\n"
            "file (JSONL) or its 1-based \"record\" index (JSON array); packed text has neither.\n\n"
            "DPO / IOPO: {\"loss\": f, \"logps\": {...}, \"ref_logps\": {...}, \"tokens\": {...}} with sequence keys\n"
            "chosen, rejected (DPO) or x1y1, x1y2, x2y2, x2y1 (IOPO), log-probs summed over response tokens; the\n"
            "reference is --ref (default: the model itself). --grads is the gradient of the mean loss over records.\n"
            "SFT:\n"
            "Writes one JSON line per record, in order:\n"
            "  {\"loss\": mean token cross-entropy of the record's response, \"logps\": {\"response\": summed\n"
            "   log-prob}, \"tokens\": {\"response\": count}}\n"
            "to --out (default: stdout). --token-logps adds \"token_logps\": [...] after \"tokens\": the log-prob of\n"
            "each response token in order (-loss / weight at each position of non-zero loss weight), to compare\n"
            "models token by token. With --grads, also the gradient of the SFT loss of the whole file (the mean over\n"
            "all response tokens of all records) for every parameter, fp32 safetensors under the checkpoint's tensor\n"
            "names, whatever layout iopo uses inside (a tied LM head is part of the embedding's gradient).\n"
            "--template: the chat template of chat and preference data: auto (the default: chatml, llama3 or plain as\n"
            "the tokenizer's special tokens call for), chatml, llama3 or plain, as `iopo train` applies it.\n"
            "Records: {\"prompt_ids\": [...], \"response_ids\": [...]} (loss on the response), {\"input_ids\": [...],\n"
            "\"labels_mask\": [...]}, or text (.txt / {\"text\"}: every token after the first).\n");
}

/* Ends a score line with the record's place in the data file, named as the data loader names it in errors. */
static void print_record(FILE *f, const iopo_dataset *ds, int row) {
    int line = ds->ex[row].line;
    if (line > 0) fprintf(f, ", \"%s\": %d", ds->by_index ? "record" : "line", line);
    fprintf(f, "}\n");
}

int cmd_score(int argc, char **argv) {
    const char *model_dir = NULL, *data = NULL, *objective = "sft", *device = NULL, *out = NULL, *grads = NULL, *v;
    const char *ref_dir = NULL, *tok_flag = NULL;
    bool token_logps = false;
    long batch = 8, seq_len = 0;
    iopo_train_config tc;
    iopo_train_config_defaults(&tc);
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (cli_flag_value(argc, argv, &i, "--data", &data)) {
        } else if (cli_flag_value(argc, argv, &i, "--objective", &objective)) {
        } else if (cli_flag_value(argc, argv, &i, "--device", &device)) {
        } else if (cli_flag_value(argc, argv, &i, "--out", &out)) {
        } else if (cli_flag_value(argc, argv, &i, "--grads", &grads)) {
        } else if (cli_flag_value(argc, argv, &i, "--ref", &ref_dir)) {
        } else if (!strncmp(argv[i], "--beta", 6) || !strncmp(argv[i], "--label-smoothing", 17) ||
                   !strncmp(argv[i], "--pref-ftx", 10) || !strncmp(argv[i], "--loss-type", 11) ||
                   !strncmp(argv[i], "--template", 10)) {
            char e2[256];
            if (!strncmp(argv[i], "--template", 10) && (argv[i][10] == 0 || argv[i][10] == '=')) {
                const char *t;
                cli_flag_value(argc, argv, &i, "--template", &t);
                snprintf(tc.template_name, sizeof tc.template_name, "%s", t);
            } else if (!iopo_train_config_parse_flag(&tc, argc, argv, &i, e2, sizeof e2)) {
                fprintf(stderr, "iopo score: %s\n", e2);
                return 2;
            }
        } else if (cli_flag_value(argc, argv, &i, "--batch-size", &v)) {
            batch = cli_parse_long("--batch-size", v, 1, 4096);
        } else if (cli_flag_value(argc, argv, &i, "--seq-len", &v)) {
            seq_len = cli_parse_long("--seq-len", v, 1, 1 << 24);
        } else if (cli_flag_value(argc, argv, &i, "--tokenizer", &tok_flag)) {
        } else if (!strcmp(argv[i], "--token-logps")) {
            token_logps = true;
        } else {
            fprintf(stderr, "iopo score: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!model_dir || !data) {
        fprintf(stderr, "iopo score: --model and --data are required\n");
        return 2;
    }
    /* A run directory stands for its latest checkpoint (the one resolver every command uses). */
    char model_buf[4096], ref_buf[4096], rerr[4608];
    if (!iopo_model_dir_resolve(model_dir, model_buf, sizeof model_buf, rerr, sizeof rerr) ||
        (ref_dir && !iopo_model_dir_resolve(ref_dir, ref_buf, sizeof ref_buf, rerr, sizeof rerr))) {
        fprintf(stderr, "iopo score: %s\n", rerr);
        return 1;
    }
    model_dir = model_buf;
    if (ref_dir) ref_dir = ref_buf;
    snprintf(tc.objective, sizeof tc.objective, "%.15s", objective);
    if (strcmp(objective, "sft") && strcmp(objective, "dpo") && strcmp(objective, "iopo")) {
        fprintf(stderr, "iopo score: --objective '%s': expected sft, dpo or iopo\n", objective);
        return 2;
    }
    int G = objective_group(objective);
    if (token_logps && G > 1) {
        fprintf(stderr, "iopo score: --token-logps is for --objective sft (a %s line scores several sequences)\n",
                objective);
        return 2;
    }
    char err[4608];
    iopo_model_config cfg;
    if (!iopo_model_config_load(&cfg, model_dir, err, sizeof err)) {
        fprintf(stderr, "iopo score: %s\n", err);
        return 1;
    }
    char no_tok[9000];
    iopo_tokenizer *tok = NULL;
    if (!objective_load_tokenizer(tok_flag, model_dir, &tok, no_tok, sizeof no_tok, err, sizeof err)) {
        fprintf(stderr, "iopo score: %s\n", err);
        return 1;
    }
    /* The same reading and cutting as `iopo train` with seq_len = min(--seq-len, n_positions). */
    int seq = seq_len && seq_len < cfg.n_ctx ? (int)seq_len : cfg.n_ctx;
    if (seq_len > cfg.n_ctx)
        fprintf(stderr, "iopo score: --seq-len %ld exceeds the model's n_positions; using %d\n", seq_len, cfg.n_ctx);
    iopo_dataset ds;
    bool ok = objective_load_data(&tc, data, tok, tok ? NULL : no_tok, seq, cfg.vocab_size, G, &ds, err, sizeof err);
    iopo_tokenizer_free(tok);
    if (!ok) {
        fprintf(stderr, "iopo score: %s\n", err);
        return 1;
    }
    if (ds.truncated) fprintf(stderr, "data: %d records longer than %d tokens were cut\n", ds.truncated, seq + 1);
    int T = 1;
    for (int i = 0; i < ds.n; i++)
        if (ds.ex[i].n - 1 > T) T = ds.ex[i].n - 1;
    iopo_ctx *ctx = cli_open_device(device, false);
    iopo_model *m = grads ? iopo_model_load(ctx, model_dir, err, sizeof err)
                          : iopo_model_load_frozen(ctx, model_dir, err, sizeof err);   /* forwards only */
    if (!m) {
        fprintf(stderr, "iopo score: %s\n", err);
        iopo_ctx_destroy(ctx);
        iopo_dataset_free(&ds);
        return 1;
    }
    if (!grads) {   /* forwards only: no gradients, one block's activations at a time */
        iopo_model_freeze(m);
        iopo_model_set_recompute(m, true);
    }
    float *ref = NULL;
    if (G > 1) {
        ref = objective_reference_logps(ctx, ref_dir ? ref_dir : model_dir, NULL, &ds, (int)batch * G, T, IOPO_F32,
                                        NULL, "", err, sizeof err);
        if (!ref) {
            fprintf(stderr, "iopo score: %s\n", err);
            iopo_model_free(m);
            iopo_ctx_destroy(ctx);
            iopo_dataset_free(&ds);
            return 1;
        }
    }
    int nrec = ds.n / G;
    int E = (int)(batch < nrec ? batch : nrec), B = E * G;
    iopo_tensor *tref = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, B) : NULL;
    iopo_tensor *tel = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, E) : NULL, *tz = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, E) : NULL;
    iopo_tensor *tdseq = G > 1 ? iopo_tensor_new1(ctx, IOPO_F32, B) : NULL;
    float *href = calloc((size_t)B, sizeof *href), *hel = malloc((size_t)E * sizeof *hel);
    iopo_pref_params pp = objective_params(&tc, G > 1 ? G : 2, 1.0f / (float)nrec);
    static const char *keys2[] = {"chosen", "rejected"}, *keys4[] = {"x1y1", "x1y2", "x2y2", "x2y1"};
    const char *const *keys = G == 4 ? keys4 : keys2;
    iopo_host_batch hb;
    iopo_host_batch_alloc(&hb, B, T);
    iopo_batch db;
    iopo_batch_init(&db, ctx, B, T);
    iopo_tensor *dloss = iopo_tensor_new2(ctx, IOPO_F32, B, T);
    float *dl = malloc((size_t)B * T * sizeof *dl), *loss = malloc((size_t)B * T * sizeof *loss);
    float *logp = malloc((size_t)B * sizeof *logp), *count = malloc((size_t)B * sizeof *count);
    int *idx = malloc((size_t)B * sizeof *idx);
    double total_tokens = (double)iopo_dataset_label_tokens(&ds);
    for (int i = 0; i < B * T; i++) dl[i] = total_tokens > 0 ? (float)(1.0 / total_tokens) : 0.0f;
    iopo_tensor_upload(dloss, dl);
    iopo_atomic_file af = {0};
    FILE *f = stdout;
    if (out) {
        if (!iopo_atomic_open(&af, out, err, sizeof err)) {
            fprintf(stderr, "iopo score: %s\n", err);
            ok = false;
            goto done;
        }
        f = af.f;
    }
    if (grads) iopo_model_zero_grad(m);
    for (int start = 0; start < ds.n; start += B) {
        int nb = ds.n - start < B ? ds.n - start : B;
        for (int i = 0; i < nb; i++) idx[i] = start + i;
        if (G > 1) {
            memset(href, 0, (size_t)B * sizeof *href);
            memcpy(href, ref + start, (size_t)nb * sizeof *href);
        }
        iopo_host_batch_fill(&hb, &ds, idx, nb);
        iopo_tensor_upload(db.tokens, hb.tokens);
        iopo_tensor_upload(db.targets, hb.targets);
        iopo_tensor_upload(db.mask, hb.mask);
        iopo_tensor_upload(db.lengths, hb.lengths);
        iopo_model_forward(m, &db);
        if (token_logps) iopo_tensor_download(iopo_model_token_loss(m), loss);
        if (G > 1) {
            iopo_tensor_upload(tref, href);
            iopo_pref_loss(ctx, tel, tz, tdseq, iopo_model_seq_logp(m), tref, iopo_model_seq_count(m), E, &pp);
            /* Padding records beyond nb have no loss tokens: their dseq only meets zero masks. */
            if (grads) iopo_model_backward(m, &db, NULL, tdseq);
            iopo_tensor_download(tel, hel);
        } else if (grads) {
            iopo_model_backward(m, &db, dloss, NULL);
        }
        iopo_tensor_download(iopo_model_seq_logp(m), logp);
        iopo_tensor_download(iopo_model_seq_count(m), count);
        /* Numbers through iopo_json_write_number: a model with non-finite weights gives nan log-probs, and every line
         * must stay JSON (null) for the tools that read scores.jsonl. */
        for (int e = 0; G > 1 && e < nb / G; e++) {
            fprintf(f, "{\"loss\": ");
            iopo_json_write_number(f, "%.9g", (double)hel[e]);
            fprintf(f, ", \"logps\": {");
            for (int k = 0; k < G; k++) {
                fprintf(f, "%s\"%s\": ", k ? ", " : "", keys[k]);
                iopo_json_write_number(f, "%.9g", (double)logp[e * G + k]);
            }
            fprintf(f, "}, \"ref_logps\": {");
            for (int k = 0; k < G; k++) {
                fprintf(f, "%s\"%s\": ", k ? ", " : "", keys[k]);
                iopo_json_write_number(f, "%.9g", (double)href[e * G + k]);
            }
            fprintf(f, "}, \"tokens\": {");
            for (int k = 0; k < G; k++) fprintf(f, "%s\"%s\": %d", k ? ", " : "", keys[k], (int)count[e * G + k]);
            fprintf(f, "}");
            print_record(f, &ds, start + e * G);
        }
        for (int b = 0; G == 1 && b < nb; b++) {
            double mean = count[b] > 0 ? -(double)logp[b] / count[b] : 0.0;
            fprintf(f, "{\"loss\": ");
            iopo_json_write_number(f, "%.9g", mean);
            fprintf(f, ", \"logps\": {\"response\": ");
            iopo_json_write_number(f, "%.9g", (double)logp[b]);
            fprintf(f, "}, \"tokens\": {\"response\": %d}", (int)count[b]);
            if (token_logps) {
                /* loss = mask * CE per position, so a weighted position's log-prob is -loss / mask. */
                const float *w = hb.mask + (size_t)b * T, *l = loss + (size_t)b * T;
                fprintf(f, ", \"token_logps\": [");
                for (int t = 0, k = 0; t < T; t++)
                    if (w[t] != 0.0f) {
                        fputs(k++ ? ", " : "", f);
                        iopo_json_write_number(f, "%.9g", -(double)l[t] / w[t]);
                    }
                fprintf(f, "]");
            }
            print_record(f, &ds, start + b);
        }
    }
    if (out && !(ok = iopo_atomic_commit(&af, err, sizeof err))) {
        fprintf(stderr, "iopo score: %s\n", err);
        goto done;
    }
    af.f = NULL;
    if (grads) {
        iopo_st_entry *e;
        int n = iopo_model_export(m, true, &e);
        ok = iopo_st_write(grads, e, n, NULL, err, sizeof err);
        iopo_model_export_free(e, n);
        if (!ok) fprintf(stderr, "iopo score: %s\n", err);
    }
done:
    if (af.f) iopo_atomic_abort(&af);
    free(dl), free(loss), free(logp), free(count), free(idx), free(ref), free(href), free(hel);
    iopo_tensor_free(tref), iopo_tensor_free(tel), iopo_tensor_free(tz), iopo_tensor_free(tdseq);
    iopo_tensor_free(dloss);
    iopo_batch_free(&db);
    iopo_host_batch_free(&hb);
    iopo_model_free(m);
    iopo_ctx_destroy(ctx);
    iopo_dataset_free(&ds);
    return ok ? 0 : 1;
}
