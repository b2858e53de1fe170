/* Character classes and the counts IFEval takes from Python: str methods and `re` classes from tables of the Unicode
 * blocks responses are written in (docs/EVAL.md says which blocks and what is approximated), word counting as
 * r"\w+", and deterministic stand-ins for nltk's punkt sentence splitter and word tokenizer. */
#include "eval/ifeval_text.h"

#include <stdlib.h>
#include <string.h>

uint32_t ifv_decode(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    unsigned c = u[k];
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? (c < 0xF0 ? 3 : 0) : c >= 0xC2 ? 2 : 0;
    if (len == 0 || k + (size_t)len > n) goto bad;
    uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (int j = 1; j < len; j++) {
        if ((u[k + j] & 0xC0) != 0x80) goto bad;
        cp = cp << 6 | (u[k + j] & 0x3F);
    }
    /* overlong forms, surrogates and code points past U+10FFFF are not characters */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        goto bad;
    *i = k + (size_t)len;
    return cp;
bad:
    *i = k + 1;
    return 0xFFFD;
}

size_t ifv_prev(const char *s, size_t lo, size_t i) {
    size_t j = i - 1;
    while (j > lo && i - j < 4 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    size_t k = j;
    ifv_decode(s, i, &k);
    return k == i ? j : i - 1;
}

bool ifv_utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = i;
        uint32_t c = ifv_decode(s, n, &k);
        if (c == 0xFFFD && !(k == i + 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0)) return false;
        i = k;
    }
    return true;
}

size_t ifv_length(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; count++) ifv_decode(s, n, &i);
    return count;
}

bool ifv_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool ifv_is_decimal(uint32_t c) {
    if (c >= '0' && c <= '9') return true;
    if ((c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9) || (c >= 0xE50 && c <= 0xE59) ||
        (c >= 0xED0 && c <= 0xED9) || (c >= 0xFF10 && c <= 0xFF19))
        return true;
    /* each Indic block keeps its digits at offsets 0x66..0x6F */
    return c >= 0x900 && c <= 0xDFF && (c & 0x7F) >= 0x66 && (c & 0x7F) <= 0x6F;
}

bool ifv_is_mark(uint32_t c) {
    if (c < 0x300) return false;
    if (c <= 0x36F) return true;
    if (c >= 0x483 && c <= 0x489) return true;
    if (c >= 0x591 && c <= 0x5C7) return c != 0x5BE && c != 0x5C0 && c != 0x5C3 && c != 0x5C6;
    if ((c >= 0x610 && c <= 0x61A) || (c >= 0x64B && c <= 0x65F) || c == 0x670 || (c >= 0x6D6 && c <= 0x6DC) ||
        (c >= 0x6DF && c <= 0x6E4) || c == 0x6E7 || c == 0x6E8 || (c >= 0x6EA && c <= 0x6ED))
        return true;
    if (c >= 0x900 && c <= 0xDFF) {
        /* the Indic blocks share one layout: signs before the letters, vowel signs and virama after them */
        unsigned o = c & 0x7F;
        return o <= 0x03 || (o >= 0x3A && o <= 0x4F && o != 0x3D) || (o >= 0x51 && o <= 0x57) || o == 0x62 ||
               o == 0x63;
    }
    if (c == 0xE31 || (c >= 0xE34 && c <= 0xE3A) || (c >= 0xE47 && c <= 0xE4E)) return true;
    if (c == 0xEB1 || (c >= 0xEB4 && c <= 0xEBC) || (c >= 0xEC8 && c <= 0xECE)) return true;
    if (c >= 0x17B4 && c <= 0x17D3) return true;
    if ((c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF)) return true;
    if ((c >= 0x2DE0 && c <= 0x2DFF) || c == 0x3099 || c == 0x309A || (c >= 0x302A && c <= 0x302F)) return true;
    if ((c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xFE20 && c <= 0xFE2F) || c == 0xFB1E) return true;
    return c >= 0xE0100 && c <= 0xE01EF;
}

