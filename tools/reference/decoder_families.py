"""Llama, Qwen2 and Qwen3 in plain PyTorch for gpt2_reference.py: config.json keys, Hugging Face tensor names and
shapes, the forward pass, seeded random checkpoints, and an independent loop implementation for the self-test.

Written from the formulas in /work/shared/REFERENCE.md sections 3 and 6, not from transformers' code:
  x = embed_tokens[ids]
  per layer:  h = RMS(x) * input_layernorm;  q = h Wq^T (+bq), k = h Wk^T (+bk), v = h Wv^T (+bv)   (Linear: [out, in])
              qwen3: q, k = RMS over each head's head_dim * q_norm / k_norm           (before RoPE)
              q, k = rope(q), rope(k)   rotate-half, positions 0.. per sequence, inv_freq default or llama3-scaled
              query head h reads KV head h // (H / K);  a = softmax(q k^T / sqrt(hd), causal, padded keys off) v
              x += a Wo^T (+bo);  h = RMS(x) * post_attention_layernorm;  x += (silu(h Wg^T) * (h Wu^T)) Wd^T
  logits = (RMS(x) * norm) @ (embed_tokens if tied else lm_head)^T
Padding is gpt2_reference.py's: padded query rows' attention output (before o_proj) is zero.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

import lora  # LoRA adapters on the linear layers (lora.add)

FAMILIES = ("llama", "qwen2", "qwen3")
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


class FamilyConfig:
    def __init__(self, family, n_layer, n_head, n_kv_head, n_embd, head_dim, n_ffn, n_ctx, vocab_size, eps,
                 rope_theta, rope_scaling, tied, attention_bias):
        self.family = family
        self.n_layer, self.n_head, self.n_kv_head, self.n_embd = n_layer, n_head, n_kv_head, n_embd
        self.head_dim, self.n_ffn, self.n_ctx, self.vocab_size, self.eps = head_dim, n_ffn, n_ctx, vocab_size, eps
        self.rope_theta, self.rope_scaling, self.tied = rope_theta, rope_scaling, tied
        # Which biases exist: Qwen2 always has q/k/v (never o); Llama and Qwen3 have q/k/v/o with attention_bias.
        self.attention_bias = attention_bias
        self.qkv_bias = family == "qwen2" or attention_bias
        self.o_bias = family != "qwen2" and attention_bias
        self.qk_norm = family == "qwen3"


def param_shapes(cfg):
    """HF parameter names in HF order, with shapes (torch Linear weights are [out, in])."""
    C, V, hd, H, K = cfg.n_embd, cfg.vocab_size, cfg.head_dim, cfg.n_head, cfg.n_kv_head
    shapes = {"model.embed_tokens.weight": [V, C]}
    for i in range(cfg.n_layer):
        pre = "model.layers.%d." % i
        shapes[pre + "input_layernorm.weight"] = [C]
        shapes[pre + "self_attn.q_proj.weight"] = [H * hd, C]
        shapes[pre + "self_attn.k_proj.weight"] = [K * hd, C]
        shapes[pre + "self_attn.v_proj.weight"] = [K * hd, C]
        if cfg.qkv_bias:
            shapes[pre + "self_attn.q_proj.bias"] = [H * hd]
            shapes[pre + "self_attn.k_proj.bias"] = [K * hd]
            shapes[pre + "self_attn.v_proj.bias"] = [K * hd]
        if cfg.qk_norm:
            shapes[pre + "self_attn.q_norm.weight"] = [hd]
            shapes[pre + "self_attn.k_norm.weight"] = [hd]
        shapes[pre + "self_attn.o_proj.weight"] = [C, H * hd]
        if cfg.o_bias:
            shapes[pre + "self_attn.o_proj.bias"] = [C]
        shapes[pre + "post_attention_layernorm.weight"] = [C]
        shapes[pre + "mlp.gate_proj.weight"] = [cfg.n_ffn, C]
        shapes[pre + "mlp.up_proj.weight"] = [cfg.n_ffn, C]
        shapes[pre + "mlp.down_proj.weight"] = [C, cfg.n_ffn]
    shapes["model.norm.weight"] = [C]
    if not cfg.tied:
        shapes["lm_head.weight"] = [V, C]
    return shapes


def ignored(cfg, name):
    """Tensors a checkpoint may hold that are not parameters: old RoPE buffers, a tied head's copy."""
    return name.endswith(".rotary_emb.inv_freq") or (cfg.tied and name == "lm_head.weight")


