/* `iopo data synth` output, read back from the files and checked again with the IFEval checkers, record by record:
 * chosen responses follow every constraint of their instruction, rejected ones fail one; IOPO quadruples have y1
 * failing x2 (and y2 failing x1 where a constraint was changed), x2 one constraint away from x1; SFT, DPO and DPO4
 * records are the pool's quadruples; held-out ids never reach a training file; evaluation files are IFEval's input
 * format with consistent split / set / count fields, prompts unseen in training, and reference responses that follow
 * them; two runs are byte-identical and another seed differs; bad options are errors. Usage: test_synth WORK_DIR */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopo/fileio.h"
#include "iopo/ifeval.h"
#include "iopo/jsonutil.h"
#include "iopo/synth.h"

#define CHECK_PRINT_LIMIT 30
#include "test_check.h"

static const char *HELD[] = {"detectable_format:title", "startend:quotation", "keywords:frequency",
                             "length_constraints:number_sentences"};
#define NHELD 4

static bool is_held(const char *id) {
    for (int i = 0; i < NHELD; i++)
        if (strcmp(HELD[i], id) == 0) return true;
    return false;
}

/* Lines of a JSONL file as parsed objects (NULL-terminated array); NULL if unreadable. */
static cJSON **load_jsonl(const char *dir, const char *name, int *n) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = iopo_read_file(path, &len, err, sizeof err);
    *n = 0;
    if (!text) {
        printf("FAIL: %s\n", err);
        fails++;
        return NULL;
    }
    int cap = 64;
    cJSON **v = calloc((size_t)cap + 1, sizeof *v);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (*n == cap) {
            cap *= 2;
            v = realloc(v, ((size_t)cap + 1) * sizeof *v);
        }
        v[*n] = cJSON_Parse(line);
        CHECK(v[*n] && cJSON_IsObject(v[*n]), "%s:%d: not a JSON object", name, *n + 1);
        if (!v[*n]) v[*n] = cJSON_CreateObject();
        (*n)++;
        v[*n] = NULL;
    }
    free(text);
    return v;
}

static void free_lines(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Result of every constraint of (ids, kwargs) on response: *followed = how many followed; false on a checker error
 * or malformed lists (reported). */
static bool run_checks(const char *where, const char *prompt, const cJSON *ids, const cJSON *kwargs,
                       const char *response, int *followed, int *total, bool any_held[1]) {
    *followed = *total = 0;
    if (!cJSON_IsArray(ids) || !cJSON_IsArray(kwargs) || cJSON_GetArraySize(ids) != cJSON_GetArraySize(kwargs) ||
        !prompt || !response) {
        CHECK(false, "%s: malformed instruction_id_list / kwargs / text", where);
        return false;
    }
    for (int i = 0; i < cJSON_GetArraySize(ids); i++) {
        const cJSON *id = cJSON_GetArrayItem(ids, i), *kw = cJSON_GetArrayItem(kwargs, i);
        char err[256], why[256];
        if (!cJSON_IsString(id)) return false;
        if (is_held(id->valuestring)) any_held[0] = true;
        CHECK(iopo_ifeval_validate(id->valuestring, kw, why, sizeof why), "%s: %s kwargs invalid: %s", where,
              id->valuestring, why);
        int f = iopo_ifeval_follows(id->valuestring, kw, prompt, response, false, err, sizeof err);
        CHECK(f >= 0, "%s: %s: checker error %s", where, id->valuestring, err);
        if (f < 0) return false;
        *followed += f;
        (*total)++;
    }
    return true;
}

/* Every constraint followed (want_all) or at least one failed. Returns whether any held-out id is listed. */
static bool expect(const char *where, const char *prompt, const cJSON *ids, const cJSON *kwargs, const char *response,
                   bool want_all) {
    int f, t;
    bool held = false;
    if (!run_checks(where, prompt, ids, kwargs, response, &f, &t, &held)) return held;
    CHECK(t >= 1, "%s: no constraint", where);
    if (want_all)
        CHECK(f == t, "%s: response follows %d of %d constraints:\n%s\n---\n%s", where, f, t, prompt, response);
    else CHECK(f < t, "%s: rejected response follows all %d constraints:\n%s\n---\n%s", where, t, prompt, response);
    return held;
}

static const char *msg_text(const cJSON *rec, int turn) {
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "messages"), turn);
    return str(m, "content");
}