/* Letters and numbers (str.isalnum()) outside ASCII, block by block; marks are excluded first. */
static bool alnum_nonascii(uint32_t c) {
    if (c < 0xC0) return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || c >= 0xBC;
    if (c == 0xD7 || c == 0xF7 || ifv_is_mark(c)) return false;
    if (c < 0x2C2) return true;
    if (c < 0x300) return (c >= 0x2C6 && c <= 0x2D1) || (c >= 0x2E0 && c <= 0x2E4) || c == 0x2EC || c == 0x2EE;
    if (c < 0x400) return c >= 0x370 && c != 0x375 && c != 0x37E && c != 0x384 && c != 0x385 && c != 0x387 && c != 0x3F6;
    if (c < 0x530) return c != 0x482;
    if (c < 0x590) return (c >= 0x531 && c <= 0x556) || c == 0x559 || (c >= 0x560 && c <= 0x588);
    if (c < 0x600) return (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x5EF && c <= 0x5F2);
    if (c < 0x700)
        return (c >= 0x620 && c <= 0x669) || c == 0x66E || c == 0x66F || (c >= 0x671 && c <= 0x6D3) || c == 0x6D5 ||
               c == 0x6E5 || c == 0x6E6 || c == 0x6EE || c == 0x6EF || (c >= 0x6F0 && c <= 0x6FC) || c == 0x6FF;
    if (c < 0x900) return c >= 0x750;
    if (c < 0xE00) {
        unsigned o = c & 0x7F;
        return o != 0x64 && o != 0x65 && c != 0x970 && c != 0xDF4; /* dandas, abbreviation signs */
    }
    if (c < 0xE80) return (c >= 0xE01 && c <= 0xE33) || (c >= 0xE40 && c <= 0xE46) || (c >= 0xE50 && c <= 0xE59);
    if (c < 0x1000) return c < 0xF00 || (c >= 0xF20 && c <= 0xF33) || (c >= 0xF40 && c <= 0xF6C) || c == 0xF00;
    if (c < 0x1200) return c != 0x10FB && !(c >= 0x104A && c <= 0x104F);
    if (c < 0x13A0) return !(c >= 0x1360 && c <= 0x1368);
    if (c < 0x1780) return !(c >= 0x166D && c <= 0x166E) && c != 0x1680 && !(c >= 0x169B && c <= 0x169C) &&
                           !(c >= 0x16EB && c <= 0x16ED);
    if (c < 0x1800) return !(c >= 0x17D4 && c <= 0x17DB);
    if (c < 0x1D00) return !(c >= 0x1800 && c <= 0x180F);
    if (c < 0x1F00) return true;
    if (c < 0x2000)
        return !(c == 0x1FBD || (c >= 0x1FBF && c <= 0x1FC1) || (c >= 0x1FCD && c <= 0x1FCF) ||
                 (c >= 0x1FDD && c <= 0x1FDF) || (c >= 0x1FED && c <= 0x1FEF) || c >= 0x1FFD);
    if (c < 0x2070) return false;
    if (c < 0x20A0)
        return c == 0x2070 || c == 0x2071 || (c >= 0x2074 && c <= 0x2079) || (c >= 0x207F && c <= 0x2089) ||
               (c >= 0x2090 && c <= 0x209C);
    if (c < 0x2100) return false;
    if (c < 0x2150)
        return c == 0x2102 || c == 0x2107 || (c >= 0x210A && c <= 0x2113) || c == 0x2115 ||
               (c >= 0x2119 && c <= 0x211D) || c == 0x2124 || c == 0x2126 || c == 0x2128 ||
               (c >= 0x212A && c <= 0x212D) || (c >= 0x212F && c <= 0x2139) || (c >= 0x213C && c <= 0x213F) ||
               (c >= 0x2145 && c <= 0x2149) || c == 0x214E;
    if (c < 0x2190) return c < 0x218A;
    if (c < 0x2460) return false;
    if (c < 0x2500) return c <= 0x249B || c >= 0x24EA;
    if (c < 0x2C00) return c >= 0x2776 && c <= 0x2793;
    if (c < 0x2E00) return !(c >= 0x2CE5 && c <= 0x2CEA) && !(c >= 0x2CF9 && c <= 0x2CFF) && c != 0x2D70;
    if (c < 0x3000) return false;
    if (c < 0x3040)
        return c == 0x3005 || c == 0x3006 || c == 0x3007 || (c >= 0x3021 && c <= 0x3029) ||
               (c >= 0x3031 && c <= 0x3035) || (c >= 0x3038 && c <= 0x303C);
    if (c < 0x30A0) return (c >= 0x3041 && c <= 0x3096) || c >= 0x309D;
    if (c < 0x3100) return c != 0x30A0 && c != 0x30FB;
    if (c < 0x3200) return !(c >= 0x3190 && c <= 0x3191) && !(c >= 0x3196 && c <= 0x319F) && !(c >= 0x31C0 && c <= 0x31EF);
    if (c < 0x3400)
        return (c >= 0x3220 && c <= 0x3229) || (c >= 0x3248 && c <= 0x324F) || (c >= 0x3251 && c <= 0x325F) ||
               (c >= 0x3280 && c <= 0x3289) || (c >= 0x32B1 && c <= 0x32BF);
    if (c < 0x4DC0) return true;
    if (c < 0x4E00) return false;
    if (c < 0xA000) return true;
    if (c < 0xA4D0) return !(c >= 0xA490 && c <= 0xA4C6);
    if (c < 0xD800) return true;
    if (c < 0xF900) return false; /* surrogates, private use */
    if (c < 0xFB00) return true;
    if (c < 0xFE00) return c != 0xFB29 && c != 0xFD3E && c != 0xFD3F && c != 0xFDFC && c != 0xFDFD;
    if (c < 0xFE70) return false;
    if (c < 0xFF00) return c != 0xFEFF;
    if (c < 0xFFF0)
        return (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A) ||
               (c >= 0xFF66 && c <= 0xFFDC);
    if (c < 0x10000) return false;
    if (c < 0x1D000) return true;
    if (c < 0x1D400) return false;
    if (c < 0x1F000) return true;
    if (c < 0x20000) return false;
    return c < 0x40000;
}

