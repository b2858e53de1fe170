#!/usr/bin/env bash
# Preference training end to end with the iopo binary on synthetic data whose responses differ checkably
# (tools/make_pref_data.py: a word in capitals or small letters, as the instruction asks):
#  - IOPO: held-out rewards/accuracies_v1 and _v2 go from the tie at the reference (loss log 2) to above 0.9;
#  - DPO: held-out rewards/accuracies go above 0.9;
#  - the reference log-probs are computed once and cached, and recomputed when the data changes;
#  - an IOPO run resumes bit-identically; the Vulkan device runs the same objective;
#  - device memory of an IOPO step is within 1.2x of an SFT step on the same sequences;
#  - LoRA: IOPO learns with adapters alone; DPO from an SFT adapter starts at the tie; a LoRA run with dropout
#    resumes bit-identically; LoRA IOPO runs on Vulkan; a LoRA step holds no base gradients or AdamW state;
#  - `--plan` matches the peak tensor memory of a step within 5% (full, LoRA, LoRA with gradient checkpointing; each
#    objective; CPU and Vulkan; full fine-tuning with compute_dtype bf16); gradient checkpointing trains
#    bit-identically in less memory; pref_chunk gives the unchunked step's loss and gradient norm in the memory of a
#    chunk;
#  - compute_dtype bf16: the reference computes as the policy does (step 1 at the tie);
#  - iopo score --objective dpo|iopo writes the per-sequence log-probs under TRL / IOPO keys.
# Usage: test_pref_train.sh IOPO SOURCE_DIR WORK_DIR
set -u
iopo=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
. "$(dirname "$0")/checks.sh"
metric() { sed "s|.*\"$2\": \([^,}]*\).*|\1|" <<<"$1"; }

/usr/bin/python3 "$src/tools/make_pref_data.py" "$work/data"
"$iopo" init --arch gpt2 --layers 2 --heads 4 --dim 64 --ctx 64 --tokenizer "$src/assets/demo/tokenizer.json" \
  --seed 1 --out "$work/init" >/dev/null 2>&1 || fail "init"
common=(--model "$work/init" --template-name plain --seq-len 32 --beta 0.1 --device cpu)

"$iopo" train "${common[@]}" --objective iopo --data "$work/data/iopo_train.json" \
  --eval-data "$work/data/iopo_eval.json" --out "$work/iopo" --steps 60 --batch-size 4 --lr 3e-3 --log-every 1 \
  --eval-every 60 >"$work/iopo.log" 2>&1 || fail "iopo run: $(tail -3 "$work/iopo.log")"
first=$(head -1 "$work/iopo/metrics.jsonl") last=$(tail -1 "$work/iopo/metrics.jsonl")
check "awk 'BEGIN{l=$(metric "$first" loss); exit !(l > 0.69 && l < 0.6935)}'" "IOPO starts at the tie: loss log 2 ($(metric "$first" loss))"
a1=$(metric "$last" eval_rewards/accuracies_v1) a2=$(metric "$last" eval_rewards/accuracies_v2)
check "awk 'BEGIN{exit !($a1 > 0.9 && $a2 > 0.9)}'" "IOPO held-out accuracies v1 $a1, v2 $a2 > 0.9"
check "grep -q 'reference log-probs: computed for 240 sequences' '$work/iopo.log'" "reference log-probs computed once"
check "grep -q '\"rewards/margins_v1\"' '$work/iopo/metrics.jsonl' && grep -q '\"logps/ref_chosen_v2\"' '$work/iopo/metrics.jsonl'" \
  "IOPO metrics named as the official trainer names them"

"$iopo" train "${common[@]}" --objective dpo --data "$work/data/dpo_train.jsonl" \
  --eval-data "$work/data/dpo_eval.jsonl" --out "$work/dpo" --steps 150 --batch-size 8 --lr 5e-3 --log-every 50 \
  --eval-every 150 >"$work/dpo.log" 2>&1 || fail "dpo run: $(tail -3 "$work/dpo.log")"
acc=$(metric "$(tail -1 "$work/dpo/metrics.jsonl")" eval_rewards/accuracies)
check "awk 'BEGIN{exit !($acc > 0.9)}'" "DPO held-out accuracy $acc > 0.9"

# Resume: 6 steps in one run equal 3 + resume + 3; the second half reuses the cached reference log-probs.
run6() { "$iopo" train "${common[@]}" --objective iopo --data "$work/data/iopo_train.json" --batch-size 4 --lr 3e-3 \
  --log-every 1 --steps 6 "$@"; }
