/* The task bank of `iopo data synth`: a few dozen topics and a few hundred English words, so that a language model
 * trained from scratch on two CPU cores can learn to write the responses. Keywords are words no template or topic
 * uses (keywords:existence and keywords:frequency match substrings, so a keyword must not hide inside another word);
 * adjectives come from a synonym table, which is what lets keywords:forbidden_words be satisfied by rewording. No
 * sentence uses the word "I" (change_case:capital_word_frequency would count it). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "data/synth_internal.h"

static const sy_topic TOPICS[] = {
    {"the sea", {"waves", "fish", "boats"}, {"deep", "calm", "cold"}},
    {"the forest", {"trees", "birds", "paths"}, {"green", "dark", "quiet"}},
    {"a garden", {"flowers", "bees", "seeds"}, {"pretty", "green", "fresh"}},
    {"the city", {"streets", "cars", "shops"}, {"busy", "noisy", "big"}},
    {"the moon", {"craters", "shadows", "stars"}, {"bright", "cold", "quiet"}},
    {"the sun", {"rays", "clouds", "mornings"}, {"bright", "warm", "big"}},
    {"the rain", {"drops", "puddles", "umbrellas"}, {"wet", "cold", "soft"}},
    {"the snow", {"flakes", "hills", "sleds"}, {"cold", "soft", "clean"}},
    {"a river", {"stones", "ducks", "bridges"}, {"fast", "clean", "cold"}},
    {"the mountains", {"peaks", "rocks", "goats"}, {"tall", "cold", "wild"}},
    {"a farm", {"cows", "fields", "barns"}, {"green", "quiet", "busy"}},
    {"a library", {"books", "shelves", "readers"}, {"quiet", "old", "big"}},
    {"a school", {"classes", "teachers", "desks"}, {"busy", "noisy", "big"}},
    {"a market", {"fruits", "stalls", "sellers"}, {"busy", "noisy", "fresh"}},
    {"the kitchen", {"pots", "spoons", "smells"}, {"warm", "clean", "busy"}},
    {"a train", {"wagons", "tracks", "stations"}, {"fast", "noisy", "old"}},
    {"a bicycle", {"wheels", "bells", "roads"}, {"fast", "small", "old"}},
    {"the night sky", {"stars", "planets", "comets"}, {"dark", "deep", "quiet"}},
    {"a park", {"benches", "ponds", "kites"}, {"green", "calm", "pretty"}},
    {"the desert", {"dunes", "camels", "winds"}, {"dry", "warm", "wild"}},
    {"a lake", {"swans", "reeds", "docks"}, {"calm", "deep", "cold"}},
    {"winter", {"coats", "fires", "nights"}, {"cold", "dark", "quiet"}},
    {"summer", {"picnics", "insects", "evenings"}, {"warm", "bright", "happy"}},
    {"spring", {"buds", "lambs", "showers"}, {"fresh", "green", "wet"}},
    {"autumn", {"leaves", "apples", "winds"}, {"cold", "wet", "pretty"}},
    {"a cat", {"whiskers", "paws", "naps"}, {"soft", "quiet", "strange"}},
    {"a dog", {"bones", "walks", "tails"}, {"happy", "fast", "noisy"}},
    {"the beach", {"shells", "towels", "crabs"}, {"warm", "bright", "clean"}},
    {"a bakery", {"breads", "cakes", "ovens"}, {"warm", "sweet", "busy"}},
    {"a museum", {"paintings", "statues", "halls"}, {"old", "quiet", "big"}},
    {"a village", {"cottages", "lanes", "wells"}, {"small", "quiet", "old"}},
    {"an island", {"palms", "coves", "boats"}, {"small", "wild", "warm"}},
    {"the wind", {"gusts", "sails", "kites"}, {"fast", "cold", "wild"}},
    {"a castle", {"towers", "walls", "gates"}, {"old", "tall", "dark"}},
    {"a zoo", {"lions", "monkeys", "keepers"}, {"busy", "noisy", "strange"}},
    {"a volcano", {"craters", "rocks", "flames"}, {"dark", "wild", "big"}},
};

static const char *const SYNONYMS[][2] = {
    {"big", "large"},       {"small", "tiny"},     {"calm", "peaceful"},  {"bright", "shiny"},  {"cold", "chilly"},
    {"warm", "mild"},       {"busy", "crowded"},   {"old", "ancient"},    {"green", "leafy"},   {"deep", "vast"},
    {"noisy", "loud"},      {"clean", "tidy"},     {"pretty", "lovely"},  {"fast", "quick"},    {"dark", "dim"},
    {"wet", "damp"},        {"dry", "dusty"},      {"sweet", "pleasant"}, {"fresh", "crisp"},   {"wild", "untamed"},
    {"tall", "high"},       {"soft", "smooth"},    {"happy", "cheerful"}, {"strange", "unusual"},
    {"quiet", "silent"},
};

/* {T} topic, {N} and {M} two different nouns, {A} and {B} two different adjectives. */
static const char *const TEMPLATES[] = {
    "{T} is {A} and {B} most of the time.",
    "Many people love {T} because it feels {A}.",
    "You can find {N} and {M} around {T}.",
    "In the morning, {T} looks {A}.",
    "The {N} make {T} feel {A}.",
    "Children like to learn about {N} and {M}.",
    "It is good to spend a day with {T}.",
    "On a long day, the {N} seem {A}.",
    "We often visit {T} with our friends.",
    "There are many {N} and a few {M}.",
    "Some say that {T} is {A} in every season.",
    "At night, {T} becomes {A}.",
    "A walk near {T} can make anyone smile.",
    "Most visitors remember the {A} {N}.",
    "If you go there, look for the {N}.",
    "Our teacher talks about {T} often.",
};

