#!/usr/bin/python3
"""Cross-checks iopo's safetensors code against PyTorch, without the safetensors package.

1. iopo writes a file (test_safetensors --write-for-python); this script parses it with struct/json, applies the
   rules of Hugging Face's reader (header length a multiple of 8 here, JSON object, string metadata, tensors back to
   back from offset 0 up to the end of the file, byte sizes matching shape x dtype) and compares the values with
   torch.frombuffer.
2. torch writes F16/BF16 tensors (every one of the 65,536 bit patterns of each) next to their fp32 conversion by
   torch (".ref" tensors); test_safetensors --check-python-file reads both and requires bit-identical results.
3. torch rounds fp32 values to BF16 and F16 (every rounding tie of either format and the values just either side,
   fp16 subnormals and overflow, inf, NaN, random bit patterns); test_safetensors --check-rounding requires iopo's
   conversions (src/util/half.h, which the CPU backend, the shaders' mirror and the bf16 writer share) to give the
   same bits (a NaN: a NaN).

Usage: safetensors_check.py PATH/TO/test_safetensors. Exits 77 (a failure for ctest) when torch cannot be imported.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means "no torch here"
    print(f"skipped: import torch failed: {e}")
    sys.exit(77)

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}
TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def fail(msg):
    print(f"FAILED: {msg}")
    sys.exit(1)


def pattern(t, n):
    # Must match pattern() in test_safetensors.c; these values are exact in fp32.
    return torch.tensor([((i * 37) % 101 - 50) / 8.0 + t for i in range(n)], dtype=torch.float32)


def parse(path):
    """Parses and validates a file the way Hugging Face's reader does.

    Returns (metadata, header length, {name: tensor})."""
    raw = open(path, "rb").read()
    if len(raw) < 8:
        fail(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        fail(f"{path}: header length {n} beyond the file")
    text = raw[8 : 8 + n].decode("utf-8")
    if not text.startswith("{"):
        fail(f"{path}: header does not start with '{{'")
    header = json.loads(text)  # like serde, rejects anything but whitespace after the object
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        fail(f"{path}: __metadata__ is not a map of strings: {meta!r}")
    data = raw[8 + n :]
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    pos = 0
    tensors = {}
    for name, info in entries:
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}: {name}: keys {sorted(info)}")
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if not all(type(d) is int and d >= 0 for d in shape) or type(b) is not int or type(e) is not int:
            fail(f"{path}: {name}: non-integer shape or offsets {shape} {b} {e}")
        if b != pos or e < b:
            fail(f"{path}: {name}: data_offsets [{b}, {e}] do not continue at {pos} (HF rejects gaps)")
        numel = 1
        for d in shape:
            numel *= d
        if e - b != numel * DTYPE_SIZE[dtype]:
            fail(f"{path}: {name}: {e - b} bytes for shape {shape} {dtype}")
        if numel:
            t = torch.frombuffer(bytearray(data[b:e]), dtype=TORCH_DTYPE[dtype]).reshape(shape)
        else:
            t = torch.empty(shape, dtype=TORCH_DTYPE[dtype])
        tensors[name] = t
        pos = e
    if pos != len(data):
        fail(f"{path}: data section is {len(data)} bytes, tensors end at {pos} (HF rejects trailing bytes)")
    return meta, n, tensors


def check_iopo_written(exe, tmp):
    path = os.path.join(tmp, "from_iopo.safetensors")
    subprocess.run([exe, "--write-for-python", path], check=True)
    meta, hlen, got = parse(path)
    if hlen % 8:
        fail(f"{path}: header length {hlen} is not a multiple of 8 (data section unaligned)")
    if meta != {"format": "pt", "iopo": 'test "quoted"'}:
        fail(f"{path}: metadata {meta!r}")
    want = {
        "h.0.attn.c_attn.weight": pattern(1, 15).reshape(3, 5),
        "odd": pattern(2, 7),
        "scalar": pattern(3, 1).reshape(()),
        "empty": torch.empty(2, 0, 4),
        "ln_f.bias": pattern(1, 15).reshape(1, 3, 5),
    }
    if set(got) != set(want):
        fail(f"{path}: tensors {sorted(got)}, expected {sorted(want)}")
    for name, w in want.items():
        g = got[name]
        if g.dtype != torch.float32 or g.shape != w.shape or not torch.equal(g, w):
            fail(f"{path}: {name}: got {g.dtype} {tuple(g.shape)} {g.flatten()[:8].tolist()}, "
                 f"expected {tuple(w.shape)} {w.flatten()[:8].tolist()}")
    print(f"{path}: {len(got)} tensors match (header {hlen} bytes)")


def to_bytes(t):
    return t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""


def check_torch_written(exe, tmp):
    bits = torch.arange(-32768, 32768, dtype=torch.int16)
    f16_odd = torch.tensor([1.0, -2.5, 65504.0], dtype=torch.float16)
    f32_odd = torch.tensor([1.5, -0.0, float("inf"), 1e-45, -3.4028234e38, float("nan"), 0.1], dtype=torch.float32)
    f16_all = bits.view(torch.float16).reshape(256, 256)
    bf16_all = bits.view(torch.bfloat16)
    tensors = [
        ("f16_odd", "F16", f16_odd),  # 6 bytes: what follows is only 2-byte aligned
        ("f32_odd", "F32", f32_odd),
        ("f16_all", "F16", f16_all),
        ("bf16_all", "BF16", bf16_all),
    ]
    tensors += [(n + ".ref", "F32", t.float()) for n, _, t in tensors]
    header, blobs, pos = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, t in tensors:
        b = to_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    text = json.dumps(header).encode()
    # Leave the data section misaligned on purpose (8 + N = 2 mod 4): the reader must cope with any header length.
    text += b" " * ((2 - (8 + len(text))) % 4)
    write_and_check(exe, os.path.join(tmp, "from_torch.safetensors"), text, blobs, "--check-python-file")


def write_and_check(exe, path, text, blobs, flag):
    """Writes a safetensors file of header text and data blobs, then has test_safetensors check it with flag."""
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    r = subprocess.run([exe, flag, path], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stdout.write(r.stderr)
    if r.returncode != 0:
        fail(f"test_safetensors {flag} {path} exited {r.returncode}")


def f32_from_bits(bits):
    """int64 tensor of 32-bit patterns -> float32 tensor with those bits."""
    bits = bits & 0xFFFFFFFF
    bits = torch.where(bits >= 2**31, bits - 2**32, bits)
    return bits.to(torch.int32).view(torch.float32)


def f16_from_bits(bits):
    """int64 tensor of 16-bit patterns -> float16 tensor with those bits."""
    bits = bits & 0xFFFF
    return torch.where(bits >= 2**15, bits - 2**16, bits).to(torch.int16).view(torch.float16)


def check_torch_rounding(exe, tmp):
    hi = torch.arange(65536, dtype=torch.int64) << 16
    parts = [f32_from_bits(hi | lo) for lo in (0x0000, 0x7FFF, 0x8000, 0x8001, 0xFFFF)]  # bf16's ties and neighbours
    h = torch.arange(65536, dtype=torch.int64)
    v = f16_from_bits(h).double()  # every fp16 value
    finite = torch.isfinite(v) & ((h & 0x7FFF) != 0x7BFF)
    up = f16_from_bits(h + 1).double()  # the next value away from zero (sign-magnitude)
    mid = ((v + up) / 2)[finite].float()  # fp16's ties: exact in fp32
    parts += [mid, torch.nextafter(mid, torch.zeros_like(mid)), torch.nextafter(mid, mid * 2), v[finite].float()]
    parts.append(torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), -float("nan"), 65504.0,
                               65519.99609375, 65520.0, 65536.0, 2.0**-24, 2.0**-25, 1.5 * 2.0**-24, 2.0**-14,
                               3.4028234663852886e38, -3.4028234663852886e38, 2.0**-149, 2.0**-126, 1.0],
                              dtype=torch.float32))
    parts.append(f32_from_bits(torch.tensor([0x7F800001, 0xFF800001, 0x7FC00000, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F802000])))
    g = torch.Generator().manual_seed(9)
    parts.append(f32_from_bits(torch.randint(0, 2**32, (1 << 18,), dtype=torch.int64, generator=g)))
    x = torch.cat(parts)
    tensors = [("x", "F32", x), ("x.bf16", "BF16", x.to(torch.bfloat16)), ("x.f16", "F16", x.to(torch.float16))]
    header, blobs, pos = {}, [], 0
    for name, dtype, t in tensors:
        b = to_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    write_and_check(exe, os.path.join(tmp, "rounding.safetensors"), text, blobs, "--check-rounding")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="iopo-st-py-") as tmp:
        check_iopo_written(exe, tmp)
        check_torch_written(exe, tmp)
        check_torch_rounding(exe, tmp)
    print("ok")


if __name__ == "__main__":
    main()