static const char *conv_text(const cJSON *rec, int turn) {
    return str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(rec, "conversations"), turn), "value");
}

static const char *gpt_text(const cJSON *rec, const char *k) {
    return str(cJSON_GetObjectItemCaseSensitive(rec, k), "value");
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static int count_ids(const cJSON *a) { return cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1; }

/* The constraints of a that b lacks (as id + kwargs JSON). */
static int missing(const cJSON *ia, const cJSON *ka, const cJSON *ib, const cJSON *kb) {
    int miss = 0;
    for (int i = 0; i < count_ids(ia); i++) {
        bool found = false;
        for (int j = 0; j < count_ids(ib) && !found; j++)
            found = cJSON_Compare(cJSON_GetArrayItem(ia, i), cJSON_GetArrayItem(ib, j), true) &&
                    cJSON_Compare(cJSON_GetArrayItem(ka, i), cJSON_GetArrayItem(kb, j), true);
        miss += !found;
    }
    return miss;
}

static bool seen_kind[64];

static void note_kinds(const cJSON *ids) {
    for (int i = 0; i < count_ids(ids); i++) {
        int k = iopo_ifeval_index(cJSON_GetArrayItem(ids, i)->valuestring);
        if (k >= 0 && k < 64) seen_kind[k] = true;
    }
}

static void check_dir(const char *dir, int train, int eval, int maxc) {
    int ni, ns, nd, n4;
    cJSON **iopo = load_jsonl(dir, "iopo.jsonl", &ni), **sft = load_jsonl(dir, "sft.jsonl", &ns),
          **dpo = load_jsonl(dir, "dpo.jsonl", &nd), **dpo4 = load_jsonl(dir, "dpo4.jsonl", &n4);
    if (!iopo || !sft || !dpo || !dpo4) return;
    CHECK(ni == train && ns == 2 * train && nd == 2 * train && n4 == 2 * train, "record counts %d %d %d %d", ni, ns,
          nd, n4);
    int adds = 0, changes = 0;
    for (int i = 0; i < ni && 2 * i + 1 < ns && 2 * i + 1 < nd && 2 * i + 1 < n4; i++) {
        const cJSON *q = iopo[i];
        char w[64];
        const char *x1 = conv_text(q, 0), *x2 = conv_text(q, 1), *y1 = gpt_text(q, "chosen"),
                   *y2 = gpt_text(q, "rejected");
        const cJSON *i1 = cJSON_GetObjectItemCaseSensitive(q, "x1_instruction_id_list"),
                    *k1 = cJSON_GetObjectItemCaseSensitive(q, "x1_kwargs"),
                    *i2 = cJSON_GetObjectItemCaseSensitive(q, "x2_instruction_id_list"),
                    *k2 = cJSON_GetObjectItemCaseSensitive(q, "x2_kwargs");
        snprintf(w, sizeof w, "iopo.jsonl:%d", i + 1);
        CHECK(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q, "conversations"), 0), "from") &&
                  same(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q, "conversations"), 1), "from"),
                       "human") &&
                  same(str(cJSON_GetObjectItemCaseSensitive(q, "chosen"), "from"), "gpt"),
              "%s: not the IOPO release layout", w);
        CHECK(x1 && x2 && !same(x1, x2), "%s: x1 and x2 read the same", w);
        bool held = expect(w, x1, i1, k1, y1, true);
        held |= expect(w, x2, i2, k2, y2, true);
        expect(w, x2, i2, k2, y1, false);
        const char *edit = str(q, "edit");
        bool add = same(edit, "add");
        CHECK(add || same(edit, "change"), "%s: edit '%s'", w, edit ? edit : "(none)");
        if (add) {
            adds++;
            CHECK(count_ids(i2) == count_ids(i1) + 1 && missing(i1, k1, i2, k2) == 0 && missing(i2, k2, i1, k1) == 1,
                  "%s: x2 is not x1 plus one constraint", w);
        } else {
            changes++;
            expect(w, x1, i1, k1, y2, false);
            CHECK(count_ids(i2) == count_ids(i1) && missing(i1, k1, i2, k2) == 1 && missing(i2, k2, i1, k1) == 1,
                  "%s: x2 is not x1 with one constraint changed", w);
        }
        CHECK(count_ids(i1) >= 1 && count_ids(i1) <= maxc && count_ids(i2) <= maxc, "%s: constraint counts %d, %d", w,
              count_ids(i1), count_ids(i2));
        CHECK(!held, "%s: a held-out id in training data", w);
        note_kinds(i1);
        note_kinds(i2);

        /* the other files hold the same pool: SFT (x1,y1),(x2,y2); DPO the same chosen; DPO4 the same four */
        const cJSON *s1 = sft[2 * i], *s2 = sft[2 * i + 1], *d1 = dpo[2 * i], *d2 = dpo[2 * i + 1], *e1 = dpo4[2 * i],
                    *e2 = dpo4[2 * i + 1];
        CHECK(same(msg_text(s1, 0), x1) && same(msg_text(s1, 1), y1) && same(msg_text(s2, 0), x2) &&
                  same(msg_text(s2, 1), y2),
              "sft.jsonl:%d-%d: not quadruple %d's (x1, y1), (x2, y2)", 2 * i + 1, 2 * i + 2, i + 1);
        CHECK(same(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s1, "messages"), 0), "role"), "user") &&
                  same(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s1, "messages"), 1), "role"),
                       "assistant"),
              "sft.jsonl:%d: roles", 2 * i + 1);
        CHECK(same(str(d1, "prompt"), x1) && same(str(d1, "chosen"), y1) && same(str(d2, "prompt"), x2) &&
                  same(str(d2, "chosen"), y2),
              "dpo.jsonl:%d-%d: not quadruple %d's prompts and chosen responses", 2 * i + 1, 2 * i + 2, i + 1);
        CHECK(same(str(e1, "prompt"), x1) && same(str(e1, "chosen"), y1) && same(str(e1, "rejected"), y2) &&
                  same(str(e2, "prompt"), x2) && same(str(e2, "chosen"), y2) && same(str(e2, "rejected"), y1),
              "dpo4.jsonl:%d-%d: not quadruple %d's (x1: y1 > y2), (x2: y2 > y1)", 2 * i + 1, 2 * i + 2, i + 1);
        const cJSON *recs[6] = {s1, s2, d1, d2, e1, e2};
        const char *names[6] = {"sft", "sft", "dpo", "dpo", "dpo4", "dpo4"};
        for (int r = 0; r < 6; r++) {
            char w2[64];
            snprintf(w2, sizeof w2, "%s.jsonl:%d", names[r], 2 * i + 1 + r % 2);
            const char *p = r < 2 ? msg_text(recs[r], 0) : str(recs[r], "prompt");
            const char *c = r < 2 ? msg_text(recs[r], 1) : str(recs[r], "chosen");
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(recs[r], "instruction_id_list"),
                        *kw = cJSON_GetObjectItemCaseSensitive(recs[r], "kwargs");
            CHECK(!expect(w2, p, ids, kw, c, true), "%s: a held-out id in training data", w2);
            /* DPO4's (x1: y1 > y2) where x2 added a constraint: y2 follows x1 too (x2 holds all of x1) */
            if (r >= 2) expect(w2, p, ids, kw, str(recs[r], "rejected"), r == 4 && add);
            if (r >= 4) CHECK(same(str(recs[r], "edit"), edit), "%s: edit field differs from iopo.jsonl's", w2);
        }
    }
    CHECK(adds > 0 && changes > 0, "both edits present (%d add, %d change)", adds, changes);
    free_lines(iopo, ni);
    free_lines(sft, ns);
    free_lines(dpo, nd);
    free_lines(dpo4, n4);

    /* evaluation files */
    static const char *const FILES[4] = {"eval_ifs_in_domain.jsonl", "eval_ifs_held_out.jsonl",
                                         "eval_ifm_in_domain.jsonl", "eval_ifm_held_out.jsonl"};
    int nall, nresp;
    cJSON **all = load_jsonl(dir, "eval.jsonl", &nall), **resp = load_jsonl(dir, "eval_responses.jsonl", &nresp);
    if (!all || !resp) return;
    CHECK(nall == 4 * eval && nresp == nall, "eval.jsonl %d records, eval_responses.jsonl %d (want %d)", nall, nresp,
          4 * eval);
    int at = 0;
    for (int f = 0; f < 4; f++) {
        int n;
        cJSON **v = load_jsonl(dir, FILES[f], &n);
        if (!v) continue;
        CHECK(n == eval, "%s: %d records", FILES[f], n);
        for (int i = 0; i < n; i++, at++) {
            char w[96];
            snprintf(w, sizeof w, "%s:%d", FILES[f], i + 1);
            const cJSON *e = v[i];
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "instruction_id_list"),
                        *kw = cJSON_GetObjectItemCaseSensitive(e, "kwargs"),
                        *key = cJSON_GetObjectItemCaseSensitive(e, "key"),
                        *nc = cJSON_GetObjectItemCaseSensitive(e, "num_constraints");
            CHECK(at < nall && cJSON_Compare(e, all[at], true), "%s: not eval.jsonl's record %d", w, at + 1);
            CHECK(cJSON_IsNumber(key) && key->valuedouble == at + 1, "%s: key", w);
            CHECK(cJSON_IsNumber(nc) && nc->valuedouble == count_ids(ids), "%s: num_constraints", w);
            bool multi = f >= 2, held_split = f % 2 == 1;
            CHECK(same(str(e, "set"), multi ? "IF-M" : "IF-S") &&
                      same(str(e, "split"), held_split ? "held_out" : "in_domain"),
                  "%s: set / split fields", w);
            CHECK(multi ? count_ids(ids) >= 2 && count_ids(ids) <= maxc : count_ids(ids) == 1, "%s: %d constraints",
                  w, count_ids(ids));
            const char *prompt = str(e, "prompt");
            const cJSON *r = at < nresp ? resp[at] : NULL;
            CHECK(r && same(str(r, "prompt"), prompt) && cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r, "key"),
                                                                       key, true),
                  "%s: eval_responses.jsonl's record differs", w);
            bool held = expect(w, prompt, ids, kw, r ? str(r, "response") : "", true);
            CHECK(held == held_split, "%s: held-out ids %s in a %s file", w, held ? "present" : "absent",
                  held_split ? "held-out" : "in-domain");
            note_kinds(ids);
        }
        free_lines(v, n);
    }
    free_lines(all, nall);
    free_lines(resp, nresp);
}

