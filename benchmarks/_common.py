"""Shared plumbing of the benchmarks: import path, machine description, table and JSON output.

Each benchmark runs as ``python benchmarks/<name>.py`` or ``python -m benchmarks.<name>`` from the
repository root; importing this module first puts the root on ``sys.path`` for the first form.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from study.training.data import DataSettings

RESULTS = ROOT / "benchmarks" / "results"
#: The full dataset used by the committed figures; pass --data to use another copy.
#: The shared copy beside the repository (``../shared/data``), as on the CI machines.
DEFAULT_DATA = str(ROOT.parent / "shared" / "data" / "aclImdb_reviews.tar.gz")


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        mem_gib = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": mem_gib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Renders rows as a GitHub Markdown table; floats get 3 significant decimals."""

    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Writes the result, with the machine it came from, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)


def show_and_save(
    out: Path, columns: Sequence[str], *, note: str | None = None, **payload: Any
) -> int:
    """The end of a benchmark: its rows as a Markdown table on stdout, then its JSON file.

    Args:
        out: The JSON file (``--out``).
        columns: The table's columns, in order.
        note: A line printed under the table, if any.
        **payload: What the file holds besides the machine, in this order; ``rows`` is the
            table.

    Returns:
        0, the benchmark's exit code.
    """
    print(markdown_table(payload["rows"], columns))
    if note is not None:
        print(note)
    write_json(out, payload)
    return 0


def check_epochs_and_configs(
    parser: argparse.ArgumentParser, args: argparse.Namespace, configs: Mapping[str, Any]
) -> None:
    """Refuses fewer than 2 ``--epochs`` (first and steady epochs) and unknown ``--configs``."""
    if args.epochs < 2:
        parser.error(f"--epochs must be at least 2 (first and steady epochs), got {args.epochs}")
    for name in args.configs.split(","):
        if name not in configs:
            parser.error(f"--configs: unknown config {name!r}, choose from {', '.join(configs)}")


def worker_data(args: argparse.Namespace, seed: int = 0) -> DataSettings:
    """The data a benchmark worker trains on: ``--data``, ``--limit-train``, ``--limit-test``.

    Encoded once and cached in the study's own cache folder, as the study's commands do.

    Args:
        args: The benchmark's command line.
        seed: Seed of the subsets and the validation split.
    """
    from study.training.data import DataSettings, default_cache_dir

    return DataSettings(
        source=args.data,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        seed=seed,
        cache_dir=default_cache_dir(),
    )


def worker_command(script: str, args: argparse.Namespace) -> list[str]:
    """The start of a worker's command line: the script and the data and epochs flags it was given.

    Args:
        script: The benchmark's own path (``__file__``).
        args: Its parsed command line, with ``data``, ``epochs``, ``limit_train`` and
            ``limit_test``.
    """
    command = [str(Path(script).resolve()), "--data", args.data, "--epochs", str(args.epochs)]
    command += ["--limit-train", str(args.limit_train)] if args.limit_train else []
    command += ["--limit-test", str(args.limit_test)] if args.limit_test else []
    return command


def default_out(name: str) -> Path:
    """``benchmarks/results/<name>.json``."""
    return RESULTS / f"{name}.json"


def run_worker(args: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Runs ``python <args>`` in a fresh process and returns the JSON its last stdout line holds.

    Keras reads ``KERAS_BACKEND`` once, at import, so every backend needs its own process.
    """
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"worker {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
