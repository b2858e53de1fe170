"""`iopo tokenize` against Hugging Face's own `tokenizers` (the Rust library transformers uses), on the real Qwen3 and
Llama 3 tokenizer.json files the npm peer packages ship: every line of the corpus and the whole corpus must give
identical ids (special tokens on, as transformers encodes text with add_special_tokens=False). Run with the peer
venv's python (tools/peer-venv.sh). Usage: hf_tokenizers.py IOPO CORPUS TOKENIZER_JSON..."""
import json
import subprocess
import sys

import tokenizers

iopo, corpus_path, files = sys.argv[1], sys.argv[2], sys.argv[3:]
corpus = open(corpus_path, encoding="utf-8", newline="").read()   # the exact text: \r stays \r
lines = corpus.split("\n")
if lines and lines[-1] == "":
    lines.pop()
passes = fails = 0


def check(ok, what, detail=""):
    global passes, fails
    if ok:
        passes += 1
        return
    fails += 1
    print(f"FAIL {what}" + (f"\n    {detail}" if detail else ""))


def run(args, text):
    return subprocess.run([iopo, "tokenize", *args], input=text.encode("utf-8"), capture_output=True,
                          check=True).stdout.decode("utf-8")


for path in files:
    tok = tokenizers.Tokenizer.from_file(path)
    name = path.split("/")[-2]
    got = run(["--tokenizer", path, "--lines", "--json"], corpus).split("\n")
    if got and got[-1] == "":
        got.pop()
    check(len(got) == len(lines), f"{name}: {len(got)} output lines for {len(lines)} input lines")
    bad = 0
    for i, line in enumerate(lines):
        want = tok.encode(line, add_special_tokens=False).ids
        ok = i < len(got) and json.loads(got[i]) == want
        if not ok:
            bad += 1
            if bad <= 5:
                check(False, f"{name}: line {i + 1} {line!r}", f"iopo: {got[i] if i < len(got) else None}\n    "
                                                                f"tokenizers: {want}")
            else:
                check(False, f"{name}: line {i + 1}")
        else:
            check(True, "")
    whole = tok.encode(corpus, add_special_tokens=False).ids
    check(json.loads(run(["--tokenizer", path, "--json"], corpus)) == whole, f"{name}: whole corpus ({len(whole)} ids)")
    print(f"{name}: {len(lines)} lines and the whole corpus ({len(whole)} ids) against tokenizers "
          f"{tokenizers.__version__}")
print(f"hf tokenizers: {passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
