#!/usr/bin/env bash
# Installs every build and test dependency of iopo from Debian packages, enough for a minimal (debootstrap minbase)
# Debian 12 root to build both configurations and pass the whole suite; tools/fresh-root.sh proves that in CI.
# Idempotent: packages already present are left as they are, and the script does nothing else. Run as root (or with
# sudo) on Debian 12 or newer.
set -euo pipefail

packages=(
  build-essential cmake pkg-config      # C11 compiler, CMake >= 3.25
  libvulkan-dev libvulkan-volk-dev      # Vulkan headers, loader, and volk (compiled into the build)
  glslang-tools                         # glslangValidator: GLSL compute shaders -> SPIR-V at build time
  mesa-vulkan-drivers                   # lavapipe: a Vulkan CPU device for machines without a GPU
  vulkan-validationlayers               # VK_LAYER_KHRONOS_validation, on in every test
  vulkan-tools                          # vulkaninfo, for diagnosing drivers
  libcjson-dev                          # JSON configs
  libyaml-dev                           # YAML configs
  libopenblas-dev                       # sgemm for the CPU reference backend
  libpcre2-dev                          # tokenizer pre-split regexes
  libicu-dev                            # NFC normalisation for Qwen tokenizers
  python3-torch                         # the PyTorch reference the model tests compare against (/usr/bin/python3)
  python3-venv python3-pip              # tools/peer-venv.sh: the pinned transformers stack of the peer tests
  clang libclang-rt-14-dev              # the fuzz harnesses: clang with libFuzzer and the sanitizer runtimes
  nodejs npm                            # tokenizer_peer runs the JavaScript tokenizers, installed from npm by the test
  ca-certificates                       # https to the npm registry
)
# A machine may have Node.js and npm from elsewhere (nodesource, nvm): then the command is what counts, and installing
# Debian's packages over it would conflict.
declare -A command_of=([nodejs]=node [npm]=npm)

missing=()
for p in "${packages[@]}"; do
  if [ -n "${command_of[$p]:-}" ] && command -v "${command_of[$p]}" >/dev/null; then
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} dependencies are present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
