#!/usr/bin/env bash
# Training-step time of iopo (CPU backend and the default Vulkan device) against the PyTorch reference on the same
# GPT-2 model and batch shape (one thread each for the like-for-like CPU ratio, since the reference runs torch with
# one thread for determinism). Usage: tools/bench_train.sh [STEPS]   (after building into build/)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
iopo=build/iopo
"$iopo" init --arch gpt2 --layers 2 --heads 4 --dim 64 --ctx 64 --tokenizer assets/demo/tokenizer.json --seed 1 \
  --out "$work/m" >/dev/null
median_ms() { sed 's/.*"ms_per_step": \([^,}]*\).*/\1/' "$1" | tail -n +3 | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
run() {
  local name=$1
  shift
  "$@" "$iopo" train --model "$work/m" --data assets/demo/corpus.txt --out "$work/$name" --steps "$steps" \
    --batch-size 8 --seq-len 64 --log-every 1 >/dev/null 2>&1
  printf '%-34s %8.1f ms/step\n' "$name" "$(median_ms "$work/$name/metrics.jsonl")"
}
echo "GPT-2 2 layers, 4 heads, dim 64, vocab 512; batch 8 x 64 tokens; median of $steps steps"
run "iopo cpu (1 thread)" env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 IOPO_DEVICE=cpu
run "iopo cpu (all cores)" env IOPO_DEVICE=cpu
run "iopo vulkan (default device)" env
# PyTorch: the reference's AdamW loop on a batch of the same shape; per-step time from two run lengths.
/usr/bin/python3 - "$work" <<'PY'
import json, random, subprocess, sys, time
work = sys.argv[1]
random.seed(0)
B, T, V = 8, 64, 512
ids = [[random.randrange(V) for _ in range(T + 1)] for _ in range(B)]
batch = {"input_ids": [r[:T] for r in ids], "targets": [r[1:] for r in ids], "mask": [[1.0] * T for _ in range(B)],
         "lengths": [T] * B}
json.dump(batch, open(f"{work}/batch.json", "w"))
def wall(k):
    t = time.time()
    subprocess.run(["/usr/bin/python3", "tools/reference/gpt2_reference.py", "--model", f"{work}/m", "--batch",
                    f"{work}/batch.json", "--out", f"{work}/ref.safetensors", "--adamw-steps", str(k), "--lr", "1e-3",
                    "--beta1", "0.9", "--beta2", "0.999", "--eps", "1e-8", "--weight-decay", "0", "--grad-clip", "1"],
                   check=True)
    return time.time() - t
a, b = wall(2), wall(22)
print(f"{'pytorch cpu (1 thread, reference)':34s} {1000 * (b - a) / 20:8.1f} ms/step")
PY
