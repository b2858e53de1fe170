#!/usr/bin/env python3
"""Writes a small synthetic preference dataset whose answers differ in a checkable way: the instruction asks for a
word in capitals or in small letters, and the response gives the word one way or the other. Used by the learning
tests: IOPO and DPO runs must learn to prefer the response that follows the instruction, on held-out words.

Usage: make_pref_data.py OUT_DIR [--seed S]
Writes OUT_DIR/{iopo_train,iopo_eval}.json (the IOPO release's sharegpt layout) and
OUT_DIR/{dpo_train,dpo_eval}.jsonl (TRL prompt/chosen/rejected strings). Standard library only; deterministic."""
import json
import os
import random
import sys

WORDS = """apple river stone cloud bread light paper glass water green table chair plant music bird sugar
salt honey tiger horse ocean storm candle garden window bottle pencil silver copper forest meadow winter summer
autumn spring yellow orange purple violet planet rocket engine wheel bridge tower castle island valley desert
lemon cherry melon grape peach onion carrot potato tomato pepper butter cheese cookie noodle pizza salad soup
camera mirror basket ladder hammer needle button jacket pillow blanket kettle spoon fork knife plate""".split()


def main():
    out = sys.argv[1]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    rng = random.Random(seed)
    words = sorted(set(WORDS))
    rng.shuffle(words)
    split = {"train": words[: len(words) * 3 // 4], "eval": words[len(words) * 3 // 4:]}
    os.makedirs(out, exist_ok=True)
    for name, ws in split.items():
        iopo, dpo = [], []
        for w in ws:
            x1 = f"Write this word in capitals: {w}"
            x2 = f"Write this word in small letters: {w}"
            y1, y2 = w.upper(), w.lower()
            iopo.append({"conversations": [{"from": "human", "value": x1}, {"from": "human", "value": x2}],
                         "chosen": {"from": "gpt", "value": y1}, "rejected": {"from": "gpt", "value": y2}})
            if rng.random() < 0.5:
                dpo.append({"prompt": x1, "chosen": y1, "rejected": y2})
            else:
                dpo.append({"prompt": x2, "chosen": y2, "rejected": y1})
        with open(os.path.join(out, f"iopo_{name}.json"), "w") as f:
            json.dump(iopo, f, indent=1)
            f.write("\n")
        with open(os.path.join(out, f"dpo_{name}.jsonl"), "w") as f:
            for r in dpo:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