run6 --out "$work/r_full" >"$work/r_full.log" 2>&1 || fail "resume full run"
run6 --stop-at 3 --out "$work/r_half" >"$work/r_half.log" 2>&1 || fail "resume first half"
run6 --out "$work/r_half" --resume "$work/r_half" >"$work/r_res.log" 2>&1 || fail "resume second half"
check "grep -q 'reference log-probs: cached' '$work/r_res.log'" "resumed run reuses the reference cache"
strip() { sed 's/"tokens_per_s": [^,]*, "ms_per_step": [^,]*, //' "$1"; }
check "[ \"\$(strip '$work/r_full/metrics.jsonl')\" = \"\$(strip '$work/r_half/metrics.jsonl')\" ]" "IOPO resume: identical metrics"
check "cmp -s '$work/r_full/checkpoint-6/model.safetensors' '$work/r_half/checkpoint-6/model.safetensors'" \
  "IOPO resume: bit-identical weights"
head -c 2000 "$work/data/iopo_train.json" | sed '$ d' >/dev/null
python3 -c "import json,sys; d=json.load(open('$work/data/iopo_train.json')); json.dump(d[:-1], open('$work/data/iopo_less.json','w'))"
# (a new run directory holding only the earlier run's cache: a cache alone is not a run)
mkdir -p "$work/stale" && cp "$work/r_half/ref_logps.json" "$work/stale/"
"$iopo" train "${common[@]}" --objective iopo --data "$work/data/iopo_less.json" --batch-size 4 --steps 1 \
  --out "$work/stale" >"$work/stale.log" 2>&1
check "grep -q 'is stale' '$work/stale.log'" "changed data invalidates the reference cache"

# A live reference gives the same run as the cached one (same reference, same arithmetic on the same device).
run6 --out "$work/live" --live-ref 1 >"$work/live.log" 2>&1 || fail "live reference run: $(tail -3 "$work/live.log")"
check "grep -q 'reference model: live' '$work/live.log'" "live reference used"
# Cached log-probs come from batches of another composition, so they may differ from the live ones in the last bits.
lc=$(metric "$(tail -1 "$work/r_full/metrics.jsonl")" loss) ll=$(metric "$(tail -1 "$work/live/metrics.jsonl")" loss)
check "awk 'BEGIN{d=$lc-$ll; exit !(d*d < 1e-8*$lc*$lc)}'" "live reference: same loss as the cached reference ($lc vs $ll)"

# compute_dtype bf16: the reference computes as the policy does (bf16 copies of its fp32 matrices), so step 1 sits at
# the tie exactly, with log-probs that are not the fp32 ones.
run6 --steps 1 --live-ref 1 --compute-dtype bf16 --out "$work/live_cbf" >"$work/live_cbf.log" 2>&1 ||
  fail "compute bf16 live reference run: $(tail -3 "$work/live_cbf.log")"
c=$(head -1 "$work/live_cbf/metrics.jsonl") f=$(head -1 "$work/live/metrics.jsonl")
check "[ '$(metric "$c" rewards/margins_v1)' = 0 ] && [ '$(metric "$c" rewards/chosen_v1)' = 0 ] && [ '$(metric "$c" logps/ref_chosen_v1)' = '$(metric "$c" logps/chosen_v1)' ] && [ '$(metric "$c" logps/chosen_v1)' != '$(metric "$f" logps/chosen_v1)' ]" \
  "compute bf16: policy and reference agree at step 1 (log-prob $(metric "$c" logps/chosen_v1), fp32 $(metric "$f" logps/chosen_v1))"

# The same objective on the default Vulkan device.
"$iopo" train --model "$work/init" --template-name plain --seq-len 32 --objective iopo \
  --data "$work/data/iopo_train.json" --out "$work/vk" --steps 3 --batch-size 2 --log-every 1 >"$work/vk.log" 2>&1 ||
  fail "vulkan iopo run: $(tail -3 "$work/vk.log")"
check "[ \$(wc -l <'$work/vk/metrics.jsonl') -eq 3 ]" "IOPO on the Vulkan device"

# Memory: an IOPO step (2 records = 8 sequences) against an SFT step on 8 sequences of the same shape.
"$iopo" train "${common[@]}" --objective sft --data "$work/data/iopo_train.json" --batch-size 8 --steps 1 \
  --out "$work/mem_sft" >"$work/mem_sft.log" 2>&1 || fail "sft memory run: $(tail -2 "$work/mem_sft.log")"
"$iopo" train "${common[@]}" --objective iopo --data "$work/data/iopo_train.json" --batch-size 2 --steps 1 \
  --out "$work/mem_iopo" >"$work/mem_iopo.log" 2>&1 || fail "iopo memory run"
