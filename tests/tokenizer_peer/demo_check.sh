#!/usr/bin/env bash
# The demo assets: tools/make_tokenizer.py rebuilds assets/demo/tokenizer.json byte for byte from the corpus, and its
# own encoder (the original GPT-2 merge loop, pre-tokenizer written by hand) gives the same ids as `iopo tokenize`
# on the demo corpus and on the multilingual peer corpus, whole and line by line. Then `iopo tokenize`'s flags,
# output formats and errors.
# Usage: demo_check.sh PATH/TO/iopo SOURCE_DIR
set -u
iopo=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
passes=0
check() { # check NAME FILE_A FILE_B
  if cmp -s "$2" "$3"; then
    passes=$((passes + 1))
  else
    echo "FAIL: $1"
    diff <(tr ' ' '\n' <"$2") <(tr ' ' '\n' <"$3") | head -10 | sed 's/^/    /'
    fails=$((fails + 1))
  fi
}

tok=$src/assets/demo/tokenizer.json
py=$src/tools/make_tokenizer.py
if ! python3 "$py" --corpus "$src/assets/demo/corpus.txt" --out "$tmp/tokenizer.json" >/dev/null; then
  echo "FAIL: tools/make_tokenizer.py did not run"
  exit 1
fi
check "assets/demo/tokenizer.json is what tools/make_tokenizer.py makes of the corpus" "$tok" "$tmp/tokenizer.json"

for corpus in "$src/assets/demo/corpus.txt" "$src/tests/tokenizer_peer/corpus.txt"; do
  for special in "" --no-special; do
    name="$(basename "$(dirname "$corpus")")/$(basename "$corpus") ${special:-special on}"
    python3 "$py" encode --tokenizer "$tok" $special <"$corpus" >"$tmp/want" || echo "python failed" >"$tmp/want"
    "$iopo" tokenize --tokenizer "$tok" $special <"$corpus" >"$tmp/got" 2>&1
    check "$name: iopo vs tools/make_tokenizer.py" "$tmp/want" "$tmp/got"
  done
  # Line by line: each line alone, without its newline.
  python3 "$py" encode --tokenizer "$tok" --lines <"$corpus" >"$tmp/want" || echo "python encoder failed" >"$tmp/want"
  "$iopo" tokenize --tokenizer "$tok" --lines <"$corpus" >"$tmp/got" 2>&1
  check "$(basename "$corpus") line by line" "$tmp/want" "$tmp/got"
done
# expect CODE PATTERN INPUT -- command...: exit code, and output (stdout + stderr) matching PATTERN.
expect() {
  local code=$1 pattern=$2 input=$3
  shift 4
  printf '%s' "$input" | "$@" >"$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$pattern" "$tmp/out"; then
    echo "FAIL: $* <<< '$input' -> exit $rc (want $code), output must match /$pattern/:"
    head -5 "$tmp/out" | sed 's/^/    /'
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}
t=(tokenize --tokenizer "$tok")
expect 0 "usage: iopo tokenize" "" -- "$iopo" tokenize --help
expect 0 "tokenize +text to token ids" "" -- "$iopo" --help
expect 0 "^72 101 286 111 44 263 289 345 33$" "Hello, world!" -- "$iopo" "${t[@]}"
expect 0 "^\\[72,101,286,111,44,263,289,345,33\\]$" "Hello, world!" -- "$iopo" "${t[@]}" --json
expect 0 "^\\[\\]$" "" -- "$iopo" "${t[@]}" --json
expect 0 "^Hello, world!$" "72 101 286 111 44 263 289 345 33" -- "$iopo" "${t[@]}" --decode
expect 0 "^Hello, world!$" " [72, 101,286 ,111,44,263,289,345,33]  " -- "$iopo" "${t[@]}" --decode
expect 0 "^H<\\|endoftext\\|>e$" "72 511
101" -- "$iopo" "${t[@]}" --decode
expect 0 "^72 511 101$" "H<|endoftext|>e" -- "$iopo" "${t[@]}"
expect 0 "^72 60 124 101 262 111 102 359 120 116 124 62 101$" "H<|endoftext|>e" -- "$iopo" "${t[@]}" --no-special
printf 'ab\n\n  c \n' | "$iopo" "${t[@]}" --lines >"$tmp/got" 2>&1
printf '97 98\n\n32 269 32\n' >"$tmp/want"
check "--lines: one output line per input line, empty ones too" "$tmp/want" "$tmp/got"
printf '97 98\n\n[32,269,32]\n' | "$iopo" "${t[@]}" --decode --lines >"$tmp/got" 2>&1
printf 'ab\n\n  c \n' >"$tmp/want"
check "--decode --lines" "$tmp/want" "$tmp/got"
expect 2 "--tokenizer PATH is required" "" -- "$iopo" tokenize
expect 2 "unknown argument '--bogus'" "" -- "$iopo" "${t[@]}" --bogus
expect 2 "--tokenizer needs a value" "" -- "$iopo" tokenize --tokenizer
expect 2 "--json is for encoding" "" -- "$iopo" "${t[@]}" --decode --json
expect 1 "^iopo tokenize: --tokenizer $tmp/nope.json: No such file" "x" -- "$iopo" tokenize --tokenizer "$tmp/nope.json"
printf '{"model": {"vocab": {}}' >"$tmp/broken.json"
expect 1 "^iopo tokenize: $tmp/broken.json: not valid JSON" "x" -- "$iopo" tokenize --tokenizer "$tmp/broken.json"
expect 1 "stdin: line 1: 'x' is not a token id" "1 x 2" -- "$iopo" "${t[@]}" --decode
expect 1 "stdin: line 2: '-5' is not a token id" "1
-5" -- "$iopo" "${t[@]}" --decode --lines
expect 1 "without its closing" "[1, 2" -- "$iopo" "${t[@]}" --decode
expect 1 "id 512 \\(position 1\\) is not in the vocabulary" "1 512" -- "$iopo" "${t[@]}" --decode
if [ "$(wc -l <"$tmp/out")" -eq 1 ]; then
  passes=$((passes + 1))
else
  echo "FAIL: an error is one line"
  fails=$((fails + 1))
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
