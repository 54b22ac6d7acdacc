"""The benchmarks import cleanly and the cheap ones run end to end on tiny settings."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name", ["data", "overhead", "training", "backends", "pruning", "study_estimate"]
)
def test_benchmark_imports_without_keras(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(module.main)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_data_benchmark_prints_a_table_and_writes_json(tiny_tarball: Path, tmp_path: Path) -> None:
    out = tmp_path / "data.json"
    proc = _run(["benchmarks/data.py", f"--data={tiny_tarball}", "--repeats=2", f"--out={out}"])
    assert proc.returncode == 0, proc.stderr
    assert "| cached (median) |" in proc.stdout
    result = json.loads(out.read_text())
    assert result["sizes"]["test"] == 100
    assert len(result["cached"]) == 2


def test_overhead_benchmark_runs_no_op_trials(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = _run(
        [
            "benchmarks/overhead.py",
            "--trials=3",
            "--storages=sqlite,journal",
            "--trial-seconds=10",
            f"--out={out}",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    rows = {row["storage"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["sqlite"]["trials"] == rows["journal"]["trials"] == 3
    assert "| journal | 3 |" in proc.stdout
