/* The response plan of `iopo data synth` and its rendering. Every response of an item (chosen, near miss, the other
 * instruction's answer) is rendered from the same base plan, so they differ only where a constraint asks. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "data/synth_internal.h"

void sy_plan_base(sy_plan *p, iopo_rng *r) {
    memset(p, 0, sizeof *p);
    p->topic = (int)(iopo_rng_u64(r) % (uint64_t)sy_topic_count());
    p->task = (int)(iopo_rng_u64(r) % (uint64_t)sy_task_count());
    const sy_topic *t = sy_topic_at(p->topic);
    sy_task_text(p->task, t, p->task_text, sizeof p->task_text, &p->question);
    int order[SY_POOL];
    int nt = sy_template_count();
    for (int i = 0; i < nt; i++) order[i] = i;
    for (int i = nt - 1; i > 0; i--) {
        int j = (int)(iopo_rng_u64(r) % (uint64_t)(i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    p->npool = nt < SY_POOL ? nt : SY_POOL;
    for (int i = 0; i < p->npool; i++) sy_fill_template(order[i], t, r, p->pool[i], sizeof p->pool[i]);
    p->nsent = 3 + (int)(iopo_rng_u64(r) % 3);
    p->answer_variant = (int)(iopo_rng_u64(r) % 3);
    p->title = p->ps = p->end_phrase = -1;
}

typedef struct buf {
    char *s;
    size_t n, len;
    bool over;
} buf;

static void add(buf *b, const char *s) {
    size_t l = strlen(s);
    if (b->len + l + 1 > b->n) {
        b->over = true;
        return;
    }
    memcpy(b->s + b->len, s, l + 1);
    b->len += l;
}

/* Copies src into dst (capacity n), cut at n - 1 bytes; the bank's sentences are far shorter than SY_SENT. */
static void copy(char *dst, size_t n, const char *src) {
    size_t l = strlen(src);
    if (l >= n) l = n - 1;
    memmove(dst, src, l);
    dst[l] = 0;
}

static bool is_word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Replaces the whole-word, case-insensitive occurrences of w in s (capacity n) by rep, keeping an initial capital. */
static void replace_word(char *s, size_t n, const char *w, const char *rep) {
    char out[SY_SENT * 2];
    size_t wl = strlen(w), o = 0;
    for (size_t i = 0; s[i];) {
        if (strncasecmp(s + i, w, wl) == 0 && (i == 0 || !is_word_char(s[i - 1])) && !is_word_char(s[i + wl])) {
            for (size_t k = 0; rep[k] && o + 1 < sizeof out; k++)
                out[o++] = k == 0 && isupper((unsigned char)s[i]) ? (char)toupper((unsigned char)rep[k]) : rep[k];
            i += wl;
        } else if (o + 1 < sizeof out) {
            out[o++] = s[i++];
        } else {
            i++;
        }
    }
    out[o] = 0;
    copy(s, n, out);
}

/* Eligible words for capitals and highlights: letters only, at least 4 of them, not a sentence's first word (a
 * highlight opening a bullet line would read as a bullet), not inside a placeholder. */
typedef struct span {
    int sent;
    size_t at, len;
} span;

