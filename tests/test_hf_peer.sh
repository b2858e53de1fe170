#!/usr/bin/env bash
# iopo held against the real Hugging Face stack (transformers, tokenizers, torch; pinned, in the venv that
# tools/peer-venv.sh makes; without it this test fails, never skips). For each family in FAMILIES and each of its
# model variants, on the given device:
#  - transformers makes a small random model (tools/reference/hf_peer.py make) and saves it with save_pretrained, in
#    fp32 and in bf16 sharded with a 20KB max_shard_size;
#  - iopo score --token-logps --grads on records of different lengths (one right-padded batch, and batches of 3)
#    gives transformers' per-token log-probs (|a-b| / max(|b|,1) <= 1e-4) and SFT gradients (per tensor
#    max|a-b| / max|b| <= 1e-3), under the checkpoint's tensor names; and the same comparison against the other
#    dtype's reference fails (the check can fail);
#  - iopo train runs 3 steps from the bf16 checkpoint and saves final/ in bf16; transformers loads it with no missing,
#    unexpected or mismatched keys, and its log-probs equal iopo score's of the trained model;
#  - iopo generate (greedy, KV cache) continues prompts with the same token ids as transformers'
#    generate(do_sample=False); batched prompts of different lengths and the uncached path give the same text.
# Usage: test_hf_peer.sh IOPO SOURCE_DIR WORK_DIR [DEVICE]
set -u
iopo=$1 src=$2 work=$3 device=${4:-}

# The families iopo loads. The lead adds llama qwen2 qwen3 here when the decoder driver lands; variants() below
# already describes them. IOPO_HF_PEER_FAMILIES runs a subset (or a family not yet listed) instead.
FAMILIES="gpt2 llama qwen2 qwen3"
FAMILIES=${IOPO_HF_PEER_FAMILIES:-$FAMILIES}

# One line per model variant of a family: a name, then `hf_peer.py make` options (vocab 257 and the byte tokenizer
# are added for all). Together they cover GQA, q/k/v biases, q/k norms with head_dim != dim/heads, llama3 rope
# scaling, tied and untied heads, several layers, and both spellings of the RoPE settings in config.json
# (transformers 5's rope_parameters; --legacy-rope-keys: rope_theta + rope_scaling, as published checkpoints have).
variants() {
  case $1 in
    gpt2) echo "tied --arch gpt2 --layers 2 --heads 4 --dim 32 --ctx 64" ;;
    llama)
      echo "gqa-untied-llama3 --arch llama --layers 3 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --ctx 64 --tied 0 \
            --rope-scaling llama3 --rope-theta 500000 --legacy-rope-keys"
      echo "mha-tied --arch llama --layers 2 --heads 4 --kv-heads 4 --dim 32 --ffn 64 --ctx 64 --tied 1"
      ;;
    qwen2)
      echo "gqa-tied --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --ctx 64 --tied 1 \
            --rope-theta 1000000 --legacy-rope-keys"
      echo "untied --arch qwen2 --layers 2 --heads 4 --kv-heads 1 --dim 32 --ffn 48 --ctx 64 --tied 0"
      ;;
    qwen3)
      echo "headdim12-tied --arch qwen3 --layers 2 --heads 4 --kv-heads 2 --dim 32 --head-dim 12 --ffn 48 --ctx 64 \
            --tied 1 --rope-theta 1000000"
      echo "untied --arch qwen3 --layers 3 --heads 2 --kv-heads 1 --dim 32 --ffn 48 --ctx 64 --tied 0 --legacy-rope-keys"
      ;;
    *) echo "unknown family $1" >&2; return 1 ;;
  esac
}

dev=()
[ -n "$device" ] && dev=(--device "$device")
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"
peer=$src/tools/reference/hf_peer.py
t0=$SECONDS

python=$("$src/tools/peer-venv.sh") || {
  fail "tools/peer-venv.sh could not make the peer venv (above: the failing command)"
  echo "hf_peer: $passes passed, $fails failed"
  exit 1
}
echo "peer: $python ($(( SECONDS - t0 )) s to find or make it)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false

