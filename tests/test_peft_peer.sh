#!/usr/bin/env bash
# iopo's LoRA held against PyPI's peft (pinned with transformers and torch in the venv tools/peer-venv.sh makes;
# without it this test fails, never skips). For each family, on the given device:
#  - transformers makes a small random base model (fp32, and bf16 in shards); peft puts adapters on some of its
#    linear layers (rsLoRA for one family), draws A and B at random (PEFT starts B at zero) and saves them;
#  - iopo score on the peft adapter directory (the base found through base_model_name_or_path) gives peft's
#    per-token log-probs (|a-b| / max(|b|,1) <= 1e-4) and the SFT gradients of every adapter tensor (per tensor
#    max|a-b| / max|b| <= 1e-3), under adapter_model.safetensors' names;
#  - iopo train --finetuning-type lora runs 3 steps from the bf16 base, holding its matrices in bf16 on the device
#    (the plan says so and matches the measured peak), and writes a PEFT adapter; peft loads it onto
#    the base with every tensor used and none missing, and gives iopo's log-probs of the trained adapter;
#  - iopo train --adapter continues the peft adapter (same modules, same rank);
#  - iopo merge folds the peft adapter into its base: transformers loads the result (no missing or unexpected keys)
#    and gives the log-probs of peft's merge_and_unload().
# Usage: test_peft_peer.sh IOPO SOURCE_DIR WORK_DIR [DEVICE]
set -u
iopo=$1 src=$2 work=$3 device=${4:-}

# One line per family: the hf_peer.py make options of the base, then `--` and the adapters' targets, rank, alpha
# and rsLoRA. llama adapts every linear layer (all three modules of iopo's fused q|k|v); qwen2 only q and v (a fused
# weight with one of its modules left out); qwen3 k, o and down (head_dim 12); gpt2 its Conv1D layers (c_proj names
# two modules per block).
cases() {
  echo "llama --arch llama --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --ctx 64 --tied 0 \
        -- q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj 4 8 0"
  echo "qwen2 --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 32 --ffn 48 --ctx 64 --tied 1 -- q_proj,v_proj 8 16 1"
  echo "qwen3 --arch qwen3 --layers 2 --heads 4 --kv-heads 2 --dim 32 --head-dim 12 --ffn 48 --ctx 64 --tied 1 \
        -- k_proj,o_proj,down_proj 2 4 0"
  echo "gpt2 --arch gpt2 --layers 2 --heads 4 --dim 32 --ctx 64 -- c_attn,c_proj,c_fc 4 4 0"
}

dev=()
[ -n "$device" ] && dev=(--device "$device")
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"
hf=$src/tools/reference/hf_peer.py
pp=$src/tools/reference/peft_peer.py
t0=$SECONDS
python=$("$src/tools/peer-venv.sh") || {
  fail "tools/peer-venv.sh could not make the peer venv (above: the failing command)"
  echo "peft_peer: $passes passed, $fails failed"
  exit 1
}
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore

cat >"$work/data.jsonl" <<'EOF'
{"prompt_ids": [72, 101, 108, 108, 111], "response_ids": [32, 119, 111, 114, 108, 100, 33, 10, 200, 5, 17, 250, 3]}
{"prompt_ids": [1, 2, 3], "response_ids": [4]}
{"prompt_ids": [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16, 17], "response_ids": [100, 101, 102, 103, 104, 105]}
{"prompt_ids": [256], "response_ids": [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59]}
EOF

