#!/usr/bin/env bash
# Bad input of every kind a user hands iopo, each checked for its exact one-line message and exit status:
#  - run configs: JSON syntax errors located by line and column, unknown keys and flags with the nearest key or the
#    key an alias from TRL / transformers / LLaMA-Factory means, each out-of-range value on its own with the accepted
#    range, values that make no sense together, --help showing the ranges;
#  - --tokenizer naming nothing, a model directory without tokenizer.json;
#  - a model's config.json with absurd, non-integer, overflowing or missing numbers;
#  - pre-tokenized ids outside the vocabulary, negative, fractional, overflowing an int, or not numbers;
#  - a checkpoint's trainer_state.json with a number beyond int;
#  - score: records named by line (JSONL) or index (JSON array), and cut exactly as train cuts them.
# Everything runs on --device cpu with a 1-layer model of width 8. Usage: test_inputs.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
. "$(dirname "$0")/checks.sh"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

tok=$src/assets/demo/tokenizer.json
"$iopo" init --arch gpt2 --layers 1 --heads 2 --dim 8 --ctx 16 --tokenizer "$tok" --out m >/dev/null 2>&1 ||
  fail "init of the tiny model"
printf '{"input_ids": [1, 2, 3]}\n' >ok.jsonl
base=(--model m --data ok.jsonl --out run --device cpu)

# ---- run config files: syntax errors by line and column ----
printf '{\n  "lr": 1,\n  "steps": 2,\n}\n' >trail.json
expect 1 "iopo train: trail.json:3:13: invalid JSON: trailing comma before '}'" -- "$iopo" train --config trail.json
printf '{\n  "lr: 1,\n  "steps": 2\n}\n' >quote.json
expect 1 "iopo train: quote.json:2:3: invalid JSON: a string is not closed on its line (missing '\"'?)" -- \
  "$iopo" train --config quote.json
printf '{\n  "lr": 1,\n  "steps": 2\n' >open.json
expect 1 "iopo train: open.json:3:13: invalid JSON: unexpected end of file: the object opened at line 1, column 1 is not closed" -- \
  "$iopo" train --config open.json
printf '{"lr": 1\n "steps": 2}\n' >comma.json
expect 1 "iopo train: comma.json:2:2: invalid JSON: unexpected '\"steps\": 2}'" -- "$iopo" train --config comma.json
printf '{"lr": 1} x\n' >after.json
expect 1 "iopo train: after.json:1:11: invalid JSON: text after the end of the JSON value" -- \
  "$iopo" train --config after.json
: >empty.json
expect 1 "iopo train: empty.json:1:1: invalid JSON: the file is empty" -- "$iopo" train --config empty.json
echo '[1, 2]' >array.json
expect 1 'iopo train: array.json: not a JSON object (a run config is {"key": value, ...})' -- \
  "$iopo" train --config array.json

# ---- unknown keys and flags: the nearest key, or what another trainer's key is called here ----
key() { echo "{\"$1\": 1}" >key.json; "$iopo" train --config key.json; }
expect 1 'iopo train: key.json: unknown key "learning_rate"; did you mean "lr"?' -- key learning_rate
expect 1 'iopo train: key.json: unknown key "per_device_train_batch_size"; did you mean "batch_size"?' -- \
  key per_device_train_batch_size
expect 1 'iopo train: key.json: unknown key "gradient_accumulation_steps"; did you mean "grad_accum"?' -- \
  key gradient_accumulation_steps
expect 1 'iopo train: key.json: unknown key "pref_beta"; did you mean "beta"?' -- key pref_beta
expect 1 'iopo train: key.json: unknown key "cutoff_len"; did you mean "seq_len"?' -- key cutoff_len
expect 1 'iopo train: key.json: unknown key "num_train_epochs"; did you mean "epochs"?' -- key num_train_epochs
expect 1 'iopo train: key.json: unknown key "stpes"; did you mean "steps"?' -- key stpes
expect 1 'iopo train: key.json: unknown key "warmup_step"; did you mean "warmup_steps"?' -- key warmup_step
expect 1 'iopo train: key.json: unknown key "frobnicate" (iopo train --help lists the keys)' -- key frobnicate
expect 2 "iopo train: unknown flag '--learning-rate'; did you mean --lr?" -- "$iopo" train --learning-rate 1
expect 2 "iopo train: unknown flag '--warmup'; did you mean --warmup-steps?" -- "$iopo" train --warmup 3
expect 2 "iopo train: unknown flag '--lable-smoothing'; did you mean --label-smoothing?" -- \
  "$iopo" train --lable-smoothing 0.1
