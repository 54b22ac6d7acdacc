"""Estimates the wall time of a full-data study from the ``training`` and ``pruning`` results.

A cost model fitted to our path's rows of ``results/training*.json`` (steady epoch time = per-layer
step overhead + LSTM arithmetic at the measured rate, recurrent dropout as the measured factor,
compile time per layer), applied to the notebook's 14 baseline trials and to the remaining trials
drawn at random from the search space (TPE after its start-up trials is unknown ahead of time;
random draws are the neutral guess), with the fraction of epochs the median pruner saved in
``results/pruning.json`` applied to the sampled trials. A model, not a measurement: the table
says which inputs it used.

    python benchmarks/study_estimate.py --trials 100 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, default_out, show_and_save
from benchmarks.training import CONFIGS
from search_spaces.baseline import BASELINE_GRID
from search_spaces.config import ModelConfig

TRAIN_REVIEWS = 20_000
MAXLEN = 80


def lstm_flops(config: ModelConfig) -> float:
    """Forward + backward multiply-adds of the LSTM layers for one epoch (x2 for FLOP, x3 bwd)."""
    per_step = 0.0
    inputs = config.embedding_dim
    for _ in range(config.layers):
        per_step += 4 * config.units * (inputs + config.units) * 2
        inputs = config.units
    return 3 * per_step * MAXLEN * TRAIN_REVIEWS


def fit_model(rows: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Per-layer overhead, arithmetic rate, recurrent-dropout factor, compile time per layer."""
    small, big, deep, rd = (rows[k] for k in ("units8", "units128", "layers8", "dropout0.4"))
    per_layer = (deep["steady_epoch_s"] - small["steady_epoch_s"]) / 7
    base = small["steady_epoch_s"] - per_layer
    rate = lstm_flops(CONFIGS["units128"][1]) / max(big["steady_epoch_s"] - base - per_layer, 1e-3)
    rd_factor = rd["steady_epoch_s"] / small["steady_epoch_s"]
    compile_small = small["first_epoch_s"] - small["steady_epoch_s"]
    # Clamped: on a loaded machine the difference can come out negative.
    compile_layer = max((deep["first_epoch_s"] - deep["steady_epoch_s"] - compile_small) / 7, 0.0)
    return {
        "base_s": base,
        "per_layer_s": per_layer,
        "flop_per_s": rate,
        "recurrent_dropout_factor": rd_factor,
        "compile_small_s": compile_small,
        "compile_per_layer_s": compile_layer,
        "eval_s": statistics.median(r["test_eval_s"] for r in rows.values()),
    }


def trial_seconds(config: ModelConfig, epochs: float, m: dict[str, float]) -> float:
    steady = m["base_s"] + m["per_layer_s"] * config.layers + lstm_flops(config) / m["flop_per_s"]
    if config.recurrent_dropout > 0:
        steady *= m["recurrent_dropout_factor"]
    compile_s = m["compile_small_s"] + m["compile_per_layer_s"] * (config.layers - 1)
    return compile_s + epochs * steady + m["eval_s"]


def sample(rng: random.Random) -> ModelConfig:
    def log_int(low: int, high: int) -> int:
        return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))

    return ModelConfig(
        units=log_int(8, 256),
        embedding_dim=log_int(4, 128),
        layers=rng.randint(1, 8),
        dropout=rng.uniform(0, 0.9),
        recurrent_dropout=rng.uniform(0, 0.9),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--draws", type=int, default=200, help="random studies to average over")
    p.add_argument("--out", type=Path, default=default_out("study_estimate"))
    args = p.parse_args(argv)
    ours: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("training*.json")):  # e.g. one config run on its own
        rows = json.loads(path.read_text())["rows"]
        ours.update({r["config"]: r for r in rows if r["path"] == "ours"})
    model = fit_model(ours)
    saved = 0.0
    try:
        pruning = json.loads((RESULTS / "pruning.json").read_text())["rows"]
        saved = next(r["epochs_saved_pct"] for r in pruning if r["pruner"] == "median") / 100
    except (OSError, StopIteration, KeyError, ValueError):
        pass
    baseline_s = sum(trial_seconds(b.config, args.epochs, model) for b in BASELINE_GRID)
    n_sampled = max(args.trials - len(BASELINE_GRID), 0)
    rng = random.Random(0)
    studies = []
    for _ in range(args.draws):
        configs = [sample(rng) for _ in range(n_sampled)]
        studies.append(
            sum(trial_seconds(c, args.epochs * (1 - saved), model) for c in configs) + baseline_s
        )
    rows = [
        {"part": f"{len(BASELINE_GRID)} baseline trials", "minutes": baseline_s / 60},
        {
            "part": f"{n_sampled} sampled trials (median of {args.draws} random draws)",
            "minutes": (statistics.median(studies) - baseline_s) / 60,
        },
        {"part": "whole study, median", "minutes": statistics.median(studies) / 60},
        {
            "part": "whole study, 10th pct",
            "minutes": sorted(studies)[args.draws // 10] / 60,
        },
    ]
    print(f"cost model: {json.dumps({k: round(v, 4) for k, v in model.items()})}")
    print(f"median pruning saves {100 * saved:.0f}% of sampled trials' epochs\n")
    return show_and_save(
        args.out, ["part", "minutes"], benchmark="study_estimate", model=model, rows=rows
    )


if __name__ == "__main__":
    sys.exit(main())
