#!/usr/bin/env python3
"""Trains the demo byte-level BPE tokenizer and writes it as a Hugging Face tokenizer.json (GPT-2 style).

    tools/make_tokenizer.py [--corpus assets/demo/corpus.txt] [--out assets/demo/tokenizer.json] [--vocab-size 512]
    tools/make_tokenizer.py encode --tokenizer assets/demo/tokenizer.json [--no-special] [--lines] < text

Standard library only. The pre-tokenizer is GPT-2's regex, written out by hand with unicodedata (Python's `re` has
no \\p{L}); the encoder is the original GPT-2 merge loop (merge every occurrence of the lowest-ranked pair, repeat).
Both are deliberately independent of iopo's C implementation so the tests can compare the two.

Ids: 0..255 are the bytes (id = byte value), then one id per merge in order, then <|endoftext|>. Training picks the
most frequent adjacent pair each round (ties: the smallest pair of ids), so the output is deterministic.
"""
import argparse
import collections
import json
import sys
import unicodedata

EOT = "<|endoftext|>"

# Unicode White_Space: what \s means to the reference regex engines.
WHITE_SPACE = set(map(chr, [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F,
                            0x3000] + list(range(0x2000, 0x200B))))


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100 onward."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def is_letter(c):
    return unicodedata.category(c).startswith("L")


def is_number(c):
    return unicodedata.category(c).startswith("N")


def is_space(c):
    return c in WHITE_SPACE


def is_other(c):
    return not (is_space(c) or is_letter(c) or is_number(c))


def pretokenize(text):
    """Pieces of 's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+, in order."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        suffix = next((c for c in ("s", "t", "re", "ve", "m", "ll", "d") if text.startswith("'" + c, i)), None)
        if suffix:
            pieces.append(text[i:i + 1 + len(suffix)])
            i += 1 + len(suffix)
            continue
        matched = False
        for cls in (is_letter, is_number, is_other):
            j = i + 1 if text[i] == " " and i + 1 < n else i
            if j < n and cls(text[j]):
                k = j
                while k < n and cls(text[k]):
                    k += 1
                pieces.append(text[i:k])
                i = k
                matched = True
                break
        if matched:
            continue
        # Whitespace: \s+(?!\S) takes the run but leaves its last character to the next piece when a non-space
        # follows; a lone space before a non-space falls through to \s+.
        k = i
        while k < n and is_space(text[k]):
            k += 1
        if k == n or k - 1 == i:
            pieces.append(text[i:k])
            i = k
        else:
            pieces.append(text[i:k - 1])
            i = k - 1
    return pieces


def byte_level(piece):
    return "".join(BYTE_CHAR[b] for b in piece.encode("utf-8"))


def train(text, vocab_size):
    n_merges = vocab_size - 256 - 1
    words = collections.Counter(tuple(piece.encode("utf-8")) for piece in pretokenize(text))
    words = [(list(w), c) for w, c in sorted(words.items())]
    tokens = [bytes([b]) for b in range(256)]
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words:
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        new = len(tokens)
        tokens.append(tokens[best[0]] + tokens[best[1]])
        merges.append(best)
        for w, _ in words:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [new]
                i += 1
    return tokens, merges


def to_json(tokens, merges):
    def s(t):
        return "".join(BYTE_CHAR[b] for b in t)

    vocab = {s(t): i for i, t in enumerate(tokens)}
    eot_id = len(tokens)
    vocab[EOT] = eot_id
    byte_level_cfg = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot_id, "content": EOT, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": byte_level_cfg,
        "post_processor": byte_level_cfg,
        "decoder": byte_level_cfg,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{s(tokens[a])} {s(tokens[b])}" for a, b in merges]},
    }


class Encoder:
    """GPT-2's own algorithm over a tokenizer.json's vocab and merges."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        self.vocab = tj["model"]["vocab"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tj["model"]["merges"]]
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.special = {a["content"]: a["id"] for a in tj.get("added_tokens", []) if a.get("special")}
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = set(zip(parts, parts[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    out.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        self.cache[word] = parts
        return parts

    def encode(self, text, special=True):
        segments = [text]
        if special and self.special:
            # Leftmost-longest: at each position the longest special token that starts there.
            segments, start, i = [], 0, 0
            names = sorted(self.special, key=len, reverse=True)
            while i < len(text):
                hit = next((s for s in names if text.startswith(s, i)), None)
                if hit:
                    segments += [text[start:i], hit]
                    i = start = i + len(hit)
                else:
                    i += 1
            segments.append(text[start:])
        ids = []
        for k, seg in enumerate(segments):
            if special and k % 2 == 1 and len(segments) > 1:
                ids.append(self.special[seg])
                continue
            for piece in pretokenize(seg):
                ids += [self.vocab[t] for t in self.bpe(byte_level(piece))]
        return ids


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "encode":
        ap = argparse.ArgumentParser(prog="make_tokenizer.py encode", description="Encode stdin; print the ids.")
        ap.add_argument("--tokenizer", default="assets/demo/tokenizer.json")
        ap.add_argument("--no-special", action="store_true")
        ap.add_argument("--lines", action="store_true", help="encode each line alone (without its newline)")
        args = ap.parse_args(sys.argv[2:])
        text = sys.stdin.buffer.read().decode("utf-8")
        enc = Encoder(args.tokenizer)
        texts = [text]
        if args.lines:  # as `iopo tokenize --lines`: a final newline ends the last line, it starts no new one
            texts = text.split("\n")
            if texts[-1] == "":
                texts.pop()
        for t in texts:
            print(" ".join(map(str, enc.encode(t, not args.no_special))))
        return
    ap = argparse.ArgumentParser(description="Train the demo byte-level BPE tokenizer.")
    ap.add_argument("--corpus", default="assets/demo/corpus.txt")
    ap.add_argument("--out", default="assets/demo/tokenizer.json")
    ap.add_argument("--vocab-size", type=int, default=512)
    args = ap.parse_args()
    if args.vocab_size < 258:
        ap.error("--vocab-size must be at least 258 (256 bytes, one merge, <|endoftext|>)")
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    tokens, merges = train(text, args.vocab_size)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(to_json(tokens, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{args.out}: {len(tokens) + 1} ids ({len(merges)} merges) from {len(text.encode('utf-8'))} bytes")


if __name__ == "__main__":
    main()
