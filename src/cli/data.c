/* `iopo data`: data generators. `iopo data synth` writes verifiable complex-instruction data (include/iopo/synth.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "iopo/synth.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: iopo data synth --out DIR [--seed S] [--train N] [--eval N] [--max-constraints N]\n"
            "                       [--held-out ID,...|none] [--list]\n\n"
            "Writes fully verifiable complex-instruction data: a task from a small English bank plus 1..N\n"
            "constraints, each an IFEval instruction id with its kwargs, every response checked with iopo's IFEval\n"
            "checkers.\n"
            "Files in DIR (each written atomically, manifest.json last):\n"
            "  sft.jsonl, dpo.jsonl, iopo.jsonl, dpo4.jsonl     training data from one pool of IOPO quadruples\n"
            "  eval_ifs_in_domain.jsonl, eval_ifs_held_out.jsonl, eval_ifm_in_domain.jsonl, eval_ifm_held_out.jsonl,\n"
            "  eval.jsonl (all four), eval_responses.jsonl      IFEval input format, and reference responses\n"
            "  corpus.txt                                       the SFT texts, e.g. for tools/make_tokenizer.py\n\n"
            "  --out DIR            output directory (created if missing)\n"
            "  --seed S             random seed; the same seed gives byte-identical files (default %d)\n"
            "  --train N            IOPO quadruples in the training pool (default %d): 2N SFT, DPO and DPO4 records\n"
            "  --eval N             items in each of the four evaluation files (default %d)\n"
            "  --max-constraints N  constraints per instruction: training 1..N, IF-M 2..N (default %d, at most %d)\n"
            "  --held-out IDS       comma-separated IFEval ids kept out of training; 'none' for none (default:\n"
            "                       %s)\n"
            "  --list               print the constraint ids the library draws and exit\n"
            "See docs/EVAL.md.\n",
            IOPO_SYNTH_DEFAULT_SEED, IOPO_SYNTH_DEFAULT_TRAIN, IOPO_SYNTH_DEFAULT_EVAL,
            IOPO_SYNTH_DEFAULT_MAX_CONSTRAINTS, IOPO_SYNTH_MAX_CONSTRAINTS, iopo_synth_default_held_out());
}

static int cmd_synth(int argc, char **argv) {
    iopo_synth_options opt;
    iopo_synth_defaults(&opt);
    const char *out = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (int k = 0; k < iopo_synth_constraint_count(); k++) puts(iopo_synth_constraint_id(k));
            return 0;
        } else if (cli_flag_value(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (cli_flag_value(argc, argv, &i, "--seed", &v)) {
            opt.seed = (uint64_t)cli_parse_long("--seed", v, 0, 9007199254740991L);   /* exact in the manifest */
        } else if (cli_flag_value(argc, argv, &i, "--train", &v)) {
            opt.train = (int)cli_parse_long("--train", v, 1, 1000000);
        } else if (cli_flag_value(argc, argv, &i, "--eval", &v)) {
            opt.eval = (int)cli_parse_long("--eval", v, 0, 100000);
        } else if (cli_flag_value(argc, argv, &i, "--max-constraints", &v)) {
            opt.max_constraints = (int)cli_parse_long("--max-constraints", v, 2, IOPO_SYNTH_MAX_CONSTRAINTS);
        } else if (cli_flag_value(argc, argv, &i, "--held-out", &v)) {
            opt.held_out = v;
        } else {
            fprintf(stderr, "iopo data synth: unknown argument '%s' (iopo data synth --help)\n", argv[i]);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "iopo data synth: --out DIR is required (iopo data synth --help)\n");
        return 2;
    }
    iopo_synth_report rep;
    char err[2048];
    if (!iopo_synth_write(out, &opt, &rep, err, sizeof err)) {
        fprintf(stderr, "iopo data synth: %s\n", err);
        return strncmp(err, "--", 2) == 0 ? 2 : 1;
    }
    printf("wrote %s: %d quadruples (sft %d, dpo %d, iopo %d, dpo4 %d records); eval IF-S %d + %d, IF-M %d + %d "
           "(in-domain + held-out); %ld items built, %ld failed verification and were built again\n",
           out, opt.train, rep.train_records[0], rep.train_records[1], rep.train_records[2], rep.train_records[3],
           rep.eval_records[0], rep.eval_records[1], rep.eval_records[2], rep.eval_records[3], rep.attempts,
           rep.rejected);
    return 0;
}

int cmd_data(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "synth") == 0) return cmd_synth(argc - 1, argv + 1);
    if (argc >= 2 && cli_is_help(argv[1])) {
        printf("usage: iopo data synth [options]   (iopo data synth --help)\n\n"
               "  synth   write verifiable complex-instruction data (SFT, DPO, IOPO, DPO4; IFEval-format eval\n"
               "          files)\n");
        return 0;
    }
    if (argc >= 2) fprintf(stderr, "iopo data: unknown subcommand '%s' (iopo data --help)\n", argv[1]);
    else fprintf(stderr, "iopo data: a subcommand is needed: synth (iopo data --help)\n");
    return 2;
}
