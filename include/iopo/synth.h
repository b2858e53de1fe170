/* `iopo data synth`: fully verifiable complex-instruction data (issue 10). An instruction is a task from a small fixed
 * English bank ("Write a short note about the sea.") plus 1..N constraints, each an IFEval instruction id with its
 * keyword arguments, so the very checkers of include/iopo/ifeval.h decide whether a response follows it. Responses
 * are built, not sampled: a base answer (a few template sentences about the task's topic) that each constraint's
 * transformer makes satisfy or violate it, and every response written is checked (strict) at generation time.
 *
 * From one pool of IOPO quadruples (x1, y1, x2, y2) -- x2 is x1 with one constraint changed or one added, so that y1
 * fails x2 and y2 follows it -- the training files are:
 *   sft.jsonl    {"messages": [user x1, assistant y1]} and {"messages": [user x2, assistant y2]} per quadruple
 *   dpo.jsonl    TRL {"prompt": x1, "chosen": y1, "rejected": r1} and {"prompt": x2, "chosen": y2, "rejected": r2},
 *                r_i the near miss of y_i: the same base answer with one of x_i's constraints violated
 *   iopo.jsonl   the IOPO release format: conversations [x1, x2], chosen y1, rejected y2
 *   dpo4.jsonl   the control "DPO on the same four sequences": {x1: y1 > y2} and {x2: y2 > y1}
 * and the evaluation files hold IFEval's input format (key, prompt, instruction_id_list, kwargs) with "split"
 * ("in_domain" | "held_out"), "set" ("IF-S" | "IF-M") and "num_constraints"; eval_responses.jsonl holds a reference
 * response per item and corpus.txt the SFT texts (for a tokenizer). Constraint ids listed as held out never appear in
 * a training file. docs/EVAL.md describes the library, the defaults and the file layout. */
#ifndef IOPO_SYNTH_H
#define IOPO_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct iopo_synth_options {
    uint64_t seed;            /* every byte of the output follows from it */
    int train;                /* IOPO quadruples in the training pool */
    int eval;                 /* items in each of the four evaluation files (IF-S / IF-M x in-domain / held-out) */
    int max_constraints;      /* N: IF-M instructions draw 2..N constraints, training instructions 1..N */
    const char *held_out;     /* comma-separated IFEval ids held out of training; NULL: iopo_synth_default_held_out();
                               * "" or "none": none (no held-out evaluation files are written) */
} iopo_synth_options;

#define IOPO_SYNTH_DEFAULT_SEED 1
#define IOPO_SYNTH_DEFAULT_TRAIN 1000
#define IOPO_SYNTH_DEFAULT_EVAL 100
#define IOPO_SYNTH_DEFAULT_MAX_CONSTRAINTS 4
#define IOPO_SYNTH_MAX_CONSTRAINTS 6

void iopo_synth_defaults(iopo_synth_options *opt);

/* The IFEval ids the constraint library draws, in IFEval's order, and the default held-out split. */
int iopo_synth_constraint_count(void);
const char *iopo_synth_constraint_id(int i);
const char *iopo_synth_default_held_out(void);

typedef struct iopo_synth_report {
    int train_records[4];     /* sft, dpo, iopo, dpo4 */
    int eval_records[4];      /* ifs in-domain, ifs held-out, ifm in-domain, ifm held-out */
    long attempts;            /* items built, including those that failed verification and were built again */
    long rejected;            /* items that failed verification (never written) */
} iopo_synth_report;

/* Writes the files into dir (created if missing; each file replaced atomically, manifest.json last). false + a
 * message on a bad option (an unknown or undrawable held-out id, counts out of range) or a write error. */
bool iopo_synth_write(const char *dir, const iopo_synth_options *opt, iopo_synth_report *rep, char *err,
                      size_t errlen);

#endif