ms=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/mem_sft.log")
mi=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/mem_iopo.log")
check "awk 'BEGIN{exit !($mi <= 1.2 * $ms)}'" "IOPO step memory $mi MiB within 1.2x of SFT's $ms MiB"

# LoRA (a Llama-shaped bf16 checkpoint; adapters on every linear layer, the base frozen and held in bf16): IOPO
# learns the task; DPO starting
# from an SFT adapter starts at the tie (its reference is the model with that adapter); a LoRA run with dropout
# resumes bit-identically; LoRA IOPO runs on the Vulkan device; the step holds gradients and AdamW state of the
# adapters only.
"$iopo" init --arch llama --layers 2 --heads 4 --kv-heads 2 --dim 64 --ctx 64 --tokenizer "$src/assets/demo/tokenizer.json" \
  --seed 1 --save-dtype bfloat16 --out "$work/llama" >/dev/null 2>&1 || fail "init llama"
lcommon=(--model "$work/llama" --template-name plain --seq-len 32 --beta 0.1 --device cpu --finetuning-type lora
         --lora-rank 8 --lora-alpha 16)
"$iopo" train "${lcommon[@]}" --objective iopo --data "$work/data/iopo_train.json" --eval-data "$work/data/iopo_eval.json" \
  --out "$work/lora_iopo" --steps 150 --batch-size 4 --lr 2e-2 --log-every 1 --eval-every 150 >"$work/lora_iopo.log" 2>&1 ||
  fail "lora iopo run: $(tail -3 "$work/lora_iopo.log")"
first=$(head -1 "$work/lora_iopo/metrics.jsonl") last=$(tail -1 "$work/lora_iopo/metrics.jsonl")
check "awk 'BEGIN{l=$(metric "$first" loss); exit !(l > 0.69 && l < 0.6935)}'" "LoRA IOPO starts at the tie ($(metric "$first" loss))"
a1=$(metric "$last" eval_rewards/accuracies_v1) a2=$(metric "$last" eval_rewards/accuracies_v2)
check "awk 'BEGIN{exit !($a1 > 0.8 && $a2 > 0.8)}'" "LoRA IOPO held-out accuracies v1 $a1, v2 $a2 > 0.8"
check "grep -q 'lora: rank 8, alpha 16, dropout 0, on all' '$work/lora_iopo.log' && [ -f '$work/lora_iopo/final/adapter_model.safetensors' ]" \
  "LoRA IOPO reports its adapters and writes a PEFT adapter"
"$iopo" train "${lcommon[@]}" --objective sft --data "$work/data/dpo_train.jsonl" --out "$work/lora_sft" --steps 10 \
  --batch-size 4 --lr 2e-2 >"$work/lora_sft.log" 2>&1 || fail "lora sft run: $(tail -3 "$work/lora_sft.log")"
"$iopo" train "${lcommon[@]}" --objective dpo --adapter "$work/lora_sft/final" --data "$work/data/dpo_train.jsonl" \
  --out "$work/lora_dpo" --steps 5 --batch-size 4 --lr 2e-2 --log-every 1 >"$work/lora_dpo.log" 2>&1 ||
  fail "lora dpo from the sft adapter: $(tail -3 "$work/lora_dpo.log")"
l1=$(metric "$(head -1 "$work/lora_dpo/metrics.jsonl")" loss)
check "awk 'BEGIN{exit !($l1 > 0.69 && $l1 < 0.6935)}'" "DPO from an SFT adapter starts at the tie: the reference is that adapter ($l1)"
lrun6() { "$iopo" train "${lcommon[@]}" --objective iopo --data "$work/data/iopo_train.json" --batch-size 4 --lr 2e-2 \
  --lora-dropout 0.1 --log-every 1 --steps 6 "$@"; }
lrun6 --out "$work/lr_full" >"$work/lr_full.log" 2>&1 || fail "lora resume full run: $(tail -3 "$work/lr_full.log")"
lrun6 --stop-at 3 --out "$work/lr_half" >"$work/lr_half.log" 2>&1 || fail "lora resume first half"
lrun6 --out "$work/lr_half" --resume "$work/lr_half" >"$work/lr_res.log" 2>&1 || fail "lora resume second half"
check "[ \"\$(strip '$work/lr_full/metrics.jsonl')\" = \"\$(strip '$work/lr_half/metrics.jsonl')\" ] &&
  cmp -s '$work/lr_full/checkpoint-6/adapter_model.safetensors' '$work/lr_half/checkpoint-6/adapter_model.safetensors'" \
  "LoRA IOPO with dropout resumes bit-identically (metrics and adapter)"
