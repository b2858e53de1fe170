/* Language identification in place of langdetect (which IFEval's language:response_language, english_capital and
 * english_lowercase call). The script with the most letters decides, then within a script shared by several of
 * IFEval's languages, counts of their most frequent words and of the letters only one of them uses:
 *   Latin: en es pt fr de it pl vi sw fi (with nl sv tr id as rivals, so their text is not taken for one of these);
 *   Cyrillic: ru uk bg; Arabic: ar fa ur; Devanagari: hi mr ne; Kana with Han: ja; Han alone: zh-cn.
 * Deterministic where langdetect is not (it samples); docs/EVAL.md says where the two can disagree. */
#include "eval/ifeval_text.h"

#include <string.h>

typedef enum {
    S_LATIN, S_CYRILLIC, S_GREEK, S_ARMENIAN, S_HEBREW, S_ARABIC, S_DEVANAGARI, S_BENGALI, S_GURMUKHI, S_GUJARATI,
    S_ORIYA, S_TAMIL, S_TELUGU, S_KANNADA, S_MALAYALAM, S_SINHALA, S_THAI, S_LAO, S_TIBETAN, S_MYANMAR, S_GEORGIAN,
    S_HANGUL, S_ETHIOPIC, S_KHMER, S_CJK, S_OTHER, S_COUNT
} script;

/* The code of a script only one language (of those that matter here) writes in. */
static const char *const SCRIPT_LANG[S_COUNT] = {
    [S_GREEK] = "el",    [S_ARMENIAN] = "hy", [S_HEBREW] = "he",  [S_BENGALI] = "bn", [S_GURMUKHI] = "pa",
    [S_GUJARATI] = "gu", [S_ORIYA] = "or",    [S_TAMIL] = "ta",   [S_TELUGU] = "te",  [S_KANNADA] = "kn",
    [S_MALAYALAM] = "ml", [S_SINHALA] = "si", [S_THAI] = "th",    [S_LAO] = "lo",     [S_TIBETAN] = "bo",
    [S_MYANMAR] = "my",  [S_GEORGIAN] = "ka", [S_HANGUL] = "ko",  [S_ETHIOPIC] = "am", [S_KHMER] = "km",
    [S_OTHER] = "und",
};

static bool is_kana(uint32_t c) { return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F); }
static bool is_han(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x3FFFF) || c == 0x3005 || c == 0x3007;
}

static script script_of(uint32_t c) {
    if (c < 0x250 || (c >= 0x1E00 && c <= 0x1EFF) || (c >= 0xFF21 && c <= 0xFF5A) || (c >= 0x1D00 && c <= 0x1DBF))
        return S_LATIN;
    if (c >= 0x370 && c <= 0x3FF) return S_GREEK;
    if (c >= 0x1F00 && c <= 0x1FFF) return S_GREEK;
    if (c >= 0x400 && c <= 0x52F) return S_CYRILLIC;
    if (c >= 0x530 && c <= 0x58F) return S_ARMENIAN;
    if (c >= 0x590 && c <= 0x5FF) return S_HEBREW;
    if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0xFB50 && c <= 0xFDFF) ||
        (c >= 0xFE70 && c <= 0xFEFF))
        return S_ARABIC;
    if (c >= 0x900 && c <= 0xD7F) return (script)(S_DEVANAGARI + (int)((c - 0x900) >> 7));
    if (c >= 0xD80 && c <= 0xDFF) return S_SINHALA;
    if (c >= 0xE00 && c <= 0xE7F) return S_THAI;
    if (c >= 0xE80 && c <= 0xEFF) return S_LAO;
    if (c >= 0xF00 && c <= 0xFFF) return S_TIBETAN;
    if (c >= 0x1000 && c <= 0x109F) return S_MYANMAR;
    if ((c >= 0x10A0 && c <= 0x10FF) || (c >= 0x2D00 && c <= 0x2D2F)) return S_GEORGIAN;
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0xAC00 && c <= 0xD7AF)) return S_HANGUL;
    if (c >= 0x1200 && c <= 0x139F) return S_ETHIOPIC;
    if (c >= 0x1780 && c <= 0x17FF) return S_KHMER;
    if (is_kana(c) || is_han(c)) return S_CJK;
    return S_OTHER;
}

