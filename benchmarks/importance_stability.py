r"""Importance stability: the same study run with three seeds, their importances and verdicts.

Runs the product's CLI (``python -m study.optimize ... --seed S``) once per seed into throw-away
SQLite files (or reads existing studies with ``--storages URL1,URL2,URL3``, opened read-only),
then computes each study's importances as the report does (``reports.importance``: bootstrap
interval, family-wise permutation noise floor, verdict) for both targets (final validation
accuracy of complete trials, and accuracy after epoch 1 of every trained trial). It prints one row
per study and parameter, then per target: Kendall's tau between every two studies' rankings
(``scipy.stats.kendalltau`` on the unnormalized importances), whether the "above noise" sets
agree, the median interval width relative to the importance and each study's largest
importance/floor ratio (both scale-free, so the targets compare); and, where a study
records a confirmed winner (the study user attribute ``confirmed_best``), that winner.

    python benchmarks/importance_stability.py                 # 3 seeds x 20 trials, 2 epochs
    python benchmarks/importance_stability.py --trials 100 --epochs 5 --limit-train 0
    python benchmarks/importance_stability.py \\
        --storages sqlite:///s0.db,sqlite:///s1.db,sqlite:///s2.db
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, ROOT, default_out, markdown_table, write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from reports.importance import EVALUATORS, TARGETS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="study seeds (--seed of study.optimize)")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit-train", type=int, default=2000, help="0: all training reviews")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument(
        "--storages", default=None, help="comma-separated storage URLs: analyse, do not run"
    )
    p.add_argument("--study-name", default="rnn-design")
    p.add_argument("--evaluator", default="ped-anova", choices=EVALUATORS)
    p.add_argument("--targets", default=",".join(TARGETS), help=f"subset of {TARGETS}")
    p.add_argument("--resamples", type=int, default=50)
    p.add_argument("--permutations", type=int, default=300)
    p.add_argument("--out", type=Path, default=default_out("importance_stability"))
    args = p.parse_args(argv)
    args.targets = args.targets.split(",")
    for target in args.targets:
        if target not in TARGETS:
            p.error(f"--targets: unknown target {target!r}, choose from {', '.join(TARGETS)}")
    if args.resamples < 0 or args.permutations < 0:
        p.error("--resamples and --permutations must be 0 or more")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    return args


def run_study(args: argparse.Namespace, seed: int, folder: Path) -> str:
    """Runs ``python -m study.optimize`` with one seed; returns its storage URL."""
    url = f"sqlite:///{folder / f'seed{seed}.db'}"
    cmd = [
        sys.executable, "-m", "study.optimize", f"--trials={args.trials}",
        f"--epochs={args.epochs}", f"--seed={seed}", f"--data={args.data}", f"--storage={url}",
        f"--study-name={args.study_name}",
    ]  # fmt: skip
    if args.limit_train:
        cmd.append(f"--limit-train={args.limit_train}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    print(f"seed {seed}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return url


def winner(study: Any) -> str:
    """The confirmed winner the study records (``confirmed_best``), or "—"."""
    best = study.user_attrs.get("confirmed_best")
    if not isinstance(best, dict):
        return "—"
    params = best.get("params", {})
    shown = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else ""

    def pm(key: str) -> str:
        mean, std = best.get(f"{key}_mean"), best.get(f"{key}_std")
        if mean is None:
            return "—"
        return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")

    return f"{shown}: val {pm('val')}, test {pm('test')}"


def analyse(args: argparse.Namespace, urls: list[str]) -> dict[str, Any]:
    """Importances of every study, and how the studies agree, per target."""
    import numpy as np
    import optuna
    from scipy.stats import kendalltau

    from reports.importance import compute_importances
    from reports.load import load_study_readonly

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = [load_study_readonly(url, args.study_name) for url in urls]
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for target in args.targets:
        results = []
        for url, study in zip(urls, studies, strict=True):
            start = time.perf_counter()
            result = compute_importances(
                study, evaluator=args.evaluator, target=target, resamples=args.resamples,
                permutations=args.permutations,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            results.append(result)
            for r in result.table.itertuples():
                rows.append(
                    {
                        "study": Path(url).name, "target": target, "trials": result.trials,
                        "param": r.param, "importance": r.importance, "raw": r.raw,
                        "low": r.low, "high": r.high, "first": r.first_share, "floor": r.floor,
                        "p": r.p_value, "above noise": bool(r.above_noise), "seconds": seconds,
                    }
                )  # fmt: skip
        taus = []
        for a, b in itertools.combinations(results, 2):
            if a.available and b.available:
                params = sorted(set(a.table["param"]) & set(b.table["param"]))
                ra = a.table.set_index("param").loc[params, "raw"]
                rb = b.table.set_index("param").loc[params, "raw"]
                taus.append(float(kendalltau(ra, rb).statistic))
        sets = [
            tuple(sorted(p for p, v in r.verdicts().items() if v)) for r in results if r.available
        ]
        # Scale-free, so that the two targets compare: interval width over the importance, and
        # each study's largest importance/floor ratio.
        widths = [
            float(w)
            for r in results
            for w in ((r.table["high"] - r.table["low"]) / r.table["raw"])
            if np.isfinite(w)
        ]
        ratios = [float((r.table["raw"] / r.table["floor"]).max()) for r in results if r.available]
        summary.append(
            {
                "target": target,
                "trials": "/".join(str(r.trials) for r in results),
                "kendall tau (pairs)": ", ".join(f"{t:+.2f}" for t in taus) or "—",
                "above-noise sets": " / ".join(",".join(s) or "none" for s in sets),
                "sets agree": len(set(sets)) == 1 if sets else None,
                "median width/importance": statistics.median(widths) if widths else None,
                "largest importance/floor": ", ".join(f"{x:.2f}" for x in ratios) or "—",
            }
        )
    winners = [{"study": Path(u).name, "confirmed winner": winner(s)} for u, s in zip(
        urls, studies, strict=True)]  # fmt: skip
    return {"rows": rows, "summary": summary, "winners": winners}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-importance-") as tmp:
        urls = (
            args.storages.split(",")
            if args.storages
            else [run_study(args, seed, Path(tmp)) for seed in args.seeds]
        )
        result = analyse(args, urls)
    columns = ["study", "target", "trials", "param", "importance", "raw", "low", "high", "first",
               "floor", "p", "above noise", "seconds"]  # fmt: skip
    print(markdown_table(result["rows"], columns))
    print()
    print(
        markdown_table(result["summary"], list(result["summary"][0]) if result["summary"] else [])
    )
    print()
    print(markdown_table(result["winners"], ["study", "confirmed winner"]))
    write_json(
        args.out,
        {
            "benchmark": "importance_stability",
            "settings": vars(args) | {"out": str(args.out)},
            **result,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