check "! cmp -s '$work/lr_full/checkpoint-6/adapter_model.safetensors' '$work/lora_iopo/checkpoint-150/adapter_model.safetensors'" \
  "(the adapters of different runs differ)"
"$iopo" train --model "$work/llama" --template-name plain --seq-len 32 --objective iopo --finetuning-type lora \
  --lora-dropout 0.1 --data "$work/data/iopo_train.json" --out "$work/lora_vk" --steps 3 --batch-size 2 --log-every 1 \
  >"$work/lora_vk.log" 2>&1 || fail "vulkan lora iopo run: $(tail -3 "$work/lora_vk.log")"
check "[ \$(wc -l <'$work/lora_vk/metrics.jsonl') -eq 3 ]" "LoRA IOPO on the Vulkan device"
"$iopo" train "${common[@]}" --model "$work/llama" --objective iopo --data "$work/data/iopo_train.json" --batch-size 2 \
  --steps 1 --out "$work/mem_full" >"$work/mem_full.log" 2>&1 || fail "full memory run"
"$iopo" train "${lcommon[@]}" --objective iopo --data "$work/data/iopo_train.json" --batch-size 2 --steps 1 \
  --out "$work/mem_lora" >"$work/mem_lora.log" 2>&1 || fail "lora memory run"
mf=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/mem_full.log")
ml=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/mem_lora.log")
pb=$(sed -n 's/memory: parameters \([0-9.]*\) MiB.*/\1/p' "$work/mem_full.log")
# Without the base's gradients and AdamW moments (3 x the parameters), less the adapters' own share and activations.
check "awk 'BEGIN{exit !($ml < $mf - 1.8 * $pb)}'" "LoRA step memory $ml MiB: no base gradients or AdamW state (full: $mf MiB, parameters $pb MiB)"

# The memory plan (`--plan`: printed without training) against the peak tensor memory a step then measures, within 5%:
# full and LoRA, SFT, DPO and IOPO, on the CPU and the Vulkan device.
mib() { awk '{v=$2; if ($3 == "GiB") v *= 1024; print v}' <<<"$1"; }
for dev in cpu vulkan; do
  d=(); [ $dev = cpu ] && d=(--device cpu)
  for ft in full lora lora-gc; do
    for obj in sft dpo iopo; do
      data=$work/data/iopo_train.json; [ $obj = dpo ] && data=$work/data/dpo_train.jsonl
      gc=0; [ $ft = lora-gc ] && gc=1
      args=(--model "$work/llama" --template-name plain --seq-len 32 --objective $obj --data "$data" --batch-size 2
            --finetuning-type "${ft%-gc}" --lora-dropout 0.1 --gradient-checkpointing $gc "${d[@]}")
      pl=$("$iopo" train "${args[@]}" --plan 2>&1) || fail "plan $dev $ft $obj: $pl"
      planned=$(mib "$(grep '^  total' <<<"$pl")")
      "$iopo" train "${args[@]}" --steps 1 --out "$work/plan_$dev$ft$obj" >"$work/plan_$dev$ft$obj.log" 2>&1 ||
        fail "plan run $dev $ft $obj: $(tail -2 "$work/plan_$dev$ft$obj.log")"
      peak=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/plan_$dev$ft$obj.log")
      check "awk 'BEGIN{r=$peak/$planned; exit !(r > 0.95 && r < 1.05)}'" \
        "plan $dev $ft $obj: planned $planned MiB, measured peak $peak MiB (within 5%)"
    done
  done
done
# compute_dtype bf16 (full fine-tuning): the plan counts the bf16 copies of the matrices beside the fp32 masters. One
# sequence per step, so that the copies are about 9% of the memory and a plan without them would miss by more than 5%.
for dev in cpu vulkan; do
  d=(); [ $dev = cpu ] && d=(--device cpu)
  args=(--model "$work/llama" --template-name plain --seq-len 32 --objective sft --data "$work/data/iopo_train.json"
        --batch-size 1 --compute-dtype bf16 "${d[@]}")
  pl=$("$iopo" train "${args[@]}" --plan 2>&1) || fail "plan $dev compute bf16: $pl"
  planned=$(mib "$(grep '^  total' <<<"$pl")")
  "$iopo" train "${args[@]}" --steps 1 --out "$work/plan_${dev}_cbf" >"$work/plan_${dev}_cbf.log" 2>&1 ||
    fail "plan run $dev compute bf16: $(tail -2 "$work/plan_${dev}_cbf.log")"
  peak=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/plan_${dev}_cbf.log")
  copies=$(mib "$(grep '^  compute copies' <<<"$pl" | sed 's/compute copies/copies/')")
  check "awk 'BEGIN{r=$peak/$planned; exit !(r > 0.95 && r < 1.05 && $copies > 0)}'" \
    "plan $dev compute bf16 sft: planned $planned MiB with $copies MiB of bf16 copies, measured peak $peak MiB (within 5%)"