typedef struct {
    const char *code;
    const char *words; /* its most frequent words, lowercase, space-separated, each with a space on both sides */
} lang_words;

/* Latin-script languages, in the order ties are broken. */
static const lang_words LATIN[] = {
    {"en", " the and of to in is that it for was on are with as be this have not but they you at by from or an his "
           "her which we were has had their there been would will can all if more one so what about who do my your "
           "our its also into than them these some such i me he she very when how a up out just only each any then where "
           "after over both other new does did because while should could may must every many much those being "},
    {"es", " el la los las de del que y en un una es por para con no se su sus al lo como más pero muy este esta son "
           "está también ya hay ser tiene entre cuando todo sobre sin porque hasta donde a mi yo nos "},
    {"pt", " o a os as de do da dos das que e em um uma é para com não se por mais como mas foi ao na no nas nos seu "
           "sua ele ela isso também são está muito tem ou quando já pelo pela eu você "},
    {"fr", " le la les de des du et est un une que qui dans en pour pas sur au aux avec ce cette il elle ne se sont "
           "plus par mais ou nous vous je leur été être fait comme tout très c'est d'un d'une l'on "},
    {"de", " der die das und ist ein eine einen nicht zu den dem des mit von sich auf für im auch es sie ich dass wir "
           "wie aber nach bei oder wird sind noch hat war werden kann einer "},
    {"it", " il lo la gli le di del della che e è un una per non con si da in sono al alla anche come più ma questo "
           "questa nel nella ho ha essere molto tutto perché a "},
    {"pl", " i w z na się nie jest to że do jak ale co o tak od po za już jego jej są był była dla przez może tylko "
           "bardzo czy też lub oraz który która które "},
    {"vi", " và của là có không những được một trong cho các người này với đã để khi thì về như từ ra đến nhiều cũng "
           "sẽ lại vào mà tôi bạn chúng họ năm rất "},
    {"sw", " na ya wa kwa ni za katika la kama hii cha yake lakini sana hiyo huo wake yao watu kuwa pia hapa hakuna "
           "mimi wewe sisi ili baada kila "},
    {"fi", " ja on ei että se oli hän mutta kun ovat tämä myös joka niin kuin olla mitä vain ole jos tai minä sinä "
           "he me siitä kanssa sekä sen "},
    {"nl", " de het een en van is dat niet zijn op te voor met als ook maar er aan bij naar wordt door werd "},
    {"sv", " och att det är som en på för med av till den inte har jag var om ett men så "},
    {"tr", " ve bir bu da de için ile çok gibi daha ne olan ama en mi var "},
    {"id", " dan yang di ini itu dengan untuk tidak dari akan pada juga ada ke adalah saya "},
};
enum { L_EN, L_ES, L_PT, L_FR, L_DE, L_IT, L_PL, L_VI, L_SW, L_FI, L_LATIN_COUNT = 14 };

static const lang_words CYRILLIC[] = {
    {"ru", " и в не на что я с он как это по но к а из у за то для от же все так его она мы вы они был было быть "
           "только уже или если бы мне когда очень есть нет "},
    {"uk", " і в не на що я з він як це по але до а із у за та для від же все так його вона ми ви вони був було бути "
           "тільки вже або якщо б мені коли дуже є немає й "},
    {"bg", " и в не на че аз с той като това по но до а от за да се е са със ще беше бил които който която има няма "
           "много когато ако или тя ние вие те "},
};
static const lang_words ARABIC[] = {
    {"ar", " في من على إلى أن التي الذي هذا هذه عن مع كان كانت لا ما هو هي قد ثم أو كل بين عند لم لن "},
    {"fa", " است و در به از که این را با های می آن برای یک هم تا شد شود کرد بود نیز اما ما من او "},
    {"ur", " ہے ہیں کے کی کا میں اور سے کو نہیں یہ وہ بھی ایک پر تھا تھی تھے ہو کہ لیے جو "},
};
static const lang_words DEVANAGARI[] = {
    {"hi", " है हैं और के की का में से को यह पर नहीं भी एक था थी थे हो कि लिए तो ने कर इस वह जो कुछ साथ बहुत अपने "
           "आप हम मैं तुम क्या "},
    {"mr", " आहे आहेत आणि या हे व ते तो ती मी आम्ही तुम्ही आपण नाही होते होता होती म्हणून पण असे त्या त्याच्या करून "
           "केले झाले आता काही सर्व खूप मला "},
    {"ne", " छ छन् र मा लाई पनि यो त्यो हो हुन्छ थियो गर्न भएको गरेको तथा छैन अनि म हामी तपाईं मेरो उनी भने पछि "},
};