expect 2 "iopo train: unknown flag '--frobnicate' (iopo train --help lists the flags)" -- "$iopo" train --frobnicate 1

# ---- each out-of-range value on its own, with the accepted range ----
expect 2 "iopo train: --beta: 0 is out of range (accepted: > 0)" -- "$iopo" train --beta 0
expect 2 "iopo train: --label-smoothing: 0.5 is out of range (accepted: [0, 0.5))" -- "$iopo" train --label-smoothing 0.5
expect 2 "iopo train: --pref-ftx: -1 is out of range (accepted: >= 0)" -- "$iopo" train --pref-ftx -1
expect 2 "iopo train: --seq-len: 0 is out of range (accepted: [1, 16777216])" -- "$iopo" train --seq-len 0
expect 2 "iopo train: --beta2: 1 is out of range (accepted: [0, 1))" -- "$iopo" train --beta2 1
expect 2 "iopo train: --log-every: 0 is out of range (accepted: >= 1)" -- "$iopo" train --log-every 0
expect 2 "iopo train: --steps: 1e12 is too large for an integer (at most 2147483647)" -- "$iopo" train --steps 1e12
expect 2 "iopo train: --batch-size: 1.5 is not an integer" -- "$iopo" train --batch-size 1.5
expect 2 "iopo train: --lr: nan is not a finite number" -- "$iopo" train --lr nan
expect 2 "iopo train: --lr: 'fast' is not a number" -- "$iopo" train --lr fast
echo '{"label_smoothing": 0.7}' >ls.json
expect 1 'iopo train: ls.json: "label_smoothing" = 0.7 is out of range (accepted: [0, 0.5))' -- \
  "$iopo" train --config ls.json
echo '{"steps": 1e400}' >inf.json
expect 1 'iopo train: inf.json: "steps" = inf is not a finite number' -- "$iopo" train --config inf.json
echo '{"seed": -3}' >seed.json
expect 1 'iopo train: seed.json: "seed" = -3 is out of range (accepted: >= 0)' -- "$iopo" train --config seed.json
echo '{"keep_checkpoints": 3000000000}' >big.json
expect 1 'iopo train: big.json: "keep_checkpoints" = 3000000000 is too large for an integer (at most 2147483647)' -- \
  "$iopo" train --config big.json

# ---- values that make no sense together ----
expect 2 "iopo train: warmup_steps 200 is more than steps 100: the warmup would never reach lr" -- \
  "$iopo" train "${base[@]}" --steps 100 --warmup-steps 200
expect 2 "iopo train: stop_at 12 is after the last step (steps 10): to train longer, raise steps" -- \
  "$iopo" train "${base[@]}" --steps 10 --stop-at 12
expect 2 "iopo train: loss_type ipo is a DPO loss: objective iopo always uses sigmoid" -- \
  "$iopo" train "${base[@]}" --objective iopo --loss-type ipo
expect 2 "iopo train: label_smoothing 0.1 has no effect with loss_type hinge (only sigmoid and robust use it)" -- \
  "$iopo" train "${base[@]}" --objective dpo --loss-type hinge --label-smoothing 0.1
expect 2 "iopo train: live_ref needs a reference model: it applies to objective dpo or iopo, not sft" -- \
  "$iopo" train "${base[@]}" --live-ref 1
expect 2 "iopo train: eval_every 5 needs eval_data (held-out data to evaluate on)" -- \
  "$iopo" train "${base[@]}" --eval-every 5

# ---- --help shows every range ----
"$iopo" train --help >help.txt 2>&1
check "grep -qF -- '--label-smoothing    DPO/IOPO label smoothing (cDPO epsilon) (default 0; [0, 0.5))' help.txt" \
  "--help shows label_smoothing's range"
check "grep -qF -- '--beta               DPO/IOPO beta (default 0.1; > 0)' help.txt" "--help shows beta's range"
check "grep -qF -- '--steps              optimizer steps to run in total (default 100; >= 1)' help.txt" \
  "--help shows steps' range"

# ---- tokenizers ----
expect 1 "iopo train: --tokenizer nope.json: No such file or directory" -- \
  "$iopo" train "${base[@]}" --tokenizer nope.json
expect 1 "iopo tokenize: --tokenizer nope.json: No such file or directory" -- \
  "$iopo" tokenize --tokenizer nope.json </dev/null
expect 1 "iopo init: --tokenizer nope.json: No such file or directory" -- \
  "$iopo" init --arch gpt2 --layers 1 --heads 2 --dim 8 --ctx 16 --tokenizer nope.json --out m2