def load_config(path, j, error):
    """FamilyConfig from a parsed config.json; error(msg) raises the caller's InputError."""
    fam = j.get("model_type")

    def pos_int(key, default=None):
        v = j.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            error("%s: %r must be a positive integer, got %r" % (path, key, v))
        return v

    def pos_num(v, key):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0 or not math.isfinite(v):
            error("%s: %r must be a positive number, got %r" % (path, key, v))
        return float(v)

    def flag(key, default):
        v = j.get(key, default)
        if not isinstance(v, bool):
            error("%s: %r must be true or false, got %r" % (path, key, v))
        return v

    if j.get("hidden_act", "silu") != "silu":
        error("%s: hidden_act %r is not silu" % (path, j.get("hidden_act")))
    if flag("mlp_bias", False) or flag("use_sliding_window", False):
        error("%s: mlp_bias and use_sliding_window are not supported" % path)
    C, H = pos_int("hidden_size"), pos_int("num_attention_heads")
    K = pos_int("num_key_value_heads", H)
    if H % K:
        error("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d" % (path, H, K))
    if "head_dim" in j and j["head_dim"] is not None:
        hd = pos_int("head_dim")
    elif C % H:
        error("%s: hidden_size %d is not a multiple of num_attention_heads %d and head_dim is absent" % (path, C, H))
    else:
        hd = C // H
    if hd % 2:
        error("%s: head_dim %d is odd: rotate-half RoPE pairs j with j + head_dim/2" % (path, hd))
    # transformers 5 moves rope_theta and the scaling into rope_parameters.
    rp = j.get("rope_parameters")
    scaling = rp if isinstance(rp, dict) else j.get("rope_scaling")
    theta = pos_num((rp if isinstance(rp, dict) else j).get("rope_theta", 10000.0), "rope_theta")
    if scaling is not None:
        if not isinstance(scaling, dict):
            error("%s: rope_scaling must be an object or null" % path)
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "default":
            scaling = None
        elif kind != "llama3":
            error("%s: rope_scaling type %r is not supported (default, llama3)" % (path, kind))
        else:
            scaling = {k: pos_num(scaling.get(k), "rope_scaling." + k)
                       for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}
            if not scaling["high_freq_factor"] > scaling["low_freq_factor"]:
                error("%s: rope_scaling.high_freq_factor must exceed low_freq_factor" % path)
    attention_bias = flag("attention_bias", False)
    if fam == "qwen2" and attention_bias:
        error("%s: attention_bias is not a Qwen2 key (its q/k/v biases are always there)" % path)
    return FamilyConfig(fam, pos_int("num_hidden_layers"), H, K, C, hd, pos_int("intermediate_size"),
                        pos_int("max_position_embeddings"), pos_int("vocab_size"),
                        pos_num(j.get("rms_norm_eps", 1e-6), "rms_norm_eps"), theta, scaling,
                        flag("tie_word_embeddings", False), attention_bias)


def config_json(cfg):
    """config.json as save_pretrained writes it (transformers 4 keys)."""
    conf = {"architectures": [ARCHITECTURES[cfg.family]], "model_type": cfg.family, "hidden_act": "silu",
            "hidden_size": cfg.n_embd, "intermediate_size": cfg.n_ffn, "num_hidden_layers": cfg.n_layer,
            "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_kv_head, "head_dim": cfg.head_dim,
            "max_position_embeddings": cfg.n_ctx, "vocab_size": cfg.vocab_size, "rms_norm_eps": cfg.eps,
            "rope_theta": cfg.rope_theta, "rope_scaling": None, "tie_word_embeddings": cfg.tied,
            "bos_token_id": cfg.vocab_size - 1, "eos_token_id": cfg.vocab_size - 1, "torch_dtype": "float32"}
    if cfg.rope_scaling:
        conf["rope_scaling"] = dict(cfg.rope_scaling, rope_type="llama3")
        conf["rope_scaling"]["original_max_position_embeddings"] = int(
            cfg.rope_scaling["original_max_position_embeddings"])
    if cfg.family != "qwen2":
        conf["attention_bias"] = cfg.attention_bias
    return conf


# ---------------------------------------------------------------------------------------------------------------------
# model