static const char *const TASKS[] = {
    "Write a short note about {T}.",
    "Describe {T} in simple words.",
    "Tell me about {T}.",
    "Write a few lines about {T} for a child.",
    "Explain why people like {T}.",
    "Do people enjoy {T}?",
    "Is {T} worth learning about?",
};
enum { FIRST_QUESTION_TASK = 5 };

static const char *const KEYWORDS[] = {
    "history", "color",   "silence", "journey", "weather",  "energy",   "adventure", "memory",  "freedom",
    "patience", "courage", "harmony", "kindness", "wonder", "balance", "comfort",   "science", "holiday",
    "friendship", "music",
};

static const char *const MENTIONS[] = {
    "It makes us think of {K}.",
    "There is {K} in it too.",
    "We talk about {K} a lot.",
    "Some people think of {K} first.",
};

static const char *const PLACEHOLDERS[] = {
    "Write to us at [address].",
    "Ask for [name] when you arrive.",
    "Come back on [date].",
    "Call us at [phone].",
};

static const char *const END_PHRASES[] = {
    "Thank you for reading.",
    "That is all for now.",
    "Have a nice day.",
    "See you next time.",
};

static const char *const PS_SENTENCES[] = {
    "We hope you enjoy {T}.",
    "Tell a friend about {T}.",
    "Thank you for your time.",
};

static const char *const TITLES[] = {
    "<<{TT}>>",
    "<<About {TT}>>",
    "<<A Note on {TT}>>",
};

/* Openers for length_constraints:nth_paragraph_first_word: no template, mention or placeholder sentence starts with
 * one, so leaving the opener out fails the constraint. */
static const char *const FIRST_WORDS[] = {"Today", "Sometimes", "Usually", "Finally", "Luckily"};

static const char *const ANSWERS[] = {"My answer is yes.", "My answer is no.", "My answer is maybe."};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

int sy_topic_count(void) { return COUNT(TOPICS); }
const sy_topic *sy_topic_at(int i) { return &TOPICS[i]; }

const char *sy_synonym(const char *word) {
    for (int i = 0; i < COUNT(SYNONYMS); i++)
        if (strcmp(SYNONYMS[i][0], word) == 0) return SYNONYMS[i][1];
    return NULL;
}

/* Appends s to buf (size n, length *len), truncating at the end; fill's callers size their buffers for the bank. */
static void put(char *buf, size_t n, size_t *len, const char *s) {
    size_t l = strlen(s);
    if (*len + l >= n) l = *len + 1 < n ? n - *len - 1 : 0;
    memcpy(buf + *len, s, l);
    *len += l;
    buf[*len] = 0;
}