bool ifv_is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    return alnum_nonascii(c);
}

/* Upper/lower pairs: [lo, hi] maps to +delta, or with pairs set, lo, lo+2, ... are upper and the next is lower. */
static const struct {
    uint32_t lo, hi, delta;
    bool pairs;
} CASE[] = {
    {0x41, 0x5A, 32, false},     {0xC0, 0xD6, 32, false},     {0xD8, 0xDE, 32, false},     {0x100, 0x12F, 1, true},
    {0x132, 0x137, 1, true},     {0x139, 0x148, 1, true},     {0x14A, 0x177, 1, true},     {0x179, 0x17E, 1, true},
    {0x182, 0x185, 1, true},     {0x187, 0x188, 1, true},     {0x18B, 0x18C, 1, true},     {0x191, 0x192, 1, true},
    {0x198, 0x199, 1, true},     {0x1A0, 0x1A5, 1, true},     {0x1A7, 0x1A8, 1, true},     {0x1AC, 0x1AD, 1, true},
    {0x1AF, 0x1B0, 1, true},     {0x1B3, 0x1B6, 1, true},     {0x1B8, 0x1B9, 1, true},     {0x1BC, 0x1BD, 1, true},
    {0x1CD, 0x1DC, 1, true},     {0x1DE, 0x1EF, 1, true},     {0x1F4, 0x1F5, 1, true},     {0x1F8, 0x21F, 1, true},
    {0x222, 0x233, 1, true},     {0x386, 0x386, 38, false},   {0x388, 0x38A, 37, false},   {0x38C, 0x38C, 64, false},
    {0x38E, 0x38F, 63, false},   {0x391, 0x3A1, 32, false},   {0x3A3, 0x3AB, 32, false},   {0x3D8, 0x3EF, 1, true},
    {0x400, 0x40F, 80, false},   {0x410, 0x42F, 32, false},   {0x460, 0x481, 1, true},     {0x48A, 0x4BF, 1, true},
    {0x4C1, 0x4CE, 1, true},     {0x4D0, 0x52F, 1, true},     {0x531, 0x556, 48, false},   {0x10A0, 0x10C5, 7264, false},
    {0x1E00, 0x1E95, 1, true},   {0x1EA0, 0x1EFF, 1, true},   {0x2160, 0x216F, 16, false}, {0x24B6, 0x24CF, 26, false},
    {0xFF21, 0xFF3A, 32, false},
};
/* One-way and irregular mappings: {upper, lower}. */
static const uint32_t CASE_SINGLE[][2] = {
    {0x178, 0xFF}, {0x1C4, 0x1C6}, {0x1C7, 0x1C9}, {0x1CA, 0x1CC}, {0x1F1, 0x1F3}, {0x1E9E, 0xDF}, {0x212A, 'k'},
    {0x212B, 0xE5}, {0x2126, 0x3C9}, {0x130, 'i'},
};
/* Lowercase letters whose uppercase is another table's business (or several characters): {lower, upper}. */
static const uint32_t UPPER_SINGLE[][2] = {{0xFF, 0x178}, {0x1C6, 0x1C4}, {0x1C9, 0x1C7}, {0x1CC, 0x1CA},
                                           {0x1F3, 0x1F1}, {0xB5, 0x39C},  {0x3C2, 0x3A3}, {0x17F, 'S'},
                                           {0x131, 'I'}};

