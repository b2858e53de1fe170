#!/usr/bin/env bash
# End-to-end training checks with the iopo binary on a tiny model:
#  - training lowers the loss; metrics.jsonl has one record per logged step, valid JSON (null for a NaN eval loss);
#  - 2N steps in one run and N steps + --resume + N steps give identical losses and identical final weights;
#  - flags override the JSON config; bad configs and data get one-line errors naming file and line;
#  - a model with a non-finite weight stops at step 1 naming the step and the first bad gradient, writing nothing;
#  - iopo score writes one line per record whose log-probs, and whose --grads, match the PyTorch reference;
#  - micro-batches pad to their longest sequence: the same records give the same loss whatever seq_len allows, and
#    group_by_length pads less; epochs and warmup_ratio become steps and warmup_steps; both warmups are refused;
#  - compute_dtype bf16 trains close to fp32, resumes bit-identically, saves fp32 masters; with LoRA it is refused.
# Usage: test_train.sh IOPO SOURCE_DIR WORK_DIR [DEVICE]
set -u
iopo=$1 src=$2 work=$3 device=${4:-}
dev=()
[ -n "$device" ] && dev=(--device "$device")
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"

tok=$src/assets/demo/tokenizer.json
"$iopo" init --arch gpt2 --layers 2 --heads 2 --dim 32 --ctx 32 --tokenizer "$tok" --seed 5 --out "$work/init" \
  >"$work/init.log" 2>&1 || { fail "init: $(cat "$work/init.log")"; }
check "[ -f '$work/init/config.json' ] && [ -f '$work/init/model.safetensors' ] && [ -f '$work/init/tokenizer.json' ]" \
  "init wrote the model directory"

# A small text corpus and eval file cut from the demo corpus.
head -c 6000 "$src/assets/demo/corpus.txt" >"$work/train.txt"
tail -c 2000 "$src/assets/demo/corpus.txt" >"$work/eval.txt"
cat >"$work/run.json" <<JSON
{"model": "$work/init", "data": "$work/train.txt", "eval_data": "$work/eval.txt", "steps": 999,
 "batch_size": 4, "seq_len": 32, "lr": 0.005, "warmup_steps": 2, "log_every": 1, "save_every": 3, "seed": 3}
JSON

