/* Whole-file reads and atomic writes: outputs and checkpoints are never left half-written. */
#ifndef IOPO_FILEIO_H
#define IOPO_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL + "path: reason" in err. */
char *iopo_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* Atomic replacement of `path`: write into the returned FILE (a temporary file beside path), then commit (flush,
 * fsync, rename over path, fsync the directory) or abort (remove the temporary file). */
typedef struct iopo_atomic_file {
    FILE *f;
    char *path, *tmp_path;
} iopo_atomic_file;
bool iopo_atomic_open(iopo_atomic_file *af, const char *path, char *err, size_t errlen);
bool iopo_atomic_commit(iopo_atomic_file *af, char *err, size_t errlen);
void iopo_atomic_abort(iopo_atomic_file *af);
/* Convenience: the whole contents at once. */
bool iopo_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Creates a directory and its parents (like mkdir -p); true if it exists afterwards. */
bool iopo_mkdirs(const char *path, char *err, size_t errlen);
/* fsync of a directory itself (its entries become durable). */
bool iopo_fsync_dir(const char *dir, char *err, size_t errlen);
/* Removes a file or a directory tree (like rm -rf, without following links); true if nothing is left. */
bool iopo_remove_tree(const char *path, char *err, size_t errlen);
/* Publishes a fully written directory: fsyncs tmp, renames it to dst (replacing an existing dst whole) and fsyncs the
 * parent, so dst is either the old directory or the new one, never a mixture. */
bool iopo_commit_dir(const char *tmp, const char *dst, char *err, size_t errlen);

#endif