static bool in_case_range(size_t r, uint32_t c) {
    return c >= CASE[r].lo && c <= CASE[r].hi && (!CASE[r].pairs || (c - CASE[r].lo) % 2 == 0);
}

uint32_t ifv_lower(uint32_t c) {
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    for (size_t r = 0; r < sizeof CASE / sizeof CASE[0]; r++)
        if (in_case_range(r, c)) return c + CASE[r].delta;
    for (size_t r = 0; r < sizeof CASE_SINGLE / sizeof CASE_SINGLE[0]; r++)
        if (CASE_SINGLE[r][0] == c) return CASE_SINGLE[r][1];
    return c;
}

uint32_t ifv_upper(uint32_t c) {
    if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
    for (size_t r = 0; r < sizeof CASE / sizeof CASE[0]; r++)
        if (c >= CASE[r].delta && in_case_range(r, c - CASE[r].delta)) return c - CASE[r].delta;
    for (size_t r = 0; r < sizeof UPPER_SINGLE / sizeof UPPER_SINGLE[0]; r++)
        if (UPPER_SINGLE[r][0] == c) return UPPER_SINGLE[r][1];
    return c;
}

/* Lowercase letters without a one-character uppercase (ß, ĸ, IPA, modifier letters, ...): cased all the same. */
static bool lower_only(uint32_t c) {
    return c == 0xAA || c == 0xBA || c == 0xDF || c == 0x138 || c == 0x149 || c == 0x18D || c == 0x1AA ||
           c == 0x1AB || c == 0x1BA || c == 0x1BE || c == 0x1F0 || c == 0x221 || (c >= 0x234 && c <= 0x239) ||
           (c >= 0x250 && c <= 0x2B8) || c == 0x2C0 || c == 0x2C1 || (c >= 0x2E0 && c <= 0x2E4) || c == 0x390 ||
           c == 0x3B0 || c == 0x3FC || (c >= 0x1D00 && c <= 0x1DBF) || (c >= 0x1E96 && c <= 0x1E9D) || c == 0x1E9F;
}