def inv_freq(cfg):
    """float64 [head_dim/2]: rope_theta^(-2i/d), rescaled per REFERENCE.md section 6 for rope_scaling llama3."""
    d = cfg.head_dim
    f = cfg.rope_theta ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2.0 / d)
    s = cfg.rope_scaling
    if s:
        old, lo, hi = s["original_max_position_embeddings"], s["low_freq_factor"], s["high_freq_factor"]
        w = 2 * math.pi / f
        smooth = ((old / w - lo) / (hi - lo)).clamp(0.0, 1.0)
        mid = (1 - smooth) * f / s["factor"] + smooth * f
        f = torch.where(w > old / lo, f / s["factor"], torch.where(w < old / hi, f, mid))
    return f


def rope(x, cos, sin):
    """x (B, heads, T, d): out = x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1]."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(p, cfg, input_ids, lengths):
    """Logits (B, T, V) in the dtype of the parameters."""
    B, T = input_ids.shape
    H, K, hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim
    pos = torch.arange(T)
    ang = pos.to(torch.float64)[:, None] * inv_freq(cfg)[None, :]          # (T, d/2)
    ang = torch.cat((ang, ang), dim=-1)                                     # dimension j and j + d/2 share an angle
    dt = p["model.embed_tokens.weight"].dtype
    cos, sin = ang.cos().to(dt), ang.sin().to(dt)
    allowed = (pos[None, None, :] <= pos[None, :, None]) & (pos[None, None, :] < lengths[:, None, None])
    allowed = allowed.unsqueeze(1)
    qvalid = (pos[None, :] < lengths[:, None]).unsqueeze(-1)
    neg = torch.finfo(dt).min
    x = p["model.embed_tokens.weight"][input_ids]
    for i in range(cfg.n_layer):
        pre = "model.layers.%d." % i

        def lin(h, name, bias):  # a torch Linear (weight [out, in]) with its LoRA adapter, if any
            y = h @ p[pre + name + ".weight"].t()
            return lora.add(y + p[pre + name + ".bias"] if bias else y, h, p, cfg, pre + name + ".weight")

        h = rms_norm(x, p[pre + "input_layernorm.weight"], cfg.eps)
        q = lin(h, "self_attn.q_proj", cfg.qkv_bias).reshape(B, T, H, hd).transpose(1, 2)
        k = lin(h, "self_attn.k_proj", cfg.qkv_bias).reshape(B, T, K, hd).transpose(1, 2)
        v = lin(h, "self_attn.v_proj", cfg.qkv_bias).reshape(B, T, K, hd).transpose(1, 2)
        if cfg.qk_norm:
            q = rms_norm(q, p[pre + "self_attn.q_norm.weight"], cfg.eps)
            k = rms_norm(k, p[pre + "self_attn.k_norm.weight"], cfg.eps)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k, v = k.repeat_interleave(H // K, dim=1), v.repeat_interleave(H // K, dim=1)   # head h reads h // (H/K)
        s = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~allowed, neg)
        a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * hd)
        a = torch.where(qvalid, a, torch.zeros_like(a))
        x = x + lin(a, "self_attn.o_proj", cfg.o_bias)
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], cfg.eps)
        x = x + lin(F.silu(lin(h, "mlp.gate_proj", False)) * lin(h, "mlp.up_proj", False), "mlp.down_proj", False)
    x = rms_norm(x, p["model.norm.weight"], cfg.eps)
    return x @ p["model.embed_tokens.weight" if cfg.tied else "lm_head.weight"].t()


def random_params(cfg, seed):
    """Seeded random weights, large enough that attention is far from uniform (so RoPE and the q/k path matter),
    norm weights 1 + N(0, 0.1^2) and biases N(0, 0.1^2) so every parameter has a visible effect and gradient."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in param_shapes(cfg).items():
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if name.endswith("norm.weight"):
            out[name] = 1.0 + 0.1 * z
        elif name.endswith(".bias"):
            out[name] = 0.1 * z
        elif name in ("model.embed_tokens.weight", "lm_head.weight"):
            out[name] = 0.3 * z
        else:
            out[name] = z / math.sqrt(shape[1]) * 1.5
    return out