train() { "$iopo" train --config "$work/run.json" "${dev[@]}" "$@"; }
train --steps 6 --out "$work/full" >"$work/full.log" 2>&1 || fail "full run: $(tail -3 "$work/full.log")"
check "[ \$(wc -l <'$work/full/metrics.jsonl') -eq 6 ]" "metrics.jsonl has 6 records (flag --steps 6 overrides 999)"
first=$(head -1 "$work/full/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
last=$(tail -1 "$work/full/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
check "awk 'BEGIN{exit !($last < $first)}'" "loss fell ($first -> $last)"
check "grep -q '\"eval_loss\"' '$work/full/metrics.jsonl'" "eval loss logged"
check "python3 -c 'import sys, xml.dom.minidom as x; d = x.parse(sys.argv[1]); sys.exit(not [c for c in d.getElementsByTagName(\"circle\") if c.getAttribute(\"class\") == \"eval\"])' '$work/full/metrics.svg'" \
  "the run drew its metrics into metrics.svg (well-formed SVG with the eval loss marked)"
check "grep -q 'step 6/6  loss' '$work/full.log'" "progress line"
# An eval set without a loss token has no mean loss (NaN): metrics.jsonl says null, every line stays JSON (printf's
# bare nan is not, and --resume would drop such a line as cut short).
printf '%s\n' '{"input_ids": [1, 2, 3, 4], "labels_mask": [0, 0, 0, 0]}' >"$work/nolabels.jsonl"
train --steps 1 --warmup-steps 0 --eval-data "$work/nolabels.jsonl" --out "$work/nolab" >"$work/nolab.log" 2>&1 ||
  fail "run with an eval set without loss tokens: $(tail -3 "$work/nolab.log")"
check "python3 -c 'import json, sys
def bad(c): raise ValueError(c)
r = [json.loads(l, parse_constant=bad) for l in open(sys.argv[1])]
sys.exit(not (len(r) == 1 and \"eval_loss\" in r[0] and r[0][\"eval_loss\"] is None))' '$work/nolab/metrics.jsonl'" \
  "a non-finite eval loss is logged as JSON null: $(cat "$work/nolab/metrics.jsonl" 2>/dev/null)"
check "grep -q 'memory: parameters' '$work/full.log'" "memory plan printed"
check "[ \"\$(cat '$work/full/latest')\" = checkpoint-6 ]" "latest names checkpoint-6"

train --steps 6 --stop-at 3 --out "$work/half" >"$work/half.log" 2>&1 || fail "first half: $(tail -3 "$work/half.log")"
train --steps 6 --out "$work/half" --resume "$work/half" >"$work/resume.log" 2>&1 ||
  fail "resume: $(tail -3 "$work/resume.log")"
check "grep -q 'resumed from .*checkpoint-3 at step 3' '$work/resume.log'" "resume message"
losses() { sed 's/"tokens_per_s": [^,]*, "ms_per_step": [^,]*, //' "$1"; }
check "[ \"\$(losses '$work/full/metrics.jsonl')\" = \"\$(losses '$work/half/metrics.jsonl')\" ]" \
  "resumed run logs the same losses, lr, grad norms and eval losses as the uninterrupted one"
check "cmp -s '$work/full/checkpoint-6/model.safetensors' '$work/half/checkpoint-6/model.safetensors'" \
  "resumed run ends with bit-identical weights"
check "cmp -s '$work/full/checkpoint-6/optimizer.safetensors' '$work/half/checkpoint-6/optimizer.safetensors'" \
  "resumed run ends with bit-identical optimizer state"

# compute_dtype bf16: forward and backward on bf16 copies of the matrices, fp32 master weights. The loss falls and
# stays near the fp32 run's: bf16's 8 significant bits move each weight by at most u = 2^-8 of itself, and the loss
# here by less than u of itself (test_compute_dtype holds every step to the first-order bound sum |g||w|u; measured
# here: 2e-6 of the loss at steps 1 and 6, so u is a loose end-to-end margin that still fails a run whose copies are
# stale or wrong); 3 steps + --resume + 3
# equal 6 in one run bit for bit (a resumed run makes its copies from the loaded masters); checkpoints hold the fp32
# masters (not bf16 values); LoRA and an unknown dtype are refused.
train --steps 6 --compute-dtype bf16 --out "$work/cbf" >"$work/cbf.log" 2>&1 || fail "compute bf16 run: $(tail -3 "$work/cbf.log")"
train --steps 6 --stop-at 3 --compute-dtype bf16 --out "$work/cbf_half" >/dev/null 2>&1 || fail "compute bf16 first half"
train --steps 6 --compute-dtype bf16 --out "$work/cbf_half" --resume "$work/cbf_half" >/dev/null 2>&1 ||
  fail "compute bf16 resume"
check "grep -q '^compute: bfloat16 copies of the weight matrices' '$work/cbf.log' && grep -q 'bfloat16 compute copies' '$work/cbf.log'" \
  "compute bf16: announced, and the memory line counts the copies"
check "[ \"\$(losses '$work/cbf/metrics.jsonl')\" = \"\$(losses '$work/cbf_half/metrics.jsonl')\" ] && cmp -s '$work/cbf/checkpoint-6/model.safetensors' '$work/cbf_half/checkpoint-6/model.safetensors'" \
  "compute bf16: 3 steps + resume + 3 give the 6-step run's losses and weights bit for bit"
c1=$(head -1 "$work/cbf/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
c6=$(tail -1 "$work/cbf/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
f6=$(tail -1 "$work/full/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
check "awk 'BEGIN{d1=$c1-$first; d6=$c6-$last; exit !($c6 < $c1 && d1 != 0 && d1*d1 < 2^-16*$first*$first && d6*d6 < 2^-16*$last*$last)}'" \
  "compute bf16: loss $c1 -> $c6 falls and stays within 2^-8 of fp32's $first -> $last (and differs from it)"
check "/usr/bin/python3 - '$work/cbf/checkpoint-6/model.safetensors' <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
v = h['h.0.mlp.c_fc.weight']
assert v['dtype'] == 'F32'
lo, hi = v['data_offsets']
words = struct.unpack('<%dI' % ((hi - lo) // 4), b[8 + n + lo:8 + n + hi])
sys.exit(not sum(w & 0xFFFF != 0 for w in words) > len(words) // 2)
PY" "compute bf16: the checkpoint holds fp32 master weights (most are not bf16 values)"
train --steps 2 --compute-dtype bf16 --finetuning-type lora --out "$work/cbf_lora" >"$work/bad.log" 2>&1
rc=$?
check "[ $rc -ne 0 ] && grep -q 'compute_dtype bf16 applies to full fine-tuning' '$work/bad.log'" \
  "compute_dtype with LoRA is refused: $(tail -1 "$work/bad.log")"
train --steps 2 --compute-dtype fp8 --out "$work/cbf_bad" >"$work/bad.log" 2>&1
check "[ \$? -ne 0 ] && grep -q \"compute_dtype 'fp8': expected float32, bfloat16 or float16\" '$work/bad.log'" \
  "unknown compute_dtype refused"

# Gradient accumulation: 2 micro-batches of 2 are one step over the same 4 sequences as 1 batch of 4 (the mean over all
# their loss tokens), equal up to rounding.
train --steps 2 --batch-size 2 --grad-accum 2 --out "$work/accum" >"$work/accum.log" 2>&1 || fail "accum run"
l4=$(head -1 "$work/full/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
l22=$(head -1 "$work/accum/metrics.jsonl" | sed 's/.*"loss": \([^,]*\),.*/\1/')
g4=$(head -1 "$work/full/metrics.jsonl" | sed 's/.*"grad_norm": \([^,]*\),.*/\1/')
g22=$(head -1 "$work/accum/metrics.jsonl" | sed 's/.*"grad_norm": \([^,]*\),.*/\1/')
check "awk 'BEGIN{d=$l4-$l22; e=$g4-$g22; exit !(d*d < 1e-10*$l4*$l4 && e*e < 1e-8*$g4*$g4)}'" \
  "grad_accum 2 x batch 2 matches batch 4 (loss $l4 vs $l22, grad norm $g4 vs $g22)"

# A run that cannot fit says so with the numbers before allocating.
if [ -z "$device" ]; then
  train --steps 2 --batch-size 200000 --out "$work/huge" >"$work/huge.log" 2>&1
  check "[ \$? -ne 0 ] && grep -q 'needs .* of device memory but .* has' '$work/huge.log'" "too-large run refused with numbers"
fi

# generate: greedy is deterministic and continues the prompt; sampling with a seed is reproducible.
gen() { "$iopo" generate --model "$work/full/checkpoint-6" --prompt "The sun" --max-tokens 12 "${dev[@]}" "$@"; }
g1=$(gen 2>&1) g2=$(gen 2>&1) s1=$(gen --temperature 1 --top-k 5 --seed 4 2>&1) s2=$(gen --temperature 1 --top-k 5 --seed 4 2>&1)
check "[ \"\$g1\" = \"\$g2\" ] && [ \"\${g1#The sun}\" != \"\$g1\" ] && [ \${#g1} -gt 8 ]" "greedy generation: $g1"
check "[ \"\$s1\" = \"\$s2\" ]" "seeded sampling is reproducible"

# A checkpoint in the older Hugging Face layout (transformer. prefix, attn.bias buffers, lm_head.weight) loads.
/usr/bin/python3 "$src/tools/reference/gpt2_reference.py" --init-model "$work/hf" --init-style hf --layers 1 --heads 2 \
  --dim 16 --vocab 512 --ctx 32 --seed 2 >/dev/null 2>&1
printf '{"prompt_ids": [1, 2], "response_ids": [3]}\n{"prompt_ids": [4], "response_ids": [5, 6]}\n' >"$work/hf.jsonl"
"$iopo" score --model "$work/hf" --data "$work/hf.jsonl" "${dev[@]}" >"$work/hf.log" 2>&1
rc=$?
check "[ $rc -eq 0 ] && [ \$(grep -c logps '$work/hf.log') -eq 2 ]" "older HF layout loads: $(head -1 "$work/hf.log")"

# Errors: one line naming the file and line (2 steps: the config's 2 warmup steps may not exceed steps).
printf '{"text": "fine"}\n{"text": 7}\n' >"$work/bad.jsonl"
train --steps 2 --data "$work/bad.jsonl" --out "$work/bad" >"$work/bad.log" 2>&1
check "[ \$? -ne 0 ] && grep -q 'bad.jsonl:2: \"text\" must be a string' '$work/bad.log'" "bad record names file:line"
printf '{"text": "fine"}\nnot json\n' >"$work/bad2.jsonl"
train --steps 2 --data "$work/bad2.jsonl" --out "$work/bad" >"$work/bad.log" 2>&1
check "grep -q 'bad2.jsonl:2: not a JSON object' '$work/bad.log'" "invalid JSON names file:line"
printf '{"input_ids": [1, 2, 99999]}\n' >"$work/bad3.jsonl"
train --steps 2 --data "$work/bad3.jsonl" --out "$work/bad" >"$work/bad.log" 2>&1
check "grep -q 'bad3.jsonl:1: \"input_ids\"\[2\] = 99999 is outside the model.s vocabulary (ids 0 to 511)' '$work/bad.log'" \
  "out-of-vocabulary id"
echo '{"steps": "ten"}' >"$work/badcfg.json"
"$iopo" train --config "$work/badcfg.json" >"$work/bad.log" 2>&1
check "grep -q 'badcfg.json: \"steps\" must be a number' '$work/bad.log'" "bad config value"
echo '{"stepz": 3}' >"$work/badcfg.json"
"$iopo" train --config "$work/badcfg.json" >"$work/bad.log" 2>&1
check "grep -q 'unknown key \"stepz\"' '$work/bad.log'" "unknown config key"
"$iopo" train --config "$work/run.json" --bogus 1 >"$work/bad.log" 2>&1
check "[ \$? -eq 2 ] && grep -q \"unknown flag '--bogus'\" '$work/bad.log'" "unknown flag"

# A NaN weight: the run stops at step 1, names the step and a bad gradient, and writes no checkpoint.
cp -r "$work/init" "$work/nan"
/usr/bin/python3 - "$work/nan/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
begin = header["h.0.mlp.c_fc.weight"]["data_offsets"][0]
data[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
PY
train --steps 2 --model "$work/nan" --out "$work/nanrun" >"$work/nan.log" 2>&1
check "[ \$? -ne 0 ] && grep -q 'step 1: non-finite loss' '$work/nan.log' && grep -q 'first bad gradient' '$work/nan.log'" \
  "non-finite loss stops the run with the step and tensor"
check "[ ! -e '$work/nanrun/latest' ]" "no checkpoint written after a non-finite step"

# score: one line per record, in order; gradients written.
printf '{"prompt_ids": [1, 2, 3], "response_ids": [4, 5]}\n{"prompt_ids": [7], "response_ids": [8, 9, 10]}\n' \
  >"$work/score.jsonl"
"$iopo" score --model "$work/init" --data "$work/score.jsonl" --out "$work/scores.jsonl" \
  --grads "$work/grads.safetensors" "${dev[@]}" >"$work/score.log" 2>&1 || fail "score: $(cat "$work/score.log")"
check "[ \$(wc -l <'$work/scores.jsonl') -eq 2 ] && grep -q '\"tokens\": {\"response\": 3}' '$work/scores.jsonl'" \
  "score writes one line per record"
check "[ -s '$work/grads.safetensors' ]" "score --grads writes gradients"
# The NaN model's scores: every line still JSON, the non-finite numbers as null (printf would write nan).
"$iopo" score --model "$work/nan" --data "$work/score.jsonl" --token-logps --out "$work/nan_scores.jsonl" "${dev[@]}" \
  >"$work/nan_score.log" 2>&1 || fail "score of the NaN model: $(cat "$work/nan_score.log")"
check "/usr/bin/python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(not (len(r) == 2 and all(x[\"loss\"] is None and x[\"logps\"][\"response\"] is None and None in x[\"token_logps\"] for x in r)))' '$work/nan_scores.jsonl'" \
  "score writes a non-finite value as null, each line JSON: $(head -c 300 "$work/nan_scores.jsonl")"
# The same records as one batch through the PyTorch reference: per-record log-probs and every gradient must agree.
/usr/bin/python3 - "$work" "$src/tools/reference/gpt2_reference.py" >"$work/score_ref.log" 2>&1 <<'PY'
import json, struct, subprocess, sys
work, script = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(f"{work}/score.jsonl")]
seqs = [r["prompt_ids"] + r["response_ids"] for r in recs]
T = max(len(s) for s in seqs) - 1
batch = {"input_ids": [], "targets": [], "mask": [], "lengths": []}
for r, s in zip(recs, seqs):
    n = len(s) - 1
    batch["lengths"].append(n)
    batch["input_ids"].append(s[:n] + [0] * (T - n))
    on = [t + 1 >= len(r["prompt_ids"]) for t in range(n)] + [False] * (T - n)
    batch["targets"].append([s[t + 1] if on[t] else -100 for t in range(T)])
    batch["mask"].append([1.0 if m else 0.0 for m in on])
json.dump(batch, open(f"{work}/score_batch.json", "w"))
subprocess.run(["/usr/bin/python3", script, "--model", f"{work}/init", "--batch", f"{work}/score_batch.json",
                "--out", f"{work}/score_ref.safetensors"], check=True)
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__": continue
        b, e = v["data_offsets"]
        out[k] = struct.unpack(f"<{(e - b) // 4}f", data[8 + n + b:8 + n + e])
    return out
ref, ours = load(f"{work}/score_ref.safetensors"), load(f"{work}/grads.safetensors")
bad = 0
scores = [json.loads(l) for l in open(f"{work}/scores.jsonl")]
for i, s in enumerate(scores):
    if abs(s["logps"]["response"] - ref["seq_logp"][i]) > 1e-4 * abs(ref["seq_logp"][i]) + 1e-5:
        print(f"record {i}: logp {s['logps']['response']} vs reference {ref['seq_logp'][i]}"); bad += 1
for k, g in ours.items():
    r = ref["grad." + k]
    scale = max(abs(x) for x in r) or 1.0
    worst = max(abs(a - b) - 1e-3 * abs(b) for a, b in zip(g, r))
    if worst > 1e-4 * scale + 1e-7:
        print(f"{k}: gradient differs from the reference by {worst:.3e} (scale {scale:.3e})"); bad += 1
print(f"score vs reference: {len(ours)} gradients, {len(scores)} records, {bad} mismatches")
sys.exit(1 if bad else 0)
PY
rc=$?   # before check: the $(...) in its message would reset $?
check "[ $rc -eq 0 ]" "score log-probs and --grads match the PyTorch reference: $(tail -1 "$work/score_ref.log")"

# --- Padding to the longest sequence, group_by_length, epochs, warmup_ratio (records of mixed lengths).
/usr/bin/python3 - "$work/mixed.jsonl" <<'PY'
import json, random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    for i in range(48):
        n = random.choice([2, 3, 4, 14, 20, 26])
        f.write(json.dumps({"prompt_ids": [random.randrange(256) for _ in range(2)],
                            "response_ids": [random.randrange(256) for _ in range(n)]}) + "\n")
PY
mixed() { "$iopo" train --model "$work/init" --data "$work/mixed.jsonl" "${dev[@]}" --batch-size 4 --lr 0.005 \
  --log-every 1 "$@"; }
mixed --epochs 1 --warmup-ratio 0.25 --seq-len 32 --out "$work/pad32" >"$work/pad32.log" 2>&1 || fail "epochs run: $(tail -3 "$work/pad32.log")"
check "grep -q '^schedule: 12 steps (from epochs), warmup 3 steps' '$work/pad32.log' && [ \$(wc -l <'$work/pad32/metrics.jsonl') -eq 12 ]" \
  "epochs 1 over 48 records, 4 per step: 12 steps, warmup_ratio 0.25: 3 warmup steps: $(grep schedule "$work/pad32.log")"
check "grep -q '\"warmup_steps\":[[:space:]]*3,' '$work/pad32/train_config.json' && grep -q '\"steps\":[[:space:]]*12,' '$work/pad32/train_config.json'" \
  "the run saves the resolved steps and warmup_steps"
eot=$(printf '%s' '<|endoftext|>' | "$iopo" tokenize --tokenizer "$tok" | tr -d '[:space:]')
check "grep -q '\"template_name\":[[:space:]]*\"plain\"' '$work/pad32/train_config.json' && grep -q '\"iopo_template\":[[:space:]]*\"plain\"' '$work/pad32/final/tokenizer_config.json' && grep -q '\"chat_template\":' '$work/pad32/final/tokenizer_config.json' && grep -q '\"eos_token_id\":[[:space:]]*$eot,' '$work/pad32/final/generation_config.json'" \
  "template auto with the demo tokenizer is plain, recorded in train_config.json and final/tokenizer_config.json; generation_config.json stops at <|endoftext|> ($eot)"
# save_dtype bfloat16: final/ holds BF16 tensors, each the fp32 checkpoint's rounded as torch rounds; config says so.
mixed --steps 2 --seq-len 32 --save-dtype bfloat16 --out "$work/bf16" >"$work/bf16.log" 2>&1 || fail "bf16 run"
check "/usr/bin/python3 - '$work/bf16' <<'PY'
import json, struct, sys, torch
def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        lo, hi = v['data_offsets']
        dt = {'F32': torch.float32, 'BF16': torch.bfloat16}[v['dtype']]
        out[k] = torch.frombuffer(bytearray(b[8 + n + lo:8 + n + hi]), dtype=dt).reshape(v['shape'])
    return out
d = sys.argv[1]
a, b = load(d + '/checkpoint-2/model.safetensors'), load(d + '/final/model.safetensors')
cfg = json.load(open(d + '/final/config.json'))
ok = a.keys() == b.keys() and all(b[k].dtype == torch.bfloat16 and torch.equal(a[k].to(torch.bfloat16), b[k]) for k in a)
sys.exit(not (ok and cfg['torch_dtype'] == 'bfloat16' and a[next(iter(a))].dtype == torch.float32))
PY" "save_dtype bfloat16: final/ is BF16 (torch's rounding of the fp32 checkpoint), config.json says bfloat16, checkpoints stay fp32"
mixed --epochs 1 --warmup-ratio 0.25 --seq-len 31 --out "$work/pad31" >"$work/pad31.log" 2>&1 || fail "seq_len 31 run"
check "[ \"\$(losses '$work/pad32/metrics.jsonl' | head -1)\" = \"\$(losses '$work/pad31/metrics.jsonl' | head -1)\" ]" \
  "no record reaches seq_len: seq_len 32 and 31 give the same first-step loss and gradient norm (rows padded to their longest)"
p0=$(sed -n 's/^padding: \([0-9.]*\)% .*/\1/p' "$work/pad32.log")
mixed --epochs 1 --seq-len 32 --group-by-length 1 --out "$work/grouped" >"$work/grouped.log" 2>&1 || fail "grouped run"
p1=$(sed -n 's/^padding: \([0-9.]*\)% .*/\1/p' "$work/grouped.log")
check "[ -n '$p0' ] && [ -n '$p1' ] && awk 'BEGIN { exit !($p1 < $p0 / 2) }'" \
  "group_by_length pads less: $p1% of positions against $p0%"
mixed --epochs 1 --seq-len 32 --group-by-length 1 --out "$work/grouped2" >"$work/grouped2.log" 2>&1 || fail "grouped run 2"
check "[ \"\$(losses '$work/grouped/metrics.jsonl')\" = \"\$(losses '$work/grouped2/metrics.jsonl')\" ]" \
  "group_by_length is deterministic (same seed, same batches, same losses)"
mixed --epochs 1 --warmup-ratio 0.25 --warmup-steps 5 --seq-len 32 --out "$work/both" >"$work/both.log" 2>&1
rc=$?
check "[ $rc -ne 0 ] && grep -q 'warmup_steps 5 and warmup_ratio 0.25 (3 of 12 steps) both given: use one' '$work/both.log'" \
  "warmup_steps with warmup_ratio is refused: $(tail -1 "$work/both.log")"

echo "train: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