/* bit 0: an uppercase character, bit 1: a lowercase one, bit 2: a titlecase one (cased, neither). */
static int case_bits(const char *s, size_t n) {
    int bits = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = ifv_decode(s, n, &i);
        if (c == 0x1C5 || c == 0x1C8 || c == 0x1CB || c == 0x1F2) bits |= 4;
        else if (ifv_lower(c) != c) bits |= 1;
        else if (ifv_upper(c) != c || lower_only(c)) bits |= 2;
    }
    return bits;
}

bool ifv_is_upper_text(const char *s, size_t n) { return case_bits(s, n) == 1; }
bool ifv_is_lower_text(const char *s, size_t n) { return case_bits(s, n) == 2; }

void ifv_strip(const char **s, size_t *n) {
    const char *p = *s;
    size_t a = 0, b = *n;
    while (a < b) {
        size_t k = a;
        if (!ifv_is_space(ifv_decode(p, b, &k))) break;
        a = k;
    }
    while (b > a) {
        size_t j = ifv_prev(p, a, b), k = j;
        if (!ifv_is_space(ifv_decode(p, b, &k))) break;
        b = j;
    }
    *s = p + a;
    *n = b - a;
}

uint32_t *ifv_lower_codepoints(const char *s, size_t n, size_t *count) {
    uint32_t *v = malloc((n + 1) * sizeof *v);
    if (!v) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) v[k++] = ifv_lower(ifv_decode(s, n, &i));
    *count = k;
    return v;
}

size_t ifv_count_words(const char *s, size_t n) {
    size_t words = 0;
    bool in = false;
    for (size_t i = 0; i < n;) {
        bool w = ifv_is_word(ifv_decode(s, n, &i));
        if (w && !in) words++;
        in = w;
    }
    return words;
}

/* ---- sentences ----
 * A sentence ends at a run of '.', '?', '!' that is followed, after closing quotes, brackets or asterisks, by
 * whitespace. A run with '?' or '!' always ends one. A single '.' does not after a title (Mr., Dr., ...) or an
 * initial (one letter); after a number only when the next word starts with a capital letter; after another known
 * abbreviation (e.g., etc., U.S.) or an ellipsis ("..") only when the next word is a capitalized frequent sentence
 * starter (The, It, However, ...): punkt's abbreviation, orthographic and sentence-starter heuristics, as rules.
 * Newlines alone end nothing (as in punkt). The text's last sentence needs no end mark. */
static const char *const TITLES[] = {"mr",  "mrs", "ms",  "dr",  "prof", "st",   "sr",   "jr",    "rev",  "gen",
                                     "gov", "sen", "rep", "capt", "lt",  "col",  "sgt",  "mt",    "ft",   "messrs",
                                     "mme", "hon", "pres", "supt", "cmdr", "adm", "maj",  "brig",  "mlle", "fr"};
static const char *const ABBREVIATIONS[] = {"etc",  "vs",  "inc", "ltd",  "co",   "corp", "jan",  "feb",  "apr",
                                            "aug",  "sept", "sep", "oct",  "nov",  "dec",  "approx", "nos", "fig",
                                            "figs", "vol", "vols", "pp",   "ca",   "cf",   "al",   "dept", "univ",
                                            "assn", "bros", "esp", "govt", "min",  "max",  "ibid", "viz",  "incl"};

/* Words that often start a sentence (punkt's English model keeps such a list, learned from its corpus). */
static const char *const STARTERS[] = {
    "the",  "a",    "an",  "this", "that", "these", "those",   "it",    "its",  "he",    "she",   "they",
    "we",   "i",    "you", "there", "here", "but",  "however", "and",   "so",   "then",  "if",    "when",
    "while", "after", "before", "in", "on",  "at",   "for",     "as",    "my",   "our",   "his",   "her",
    "their", "what", "why", "how",  "who",  "yes",  "no",      "also",  "now",  "today", "one",   "first",
    "finally", "thus", "although", "because", "since", "meanwhile", "instead", "still", "yet", "many", "some", "all"};

