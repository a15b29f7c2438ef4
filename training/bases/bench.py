"""Throughput of a base on real pairs: `python -m training.bases.bench --base e5-small --data FILE.csv`.

Measures what sizing a run needs on this machine -- token lengths of the pairs through the shared
formatter, training steps per second (LoRA or full fine-tune, AdamW, fp32 on CPU), scoring pairs per
second and peak memory -- and prints one JSON line. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path


def _inputs(model, batch: dict) -> dict:
    from models.inference import uses_token_types

    if not uses_token_types(model.config):
        batch.pop("token_type_ids")  # decoders take no segment ids
    return batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="base name or HF folder")
    parser.add_argument("--data", type=Path, required=True, help="QC/QI file (CSV or JSONL)")
    parser.add_argument("--max-length", type=int, default=64, help="pair token budget")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch size")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps (after 2 warm-up)")
    parser.add_argument("--score-pairs", type=int, default=256, help="pairs scored for inference speed")
    parser.add_argument("--full", action="store_true", help="full fine-tune instead of LoRA r16 all-linear")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.card import InputSpec
    from models.formatting import PairEncoder
    from models.inference import collate
    from models.loading import load_tokenizer
    from training.bases import resolve_base
    from training.data import load_examples

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = resolve_base(args.base)
    examples, _ = load_examples(args.data, on_error="drop")
    random.Random(0).shuffle(examples)
    tokenizer = load_tokenizer(folder)
    encoder = PairEncoder(tokenizer, InputSpec(max_length=args.max_length))
    sample = examples[: max(args.score_pairs, args.batch_size * (args.steps + 2), 2000)]
    encoded = encoder.encode_batch([ex.pair() for ex in sample])
    lengths = np.array([e.num_tokens for e in encoded])
    pad_id = tokenizer.pad_token_id

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, dtype=torch.float32)
    model.config.pad_token_id = pad_id
    if not args.full:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                task_type=TaskType.SEQ_CLS,
                r=16,
                lora_alpha=32,
                lora_dropout=0.01,
                target_modules="all-linear",
            ),
        )
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    labels = torch.tensor([int(ex.label) for ex in sample])

    model.train()
    step_times = []
    for step in range(args.steps + 2):
        lo = step * args.batch_size
        batch = _inputs(model, collate(encoded[lo : lo + args.batch_size], pad_id=pad_id))
        start = time.perf_counter()
        out = model(**batch, labels=labels[lo : lo + args.batch_size])
        out.loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step >= 2:
            step_times.append(time.perf_counter() - start)

    model.eval()
    to_score = sorted(encoded[: args.score_pairs], key=lambda e: e.num_tokens)
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(to_score), 64):
            model(**_inputs(model, collate(to_score[lo : lo + 64], pad_id=pad_id)))
    score_s = time.perf_counter() - start

    step_s = float(np.median(step_times))
    n_train = int(len(examples) * 0.8)  # one fold's training share under 5-fold CV
    print(
        json.dumps(
            {
                "base": args.base,
                "mode": "full" if args.full else "lora-r16-all-linear",
                "torch_threads": torch.get_num_threads(),
                "pairs_in_file": len(examples),
                "tokens_p50_p95_max": [
                    int(np.percentile(lengths, 50)),
                    int(np.percentile(lengths, 95)),
                    int(lengths.max()),
                ],
                "truncated_share": round(float(np.mean([e.truncated for e in encoded])), 4),
                "train_step_s_median": round(step_s, 3),
                "train_pairs_per_s": round(args.batch_size / step_s, 1),
                "fold_epoch_hours_est": round(n_train / args.batch_size * step_s / 3600, 2),
                "score_pairs_per_s": round(len(to_score) / score_s, 1),
                "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
