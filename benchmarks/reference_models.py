"""The reference models (``study.training.reference``) on a study's split: C, accuracy, seconds.

    python benchmarks/reference_models.py                  # full split: 20,000 / 5,000 / 25,000
    python benchmarks/reference_models.py --limit-train 2000 --limit-test 2000

The same code ``python -m study.optimize`` runs once per study before its trials (and stores as
the study attribute ``reference_models``); here it runs alone and is timed. The encoded arrays are
read from the user's cache (``--cache-dir``), written there on the first run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, default_out, show_and_save
from study.training.data import DataSettings, default_cache_dir, load_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--out", type=Path, default=default_out("reference_models"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from study.training.reference import fit_references

    args = parse_args(argv)
    settings = DataSettings(
        source=args.data,
        cache_dir=args.cache_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
    )
    start = time.perf_counter()
    data = load_dataset(settings)
    load_seconds = time.perf_counter() - start
    results = fit_references(data, settings.max_features)
    rows: list[dict[str, Any]] = [
        {
            "model": r.name,
            "C (on val)": r.c,
            "val acc": round(r.val_accuracy, 4),
            "test acc": round(r.test_accuracy, 4),
            "test 95% Wilson": f"{r.test_low:.4f}-{r.test_high:.4f}",
            "features": r.n_features,
            "seconds": round(r.fit_seconds, 1),
        }
        for r in results
    ]
    print(f"data: {args.data}; splits {data.sizes()}; loaded in {load_seconds:.1f} s\n")
    return show_and_save(
        args.out,
        ["model", "C (on val)", "val acc", "test acc", "test 95% Wilson", "features", "seconds"],
        benchmark="reference_models",
        data=args.data,
        sizes=data.sizes(),
        load_seconds=load_seconds,
        rows=rows,
        results=[r.as_dict() for r in results],
    )


if __name__ == "__main__":
    sys.exit(main())
