/* Whole-file reads and atomic replacement (see include/iopo/fileio.h). */
#include "iopo/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SET_ERR(...)                                                                                                  \
    do {                                                                                                              \
        if (err && errlen) snprintf(err, errlen, __VA_ARGS__);                                                        \
    } while (0)

char *iopo_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        SET_ERR("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        SET_ERR("%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(sb.st_mode)) {
        SET_ERR("%s: %s", path, strerror(EISDIR));
        close(fd);
        return NULL;
    }
    /* st_size is only a first guess: pipes and /proc files report 0, and a file may grow while it is read. */
    size_t cap = (S_ISREG(sb.st_mode) && sb.st_size > 0) ? (size_t)sb.st_size + 1 : 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        SET_ERR("%s: out of memory for %zu bytes", path, cap);
        close(fd);
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > SIZE_MAX / 2) {
                SET_ERR("%s: file too large", path);
                free(buf);
                close(fd);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                SET_ERR("%s: out of memory for %zu bytes", path, cap * 2);
                free(buf);
                close(fd);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            SET_ERR("%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* A rename is only durable once the directory entry is: fsync the directory. Some file systems refuse fsync on a
 * directory (EINVAL); there is nothing more to do then. */
static bool fsync_dir(const char *path, char *err, size_t errlen) {
    char *dir = dir_of(path);
    if (!dir) {
        SET_ERR("%s: out of memory", path);
        return false;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        SET_ERR("%s: %s", dir, strerror(errno));
        free(dir);
        return false;
    }
    bool ok = true;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
        SET_ERR("%s: fsync: %s", dir, strerror(errno));
        ok = false;
    }
    close(fd);
    free(dir);
    return ok;
}

static void atomic_clear(iopo_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    af->f = NULL;
    af->path = NULL;
    af->tmp_path = NULL;
}

bool iopo_atomic_open(iopo_atomic_file *af, const char *path, char *err, size_t errlen) {
    af->f = NULL;
    af->path = strdup(path);
    size_t tlen = strlen(path) + 64;
    af->tmp_path = malloc(tlen);
    if (!af->path || !af->tmp_path) {
        SET_ERR("%s: out of memory", path);
        atomic_clear(af);
        return false;
    }
    /* Not mkstemp: it creates the file 0600, and the result should get the usual umask-derived mode (0644) like any
     * other file the user writes. O_EXCL with a fresh name gives the same safety. */
    static unsigned counter;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(af->tmp_path, tlen, "%s.tmp.%ld.%u.%lx", path, (long)getpid(), counter++,
                 (unsigned long)ts.tv_nsec);
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        SET_ERR("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        atomic_clear(af);
        return false;
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        SET_ERR("%s: %s", af->tmp_path, strerror(errno));
        close(fd);
        unlink(af->tmp_path);
        atomic_clear(af);
        return false;
    }
    return true;
}

bool iopo_atomic_commit(iopo_atomic_file *af, char *err, size_t errlen) {
    if (!af->f) {
        SET_ERR("%s: atomic file is not open", af->path ? af->path : "(null)");
        return false;
    }
    /* A full disk often shows only at fflush, fsync or fclose: every step is checked so a truncated file is never
     * renamed over a good one. */
    bool ok = true;
    if (ferror(af->f)) {
        SET_ERR("%s: write error", af->tmp_path);
        ok = false;
    } else if (fflush(af->f) != 0) {
        SET_ERR("%s: %s", af->tmp_path, strerror(errno));
        ok = false;
    } else if (fsync(fileno(af->f)) != 0) {
        SET_ERR("%s: fsync: %s", af->tmp_path, strerror(errno));
        ok = false;
    }
    if (fclose(af->f) != 0 && ok) {
        SET_ERR("%s: %s", af->tmp_path, strerror(errno));
        ok = false;
    }
    af->f = NULL;
    if (ok && rename(af->tmp_path, af->path) != 0) {
        SET_ERR("%s: cannot rename %s over it: %s", af->path, af->tmp_path, strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(af->tmp_path);
        atomic_clear(af);
        return false;
    }
    ok = fsync_dir(af->path, err, errlen);
    atomic_clear(af);
    return ok;
}

void iopo_atomic_abort(iopo_atomic_file *af) {
    if (!af) return;
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    atomic_clear(af);
}

bool iopo_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    iopo_atomic_file af;
    if (!iopo_atomic_open(&af, path, err, errlen)) return false;
    if (len && fwrite(data, 1, len, af.f) != len) {
        SET_ERR("%s: %s", af.tmp_path, strerror(errno));
        iopo_atomic_abort(&af);
        return false;
    }
    return iopo_atomic_commit(&af, err, errlen);
}

bool iopo_mkdirs(const char *path, char *err, size_t errlen) {
    if (!path || !*path) {
        SET_ERR("mkdirs: empty path");
        return false;
    }
    char *p = strdup(path);
    if (!p) {
        SET_ERR("%s: out of memory", path);
        return false;
    }
    /* Create each prefix ending before a '/', then the whole path; EEXIST is fine here, and the final stat decides
     * whether what exists is a directory. */
    for (char *s = p + 1;; s++) {
        bool end = (*s == '\0');
        if (*s == '/' || end) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                struct stat sb;
                /* EACCES etc. on an existing parent (e.g. "/") is not an error. */
                if (!(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))) {
                    SET_ERR("%s: cannot create %s: %s", path, p, strerror(e));
                    free(p);
                    return false;
                }
            }
            *s = c;
            if (end) break;
        }
    }
    free(p);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        SET_ERR("%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(sb.st_mode)) {
        SET_ERR("%s: exists and is not a directory", path);
        return false;
    }
    return true;
}