done
# pref_chunk: an IOPO micro-batch of 8 sequences in chunks of 1 and of 3 gives the unchunked step's loss and gradient
# norm (float rounding apart: the weight gradients sum over rows in another grouping), in the memory of a chunk.
for k in 0 1 3; do
  "$iopo" train --model "$work/llama" --template-name plain --seq-len 32 --objective iopo --data "$work/data/iopo_train.json" \
    --batch-size 2 --steps 1 --device cpu --pref-chunk $k --out "$work/pc$k" >"$work/pc$k.log" 2>&1 ||
    fail "pref_chunk $k run: $(tail -2 "$work/pc$k.log")"
done
for k in 1 3; do
  check "/usr/bin/python3 -c '
import json, sys
a, b = (json.loads(open(p).readline()) for p in sys.argv[1:])
sys.exit(not all(abs(a[k] - b[k]) <= 1e-5 * abs(a[k]) for k in (\"loss\", \"grad_norm\")))' '$work/pc0/metrics.jsonl' '$work/pc$k/metrics.jsonl'" \
    "pref_chunk $k: the unchunked step's loss and gradient norm"
  pk=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/pc$k.log")
  pl=$(sed -n 's/^memory: .*: \([0-9.]*\) MiB$/\1/p' "$work/pc$k.log")
  p0=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/pc0.log")
  check "awk 'BEGIN{exit !($pk < $p0 && $pk / $pl > 0.95 && $pk / $pl < 1.05)}'" \
    "pref_chunk $k: peak $pk MiB below the unchunked $p0 MiB, and within 5% of its plan ($pl MiB)"
done

# Recomputation: the same run, bit for bit, in less memory.
for gc in 0 1; do
  "$iopo" train --model "$work/llama" --template-name plain --seq-len 32 --objective iopo --data "$work/data/iopo_train.json" \
    --batch-size 2 --steps 3 --device cpu --gradient-checkpointing $gc --out "$work/gc$gc" >"$work/gc$gc.log" 2>&1 ||
    fail "gradient_checkpointing $gc run: $(tail -2 "$work/gc$gc.log")"
done
g0=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/gc0.log") g1=$(sed -n 's/tensor memory: peak \([0-9.]*\) MiB.*/\1/p' "$work/gc1.log")
check "cmp -s '$work/gc0/final/model.safetensors' '$work/gc1/final/model.safetensors' && awk 'BEGIN{exit !($g1 < $g0)}'" \
  "gradient_checkpointing: bit-identical weights after 3 IOPO steps, peak $g1 MiB against $g0 MiB"
check "! '$iopo' train --model '$work/llama' --objective iopo --seq-len 32 --batch-size 100000 --plan >'$work/noplan.log' 2>&1 &&
  grep -q 'DOES NOT FIT' '$work/noplan.log'" "--plan exits non-zero and says so when the plan does not fit the device"

# score with preference objectives.
"$iopo" score --model "$work/init" --objective iopo --template plain --data "$work/data/iopo_eval.json" \
  --out "$work/iopo_scores.jsonl" --device cpu >"$work/score.log" 2>&1 || fail "score iopo: $(cat "$work/score.log")"
check "[ \$(wc -l <'$work/iopo_scores.jsonl') -eq 21 ] && grep -q '\"x2y1\"' '$work/iopo_scores.jsonl' && grep -q '\"ref_logps\"' '$work/iopo_scores.jsonl'" \
  "score --objective iopo: one line per record with x1y1..x2y1"
"$iopo" score --model "$work/dpo/checkpoint-150" --ref "$work/init" --objective dpo --template plain \
  --data "$work/data/dpo_eval.jsonl" --device cpu >"$work/dpo_scores.jsonl" 2>"$work/score.log" ||
  fail "score dpo: $(cat "$work/score.log")"
check "[ \$(grep -c '\"chosen\"' '$work/dpo_scores.jsonl') -eq 21 ]" "score --objective dpo with --ref"

echo "pref_train: $passes passed, $fails failed (IOPO step ${mi:-?} MiB, SFT step ${ms:-?} MiB)"
[ "$fails" -eq 0 ]
