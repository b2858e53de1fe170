#!/usr/bin/env bash
# Makes what assets/configs/qwen2_lora_iopo.yaml names: the demo model, a tiny Qwen2 (2 layers, width 64, 6000
# positions so that cutoff_len 6000 fits) in build/llamafactory/qwen2, with the demo tokenizer plus the ChatML markers
# <|im_start|> and <|im_end|> that template qwen needs; and the SFT adapter the IOPO run starts from (as the paper's
# does), build/llamafactory/sft_adapter: LoRA SFT of that model on the demo IOPO records ((x1, y1) and (x2, y2)).
# Idempotent. IOPO=path/to/iopo and OUT=dir change where the binary and the files are (default build/iopo and
# build/llamafactory).
set -euo pipefail
cd "$(dirname "$0")/.."
iopo=${IOPO:-build/iopo}
[ -x "$iopo" ] || { echo "build iopo first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
out=${OUT:-build/llamafactory}
mkdir -p "$out"
[ -f "$out/tokenizer.json" ] || /usr/bin/python3 - "$out/tokenizer.json" <<'PY'
import json, sys
tok = json.load(open("assets/demo/tokenizer.json"))
n = len(tok["model"]["vocab"])
for i, content in enumerate(["<|im_start|>", "<|im_end|>"]):
    tok["added_tokens"].append({"id": n + i, "content": content, "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})
json.dump(tok, open(sys.argv[1], "w"), ensure_ascii=False)
PY
[ -f "$out/qwen2/model.safetensors" ] ||
  "$iopo" init --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 64 --ffn 172 --ctx 6000 --tied 1 \
    --tokenizer "$out/tokenizer.json" --seed 1 --out "$out/qwen2"
echo "demo model: $out/qwen2"
if [ ! -f "$out/sft_adapter/adapter_model.safetensors" ]; then
  "$iopo" train --model "$out/qwen2" --data assets/llamafactory/iopo_demo.json --objective sft --template-name chatml \
    --finetuning-type lora --lora-target all --seq-len 255 --batch-size 2 --steps 20 --lr 1e-2 --device cpu \
    --out "$out/sft" --overwrite >"$out/sft.log" 2>&1 || { tail -3 "$out/sft.log" >&2; exit 1; }
  rm -rf "$out/sft_adapter" && cp -r "$out/sft/final" "$out/sft_adapter"
fi
echo "SFT adapter: $out/sft_adapter"
