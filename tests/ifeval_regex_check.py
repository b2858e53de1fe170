#!/usr/bin/env python3
"""IFEval's character-exact checks against Python's own `re` and `json`: random responses built from the characters
the checks look for (asterisks, dividers, brackets, markers, quotes, Unicode spaces, ...) and random kwargs, each
check written here as IFEval's instructions.py defines it (the regular expressions of its check_following, with the
keywords escaped, since iopo matches them literally), strict and loose as evaluation_lib.py combines them; every
answer of `test_ifeval --jsonl` must be the same. The checks that rest on nltk or langdetect (sentences, capital
words, languages) are not here. Usage: ifeval_regex_check.py TEST_IFEVAL [CASES] [SEED]"""
import json
import random
import re
import subprocess
import sys


def compare(count, k, rel, num):
    return count < k[num] if k[rel] == "less than" else count >= k[num]


def existence(v, k):
    return all(re.search(re.escape(w), v, flags=re.I) for w in k["keywords"])


def frequency(v, k):
    return compare(len(re.findall(re.escape(k["keyword"].strip()), v, flags=re.I)), k, "relation", "frequency")


def forbidden(v, k):
    return not any(re.search(r"\b" + re.escape(w) + r"\b", v, flags=re.I) for w in k["forbidden_words"])


def letters(v, k):
    return compare(v.lower().count(k["letter"].lower()), k, "let_relation", "let_frequency")


def paragraphs(v, k):
    parts = re.split(r"\s?\*\*\*\s?", v)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip():
            if i in (0, len(parts) - 1):
                n -= 1
            else:
                return False
    return n == k["num_paragraphs"]


def words(v, k):
    return compare(len(re.findall(r"\w+", v)), k, "relation", "num_words")


def first_word(v, k):
    parts = re.split(r"\n\n", v)
    n = sum(1 for p in parts if p.strip())
    if k["nth_paragraph"] > n:
        return False
    p = parts[k["nth_paragraph"] - 1].strip()
    if not p:
        return False
    word = p.split()[0].strip().lstrip("'").lstrip('"')
    got = ""
    for ch in word:
        if ch in ".,?!'\"":
            break
        got += ch.lower()
    return n == k["num_paragraphs"] and got == k["first_word"].lower()


def placeholders(v, k):
    return len(re.findall(r"\[.*?\]", v)) >= k["num_placeholders"]


def postscript(v, k):
    m = k["postscript_marker"].strip()
    pattern = {"P.P.S": r"\s*p\.\s?p\.\s?s.*$", "P.S.": r"\s*p\.\s?s\..*$"}.get(m, r"\s*" + re.escape(m.lower()) + r".*$")
    return bool(re.findall(pattern, v.lower(), flags=re.M))


def bullets(v, k):
    n = len(re.findall(r"^\s*\*[^\*].*$", v, flags=re.M)) + len(re.findall(r"^\s*-.*$", v, flags=re.M))
    return n == k["num_bullets"]


def constrained(v, k):
    return any(o in v.strip() for o in ("My answer is yes.", "My answer is no.", "My answer is maybe."))


def highlights(v, k):
    n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", v) if h.strip("*").strip())
    n += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", v) if h.removeprefix("**").removesuffix("**").strip())
    return n >= k["num_highlights"]


def sections(v, k):
    pattern = r"\s?" + re.escape(k["section_spliter"].strip()) + r"\s?\d+\s?"
    return len(re.split(pattern, v)) - 1 >= k["num_sections"]


def json_format(v, k):
    v = v.strip()
    for p in ("```json", "```Json", "```JSON", "```"):
        v = v.removeprefix(p)
    v = v.removesuffix("```").strip()
    try:
        json.loads(v)
    except (ValueError, RecursionError):
        return False
    return True


def title(v, k):
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", v))


def two_responses(v, k):
    valid = []
    parts = v.split("******")
    for i, r in enumerate(parts):
        if not r.strip():
            if i not in (0, len(parts) - 1):
                return False
        else:
            valid.append(r)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def repeat(v, k):
    return v.strip().lower().startswith(k["prompt_to_repeat"].strip().lower())


def end(v, k):
    return v.strip().strip('"').lower().endswith(k["end_phrase"].strip().lower())


WORDS = ["ab", "Ab", "AB", "note", "NOTE", "é", "É", "x y"]
RELATIONS = ["less than", "at least"]


def word():
    return random.choice(WORDS)


def nth_kwargs():
    n = random.randint(1, 3)
    return {"num_paragraphs": n, "nth_paragraph": random.randint(1, n), "first_word": word()}