static bool has_word(const char *list, const char *w, size_t len) {
    for (const char *p = list; (p = strstr(p, w)) != NULL; p++)
        if (p > list && p[-1] == ' ' && p[len] == ' ') return true;
    return false;
}

/* Adds 2 to a language's score for each word of the text in its list. Words: runs of letters and marks. */
static void score_words(const char *s, size_t n, const lang_words *langs, size_t count, long *score) {
    char w[128];
    size_t len = 0;
    for (size_t i = 0; i <= n;) {
        uint32_t c = 0;
        if (i < n) c = ifv_decode(s, n, &i);
        else i++;
        bool part = c && ((ifv_is_word(c) && !ifv_is_decimal(c) && c != '_') || ifv_is_mark(c) || c == '\'' ||
                          c == 0x2019);
        if (part) {
            if (c == 0x2019) c = '\'';
            c = ifv_lower(c);
            char b[4];
            size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
            if (k == 1) b[0] = (char)c;
            else if (k == 2) b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3F));
            else if (k == 3)
                b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3F)), b[2] = (char)(0x80 | (c & 0x3F));
            else
                b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
                b[2] = (char)(0x80 | ((c >> 6) & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F));
            if (len + k + 1 < sizeof w) memcpy(w + len, b, k);
            len += k;
            continue;
        }
        if (len > 0 && len + 1 < sizeof w) {
            w[len] = 0;
            /* a leading or trailing apostrophe is a quotation mark, not part of the word */
            char *p = w;
            size_t m = len;
            while (m > 0 && *p == '\'') p++, m--;
            while (m > 0 && p[m - 1] == '\'') p[--m] = 0;
            if (m > 0)
                for (size_t l = 0; l < count; l++)
                    if (has_word(langs[l].words, p, m)) score[l] += 2;
        }
        len = 0;
    }
}

static size_t best(const long *score, size_t count) {
    size_t b = 0;
    for (size_t l = 1; l < count; l++)
        if (score[l] > score[b]) b = l;
    return b;
}

static bool any_of(uint32_t c, const uint32_t *set, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == c) return true;
    return false;
}

static const char *latin(const char *s, size_t n) {
    long score[sizeof LATIN / sizeof LATIN[0]] = {0};
    score_words(s, n, LATIN, sizeof LATIN / sizeof LATIN[0], score);
    static const uint32_t PL[] = {0x105, 0x119, 0x142, 0x15B, 0x17A, 0x17C, 0x107, 0x144};
    static const uint32_t FR[] = {0xE8, 0xEA, 0xE2, 0xEE, 0xF4, 0xFB, 0xF9, 0xEB, 0xEF, 0x153};
    for (size_t i = 0; i < n;) {
        uint32_t c = ifv_lower(ifv_decode(s, n, &i));
        if ((c >= 0x1EA0 && c <= 0x1EF9) || c == 0x1A1 || c == 0x1B0 || c == 0x111 || c == 0x103) score[L_VI] += 1;
        else if (any_of(c, PL, sizeof PL / sizeof PL[0])) score[L_PL] += 1;
        else if (c == 0xDF || c == 0xFC) score[L_DE] += 1;
        else if (c == 0xE4 || c == 0xF6) score[L_DE] += 1, score[L_FI] += 1;
        else if (c == 0xF1 || c == 0xBF || c == 0xA1) score[L_ES] += 1;
        else if (c == 0xE3 || c == 0xF5) score[L_PT] += 1;
        else if (c == 0xE7) score[L_PT] += 1, score[L_FR] += 1;
        else if (any_of(c, FR, sizeof FR / sizeof FR[0])) score[L_FR] += 1;
        else if (c == 0xEC || c == 0xF2) score[L_IT] += 1;
    }
    size_t b = best(score, sizeof score / sizeof score[0]);
    return score[b] > 0 ? LATIN[b].code : NULL;
}