static double file_num(const cJSON *files, const char *name, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(files, name), k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void check_manifest(const char *dir, const iopo_synth_options *o) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    cJSON *m = iopo_json_load(path, err, sizeof err);
    CHECK(m, "manifest: %s", err);
    if (!m) return;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(m, "seed"),
                *ho = cJSON_GetObjectItemCaseSensitive(m, "held_out"),
                *tr = cJSON_GetObjectItemCaseSensitive(m, "train_ids"),
                *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    CHECK(cJSON_IsNumber(seed) && seed->valuedouble == (double)o->seed, "manifest seed");
    CHECK(count_ids(ho) == NHELD && count_ids(tr) == iopo_synth_constraint_count() - NHELD, "manifest id lists");
    for (int i = 0; i < count_ids(ho); i++)
        CHECK(is_held(cJSON_GetArrayItem(ho, i)->valuestring), "manifest held_out");
    for (int i = 0; i < count_ids(tr); i++)
        CHECK(!is_held(cJSON_GetArrayItem(tr, i)->valuestring), "manifest train_ids");
    CHECK(file_num(files, "sft.jsonl", "records") == 2 * o->train &&
              file_num(files, "iopo.jsonl", "records") == o->train &&
              file_num(files, "iopo.jsonl", "sequences") == 4 * o->train &&
              file_num(files, "eval_ifm_held_out.jsonl", "records") == o->eval,
          "manifest record counts");
    double bs = file_num(files, "sft.jsonl", "response_bytes_scored"),
           bi = file_num(files, "iopo.jsonl", "response_bytes_scored"),
           b4 = file_num(files, "dpo4.jsonl", "response_bytes_scored");
    CHECK(bs > 0 && bi == 2 * bs && b4 == bi, "manifest: IOPO and DPO4 score the same response bytes, twice SFT's");
    /* corpus.txt: the SFT records' prompts and responses, each followed by one newline (a record by two) */
    double bp = 0;
    int n;
    cJSON **sft = load_jsonl(dir, "sft.jsonl", &n);
    for (int i = 0; sft && i < n; i++) bp += (double)strlen(msg_text(sft[i], 0)) + 3;
    if (sft) free_lines(sft, n);
    char cpath[1024];
    snprintf(cpath, sizeof cpath, "%s/corpus.txt", dir);
    size_t clen = 0;
    char *corpus = iopo_read_file(cpath, &clen, err, sizeof err);
    CHECK(corpus && (double)clen == bp + bs && file_num(files, "corpus.txt", "bytes") == (double)clen,
          "corpus.txt: %zu bytes, want the SFT texts' %g", clen, bp + bs);
    free(corpus);
    cJSON_Delete(m);
}

