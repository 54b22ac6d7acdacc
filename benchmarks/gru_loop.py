"""Epoch time of the notebook's dropout model with a GRU against the LSTM, each dropout style.

Embedding(1000, 32) -> RNN(8) -> Dense(1, sigmoid), input dropout 0.4, recurrent dropout 0.5
(the notebook's Part 3, ``--space extended`` with ``cell`` gru or lstm), trained the way a trial
trains it: the study's trainer (``study.training.trainer.train_repeats``, one seed, JAX) on the
study's split of the training reviews, one variant per process, alternating over ``--rounds``:

* ``keras2_lstm``: ``--dropout-style keras2``, ``Keras2LSTM`` (per-step masks, hand-written
  backward pass);
* ``keras2_gru``: ``--dropout-style keras2``, ``Keras2GRU`` (per-step masks, JAX differentiates
  the scan);
* ``keras3_lstm`` / ``keras3_gru``: ``--dropout-style keras3``, Keras 3's own layers (one mask
  per sequence).

The table keeps each variant's fastest steady epoch (epochs after the first, which compiles;
validation included, as in a trial): a shared machine's slow spells only ever add time.

    python benchmarks/gru_loop.py                                 # 4 variants, 3 epochs, 2 rounds
    python benchmarks/gru_loop.py --limit-train 5000 --rounds 1   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    DEFAULT_DATA,
    default_out,
    run_worker,
    show_and_save,
    worker_command,
    worker_data,
)

VARIANTS = ("keras2_lstm", "keras2_gru", "keras3_lstm", "keras3_gru")
UNITS, EMBEDDING, DROPOUT, RECURRENT = 8, 32, 0.4, 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS), help="subset of the four")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews")
    p.add_argument("--limit-test", type=int, default=1000, help="test reviews (tested once)")
    p.add_argument("--out", type=Path, default=default_out("gru_loop"))
    p.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error(f"--epochs must be at least 2 (first and steady epochs), got {args.epochs}")
    if args.rounds < 1:
        p.error(f"--rounds must be positive, got {args.rounds}")
    for name in args.variants.split(","):
        if name not in VARIANTS:
            p.error(f"--variants: unknown {name!r}, choose from {', '.join(VARIANTS)}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One variant, in this process: the seconds of every epoch, through the study's trainer."""
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from search_spaces import ModelConfig
    from study.training.data import load_dataset
    from study.training.settings import TrainSettings, even_eval_batch_size
    from study.training.trainer import train_repeats

    style, cell = args.worker.split("_")
    data = load_dataset(worker_data(args))
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=args.epochs, eval_batch_size=even_eval_batch_size(sizes, 1024))
    marks: list[float] = []
    start = time.perf_counter()
    result = train_repeats(
        ModelConfig(UNITS, EMBEDDING, 1, DROPOUT, RECURRENT, cell=cell),
        data,
        settings,
        [0],
        vocab_size=1000,
        sequence_length=data.x_train.shape[1],
        dropout_style=style,
        on_epoch=lambda epoch, accuracies: marks.append(time.perf_counter()),
    )
    seconds = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    return {
        "variant": args.worker,
        "params": result.n_params,
        "seconds": seconds,
        "val_accuracy": result.val_accuracy[-1][0],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    base = worker_command(__file__, args)
    runs: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for variant in args.variants.split(","):
            run = run_worker([*base, "--worker", variant])
            runs.append(run)
            epochs = " ".join(f"{s:.1f}" for s in run["seconds"])
            print(f"round {round_ + 1} {variant:12} epochs: {epochs} s")
    rows = []
    for variant in args.variants.split(","):
        mine = [r for r in runs if r["variant"] == variant]
        rows.append(
            {
                "variant": variant,
                "params": mine[0]["params"],
                "first epoch s (fastest)": round(min(r["seconds"][0] for r in mine), 3),
                "steady epoch s (fastest)": round(min(min(r["seconds"][1:]) for r in mine), 3),
                "val accuracy (last round)": round(mine[-1]["val_accuracy"], 4),
            }
        )
    lstm = next((r for r in rows if r["variant"] == "keras2_lstm"), None)
    for row in rows:
        if lstm is not None:
            ratio = row["steady epoch s (fastest)"] / lstm["steady epoch s (fastest)"]
            row["steady / keras2_lstm"] = round(ratio, 2)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return show_and_save(
        args.out, columns, settings=vars(args) | {"out": str(args.out)}, rows=rows
    )


if __name__ == "__main__":
    sys.exit(main())