cp -r m notok && rm notok/tokenizer.json
echo 'Some text to train on.' >text.txt
notok_msg="notok has no tokenizer.json: give one with --tokenizer FILE (a tokenizer.json, or GPT-2's encoder.json with vocab.bpe beside it), or copy a tokenizer.json into notok"
expect 1 "iopo train: text.txt: text data needs a tokenizer, and $notok_msg" -- \
  "$iopo" train --model notok --data text.txt --out run --device cpu
expect 1 "iopo score: $src/assets/data/sft_messages.jsonl: text data (sft messages) needs a tokenizer, and $notok_msg" -- \
  "$iopo" score --model notok --data "$src/assets/data/sft_messages.jsonl" --device cpu
expect 1 "iopo generate: notok has no tokenizer.json (generation reads the prompt with it): copy a tokenizer.json into notok" -- \
  "$iopo" generate --model notok --prompt Hi --device cpu
# Pre-tokenized data needs no tokenizer, and --tokenizer gives one to a directory without it.
expect 0 "" -- "$iopo" score --model notok --data ok.jsonl --device cpu
expect 0 "" -- "$iopo" score --model notok --tokenizer "$tok" --data text.txt --device cpu

# ---- a model's config.json ----
# cfg KEY VALUE: a copy of the tiny model with one config.json value replaced (or, with VALUE "-", removed).
cfg() {
  rm -rf bad && cp -r m bad
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
c = json.load(open("bad/config.json"))
if sys.argv[2] == "-": del c[sys.argv[1]]
else: c[sys.argv[1]] = json.loads(sys.argv[2]) if sys.argv[2][0] != "@" else sys.argv[2][1:]
text = json.dumps(c).replace("Infinity", "1e999")
open("bad/config.json", "w").write(text)
PY
  "$iopo" score --model bad --data ok.jsonl --device cpu
}
expect 1 'iopo score: bad/config.json: "n_embd" = 0 is out of range [1, 65536]' -- cfg n_embd 0
expect 1 'iopo score: bad/config.json: "n_embd" = -8 is out of range [1, 65536]' -- cfg n_embd -8
expect 1 'iopo score: bad/config.json: "n_embd" = 1000000000000 is out of range [1, 65536]' -- cfg n_embd 1e12
expect 1 'iopo score: bad/config.json: "n_layer" = 1.5 is not an integer' -- cfg n_layer 1.5
expect 1 'iopo score: bad/config.json: "n_head" must be a number' -- cfg n_head @2
expect 1 'iopo score: bad/config.json: model config: n_embd 8 is not a multiple of n_head 3' -- cfg n_head 3
expect 1 'iopo score: bad/config.json: "vocab_size" = 3000000000 is out of range [1, 16777216]' -- cfg vocab_size 3e9
expect 1 'iopo score: bad/config.json: "n_positions" = 1000000000 is out of range [1, 1048576]' -- cfg n_positions 1e9
expect 1 'iopo score: bad/config.json: "layer_norm_epsilon" = inf is out of range (0, 1]' -- \
  cfg layer_norm_epsilon Infinity
expect 1 'iopo score: bad/config.json: "layer_norm_epsilon" = -1e-05 is out of range (0, 1]' -- \
  cfg layer_norm_epsilon -1e-5
expect 1 'iopo score: bad/config.json: missing "n_layer"' -- cfg n_layer -
expect 1 'iopo score: bad/config.json: "n_inner" = 64 is not supported (only 4 * n_embd = 32)' -- cfg n_inner 64
expect 0 '' -- cfg n_inner null
rm -rf bad && cp -r m bad && printf '{"model_type": "gpt2",\n "n_layer": 1,,\n}' >bad/config.json
expect 1 "iopo score: bad/config.json:2:15: invalid JSON: two commas in a row" -- \
  "$iopo" score --model bad --data ok.jsonl --device cpu

# ---- pre-tokenized ids that are no ids of this model (vocabulary 512) ----
ids() { printf '{"input_ids": [1, 2]}\n%s\n' "$1" >ids.jsonl; "$iopo" train "${base[@]}" --data ids.jsonl --steps 1; }
expect 1 'iopo train: ids.jsonl:2: "input_ids"[1] = 512 is outside the model'"'"'s vocabulary (ids 0 to 511)' -- \
  ids '{"input_ids": [1, 512]}'