# Records of lengths 18, 4, 23 and 28 tokens with prompts of 5, 3, 17 and 1: one batch pads three of them, and the
# short ones' padded positions would change their log-probs if padding leaked. Ids stay below 256 (bytes) but one.
cat >"$work/data.jsonl" <<'EOF'
{"prompt_ids": [72, 101, 108, 108, 111], "response_ids": [32, 119, 111, 114, 108, 100, 33, 10, 200, 5, 17, 250, 3]}
{"prompt_ids": [1, 2, 3], "response_ids": [4]}
{"prompt_ids": [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16, 17], "response_ids": [100, 101, 102, 103, 104, 105]}
{"prompt_ids": [256], "response_ids": [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66]}
EOF
# Prompts as text (iopo generate's interface): with the byte tokenizer their ids are their bytes.
prompts=("Hello" "The quick brown fox" "!")
: >"$work/prompts.jsonl"
for p in "${prompts[@]}"; do
  printf '{"prompt_ids": [%s]}\n' "$(printf '%s' "$p" | od -An -tu1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//; s/ /, /g')" \
    >>"$work/prompts.jsonl"
done
new_tokens=24

# Phase 1, one Python process (importing torch and transformers costs seconds): every model and its references.
plan=()
models=()
for fam in $FAMILIES; do
  check "variants '$fam' | grep -q ." "family $fam has model variants in variants()"
  while read -r name opts; do
    [ -n "$name" ] || continue
    m=$work/$fam-$name
    models+=("$fam-$name")
    # shellcheck disable=SC2206
    o=($opts --vocab 257 --seed 7 --byte-tokenizer)
    plan+=(make "${o[@]}" --out "$m-fp32" ::
           make "${o[@]}" --out "$m-bf16" --dtype bfloat16 --max-shard-size 20KB ::
           logprobs --model "$m-fp32" --data "$work/data.jsonl" --out "$m-fp32.ref.json" --grads "$m-fp32.ref.safetensors" ::
           logprobs --model "$m-bf16" --data "$work/data.jsonl" --out "$m-bf16.ref.json" --grads "$m-bf16.ref.safetensors" ::
           generate --model "$m-fp32" --prompts "$work/prompts.jsonl" --max-new-tokens "$new_tokens" --out "$m-fp32.gen.json" ::)
  done < <(variants "$fam")
done
unset 'plan[${#plan[@]}-1]'
t=$SECONDS
"$python" "$peer" "${plan[@]}" >"$work/phase1.log" 2>&1
status=$?
cat "$work/phase1.log"
check "[ $status -eq 0 ]" "transformers made the models and their references (phase1.log above)"
echo "phase 1 (transformers: make, logprobs, grads, generate): $(( SECONDS - t )) s"

check_load=()
for mv in "${models[@]}"; do
  fam=${mv%%-*}
  m=$work/$mv
  for dt in fp32 bf16; do
    # bf16 in batches of 3: gradients accumulate over two batches padded to different lengths.
    bs=8; [ $dt = bf16 ] && bs=3
    "$iopo" score --model "$m-$dt" --data "$work/data.jsonl" "${dev[@]}" --batch-size $bs --token-logps \
      --grads "$m-$dt.iopo.safetensors" --out "$m-$dt.scores.jsonl" >"$m-$dt.score.log" 2>&1 ||
      fail "$mv $dt: iopo score: $(tail -3 "$m-$dt.score.log")"
    echo "== $mv $dt"
    check "'$python' '$peer' compare-logps --scores '$m-$dt.scores.jsonl' --ref '$m-$dt.ref.json'" \
      "$mv $dt: iopo's per-token log-probs match transformers'"
    check "'$python' '$peer' compare-grads --grads '$m-$dt.iopo.safetensors' --ref '$m-$dt.ref.safetensors'" \
      "$mv $dt: iopo's SFT gradients match transformers' (under the checkpoint's tensor names)"
  done
  # The same comparisons against the other dtype's reference (weights differ by bf16 rounding) must fail, on the
  # values (not for want of a file).
  check "! '$python' '$peer' compare-logps --scores '$m-fp32.scores.jsonl' --ref '$m-bf16.ref.json' >'$m.neg1.log' 2>&1 &&
    grep -q 'log-probs differ beyond' '$m.neg1.log'" "$mv: compare-logps tells the fp32 model from the bf16 one"
  check "! '$python' '$peer' compare-grads --grads '$m-fp32.iopo.safetensors' --ref '$m-bf16.ref.safetensors' \
    >'$m.neg2.log' 2>&1 && grep -q 'of its max-abs' '$m.neg2.log'" \
    "$mv: compare-grads tells the fp32 model from the bf16 one"
  sed 's/^/  (expected to differ) /' "$m.neg1.log" "$m.neg2.log"

  # Three SFT steps from the bf16 sharded checkpoint, saved in bf16 (final/; the checkpoints stay fp32), then score
  # what iopo saved: transformers loads the bf16 final/ below.
  "$iopo" train --model "$m-bf16" --data "$work/data.jsonl" --out "$m.run" --steps 3 --batch-size 2 --lr 1e-2 \
    --seed 1 --save-dtype bfloat16 "${dev[@]}" >"$m.train.log" 2>&1 || fail "$mv: iopo train: $(tail -3 "$m.train.log")"
  check "grep -q '\"dtype\": \"BF16\"' '$m.run/final/model.safetensors' 2>/dev/null || head -c 4000 '$m.run/final/model.safetensors' | grep -q BF16" \
    "$mv: final/ is saved in bf16"
  "$iopo" score --model "$m.run/final" --data "$work/data.jsonl" "${dev[@]}" --token-logps \
    --out "$m.trained.scores.jsonl" >"$m.trained.log" 2>&1 || fail "$mv: iopo score of the trained model"
  check "/usr/bin/python3 -c '
