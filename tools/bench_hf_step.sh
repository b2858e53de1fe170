#!/usr/bin/env bash
# One SFT training step of iopo's CPU backend against transformers' own model (PyTorch, CPU) on the same random
# model, the same batch shape and the same number of threads, measured side by side in one run:
#   - transformers builds the random model from a config of the named shape and saves it (fp32);
#   - PyTorch: forward + backward of the mean token loss + torch.optim.AdamW step, median of STEPS after a warm-up;
#   - iopo: `iopo train --device cpu` on that directory with the same batch (pre-tokenized records of exactly T+1
#     tokens, so no padding either side), median ms_per_step of metrics.jsonl after the first step.
# Prints one line per side and the ratio. Usage:
#   tools/bench_hf_step.sh SHAPE [STEPS] [BATCH] [SEQ] [THREADS]     SHAPE: qwen2-0.5b | llama-3.2-1b | tiny
# Needs build/iopo and the peer venv (tools/peer-venv.sh makes it). Memory: about 16 bytes per parameter per side
# (weights, gradients, two AdamW moments) plus activations; qwen2-0.5b needs about 20 GB in all, run sides one by one.
# LAYERS=N keeps the shape's widths and vocabulary with N layers: the whole Llama-3.2-1B (1.24B parameters) puts
# PyTorch over 24 GB (measured, with fused AdamW too), its per-layer shapes with 8 layers do not.
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:?usage: tools/bench_hf_step.sh SHAPE [STEPS] [BATCH] [SEQ] [THREADS]}
steps=${2:-3} batch=${3:-1} seq=${4:-256} threads=${5:-$(nproc)}
python=$(tools/peer-venv.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads

"$python" - "$shape" "$work" "$batch" "$seq" <<'PY'
import json, os, random, sys, torch, transformers
shape, work, B, T = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
shapes = {
    # Qwen2-0.5B: 24 layers, hidden 896, 14 heads, 2 kv heads, MLP 4864, vocab 151,936, tied head.
    "qwen2-0.5b": (transformers.Qwen2Config, dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                   num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
                   rope_theta=1e6, max_position_embeddings=4096, rms_norm_eps=1e-6)),
    # Llama-3.2-1B: 16 layers, hidden 2048, 32 heads, 8 kv heads, MLP 8192, vocab 128,256, tied, llama3 RoPE.
    "llama-3.2-1b": (transformers.LlamaConfig, dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                     num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True,
                     rope_theta=500000.0, max_position_embeddings=4096, rms_norm_eps=1e-5,
                     rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    "tiny": (transformers.Qwen2Config, dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, vocab_size=1000, tie_word_embeddings=True,
             max_position_embeddings=512)),
}
cls, kw = shapes[shape]
if os.environ.get("LAYERS"): kw["num_hidden_layers"] = int(os.environ["LAYERS"])
torch.manual_seed(0)
m = transformers.AutoModelForCausalLM.from_config(cls(**kw, attention_dropout=0.0))
m.save_pretrained(f"{work}/model")
random.seed(0)
with open(f"{work}/data.jsonl", "w") as f:
    for _ in range(B * 64):
        ids = [random.randrange(kw["vocab_size"]) for _ in range(T + 1)]
        f.write(json.dumps({"input_ids": ids}) + "\n")
print(f"{shape} ({kw['num_hidden_layers']} layers): {sum(p.numel() for p in m.parameters()) / 1e6:.1f}M parameters; batch {B} x {T} tokens")
PY

"$python" - "$work" "$batch" "$seq" "$steps" "$threads" <<'PY'
import json, statistics, sys, time, torch, transformers
work, B, T, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
m = transformers.AutoModelForCausalLM.from_pretrained(f"{work}/model", dtype=torch.float32, attn_implementation="eager")
m.train()
# fused=True: one kernel per parameter without temporaries; the default foreach path allocates whole-model
# temporaries, which put the 1B shape (about 20 GB of weights, gradients and moments) over a 24 GB machine (and
# foreach=False still did, measured). The arithmetic is AdamW's either way.
opt = torch.optim.AdamW(m.parameters(), lr=1e-5, weight_decay=0.0, fused=True)
rows = [json.loads(l)["input_ids"] for l in open(f"{work}/data.jsonl")]
times = []
for s in range(steps + 1):
    batch = torch.tensor(rows[s * B:(s + 1) * B])
    t0 = time.perf_counter()
    out = m(input_ids=batch[:, :T], labels=None)
    loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), batch[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=False)
    if s: times.append(1e3 * (time.perf_counter() - t0))
ms = statistics.median(times)
print(f"transformers {transformers.__version__} / torch {torch.__version__} ({threads} threads): {ms:.0f} ms/step")
open(f"{work}/torch_ms", "w").write(str(ms))
PY

build/iopo train --model "$work/model" --data "$work/data.jsonl" --device cpu --steps $((steps + 1)) \
  --batch-size "$batch" --seq-len "$seq" --lr 1e-5 --log-every 1 --out "$work/run" >"$work/iopo.log" 2>&1 ||
  { tail -5 "$work/iopo.log"; exit 1; }
iopo_ms=$(sed 's/.*"ms_per_step": \([^,}]*\).*/\1/' "$work/run/metrics.jsonl" | tail -n +2 | sort -g |
          awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
torch_ms=$(cat "$work/torch_ms")
printf 'iopo cpu backend (%d threads): %.0f ms/step\n' "$threads" "$iopo_ms"
awk -v a="$iopo_ms" -v b="$torch_ms" 'BEGIN { printf "ratio iopo / transformers: %.2f (below 1: iopo is faster)\n", a / b }'
grep '^memory:\|^tensor memory' "$work/iopo.log"