# Phase 1, one Python process: bases, peft adapters, peft's log-probs, gradients and merged log-probs.
hf_plan=() pp_plan=() fams=()
while read -r fam rest; do
  opts=${rest%% -- *} lora=${rest##* -- }
  read -r targets r alpha rs <<<"$lora"
  m=$work/$fam
  fams+=("$fam")
  # shellcheck disable=SC2206
  o=($opts --vocab 257 --seed 11 --byte-tokenizer)
  hf_plan+=(make "${o[@]}" --out "$m-base" :: make "${o[@]}" --out "$m-base-bf16" --dtype bfloat16 --max-shard-size 20KB ::)
  pp_plan+=(make --model "$m-base" --out "$m-peft" --r "$r" --alpha "$alpha" --targets "$targets" --rslora "$rs" ::
            logprobs --model "$m-base" --adapter "$m-peft" --data "$work/data.jsonl" --out "$m-peft.ref.json"
              --grads "$m-peft.ref.safetensors" ::
            merged --model "$m-base" --adapter "$m-peft" --data "$work/data.jsonl" --out "$m-merged.ref.json" ::)
done < <(cases)
unset 'hf_plan[${#hf_plan[@]}-1]' 'pp_plan[${#pp_plan[@]}-1]'
t=$SECONDS
{ "$python" "$hf" "${hf_plan[@]}" && "$python" "$pp" "${pp_plan[@]}"; } >"$work/phase1.log" 2>&1
status=$?
cat "$work/phase1.log"
check "[ $status -eq 0 ]" "transformers and peft made the models, adapters and references (phase1.log above)"
echo "phase 1 (transformers + peft): $(( SECONDS - t )) s"

hf_load=() pp_load=()
for fam in "${fams[@]}"; do
  m=$work/$fam
  echo "== $fam"
  # peft's adapter in iopo: its base comes from base_model_name_or_path.
  "$iopo" score --model "$m-peft" --data "$work/data.jsonl" "${dev[@]}" --token-logps --grads "$m-peft.iopo.safetensors" \
    --out "$m-peft.scores.jsonl" >"$m-peft.score.log" 2>&1 || fail "$fam: iopo score of the peft adapter: $(tail -3 "$m-peft.score.log")"
  check "'$python' '$hf' compare-logps --scores '$m-peft.scores.jsonl' --ref '$m-peft.ref.json'" \
    "$fam: iopo's log-probs of base + peft adapter match peft's"
  check "'$python' '$hf' compare-grads --grads '$m-peft.iopo.safetensors' --ref '$m-peft.ref.safetensors'" \
    "$fam: iopo's adapter gradients match peft's (under adapter_model.safetensors' names)"
  # The base alone against peft's base + adapter must fail, on the values: the comparison can tell them apart.
  "$iopo" score --model "$m-base" --data "$work/data.jsonl" "${dev[@]}" --token-logps --out "$m-base.scores.jsonl" \
    >/dev/null 2>&1 || fail "$fam: iopo score of the fp32 base"
  check "! '$python' '$hf' compare-logps --scores '$m-base.scores.jsonl' --ref '$m-peft.ref.json' >'$m.neg.log' 2>&1 &&
    grep -q 'log-probs differ beyond' '$m.neg.log'" "$fam: compare-logps tells the base from base + adapter"

  # LoRA training from the bf16 base; peft loads what iopo wrote.
  "$iopo" train --model "$m-base-bf16" --data "$work/data.jsonl" --out "$m.run" --steps 3 --batch-size 2 --lr 2e-2 \
    --finetuning-type lora --lora-rank 4 --lora-target all --seed 1 "${dev[@]}" >"$m.train.log" 2>&1 ||
    fail "$fam: iopo train (lora): $(tail -3 "$m.train.log")"
  # The frozen bf16 base stays bf16 on the device: the plan says so, and the step's measured peak is the plan's.
  pl=$(sed -n 's/^memory: .*: \([0-9.]*\) MiB$/\1/p' "$m.train.log")
  pk=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$m.train.log")
  check "'$iopo' train --model '$m-base-bf16' --finetuning-type lora --lora-rank 4 --seq-len 32 --batch-size 2 --plan \
    ${dev[*]} | grep -q 'held as the matrices in the checkpoint.s 16 bits' && awk 'BEGIN{r=$pk/$pl; exit !(r > 0.95 && r < 1.05)}'" \
    "$fam: LoRA on the bf16 base holds its matrices in bf16; measured peak $pk MiB within 5% of the plan's $pl MiB"
  check "[ -f '$m.run/final/adapter_config.json' ] && [ -f '$m.run/checkpoint-3/adapter_model.safetensors' ] &&
    [ ! -e '$m.run/final/model.safetensors' ]" "$fam: a LoRA run writes PEFT adapters (final/ and checkpoints), not the base"
  "$iopo" score --model "$m.run/final" --data "$work/data.jsonl" "${dev[@]}" --token-logps \
    --out "$m.trained.scores.jsonl" >"$m.trained.log" 2>&1 || fail "$fam: iopo score of the trained adapter"
  "$iopo" score --model "$m-base-bf16" --data "$work/data.jsonl" "${dev[@]}" --out "$m.base.scores.jsonl" \
    >/dev/null 2>&1 || fail "$fam: iopo score of the base"
  check "/usr/bin/python3 -c '
import json, sys
a = [json.loads(l)[\"loss\"] for l in open(sys.argv[1])]
b = [json.loads(l)[\"loss\"] for l in open(sys.argv[2])]
sys.exit(not sum(b) < sum(a))' '$m.base.scores.jsonl' '$m.trained.scores.jsonl'" "$fam: LoRA training lowered the records' loss"
  pp_load+=(check-load --model "$m-base-bf16" --adapter "$m.run/final" --data "$work/data.jsonl"
            --scores "$m.trained.scores.jsonl" ::)

  # Continuing the peft adapter: the same modules and rank come out.
  "$iopo" train --model "$m-base" --adapter "$m-peft" --data "$work/data.jsonl" --out "$m.cont" --steps 2 \
    --batch-size 2 --lr 1e-3 --finetuning-type lora "${dev[@]}" >"$m.cont.log" 2>&1 ||
    fail "$fam: iopo train --adapter: $(tail -3 "$m.cont.log")"
  check "/usr/bin/python3 -c '
import json, sys
a, b = (json.load(open(p + \"/adapter_config.json\")) for p in sys.argv[1:])
sys.exit(not (sorted(a[\"target_modules\"]) == sorted(b[\"target_modules\"]) and a[\"r\"] == b[\"r\"]))' '$m-peft' '$m.cont/final'" \
    "$fam: iopo train --adapter continues the peft adapter's modules and rank"

  # iopo merge: transformers loads the plain model, with merge_and_unload's log-probs.
  "$iopo" merge --adapter "$m-peft" --out "$m-merged" "${dev[@]}" >"$m.merge.log" 2>&1 ||
    fail "$fam: iopo merge: $(tail -3 "$m.merge.log")"
  "$iopo" score --model "$m-merged" --data "$work/data.jsonl" "${dev[@]}" --token-logps \
    --out "$m-merged.scores.jsonl" >/dev/null 2>&1 || fail "$fam: iopo score of the merged model"
  check "'$python' '$hf' compare-logps --scores '$m-merged.scores.jsonl' --ref '$m-merged.ref.json'" \
    "$fam: iopo merge gives peft's merge_and_unload() log-probs"
  hf_load+=(check-load --model "$m-merged" --data "$work/data.jsonl" --scores "$m-merged.scores.jsonl" ::)
done

# Phase 3: peft loads iopo's adapters, transformers the merged models.
if [ ${#pp_load[@]} -gt 0 ]; then
  unset 'pp_load[${#pp_load[@]}-1]' 'hf_load[${#hf_load[@]}-1]'
  check "'$python' '$pp' ${pp_load[*]}" "peft loads the adapters iopo trained (every tensor, none missing) with iopo's log-probs"
  check "'$python' '$hf' ${hf_load[*]}" "transformers loads the models iopo merged (no missing/unexpected keys)"
fi
check "[ ${#fams[@]} -gt 0 ]" "cases() names at least one family"
echo "peft_peer (${device:-vulkan}): $(( SECONDS - t0 )) s"
echo "peft_peer: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
