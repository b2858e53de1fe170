/* LLaMA-Factory's dataset registry, dataset_info.json: a dataset name to its file and how its records read. */
#ifndef IOPO_TRAIN_DATASET_INFO_H
#define IOPO_TRAIN_DATASET_INFO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lf_dataset {
    char path[1024];    /* dir/file_name */
    char info[2048];    /* formatting, ranking, columns, tags as a JSON object (iopo_pref_options.dataset_info) */
    bool ranking;
} lf_dataset;

/* Finds name in dir/dataset_info.json as LLaMA-Factory does (dir relative to the current directory). Refuses what an
 * offline trainer of one file cannot read: hub and script entries, folders, file types other than .json / .jsonl, and
 * subset, folder, num_samples or a split other than train. Messages start with where (the YAML key's place). */
bool lf_dataset_find(const char *dir, const char *name, const char *where, lf_dataset *out, char *err, size_t errlen);

#endif