/* Expands {T} {TT} {N} {M} {A} {B} {K} in tmpl; {TT} is the topic in title case. */
static void fill(const char *tmpl, const sy_topic *t, const char *nm[2], const char *ab[2], const char *k, char *buf,
                 size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (const char *s = tmpl; *s;) {
        if (s[0] == '{') {
            const char *e = strchr(s, '}');
            size_t kl = e ? (size_t)(e - s - 1) : 0;
            const char *v = NULL;
            char tt[64];
            if (kl == 1 && s[1] == 'T') v = t->name;
            else if (kl == 2 && s[1] == 'T' && s[2] == 'T') {
                snprintf(tt, sizeof tt, "%s", t->name);
                for (size_t i = 0; tt[i]; i++)
                    if (i == 0 || tt[i - 1] == ' ') tt[i] = (char)toupper((unsigned char)tt[i]);
                v = tt;
            } else if (kl == 1 && s[1] == 'N') v = nm[0];
            else if (kl == 1 && s[1] == 'M') v = nm[1];
            else if (kl == 1 && s[1] == 'A') v = ab[0];
            else if (kl == 1 && s[1] == 'B') v = ab[1];
            else if (kl == 1 && s[1] == 'K') v = k;
            if (v) {
                put(buf, n, &len, v);
                s = e + 1;
                continue;
            }
        }
        char c[2] = {*s++, 0};
        put(buf, n, &len, c);
    }
    buf[0] = (char)toupper((unsigned char)buf[0]);
}

/* Two different indices in [0, 3). */
static void pick2(iopo_rng *r, int *a, int *b) {
    *a = (int)(iopo_rng_u64(r) % 3);
    *b = (*a + 1 + (int)(iopo_rng_u64(r) % 2)) % 3;
}

int sy_task_count(void) { return COUNT(TASKS); }

void sy_task_text(int task, const sy_topic *t, char *buf, size_t n, bool *question) {
    fill(TASKS[task], t, NULL, NULL, NULL, buf, n);
    *question = task >= FIRST_QUESTION_TASK;
}

int sy_template_count(void) { return COUNT(TEMPLATES); }

void sy_fill_template(int i, const sy_topic *t, iopo_rng *r, char *buf, size_t n) {
    int a, b, c, d;
    pick2(r, &a, &b);
    pick2(r, &c, &d);
    const char *nm[2] = {t->nouns[a], t->nouns[b]}, *ab[2] = {t->adjs[c], t->adjs[d]};
    fill(TEMPLATES[i], t, nm, ab, NULL, buf, n);
}

int sy_keyword_count(void) { return COUNT(KEYWORDS); }
const char *sy_keyword(int i) { return KEYWORDS[i]; }

void sy_mention(const char *w, int k, char *buf, size_t n) {
    fill(MENTIONS[k % COUNT(MENTIONS)], &TOPICS[0], NULL, NULL, w, buf, n);
}

int sy_placeholder_count(void) { return COUNT(PLACEHOLDERS); }
const char *sy_placeholder_sentence(int i) { return PLACEHOLDERS[i % COUNT(PLACEHOLDERS)]; }
int sy_end_phrase_count(void) { return COUNT(END_PHRASES); }
const char *sy_end_phrase(int i) { return END_PHRASES[i]; }
int sy_ps_count(void) { return COUNT(PS_SENTENCES); }
void sy_ps_sentence(int i, const sy_topic *t, char *buf, size_t n) {
    fill(PS_SENTENCES[i], t, NULL, NULL, NULL, buf, n);
}
int sy_title_count(void) { return COUNT(TITLES); }

void sy_title(int i, const sy_topic *t, char *buf, size_t n) {
    fill(TITLES[i], t, NULL, NULL, NULL, buf, n);
}

const char *sy_answer(int i) { return ANSWERS[i % COUNT(ANSWERS)]; }
int sy_first_word_count(void) { return COUNT(FIRST_WORDS); }
const char *sy_first_word(int i) { return FIRST_WORDS[i]; }
