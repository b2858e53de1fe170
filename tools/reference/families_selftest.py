"""Self-test of decoder_families.py (Llama, Qwen2, Qwen3), run by gpt2_reference.py --self-test: the same groups of
checks the GPT-2 model gets, for each configuration in decoder_families.self_test_configs(). `ref` is the
gpt2_reference module (its batch, loss, AdamW and file helpers are family-independent)."""

import tempfile

import torch

import decoder_families as fam


def run(check, maxdiff, ref):
    B, T = 4, 9
    lengths = [9, 6, 2, 0]
    prompt = [3, 1, 0, 0]
    for n, cfg in enumerate(fam.self_test_configs()):
        tag = "%s%s%s%s" % (cfg.family, " gqa" if cfg.n_kv_head < cfg.n_head else "",
                            " tied" if cfg.tied else " untied", " llama3" if cfg.rope_scaling else "")
        g = torch.Generator().manual_seed(21 + n)
        ids = torch.randint(0, cfg.vocab_size, (B, T), generator=g)
        targets = torch.full((B, T), -100, dtype=torch.long)
        mask = torch.zeros(B, T)
        for b in range(B):
            for t in range(T):
                if t + 1 < lengths[b] and t + 1 >= prompt[b]:
                    targets[b, t] = ids[b, t + 1]
                    mask[b, t] = 1.0
        mask[0, 5] = 0.5
        batch = ref.Batch(ids, torch.tensor(lengths), torch.where(mask != 0, targets, torch.zeros_like(targets)), mask)
        base = fam.random_params(cfg, 5 + n)
        p64 = ref.leaf_params(base, torch.float64)
        logits64, _, sl64, _, loss64 = ref.forward_backward(p64, cfg, batch)
        g64 = {k: t.grad.clone() for k, t in p64.items()}

        # RoPE: the scores depend only on the offset between positions, and llama3 really uses all three bands.
        d = cfg.head_dim
        q, k = torch.randn(1, 1, 1, d, generator=g, dtype=torch.float64), torch.randn(1, 1, 1, d, generator=g,
                                                                                       dtype=torch.float64)
        f = fam.inv_freq(cfg)

        def at(x, t):
            a = torch.cat((t * f, t * f))
            return fam.rope(x, a.cos(), a.sin())

        rel = abs(float((at(q, 7) * at(k, 3)).sum() - (at(q, 4) * at(k, 0)).sum()))
        check("%s: RoPE scores depend on the position offset only" % tag, rel < 1e-12, "diff %.1e" % rel)
        if cfg.rope_scaling:
            plain = cfg.rope_theta ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2.0 / d)
            r = (f / plain).tolist()
            fac = cfg.rope_scaling["factor"]
            bands = (any(abs(e - 1) < 1e-12 for e in r), any(abs(e - 1 / fac) < 1e-12 for e in r),
                     any(1 / fac + 1e-6 < e < 1 - 1e-6 for e in r))
            check("%s: llama3 inv_freq has kept, blended and divided bands" % tag, all(bands),
                  "ratios %s" % ", ".join("%.4f" % e for e in r))

        # Forward against the loop implementation, valid and padded rows.
        worst = worst_pad = 0.0
        for b in range(B):
            lp = fam.loop_forward({k: t.detach() for k, t in p64.items()}, cfg, ids[b].tolist(), lengths[b])
            worst = max(worst, maxdiff(logits64[b, :lengths[b]], lp[:lengths[b]]) if lengths[b] else 0.0)
            worst_pad = max(worst_pad, maxdiff(logits64[b, lengths[b]:], lp[lengths[b]:]) if lengths[b] < T else 0.0)
        check("%s: logits == independent loop implementation (float64)" % tag, worst < 1e-10, "max diff %.2e" % worst)
        check("%s: padded rows: zero attention output" % tag, worst_pad < 1e-10, "max diff %.2e" % worst_pad)

        # Each sequence alone, unpadded.
        worst = 0.0
        for b in range(B):
            L = lengths[b]
            if L == 0 or mask[b].sum() == 0:
                continue
            one = ref.Batch(ids[b:b + 1, :L], torch.tensor([L]), batch.targets[b:b + 1, :L], mask[b:b + 1, :L])
            lg = ref.forward(p64, cfg, one.input_ids, one.lengths)
            worst = max(worst, maxdiff(lg, logits64[b:b + 1, :L]), maxdiff(ref.losses(lg, one)[1], sl64[b:b + 1]))
        check("%s: padded batch == each sequence alone" % tag, worst < 1e-12, "max diff %.2e" % worst)

        # Autograd against float64 central finite differences, a few entries of every tensor.
        def loss_at(pp):
            with torch.no_grad():
                return ref.losses(ref.forward(pp, cfg, batch.input_ids, batch.lengths), batch)[3].item()

        worst, n_checked, h = 0.0, 0, 1e-6
        probe = {k: t.detach().clone() for k, t in p64.items()}
        for name, t in probe.items():
            flat = t.view(-1)
            for j in torch.randperm(flat.numel(), generator=g)[:3].tolist():
                old = float(flat[j])
                flat[j] = old + h
                fp = loss_at(probe)
                flat[j] = old - h
                fm = loss_at(probe)
                flat[j] = old
                fd = (fp - fm) / (2 * h)
                ag = float(g64[name].view(-1)[j])
                err = abs(fd - ag) / (1e-8 + 1e-5 * abs(ag))
                worst = max(worst, err)
                n_checked += 1
                if err > 1:
                    print("    %s %s[%d]: autograd %.10g, finite difference %.10g" % (tag, name, j, ag, fd))
        check("%s: gradients == finite differences (%d entries, all %d tensors)" % (tag, n_checked, len(probe)),
              worst <= 1, "worst err %.2f of tolerance" % worst)
        check("%s: gradient of every tensor is nonzero" % tag, all(float(t.abs().max()) > 0 for t in g64.values()))

        # Padded tokens and targets where mask == 0 change nothing, bit for bit.
        ids2 = ids.clone()
        for b in range(B):
            ids2[b, lengths[b]:] = torch.randint(0, cfg.vocab_size, (T - lengths[b],), generator=g)
        tg2 = torch.where(mask != 0, batch.targets, torch.randint(0, cfg.vocab_size, (B, T), generator=g))
        pa, pb = ref.leaf_params(base, torch.float64), ref.leaf_params(base, torch.float64)
        la = ref.forward_backward(pa, cfg, batch)
        lb = ref.forward_backward(pb, cfg, ref.Batch(ids2, batch.lengths, tg2, mask))
        valid = torch.arange(T)[None, :] < batch.lengths[:, None]
        same = (bool((ids2 != ids).any()) and torch.equal(la[4], lb[4]) and torch.equal(la[0][valid], lb[0][valid])
                and all(torch.equal(pa[k].grad, pb[k].grad) for k in pa))
        check("%s: padded tokens/targets change no loss, logit or gradient" % tag, same)

        # float32 agrees with float64.
        p32 = ref.leaf_params(base, torch.float32)
        l32 = ref.forward_backward(p32, cfg, batch)
        gworst = max(maxdiff(p32[k].grad, g64[k]) / (float(g64[k].abs().max()) + 1e-12) for k in p64)
        check("%s: float32 == float64 (logits, grads)" % tag, maxdiff(l32[0], logits64) < 1e-4 and gworst < 1e-3,
              "logits %.1e, grads rel %.1e" % (maxdiff(l32[0], logits64), gworst))

        # torch AdamW + clipping == the written-out formulas (decay on 2-D tensors only).
        hp = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
        pa = ref.leaf_params(base, torch.float64)
        sl_t, nm_t = ref.run_adamw(pa, cfg, batch, 3, grad_clip=0.05, **hp)
        sl_m, nm_m, pm = ref.manual_adamw(base, cfg, batch, 3, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"],
                                          hp["weight_decay"], 0.05)
        dd = max(maxdiff(pa[k], pm[k]) for k in pa)
        ok = dd < 1e-12 and max(abs(a - b) for a, b in zip(sl_t + nm_t, sl_m + nm_m)) < 1e-12
        check("%s: AdamW (clip engaged) == written-out AdamW; loss falls" % tag,
              ok and sl_t[-1] < sl_t[0] and nm_t[0] > 0.05, "param diff %.1e" % dd)

        # --init-model round trip through config.json and the loader.
        with tempfile.TemporaryDirectory() as tmp:
            ref.init_model(tmp, cfg, 5 + n, "plain")
            c2 = ref.load_config(tmp)
            loaded = ref.load_params(tmp, c2)
            ok = vars(c2) == vars(cfg) and list(loaded) == list(base) and all(torch.equal(loaded[k], base[k])
                                                                              for k in base)
            check("%s: init-model -> load_config/load_params round trip" % tag, ok)