expect 1 'iopo train: ids.jsonl:2: "input_ids"[0] = -1 is negative: token ids are 0 to 511' -- ids '{"input_ids": [-1, 2]}'
expect 1 'iopo train: ids.jsonl:2: "input_ids"[1] = 2.5 is not an integer token id' -- ids '{"input_ids": [1, 2.5]}'
expect 1 'iopo train: ids.jsonl:2: "input_ids"[1] = 4294967297 is outside the model'"'"'s vocabulary (ids 0 to 511)' -- \
  ids '{"input_ids": [1, 4294967297]}'
expect 1 'iopo train: ids.jsonl:2: "input_ids"[1] = 1e+300 is outside the model'"'"'s vocabulary (ids 0 to 511)' -- \
  ids '{"input_ids": [1, 1e300]}'
expect 1 'iopo train: ids.jsonl:2: "input_ids"[0] is a string, not a token id' -- ids '{"input_ids": ["1", 2]}'
printf '{"prompt_ids": [1], "response_ids": [2]}\n{"prompt_ids": [1], "response_ids": [-5]}\n' >pr.jsonl
expect 1 'iopo train: pr.jsonl:2: "response_ids"[0] = -5 is negative: token ids are 0 to 511' -- \
  "$iopo" train "${base[@]}" --data pr.jsonl --steps 1

# ---- a checkpoint's trainer_state.json with a number no int holds ----
"$iopo" train "${base[@]}" --steps 1 --out ck >/dev/null 2>&1 || fail "1-step run for a checkpoint"
/usr/bin/python3 -c 'import json; p = "ck/checkpoint-1/trainer_state.json"; s = json.load(open(p)); s["step"] = 1e30
json.dump(s, open(p, "w"))'
expect 1 'iopo train: ck/checkpoint-1/trainer_state.json: "step": 1e+30 is out of range [0, 2147483647]' -- \
  "$iopo" train "${base[@]}" --steps 2 --out ck --resume ck

# ---- score: records named by their place in the file ----
printf '{"input_ids": [1, 2, 3]}\n\n{"input_ids": [4, 5]}\n' >lines.jsonl
"$iopo" score --model m --data lines.jsonl --device cpu >lines.out 2>lines.err
check "[ \"\$(sed 's/.*\"line\": \\([0-9]*\\)}\$/\\1/' lines.out | tr '\n' ' ')\" = '1 3 ' ]" \
  "score names JSONL records by line: $(tr '\n' ' ' <lines.out)"
"$iopo" score --model m --data "$src/assets/data/sft_sharegpt.json" --template plain --device cpu >array.out 2>/dev/null
check "[ \"\$(sed 's/.*\"record\": \\([0-9]*\\)}\$/\\1/' array.out | tr '\n' ' ')\" = '1 2 3 ' ]" \
  "score names JSON array records by index: $(tr '\n' ' ' <array.out)"

# ---- score cuts a long record exactly as train does ----
# One chat record far longer than seq_len 8: its score loss equals the loss train logs at step 1 (one record per
# batch, before any update), and differs from its loss cut at the model's n_positions (16).
long='{"messages": [{"role": "user", "content": "The quick brown fox jumps over the lazy dog again and again."}, {"role": "assistant", "content": "Yes."}]}'
echo "$long" >long.jsonl
"$iopo" score --model m --data long.jsonl --template plain --seq-len 8 --device cpu >cut.out 2>cut.err ||
  fail "score --seq-len 8: $(cat cut.err)"
"$iopo" score --model m --data long.jsonl --template plain --device cpu >whole.out 2>/dev/null || fail "score uncut"
"$iopo" train --model m --data long.jsonl --template-name plain --seq-len 8 --steps 1 --batch-size 1 --device cpu \
  --out cutrun >cutrun.log 2>&1 || fail "train --seq-len 8: $(tail -2 cutrun.log)"
s_cut=$(sed 's/{"loss": \([^,]*\),.*/\1/' cut.out) s_whole=$(sed 's/{"loss": \([^,]*\),.*/\1/' whole.out)
t_cut=$(sed 's/.*"loss": \([^,}]*\).*/\1/' cutrun/metrics.jsonl)
check "grep -q 'data: 1 records longer than 9 tokens were cut' cut.err" "score reports the cut: $(cat cut.err)"
check "awk 'BEGIN{d=$s_cut-$t_cut; exit !(d*d <= 1e-10*$t_cut*$t_cut)}'" \
  "score's loss of a cut record equals train's step-1 loss ($s_cut vs $t_cut)"
check "awk 'BEGIN{d=$s_cut-$s_whole; exit !(d*d > 1e-8)}'" "the cut to 8 changes the loss ($s_cut vs $s_whole at 16)"

echo "inputs: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
