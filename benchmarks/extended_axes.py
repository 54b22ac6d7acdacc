"""One new axis at a time: the extended space's choices against a base configuration, R seeds each.

A 100-trial ``--space extended`` study lets TPE choose where to look; this holds everything else
fixed and changes one choice of the base configuration (the notebook's Part 2 LSTM(16) on a
32-wide embedding by default): GRU for LSTM, bidirectional, max or mean readout over time,
learning rate 3e-4 or 3e-3, and all of GRU, bidirectional and max readout at once. Each variant's
R seeds train together through the study's trainer (``train_repeats``, ``--dropout-style
keras2``, the study's split), and the table gives validation and test accuracy as mean ± std
over the seeds, the test difference to the base with a 95 % t-interval (Welch), and the
bag-of-bigrams reference fitted on the same split (``study.training.reference``).

    python benchmarks/extended_axes.py                         # 8 variants x 3 seeds, 5 epochs
    python benchmarks/extended_axes.py --epochs 1 --limit-train 2000 --variants base,gru
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, default_out, show_and_save, worker_data
from search_spaces import ModelConfig, ModelSpec

#: The base: the notebook's Part 2 "Embedding size 32" (LSTM(16)), at the notebook's choices.
BASE = ModelConfig(16, 32).with_notebook_choices()
#: Each variant: the extended fields it changes from the base.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "gru": {"cell": "gru"},
    "bidirectional": {"bidirectional": True},
    "max": {"readout": "max"},
    "mean": {"readout": "mean"},
    "lr3e-4": {"learning_rate": 3e-4},
    "lr3e-3": {"learning_rate": 3e-3},
    "gru+bi+max": {"cell": "gru", "bidirectional": True, "readout": "max"},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS), help="subset, comma-separated")
    p.add_argument("--seeds", default="0,1,2", help="seeds per variant, trained together")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews")
    p.add_argument("--out", type=Path, default=default_out("extended_axes"))
    args = p.parse_args(argv)
    for name in args.variants.split(","):
        if name not in VARIANTS:
            p.error(f"--variants: unknown {name!r}, choose from {', '.join(VARIANTS)}")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if len(args.seed_list) < 2:
        p.error(f"--seeds needs at least 2 seeds for a spread, got {args.seeds!r}")
    if args.epochs < 1:
        p.error(f"--epochs must be positive, got {args.epochs}")
    return args


def welch_interval(a: list[float], b: list[float]) -> float:
    """Half-width of the 95 % Welch t-interval of mean(a) - mean(b)."""
    from scipy import stats

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return 0.0
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(stats.t.ppf(0.975, dof) * (va + vb) ** 0.5)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from study.training.data import load_dataset
    from study.training.reference import fit_references
    from study.training.settings import TrainSettings, even_eval_batch_size
    from study.training.trainer import train_repeats

    settings_data = worker_data(args)
    data = load_dataset(settings_data)
    bigrams = next(
        r for r in fit_references(data, settings_data.max_features) if "bigram" in r.name
    )
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=args.epochs, eval_batch_size=even_eval_batch_size(sizes, 1024))
    results: dict[str, tuple[list[float], list[float], float, int]] = {}
    for name in args.variants.split(","):
        config = dataclasses.replace(BASE, **VARIANTS[name])
        start = time.perf_counter()
        spec = ModelSpec(
            config, vocab_size=settings_data.max_features, sequence_length=data.x_train.shape[1]
        )
        result = train_repeats(spec, data, settings, args.seed_list)
        seconds = time.perf_counter() - start
        results[name] = (result.val_accuracy[-1], result.test_accuracy, seconds, result.n_params)
        print(f"{name}: test {result.test_accuracy} ({seconds:.0f} s)", file=sys.stderr)
    base_test = results["base"][1] if "base" in results else None
    rows = []
    for name, (val, test, seconds, n_params) in results.items():
        row: dict[str, Any] = {
            "variant": name,
            "params": n_params,
            "val (mean ± std)": f"{statistics.fmean(val):.4f} ± {statistics.stdev(val):.4f}",
            "test (mean ± std)": f"{statistics.fmean(test):.4f} ± {statistics.stdev(test):.4f}",
        }
        if base_test is not None and name != "base":
            diff = 100 * (statistics.fmean(test) - statistics.fmean(base_test))
            row["test vs base (pp, 95 %)"] = (
                f"{diff:+.2f} ± {100 * welch_interval(test, base_test):.2f}"
            )
        row["test vs bigrams (pp)"] = (
            f"{100 * (statistics.fmean(test) - bigrams.test_accuracy):+.2f}"
        )
        row["seconds (all seeds)"] = round(seconds, 1)
        rows.append(row)
    print(
        f"bag of bigrams on this split: val {bigrams.val_accuracy:.4f}, test "
        f"{bigrams.test_accuracy:.4f} ({bigrams.test_low:.4f}-{bigrams.test_high:.4f})"
    )
    columns = [
        "variant", "params", "val (mean ± std)", "test (mean ± std)", "test vs base (pp, 95 %)",
        "test vs bigrams (pp)", "seconds (all seeds)",
    ]  # fmt: skip
    settings_shown = {k: v for k, v in vars(args).items() if k != "seed_list"}
    return show_and_save(
        args.out, columns, settings=settings_shown | {"out": str(args.out)}, rows=rows
    )


if __name__ == "__main__":
    sys.exit(main())