import json, sys
a = [json.loads(l)[\"loss\"] for l in open(sys.argv[1])]
b = [json.loads(l)[\"loss\"] for l in open(sys.argv[2])]
sys.exit(not sum(b) < sum(a))' '$m-bf16.scores.jsonl' '$m.trained.scores.jsonl'" "$mv: training lowered the records' loss"
  check_load+=(check-load --model "$m.run/final" --data "$work/data.jsonl" --scores "$m.trained.scores.jsonl" ::)

  # Greedy generation: iopo prints the prompt, the continuation and a newline.
  outs=()
  for i in "${!prompts[@]}"; do
    "$iopo" generate --model "$m-fp32" --prompt "${prompts[$i]}" --max-tokens $new_tokens "${dev[@]}" \
      >"$m.gen$i.out" 2>"$m.gen$i.err" || fail "$mv: iopo generate: $(tail -2 "$m.gen$i.err")"
    outs+=("$m.gen$i.out")
  done
  check "'$python' '$peer' compare-gen --ref '$m-fp32.gen.json' --iopo-outputs ${outs[*]}" \
    "$mv: iopo's greedy tokens equal transformers' generate (KV cache)"
  # The same prompts in one batch over the KV cache (each at its own length), and without the cache: the same text.
  : >"$m.prompts.jsonl"
  for p in "${prompts[@]}"; do printf '{"prompt": "%s"}\n' "$p" >>"$m.prompts.jsonl"; done
  "$iopo" generate --model "$m-fp32" --data "$m.prompts.jsonl" --template none --batch-size 3 \
    --max-tokens $new_tokens "${dev[@]}" --out "$m.batch.jsonl" 2>"$m.batch.err" || fail "$mv: batch: $(tail -2 "$m.batch.err")"
  "$iopo" generate --model "$m-fp32" --prompt "${prompts[1]}" --max-tokens $new_tokens --no-cache "${dev[@]}" \
    >"$m.nocache.out" 2>&1 || fail "$mv: --no-cache: $(tail -2 "$m.nocache.out")"
  check "'$python' - '$m.batch.jsonl' ${outs[*]} <<'PY'
import json, sys
# Random models emit arbitrary bytes. --out writes valid UTF-8 (each ill-formed sequence one U+FFFD, as Python's
# errors='replace'; a NUL byte U+FFFD too); --prompt prints the bytes: decode those the same way.
rows = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
single = [open(f, encoding='utf-8', errors='replace', newline='').read().replace('\\0', '\\ufffd')
          for f in sys.argv[2:]]
ok = len(rows) == len(single) and all(r['prompt'] + r['response'] + '\\n' == s for r, s in zip(rows, single))
sys.exit(not ok)
PY" "$mv: three prompts batched over the KV cache give each prompt's own greedy continuation"
  check "cmp -s '$m.gen1.out' '$m.nocache.out'" "$mv: generation with and without the KV cache agrees"
done

# Phase 3, one Python process: transformers loads every trained model.
if [ ${#check_load[@]} -gt 0 ]; then
  unset 'check_load[${#check_load[@]}-1]'
  t=$SECONDS
  check "'$python' '$peer' ${check_load[*]}" \
    "transformers loads what iopo trained (no missing/unexpected keys) with iopo's log-probs"
  echo "phase 3 (transformers: check-load): $(( SECONDS - t )) s"
fi
check "[ ${#models[@]} -gt 0 ]" "FAMILIES names at least one model"

echo "hf_peer (${device:-vulkan}, families: $FAMILIES): $(( SECONDS - t0 )) s"
echo "hf_peer: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