def write_config(model_dir, cfg):
    tmp = os.path.join(model_dir, "config.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(config_json(cfg), f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(model_dir, "config.json"))


# ---------------------------------------------------------------------------------------------------------------------
# self-test helpers

def loop_forward(p, cfg, ids, L):
    """Independent float64 implementation of one right-padded sequence: explicit loops over tokens, heads and RoPE
    pairs with cos/sin of python floats, RMSNorm and SiLU written out; shares no code with forward()."""
    H, K, hd, C = cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.n_embd
    T = len(ids)
    freqs = []
    for i in range(hd // 2):
        f = cfg.rope_theta ** (-2.0 * i / hd)
        s = cfg.rope_scaling
        if s:
            w = 2 * math.pi / f
            old = s["original_max_position_embeddings"]
            if w > old / s["low_freq_factor"]:
                f = f / s["factor"]
            elif w >= old / s["high_freq_factor"]:
                sm = (old / w - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
                f = (1 - sm) * f / s["factor"] + sm * f
        freqs.append(f)

    def rms(v, w):
        r = 1.0 / math.sqrt(sum(e * e for e in v.tolist()) / v.numel() + cfg.eps)
        return v * r * w

    def rot(v, t):
        out = v.clone()
        for i in range(hd // 2):
            c, s = math.cos(t * freqs[i]), math.sin(t * freqs[i])
            a, b = float(v[i]), float(v[i + hd // 2])
            out[i], out[i + hd // 2] = a * c - b * s, b * c + a * s
        return out

    def g(i, s):
        return p["model.layers.%d.%s" % (i, s)]

    x = [p["model.embed_tokens.weight"][ids[t]].clone() for t in range(T)]
    for i in range(cfg.n_layer):
        qs, ks, vs = [], [], []
        for t in range(T):
            h = rms(x[t], g(i, "input_layernorm.weight"))
            q, k, v = (torch.mv(g(i, "self_attn.%s_proj.weight" % n), h) for n in "qkv")
            if cfg.qkv_bias:
                q, k, v = (u + g(i, "self_attn.%s_proj.bias" % n) for u, n in zip((q, k, v), "qkv"))
            qh = [q[j * hd:(j + 1) * hd] for j in range(H)]
            kh = [k[j * hd:(j + 1) * hd] for j in range(K)]
            if cfg.qk_norm:
                qh = [rms(u, g(i, "self_attn.q_norm.weight")) for u in qh]
                kh = [rms(u, g(i, "self_attn.k_norm.weight")) for u in kh]
            qs.append([rot(u, t) for u in qh])
            ks.append([rot(u, t) for u in kh])
            vs.append([v[j * hd:(j + 1) * hd] for j in range(K)])
        new = []
        for t in range(T):
            heads = []
            for hh in range(H):
                kv = hh * K // H
                if t >= L:
                    heads.append(torch.zeros(hd, dtype=torch.float64))
                    continue
                sc = [float(torch.dot(qs[t][hh], ks[s][kv])) / math.sqrt(hd) for s in range(t + 1)]
                mx = max(sc)
                w = [math.exp(e - mx) for e in sc]
                z = sum(w)
                heads.append(sum(w[s] / z * vs[s][kv] for s in range(t + 1)))
            o = torch.mv(g(i, "self_attn.o_proj.weight"), torch.cat(heads))
            if cfg.o_bias:
                o = o + g(i, "self_attn.o_proj.bias")
            new.append(x[t] + o)
        x = new
        for t in range(T):
            h = rms(x[t], g(i, "post_attention_layernorm.weight"))
            gate = torch.mv(g(i, "mlp.gate_proj.weight"), h).tolist()
            up = torch.mv(g(i, "mlp.up_proj.weight"), h).tolist()
            u = torch.tensor([a / (1 + math.exp(-a)) * b for a, b in zip(gate, up)], dtype=torch.float64)
            x[t] = x[t] + torch.mv(g(i, "mlp.down_proj.weight"), u)
    head = p["model.embed_tokens.weight" if cfg.tied else "lm_head.weight"]
    assert C == head.shape[1]
    return torch.stack([torch.mv(head, rms(x[t], p["model.norm.weight"])) for t in range(T)])


def self_test_configs():
    """The shapes the self-test runs: each family with the features the C test exercises."""
    # head_dim 8, theta 1e4: wavelengths 6.3, 63, 628, 6283 fall in llama3's kept (< 16), blended, divided (> 128)
    llama3 = {"factor": 8.0, "low_freq_factor": 0.5, "high_freq_factor": 4.0, "original_max_position_embeddings": 64.0}
    return [
        FamilyConfig("llama", 2, 4, 2, 16, 8, 24, 12, 37, 1e-5, 10000.0, llama3, False, True),
        FamilyConfig("llama", 1, 2, 2, 16, 8, 20, 12, 37, 1e-5, 500.0, None, True, False),
        FamilyConfig("qwen2", 2, 4, 2, 16, 4, 24, 12, 37, 1e-6, 10000.0, None, True, False),
        FamilyConfig("qwen3", 2, 4, 2, 16, 6, 24, 12, 37, 1e-6, 10000.0, None, False, False),
    ]
