#!/usr/bin/env bash
# `iopo data synth` from the command line: help and one-line errors; two runs with one seed give byte-identical files
# and another seed does not; no held-out id (as the manifest lists them) appears in a training file; the eval files
# are IFEval's input format; `iopo train` reads sft.jsonl (SFT), dpo.jsonl and dpo4.jsonl (DPO) and iopo.jsonl
# (IOPO) as written, two steps each on a tiny model with the demo tokenizer (byte-level BPE: any text encodes).
# Usage: test_synth.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
. "$(dirname "$0")/checks.sh"

"$iopo" data synth --help >help.txt 2>&1
check "grep -q 'usage: iopo data synth --out DIR' help.txt && grep -q 'held-out' help.txt" "data synth --help"
"$iopo" data --help >help.txt 2>&1
check "grep -q 'synth' help.txt" "data --help lists synth"
"$iopo" --help >help.txt 2>&1
check "grep -q '^  data ' help.txt" "iopo --help lists data"
check "[ \$('$iopo' data synth --list | wc -l) -ge 15 ] && '$iopo' data synth --list | grep -qx 'punctuation:no_comma'" \
  "--list prints the library's ids"
expect 2 "iopo data synth: --out DIR is required (iopo data synth --help)" -- "$iopo" data synth
expect 2 "iopo data synth: unknown argument '--bogus' (iopo data synth --help)" -- "$iopo" data synth --out x --bogus
expect 2 "iopo data: unknown subcommand 'frob' (iopo data --help)" -- "$iopo" data frob
expect 2 "iopo: --train '0': expected an integer in [1, 1000000]" -- "$iopo" data synth --out x --train 0
expect 2 "iopo: --max-constraints '9': expected an integer in [2, 6]" -- "$iopo" data synth --out x --max-constraints 9
"$iopo" data synth --out x --held-out bogus:id >out.txt 2>err.txt
rc=$?
want="^iopo data synth: --held-out: 'bogus:id' is not an IFEval instruction id"
check "[ $rc -eq 2 ] && [ \$(wc -l <err.txt) -eq 1 ] && grep -q \"$want\" err.txt" \
  "unknown held-out id: one line, exit 2 (got $rc: $(head -c 200 err.txt))"
check "[ ! -e x ]" "a bad option writes nothing"

gen() {
  "$iopo" data synth --train 12 --eval 6 --max-constraints 3 "$@" >/dev/null 2>gen.err || fail "synth $*: $(cat gen.err)"
}
gen --out s1 --seed 5
gen --out s2 --seed 5
gen --out s3 --seed 6
files="sft.jsonl dpo.jsonl iopo.jsonl dpo4.jsonl eval.jsonl eval_ifs_in_domain.jsonl eval_ifs_held_out.jsonl
  eval_ifm_in_domain.jsonl eval_ifm_held_out.jsonl eval_responses.jsonl corpus.txt manifest.json"
for f in $files; do
  check "cmp -s s1/$f s2/$f" "$f: byte-identical for one seed"
done
check "! cmp -s s1/sft.jsonl s3/sft.jsonl && ! cmp -s s1/eval.jsonl s3/eval.jsonl" "another seed gives other data"
check "[ \$(wc -l <s1/sft.jsonl) -eq 24 ] && [ \$(wc -l <s1/iopo.jsonl) -eq 12 ] && [ \$(wc -l <s1/dpo4.jsonl) -eq 24 ]" \
  "record counts"
check "[ \$(wc -l <s1/eval.jsonl) -eq 24 ] && [ \$(wc -l <s1/eval_ifm_held_out.jsonl) -eq 6 ]" "eval record counts"

# Held-out ids, read from the manifest, in no training file (the default split; then one given on the command line).
held() { /usr/bin/python3 -c "import json,sys; print('\n'.join(json.load(open(sys.argv[1]))['held_out']))" "$1"; }
check "[ \$(held s1/manifest.json | wc -l) -ge 1 ]" "the manifest lists held-out ids"
for id in $(held s1/manifest.json); do
  check "! grep -q '\"$id\"' s1/sft.jsonl s1/dpo.jsonl s1/iopo.jsonl s1/dpo4.jsonl" "held-out $id absent from training files"
  check "grep -q '\"$id\"' s1/eval_ifs_held_out.jsonl s1/eval_ifm_held_out.jsonl" "held-out $id in the held-out eval files"
done
gen --out s4 --seed 5 --held-out keywords:existence,punctuation:no_comma
check "[ \"\$(held s4/manifest.json | tr '\n' ,)\" = 'keywords:existence,punctuation:no_comma,' ]" "--held-out as given"
check "! grep -q 'keywords:existence\|punctuation:no_comma' s4/sft.jsonl s4/dpo.jsonl s4/iopo.jsonl s4/dpo4.jsonl" \
  "--held-out ids absent from training files"

# IFEval's input format: key, prompt, instruction_id_list, kwargs (one dict per id), plus the split fields.
check "/usr/bin/python3 -c \"
import json
for line in open('s1/eval.jsonl'):
    r = json.loads(line)
    assert isinstance(r['key'], int) and isinstance(r['prompt'], str) and r['prompt']
    assert len(r['instruction_id_list']) == len(r['kwargs']) == r['num_constraints']
    assert all(isinstance(k, dict) for k in r['kwargs'])
    assert r['split'] in ('in_domain', 'held_out') and r['set'] in ('IF-S', 'IF-M')
\"" "eval.jsonl is IFEval's input format with split fields"

# iopo eval scores the reference answers: every one follows its instructions, strict, in every split.
"$iopo" eval --benchmark iopo-synth --data s1/eval.jsonl --responses s1/eval_responses.jsonl --out eval_ref.json \
  >eval_ref.txt 2>&1 || fail "iopo eval on the reference answers: $(tail -2 eval_ref.txt)"
check "/usr/bin/python3 -c \"
import json
r = json.load(open('eval_ref.json'))
assert r['overall']['prompt_level_strict'] == 1 and len(r['splits']) == 2
assert all(r['splits'][s][k]['prompt_level_strict'] == 1 for s in r['splits'] for k in ('if_s', 'if_m'))
\"" "iopo eval: the reference answers score 100% strict in both splits"

# iopo train reads every training file as written.
"$iopo" init --arch gpt2 --layers 1 --heads 2 --dim 32 --ctx 512 --tokenizer "$src/assets/demo/tokenizer.json" \
  --seed 1 --out init >/dev/null 2>&1 || fail "init"
for run in sft:sft:"sft messages" dpo:dpo:"dpo trl" dpo:dpo4:"dpo trl" iopo:iopo:"iopo sharegpt"; do
  obj=${run%%:*} rest=${run#*:}
  file=${rest%%:*} fmt=${rest#*:}
  "$iopo" train --model init --template-name plain --seq-len 512 --objective "$obj" --data "s1/$file.jsonl" \
    --steps 2 --batch-size 2 --log-every 1 --device cpu --out "run_$file" >"train_$file.log" 2>&1 ||
    fail "train --objective $obj on $file.jsonl: $(tail -3 "train_$file.log")"
  check "grep -q \"^data: s1/$file.jsonl: $fmt (jsonl)\" train_$file.log" "$file.jsonl read as $fmt"
  check "[ \$(wc -l <run_$file/metrics.jsonl 2>/dev/null || echo 0) -eq 2 ]" "two $obj steps on $file.jsonl"
done

echo "synth_cli: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