static int eligible_words(char sents[][SY_SENT], int ns, span *sp, int max) {
    int k = 0;
    for (int s = 0; s < ns; s++) {
        const char *t = sents[s];
        bool first = true, bracket = false;
        for (size_t i = 0; t[i];) {
            if (t[i] == '[') bracket = true;
            if (t[i] == ']') bracket = false;
            if (!isalpha((unsigned char)t[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (isalpha((unsigned char)t[j])) j++;
            bool whole = !is_word_char(t[j]) && t[j] != '\'';
            if (!first && !bracket && whole && j - i >= 4 && k < max) sp[k++] = (span){s, i, j - i};
            first = false;
            i = j;
        }
    }
    return k;
}

bool sy_render(const sy_plan *p, char *out, size_t n, bool *more) {
    *more = false;
    const sy_topic *t = sy_topic_at(p->topic);
    char sents[SY_POOL + 16][SY_SENT];
    int ns = 0;
    for (int i = 0; i < p->nsent; i++) copy(sents[ns++], SY_SENT, p->pool[i]);
    for (int i = 0; i < p->nment && ns < SY_POOL + 8; i++) sy_mention(p->ment[i], i, sents[ns++], SY_SENT);
    for (int i = 0; i < p->placeholders && ns < SY_POOL + 12; i++)
        copy(sents[ns++], SY_SENT, sy_placeholder_sentence(i));
    for (int f = 0; f < p->nforbid; f++) {
        const char *rep = sy_synonym(p->forbid[f]);
        for (int i = 0; i < ns && rep; i++) replace_word(sents[i], SY_SENT, p->forbid[f], rep);
    }
    int groups = p->layout == SY_LAYOUT_PLAIN ? 1 : p->layout_n;
    if (groups > ns) {
        *more = true;
        return false;
    }
    if (p->layout == SY_LAYOUT_BLANKS && p->first_word && p->nth >= 1 && p->nth <= groups) {
        /* "Today, the sea is calm." */
        char *s = sents[(p->nth - 1) * ns / groups], tmp[SY_SENT + 32];
        snprintf(tmp, sizeof tmp, "%s, ", p->first_word);
        size_t l = strlen(tmp);
        copy(tmp + l, sizeof tmp - l, s);
        tmp[l] = (char)tolower((unsigned char)tmp[l]);
        copy(s, SY_SENT, tmp);
    }
    if (p->add_comma) {
        bool any = false;
        for (int i = 0; i < ns; i++) any = any || strchr(sents[i], ',');
        if (!any) {
            char tmp[SY_SENT + 8] = "Also, ";
            copy(tmp + 6, sizeof tmp - 6, sents[0]);
            tmp[6] = (char)tolower((unsigned char)tmp[6]);
            copy(sents[0], SY_SENT, tmp);
        }
    }
    if (p->caps_words || p->highlights) {
        span sp[128];
        int ne = eligible_words(sents, ns, sp, 128);
        if (p->caps_words + p->highlights > ne) {
            *more = true;
            return false;
        }
        for (int k = 0; k < p->caps_words; k++)
            for (size_t i = 0; i < sp[k].len; i++)
                sents[sp[k].sent][sp[k].at + i] = (char)toupper((unsigned char)sents[sp[k].sent][sp[k].at + i]);
        /* highlights from the end, so the offsets of earlier words stay valid */
        for (int k = 0; k < p->highlights; k++) {
            span s = sp[ne - 1 - k];
            char tmp[SY_SENT + 4];
            snprintf(tmp, sizeof tmp, "%.*s*%.*s*%s", (int)s.at, sents[s.sent], (int)s.len, sents[s.sent] + s.at,
                     sents[s.sent] + s.at + s.len);
            copy(sents[s.sent], SY_SENT, tmp);
        }
    }
    if (p->no_comma)
        for (int i = 0; i < ns; i++) {
            char *w = sents[i];
            for (char *r = sents[i]; *r; r++)
                if (*r != ',') *w++ = *r;
            *w = 0;
        }

    char text[SY_TEXT];
    buf b = {text, sizeof text, 0, false};
    text[0] = 0;
    if (p->repeat) {
        add(&b, p->task_text);
        add(&b, "\n\n");
    }
    if (p->title >= 0) {
        char tt[SY_SENT];
        sy_title(p->title, t, tt, sizeof tt);
        add(&b, tt);
        add(&b, "\n\n");
    }
    for (int g = 0; g < groups; g++) {
        int from = g * ns / groups, to = (g + 1) * ns / groups;
        char head[48];
        if (p->layout == SY_LAYOUT_BULLETS) {
            add(&b, g ? "\n* " : "* ");
        } else if (p->layout == SY_LAYOUT_SECTIONS) {
            snprintf(head, sizeof head, "%s%s %d\n", g ? "\n\n" : "", p->spliter, g + 1);
            add(&b, head);
        } else if (p->layout == SY_LAYOUT_PARAGRAPHS && g) {
            add(&b, "\n***\n");
        } else if (p->layout == SY_LAYOUT_BLANKS && g) {
            add(&b, "\n\n");
        }
        for (int i = from; i < to; i++) {
            if (i > from) add(&b, " ");
            add(&b, sents[i]);
        }
    }
    const char *sep = p->json ? " " : "\n\n";
    if (p->answer) {
        add(&b, sep);
        add(&b, sy_answer(p->answer_variant));
    }
    if (p->ps >= 0) {
        char ps[SY_SENT];
        sy_ps_sentence(p->ps, t, ps, sizeof ps);
        add(&b, sep);
        add(&b, p->ps_marker);
        add(&b, " ");
        add(&b, ps);
    }
    if (p->end_phrase >= 0) {
        add(&b, sep);
        add(&b, sy_end_phrase(p->end_phrase));
    }
    if (b.over) return false;

    buf o = {out, n, 0, false};
    out[0] = 0;
    if (p->json) {
        /* The answer is a JSON string: the bank's text holds no quote, backslash or control character. */
        for (const char *s = text; *s; s++)
            if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return false;
        add(&o, "{\"answer\": \"");
        add(&o, text);
        add(&o, "\"}");
    } else if (p->quote) {
        add(&o, "\"");
        add(&o, text);
        add(&o, "\"");
    } else {
        add(&o, text);
    }
    if (o.over) return false;
    if (p->casing != SY_CASE_NONE)
        for (char *s = out; *s; s++)
            *s = (char)(p->casing == SY_CASE_LOWER ? tolower((unsigned char)*s) : toupper((unsigned char)*s));
    return true;
}