static bool closer(uint32_t c) {
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == 0x201D || c == 0x2019 ||
           c == 0xBB;
}
static bool opener(uint32_t c) {
    return c == '"' || c == '\'' || c == '(' || c == '[' || c == '{' || c == '*' || c == 0x201C || c == 0x2018 ||
           c == 0xAB || c == '_';
}

static bool in_list(const char *const *list, size_t count, const char *w) {
    for (size_t i = 0; i < count; i++)
        if (!strcmp(list[i], w)) return true;
    return false;
}

typedef enum { TOK_WORD, TOK_TITLE, TOK_INITIAL, TOK_ABBREV, TOK_NUMBER } tok_kind;

/* What the token s[a, b) (b at its final '.') is, for the rules above. */
static tok_kind classify_token(const char *s, size_t a, size_t b) {
    while (a < b) {
        size_t k = a;
        if (!opener(ifv_decode(s, b, &k))) break;
        a = k;
    }
    char w[24];
    size_t len = 0, letters = 0, digits = 0, periods = 0, other = 0;
    for (size_t i = a; i < b;) {
        uint32_t c = ifv_lower(ifv_decode(s, b, &i));
        if (c == '.') periods++;
        else if (ifv_is_decimal(c) || c == ',') digits++;
        else if (ifv_is_word(c)) letters++;
        else other++;
        if (c < 0x80 && len + 1 < sizeof w) w[len++] = (char)c;
        else len = sizeof w; /* not an ASCII abbreviation */
    }
    if (letters == 0 && digits > 0 && other == 0) return TOK_NUMBER;
    if (letters == 1 && digits == 0 && periods == 0 && other == 0) return TOK_INITIAL;
    if (len >= sizeof w) return TOK_WORD;
    w[len] = 0;
    if (periods == 0 && in_list(TITLES, sizeof TITLES / sizeof TITLES[0], w)) return TOK_TITLE;
    if (periods == 0 && in_list(ABBREVIATIONS, sizeof ABBREVIATIONS / sizeof ABBREVIATIONS[0], w)) return TOK_ABBREV;
    /* letter.letter forms: e.g, i.e, u.s, a.m, ph.d */
    if (periods > 0 && other == 0 && digits == 0 && letters <= 2 * (periods + 1)) return TOK_ABBREV;
    return TOK_WORD;
}

/* Whether the word starting at s[i] (after opening punctuation) starts with an uppercase letter; *starter: it is
 * also one of STARTERS. */
static bool next_starts_upper(const char *s, size_t n, size_t i, bool *starter) {
    *starter = false;
    while (i < n) {
        size_t at = i;
        uint32_t c = ifv_decode(s, n, &i);
        if (opener(c)) continue;
        if (ifv_lower(c) == c) return false;
        char w[16];
        size_t len = 0;
        for (size_t k = at; k < n && len + 1 < sizeof w;) {
            uint32_t d = ifv_lower(ifv_decode(s, n, &k));
            if (d >= 0x80 || !ifv_is_word(d)) break;
            w[len++] = (char)d;
        }
        w[len] = 0;
        *starter = in_list(STARTERS, sizeof STARTERS / sizeof STARTERS[0], w);
        return true;
    }
    return false;
}

