"""Data loading: the first load (read and tokenize the tarball) against a cached load.

    python benchmarks/data.py                 # full dataset, 1 first load, 5 cached loads
    python benchmarks/data.py --data tests-tarball.tar.gz --repeats 2

The cache lives in a temporary folder, so the user's cache is neither used nor touched.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, default_out, show_and_save
from study.training.data import DataSettings, load_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--repeats", type=int, default=5, help="cached loads to time")
    p.add_argument("--out", type=Path, default=default_out("data"))
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be positive, got {args.repeats}")
    return args


def _timed(settings: DataSettings) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    data = load_dataset(settings)
    return time.perf_counter() - start, data.sizes()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        uncached, sizes = _timed(DataSettings(source=args.data, cache_dir=None))
        # Fills the cache (tokenizes again and writes the .npz), then reads it back.
        fill, _ = _timed(DataSettings(source=args.data, cache_dir=Path(tmp)))
        cached = [
            _timed(DataSettings(source=args.data, cache_dir=Path(tmp)))[0]
            for _ in range(args.repeats)
        ]
    rows: list[dict[str, Any]] = [
        {"load": "first (tokenize, no cache)", "seconds": uncached, "runs": 1},
        {"load": "first (tokenize, write cache)", "seconds": fill, "runs": 1},
        {"load": "cached (median)", "seconds": statistics.median(cached), "runs": len(cached)},
    ]
    print(f"data: {args.data}; splits {sizes}\n")
    return show_and_save(
        args.out,
        ["load", "seconds", "runs"],
        benchmark="data",
        data=args.data,
        sizes=sizes,
        rows=rows,
        cached=cached,
    )


if __name__ == "__main__":
    sys.exit(main())
