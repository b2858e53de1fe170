/* The output directory of a training run (see rundir.c). */
#ifndef IOPO_TRAIN_RUNDIR_H
#define IOPO_TRAIN_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

/* Takes the run's advisory lock, out/.lock (flock, held until rundir_unlock or exit; the file records pid, host and
 * start time for the message a second run prints). Creates out if needed. Returns the lock's descriptor or -1. */
int rundir_lock(const char *out, char *err, size_t errlen);
void rundir_unlock(int fd);

/* Checks what out holds before a run writes into it, under the lock:
 *  - a file that is not part of an iopo run: refused (even with overwrite; nothing of the user's is deleted);
 *  - another run (checkpoints, latest, metrics.jsonl, metrics.svg, train_config.json, final/, reference caches):
 *    refused unless continuing it (resume_here) or overwrite, which removes them first and says what it removed;
 *  - leftovers of an interrupted save (.checkpoint-N.tmp/, temporary files of atomic writes, a checkpoint folder
 *    without all its files): removed, with a line naming them. */
bool rundir_prepare(const char *out, bool resume_here, bool overwrite, char *err, size_t errlen);

/* Drops metrics.jsonl records after `step` (those of steps the resumed run will redo), rewriting it atomically. */
bool rundir_cut_metrics(const char *out, int step, char *err, size_t errlen);

/* Draws out/metrics.jsonl into out/metrics.svg (iopo_plot_metrics' default panels), atomically. */
bool rundir_write_plot(const char *out, const char *title, char *err, size_t errlen);

/* True when a and b name the same existing directory. */
bool rundir_same_dir(const char *a, const char *b);

#endif