bool iopo_fsync_dir(const char *dir, char *err, size_t errlen) {
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.", dir);   /* fsync_dir syncs the directory holding its argument */
    return fsync_dir(probe, err, errlen);
}

/* Depth-first, never following a symbolic link (a link is removed, not what it points at). */
bool iopo_remove_tree(const char *path, char *err, size_t errlen) {
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return true;
        SET_ERR("%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(sb.st_mode)) {
        if (unlink(path) != 0) {
            SET_ERR("%s: cannot remove: %s", path, strerror(errno));
            return false;
        }
        return true;
    }
    DIR *d = opendir(path);
    if (!d) {
        SET_ERR("%s: %s", path, strerror(errno));
        return false;
    }
    bool ok = true;
    struct dirent *de;
    size_t plen = strlen(path);
    while (ok && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = plen + strlen(de->d_name) + 2;
        char *child = malloc(n);
        if (!child) {
            SET_ERR("%s: out of memory", path);
            ok = false;
            break;
        }
        snprintf(child, n, "%s/%s", path, de->d_name);
        ok = iopo_remove_tree(child, err, errlen);
        free(child);
    }
    closedir(d);
    if (ok && rmdir(path) != 0) {
        SET_ERR("%s: cannot remove: %s", path, strerror(errno));
        ok = false;
    }
    return ok;
}

bool iopo_commit_dir(const char *tmp, const char *dst, char *err, size_t errlen) {
    if (!iopo_fsync_dir(tmp, err, errlen)) return false;
    /* rename(2) cannot replace a non-empty directory: move the old one aside first, then drop it. A crash between
     * the two renames leaves DST.old beside the new DST (or in its place), which the run directory's start-up
     * clean-up removes. */
    size_t n = strlen(dst) + 8;
    char *old = malloc(n);
    if (!old) {
        SET_ERR("%s: out of memory", dst);
        return false;
    }
    const char *slash = strrchr(dst, '/');
    if (slash) snprintf(old, n, "%.*s.%s.old", (int)(slash + 1 - dst), dst, slash + 1);
    else snprintf(old, n, ".%s.old", dst);
    struct stat sb;
    bool had = lstat(dst, &sb) == 0;
    bool ok = true;
    if (had && !iopo_remove_tree(old, err, errlen)) ok = false;
    if (ok && had && rename(dst, old) != 0) {
        SET_ERR("%s: cannot move aside to %s: %s", dst, old, strerror(errno));
        ok = false;
    }
    if (ok && rename(tmp, dst) != 0) {
        SET_ERR("%s: cannot rename %s over it: %s", dst, tmp, strerror(errno));
        ok = false;
    }
    ok = ok && fsync_dir(dst, err, errlen);
    if (ok && had) ok = iopo_remove_tree(old, err, errlen);
    free(old);
    return ok;
}