size_t ifv_count_sentences(const char *s, size_t n) {
    size_t count = 0, tok = 0; /* tok: start of the current whitespace-delimited token */
    bool content = false;      /* non-space text since the last sentence end */
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t c = ifv_decode(s, n, &i);
        if (ifv_is_space(c)) {
            tok = i;
            continue;
        }
        content = true;
        if (c != '.' && c != '?' && c != '!') continue;
        size_t periods = c == '.', strong = c != '.';
        size_t j = i;
        while (j < n) {
            size_t k = j;
            uint32_t d = ifv_decode(s, n, &k);
            if (d == '.') periods++;
            else if (d == '?' || d == '!') strong++;
            else break;
            j = k;
        }
        while (j < n) {
            size_t k = j;
            if (!closer(ifv_decode(s, n, &k))) break;
            j = k;
        }
        i = j;
        if (j < n) {
            size_t k = j;
            if (!ifv_is_space(ifv_decode(s, n, &k))) continue; /* 3.14, e.g., a.b: inside a token */
        }
        size_t next = j;
        while (next < n) {
            size_t k = next;
            if (!ifv_is_space(ifv_decode(s, n, &k))) break;
            next = k;
        }
        if (next >= n) break; /* the last sentence, counted below */
        bool ends = true;
        if (strong == 0) {
            bool starter, upper = next_starts_upper(s, n, next, &starter);
            if (periods > 1) {
                ends = starter;
            } else {
                tok_kind kind = classify_token(s, tok, at);
                if (kind == TOK_TITLE || kind == TOK_INITIAL) ends = false;
                else if (kind == TOK_ABBREV) ends = starter;
                else if (kind == TOK_NUMBER) ends = upper;
            }
        }
        if (ends) {
            count++;
            content = false;
        }
    }
    return count + (content ? 1 : 0);
}

/* ---- all-capital words ----
 * Tokens as nltk's Treebank tokenizer makes them where it matters for str.isupper(): whitespace and the punctuation
 * it splits off (, ; : @ # $ % & ? ! ( ) [ ] { } < > quotes, "--") separate tokens, and a clitic ('s, 're, 've, 'll,
 * 'd, 'm, n't) is a token of its own; periods, hyphens and other apostrophes stay inside (U.S., WELL-KNOWN). */
static bool splits(uint32_t c) {
    return c == ',' || c == ';' || c == ':' || c == '@' || c == '#' || c == '$' || c == '%' || c == '&' || c == '?' ||
           c == '!' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '<' || c == '>' ||
           c == '"' || c == '`' || c == 0x201C || c == 0x201D || c == 0x2026;
}

static size_t count_upper_parts(const char *s, size_t a, size_t b) {
    /* a clitic at the end: n't, or ' followed by s, re, ve, ll, d, m */
    for (size_t q = b; q > a; q--) {
        if (s[q - 1] != '\'') continue;
        size_t tail = b - q;
        char t[3] = {0};
        for (size_t k = 0; k < tail && k < 2; k++) t[k] = (char)(s[q + k] | 0x20);
        bool clitic = (tail == 1 && (t[0] == 's' || t[0] == 'd' || t[0] == 'm')) ||
                      (tail == 2 && ((t[0] == 'r' && t[1] == 'e') || (t[0] == 'v' && t[1] == 'e') ||
                                     (t[0] == 'l' && t[1] == 'l')));
        if (tail == 1 && (t[0] == 't') && q - 1 > a && (s[q - 2] | 0x20) == 'n') {
            size_t split = q - 2; /* n't */
            return (ifv_is_upper_text(s + a, split - a) ? 1 : 0) + (ifv_is_upper_text(s + split, b - split) ? 1 : 0);
        }
        if (clitic)
            return (ifv_is_upper_text(s + a, q - 1 - a) ? 1 : 0) + (ifv_is_upper_text(s + q - 1, b - q + 1) ? 1 : 0);
        break;
    }
    return ifv_is_upper_text(s + a, b - a) ? 1 : 0;
}

size_t ifv_count_capital_words(const char *s, size_t n) {
    size_t count = 0, start = 0;
    bool in = false;
    for (size_t i = 0; i <= n;) {
        size_t at = i;
        bool sep = true;
        if (i < n) {
            uint32_t c = ifv_decode(s, n, &i);
            sep = ifv_is_space(c) || splits(c) || (c == '-' && i < n && s[i] == '-');
        } else {
            i++;
        }
        if (sep) {
            if (in) count += count_upper_parts(s, start, at);
            in = false;
        } else if (!in) {
            in = true;
            start = at;
        }
    }
    return count;
}
