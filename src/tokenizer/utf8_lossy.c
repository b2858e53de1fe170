/* Bytes to valid UTF-8 the way Python's bytes.decode("utf-8", errors="replace") and Rust's from_utf8_lossy do it
 * (what Hugging Face decoding gives for a response cut inside a character): each maximal prefix of a well-formed
 * sequence that cannot be completed, and each byte that starts none, becomes one U+FFFD. */
#include <stdlib.h>
#include <string.h>

#include "iopo/tokenizer.h"

/* Length of the well-formed sequence lead byte c starts (0: none), and the range its second byte must be in. */
static int utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;   /* no surrogates */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;   /* nothing above U+10FFFF */
        return 4;
    }
    return 0;
}

char *iopo_utf8_lossy(const char *text, size_t n, size_t *len) {
    const unsigned char *s = (const unsigned char *)text;
    char *out = malloc(3 * n + 1);   /* one U+FFFD (3 bytes) per input byte at most */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char lo, hi;
        if (s[i] < 0x80 && s[i] != 0) {
            out[o++] = (char)s[i++];
            continue;
        }
        int want = s[i] ? utf8_lead(s[i], &lo, &hi) : 0;
        size_t k = 1;   /* bytes of a well-formed prefix */
        for (; want && (int)k < want && i + k < n; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF)) break;
        if (want && (int)k == want) {
            memcpy(out + o, s + i, k);
            o += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        i += k;
    }
    out[o] = 0;
    if (len) *len = o;
    return out;
}