static const char *cyrillic(const char *s, size_t n) {
    long score[3] = {0};
    score_words(s, n, CYRILLIC, 3, score);
    for (size_t i = 0; i < n;) {
        uint32_t c = ifv_lower(ifv_decode(s, n, &i));
        if (c == 0x44B || c == 0x44D || c == 0x451) score[0] += 2;                  /* ы э ё */
        else if (c == 0x456 || c == 0x457 || c == 0x454 || c == 0x491) score[1] += 2; /* і ї є ґ */
        else if (c == 0x44A) score[2] += 1;                                         /* ъ, rare in Russian */
        else if (c == 0x44C) score[0] += 1, score[1] += 1;                          /* ь, rare in Bulgarian */
    }
    return CYRILLIC[best(score, 3)].code;
}

static const char *arabic(const char *s, size_t n) {
    long score[3] = {0};
    score_words(s, n, ARABIC, 3, score);
    static const uint32_t AR[] = {0x64A, 0x643, 0x629, 0x649};
    static const uint32_t FA[] = {0x6CC, 0x6A9, 0x67E, 0x686, 0x698, 0x6AF}; /* Persian letters Urdu shares */
    static const uint32_t UR[] = {0x6D2, 0x6C1, 0x6BE, 0x679, 0x688, 0x691, 0x6BA};
    uint32_t prev = ' ', prev2 = ' ';
    for (size_t i = 0; i < n;) {
        uint32_t c = ifv_decode(s, n, &i);
        if (any_of(c, AR, 4)) score[0] += 1;
        else if (any_of(c, FA, 6)) score[1] += 1;
        else if (any_of(c, UR, 7)) score[2] += 2;
        /* the article al- at a word start */
        if (c == 0x644 && prev == 0x627 && !(prev2 >= 0x620 && prev2 <= 0x6FF)) score[0] += 2;
        prev2 = prev;
        prev = c;
    }
    return ARABIC[best(score, 3)].code;
}

static const char *devanagari(const char *s, size_t n) {
    long score[3] = {0};
    score_words(s, n, DEVANAGARI, 3, score);
    for (size_t i = 0; i < n;)
        if (ifv_decode(s, n, &i) == 0x933) score[1] += 2; /* ळ: Marathi's, not Hindi's */
    return DEVANAGARI[best(score, 3)].code;
}

const char *ifv_detect_language(const char *s, size_t n) {
    size_t count[S_COUNT] = {0}, kana = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = ifv_decode(s, n, &i);
        if (!ifv_is_word(c) || ifv_is_decimal(c) || c == '_') continue;
        script sc = script_of(c);
        count[sc]++;
        if (sc == S_CJK && is_kana(c)) kana++;
    }
    size_t top = 0;
    for (size_t k = 1; k < S_COUNT; k++)
        if (count[k] > count[top]) top = k;
    if (count[top] == 0) return NULL;
    switch ((script)top) {
    case S_LATIN: return latin(s, n);
    case S_CYRILLIC: return cyrillic(s, n);
    case S_ARABIC: return arabic(s, n);
    case S_DEVANAGARI: return devanagari(s, n);
    case S_CJK: return kana * 10 >= count[S_CJK] ? "ja" : "zh-cn";
    default: return SCRIPT_LANG[top];
    }
}

/* IFEval's LANGUAGE_CODES (instructions_util.py): the languages its response_language instructions ask for. */
static const char *const KNOWN[] = {"en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th", "ur", "ta",
                                    "te", "bg", "ko", "pl", "he", "fa", "vi", "ne", "sw", "kn", "mr", "gu", "pa", "ml", "fi"};

bool ifv_language_known(const char *code) {
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (!strcmp(KNOWN[i], code)) return true;
    return false;
}
