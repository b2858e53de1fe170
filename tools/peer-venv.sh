#!/usr/bin/env bash
# Makes (once) the Python virtual environment that holds the real Hugging Face stack the peer tests compare iopo
# against, and prints its python's path on stdout; everything else goes to stderr.
#
# The environment is exactly tools/reference/peer-requirements.txt: torch from the CPU wheel that PIP_FIND_LINKS
# (or /opt/wheels) holds (never from an index, whose default torch is a CUDA build of several GB: without the wheel
# this fails and says so), the rest from the package index as binary wheels only, each pinned, none of their dependencies left to the
# resolver (--no-deps, then `pip check`). It lives in ${IOPO_PEER_CACHE:-$HOME/.cache/iopo}/peer-venv-HASH, HASH
# naming the list and the Python it was made with, so a changed list makes a new one and an unchanged one is reused.
# Made under a lock (parallel tests wait for one another) and marked complete only at the end: one left half-made by
# an interrupted run is made again.
#
# Usage: tools/peer-venv.sh        (exit 0: the path printed; non-zero: the failing command was printed)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
requirements=$repo/tools/reference/peer-requirements.txt
base_python=/usr/bin/python3 # Debian's (python3-venv, python3-pip from tools/install-deps.sh); what CI's root has
say() { echo "peer-venv: $*" >&2; }

# Runs a command with its output on stderr; on failure names the command and exits with its status.
run() {
  local status=0
  "$@" >&2 || status=$?
  if [ "$status" -ne 0 ]; then
    say "failed (exit $status): $*"
    exit "$status"
  fi
}

[ -x "$base_python" ] || { say "missing $base_python (tools/install-deps.sh installs python3)"; exit 1; }
[ -f "$requirements" ] || { say "missing $requirements"; exit 1; }
py_version=$("$base_python" -c 'import sys; print(sys.version)')
py_tag=$("$base_python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
hash=$( { cat "$requirements"; echo "$py_version"; } | sha256sum | cut -c1-16)
cache=${IOPO_PEER_CACHE:-$HOME/.cache/iopo}
venv=$cache/peer-venv-$hash
python=$venv/bin/python

run mkdir -p "$cache"
exec 9>"$cache/peer-venv-$hash.lock"
flock 9
if [ -f "$venv/.complete" ] && [ -x "$python" ]; then
  echo "$python"
  exit 0
fi

torch_version=$(awk -F'==' '$1 == "torch" { print $2 }' "$requirements")
[ -n "$torch_version" ] || { say "$requirements pins no torch==VERSION"; exit 1; }
# The CPU wheel, looked for in the local folders PIP_FIND_LINKS names (space-separated; URLs are skipped), then in
# /opt/wheels, where the project's machines keep it (an environment without PIP_FIND_LINKS still finds it there).
wheel=""
for link in ${PIP_FIND_LINKS:-} /opt/wheels; do
  dir=${link#file://}
  [ -d "$dir" ] || continue
  for w in "$dir"/torch-"$torch_version"+cpu-"$py_tag"-"$py_tag"-*linux*_x86_64.whl \
           "$dir"/torch-"$torch_version"-"$py_tag"-"$py_tag"-*linux*_x86_64.whl; do
    [ -f "$w" ] && { wheel=$w; break 2; }
  done
done
if [ -z "$wheel" ]; then
  say "no CPU wheel torch-$torch_version+cpu-$py_tag-$py_tag-*linux*_x86_64.whl in PIP_FIND_LINKS" \
      "('${PIP_FIND_LINKS:-}') nor in /opt/wheels: put one in a folder and point PIP_FIND_LINKS at it; torch is" \
      "never taken from an index"
  exit 1
fi

start=$SECONDS
say "making $venv (torch from $wheel)"
rm -rf "$venv"
run "$base_python" -m venv "$venv"
pip=("$python" -m pip --disable-pip-version-check --no-input)
run "${pip[@]}" install --quiet --no-deps --only-binary=:all: "$wheel"
others=$(mktemp)
trap 'rm -f "$others"' EXIT
grep -v -E '^[[:space:]]*(#|$)' "$requirements" | grep -v -E '^torch==' >"$others"
run "${pip[@]}" install --quiet --no-deps --only-binary=:all: -r "$others"
run "${pip[@]}" check
run "$python" -c "import torch, transformers, tokenizers, safetensors, huggingface_hub, numpy
assert torch.__version__.split('+')[0] == '$torch_version', torch.__version__"
touch "$venv/.complete"
say "made in $((SECONDS - start)) s"
echo "$python"