CHECKS = {
    "keywords:existence": (existence, lambda: {"keywords": [word(), word()]}),
    "keywords:frequency": (frequency, lambda: {"keyword": word(), "frequency": random.randint(0, 3),
                                               "relation": random.choice(RELATIONS)}),
    "keywords:forbidden_words": (forbidden, lambda: {"forbidden_words": [word()]}),
    "keywords:letter_frequency": (letters, lambda: {"letter": random.choice("aA*#é"), "let_frequency": random.randint(0, 4),
                                                    "let_relation": random.choice(RELATIONS)}),
    "length_constraints:number_paragraphs": (paragraphs, lambda: {"num_paragraphs": random.randint(0, 4)}),
    "length_constraints:number_words": (words, lambda: {"num_words": random.randint(0, 8),
                                                        "relation": random.choice(RELATIONS)}),
    "length_constraints:nth_paragraph_first_word": (first_word, nth_kwargs),
    "detectable_content:number_placeholders": (placeholders, lambda: {"num_placeholders": random.randint(0, 3)}),
    "detectable_content:postscript": (postscript, lambda: {"postscript_marker": random.choice(["P.S.", "P.P.S", "Note"])}),
    "detectable_format:number_bullet_lists": (bullets, lambda: {"num_bullets": random.randint(0, 4)}),
    "detectable_format:constrained_response": (constrained, lambda: {}),
    "detectable_format:number_highlighted_sections": (highlights, lambda: {"num_highlights": random.randint(0, 3)}),
    "detectable_format:multiple_sections": (sections, lambda: {"section_spliter": random.choice(["SECTION", "Section", "ab"]),
                                                               "num_sections": random.randint(0, 3)}),
    "detectable_format:json_format": (json_format, lambda: {}),
    "detectable_format:title": (title, lambda: {}),
    "combination:two_responses": (two_responses, lambda: {}),
    "combination:repeat_prompt": (repeat, lambda: {"prompt_to_repeat": word() + " " + word()}),
    "startend:end_checker": (end, lambda: {"end_phrase": word()}),
    "punctuation:no_comma": (lambda v, k: "," not in v, lambda: {}),
    "startend:quotation": (lambda v, k: len(v.strip()) > 1 and v.strip()[0] == '"' and v.strip()[-1] == '"', lambda: {}),
}
PIECES = ["*", "**", "***", "******", "-", "\n", "\n\n", " ", "  ", "\t", "ab", "Ab", "AB", "note", "P.S.", "p. s.",
          "P.P.S", "p.p. s", "[", "]", "<<", ">>", "<", ">", "SECTION", "Section", "1", "23", '"', "'", ",", ".", "?",
          "{", "}", "[1]", '{"a": 1}', "```", "```json", "My answer is yes.", "é", "É", "\u00a0", "\u3000", "\u2028",
          "x", "_", "9", "\u0669", ":", "NaN", "x y"]


def variants(r):
    lines = r.split("\n")
    a, b, c = "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()
    return [r, r.replace("*", ""), a, b, c, a.replace("*", ""), b.replace("*", ""), c.replace("*", "")]


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    random.seed(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    cases = []
    for _ in range(count):
        iid = random.choice(sorted(CHECKS))
        check, make = CHECKS[iid]
        k = make()
        r = "".join(random.choice(PIECES) for _ in range(random.randint(0, 14)))
        strict = bool(r.strip()) and check(r, k)
        loose = any(bool(v.strip()) and check(v, k) for v in variants(r))
        cases.append((iid, k, r, f"{int(strict)} {int(loose)}"))
    lines = "".join(json.dumps({"id": c[0], "kwargs": c[1], "response": c[2]}) + "\n" for c in cases)
    run = subprocess.run([binary, "--jsonl"], input=lines.encode(), capture_output=True)
    if run.returncode != 0:
        sys.exit(f"FAIL: {binary} --jsonl exited {run.returncode}: {run.stderr.decode()}")
    got = run.stdout.decode().split("\n")
    bad = [(c, g) for c, g in zip(cases, got) if c[3] != g]
    if len(got) < len(cases):
        bad.append((("(missing lines)", {}, "", str(len(cases))), str(len(got))))
    for c, g in bad[:20]:
        print(f"DIFF {c[0]} {json.dumps(c[1])} {json.dumps(c[2])}: Python {c[3]}, iopo {g}")
    print(f"{len(cases)} random responses, {len(bad)} answers differ from Python's re/json")
    sys.exit(1 if bad else 0)


main()
