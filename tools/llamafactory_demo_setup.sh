#!/usr/bin/env bash
# Makes the demo model that assets/configs/qwen2_lora_iopo.yaml names: a tiny Qwen2 (2 layers, width 64, 6000
# positions so that cutoff_len 6000 fits) in build/llamafactory/qwen2, with the demo tokenizer plus the ChatML markers
# <|im_start|> and <|im_end|> that template qwen needs. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/iopo ] || { echo "build iopo first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
out=build/llamafactory
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
  build/iopo init --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --dim 64 --ffn 172 --ctx 6000 --tied 1 \
    --tokenizer "$out/tokenizer.json" --seed 1 --out "$out/qwen2"
echo "demo model: $out/qwen2"