static bool same_file(const char *a, const char *b, const char *name) {
    char pa[1024], pb[1024], err[512];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    size_t la, lb;
    char *ta = iopo_read_file(pa, &la, err, sizeof err), *tb = iopo_read_file(pb, &lb, err, sizeof err);
    bool eq = ta && tb && la == lb && memcmp(ta, tb, la) == 0;
    free(ta);
    free(tb);
    return eq;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_synth WORK_DIR\n");
        return 2;
    }
    char err[1024], a[900], b[900], c[900], d[900];
    snprintf(a, sizeof a, "%s/a", argv[1]);
    snprintf(b, sizeof b, "%s/b", argv[1]);
    snprintf(c, sizeof c, "%s/c", argv[1]);
    snprintf(d, sizeof d, "%s/d", argv[1]);
    iopo_remove_tree(argv[1], err, sizeof err);

    iopo_synth_options o;
    iopo_synth_defaults(&o);
    CHECK(strcmp(iopo_synth_default_held_out(),
                 "detectable_format:title,startend:quotation,keywords:frequency,length_constraints:number_sentences") ==
              0,
          "the default held-out split is the one this test expects");
    o.seed = 7;
    o.train = 60;
    o.eval = 12;
    iopo_synth_report rep;
    bool ok = iopo_synth_write(a, &o, &rep, err, sizeof err);
    CHECK(ok, "synth: %s", err);
    if (ok) {
        check_dir(a, o.train, o.eval, o.max_constraints);
        for (int k = 0; k < iopo_synth_constraint_count(); k++) {
            int idx = iopo_ifeval_index(iopo_synth_constraint_id(k));
            CHECK(idx >= 0 && seen_kind[idx], "library id %s never drawn in 60 quadruples + 48 eval items",
                  iopo_synth_constraint_id(k));
        }
        CHECK(rep.attempts >= o.train + 4L * o.eval && rep.rejected == rep.attempts - o.train - 4L * o.eval,
              "report counts: %ld attempts, %ld rejected", rep.attempts, rep.rejected);
        check_manifest(a, &o);
    }

    /* determinism */
    CHECK(iopo_synth_write(b, &o, &rep, err, sizeof err), "synth again: %s", err);
    static const char *const NAMES[] = {"sft.jsonl", "dpo.jsonl", "iopo.jsonl", "dpo4.jsonl", "eval.jsonl",
                                        "eval_ifs_in_domain.jsonl", "eval_ifs_held_out.jsonl",
                                        "eval_ifm_in_domain.jsonl", "eval_ifm_held_out.jsonl",
                                        "eval_responses.jsonl", "corpus.txt", "manifest.json"};
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        CHECK(same_file(a, b, NAMES[i]), "%s differs between two runs with one seed", NAMES[i]);
    o.seed = 8;
    CHECK(iopo_synth_write(c, &o, &rep, err, sizeof err), "synth seed 8: %s", err);
    CHECK(!same_file(a, c, "sft.jsonl") && !same_file(a, c, "eval.jsonl"), "another seed gives other files");

    /* no held-out split: no held-out files; every training id may appear */
    o.seed = 7;
    o.train = 10;
    o.eval = 3;
    CHECK(iopo_synth_write(d, &o, &rep, err, sizeof err), "synth into d: %s", err);
    o.held_out = "none";
    CHECK(iopo_synth_write(d, &o, &rep, err, sizeof err), "synth --held-out none: %s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/eval_ifs_held_out.jsonl", d);
    FILE *f = fopen(path, "r");
    CHECK(!f, "no held-out file without held-out ids (an earlier run's is removed)");
    if (f) fclose(f);

    /* bad options */
    o.held_out = "keywords:existence,no:such_id";
    CHECK(!iopo_synth_write(d, &o, &rep, err, sizeof err) && strstr(err, "'no:such_id' is not an IFEval"),
          "unknown held-out id: %s", err);
    o.held_out = "language:response_language";
    CHECK(!iopo_synth_write(d, &o, &rep, err, sizeof err) && strstr(err, "not one the synth library draws"),
          "an IFEval id the library does not draw: %s", err);
    o.held_out = NULL;
    o.max_constraints = 1;
    CHECK(!iopo_synth_write(d, &o, &rep, err, sizeof err) && strstr(err, "--max-constraints 1"),
          "--max-constraints 1: %s", err);

    printf("synth: %d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
