"""The benchmarks import cleanly and the cheap ones run end to end on tiny settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


BENCHMARKS = (
    "training", "dashboard_while_writing", "reference_models", "importance_stability",
    "repeats", "gpu_check", "repeats_profile", "race",
)  # fmt: skip


def test_benchmarks_import_without_keras() -> None:
    # Each benchmark picks its Keras backend per run (in its worker processes), so importing
    # one must not import Keras, TensorFlow or JAX; checked in a fresh interpreter.
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {BENCHMARKS!r}:\n"
        "    module = importlib.import_module('benchmarks.' + name)\n"
        "    heavy = {m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax'}\n"
        "    out[name] = [sorted(heavy), callable(getattr(module, 'main', None))]\n"
        "print(json.dumps(out))\n"
    )
    proc = _run(["-c", code])
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == {name: [[], True] for name in BENCHMARKS}


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_importance_stability_benchmark_reads_existing_studies(tmp_path: Path) -> None:
    import optuna

    from reports.tables import NOTEBOOK_PARAMS as PARAMS  # the notebook space's five
    from search_spaces.lstm import DISTRIBUTIONS

    urls = []
    for seed in range(2):
        url = f"sqlite:///{tmp_path / f's{seed}.db'}"
        study = optuna.create_study(
            storage=url, study_name="rnn-design", direction="maximize",
            sampler=optuna.samplers.RandomSampler(seed=seed),
        )  # fmt: skip
        for _ in range(12):
            trial = study.ask(fixed_distributions=dict(DISTRIBUTIONS))
            value = 0.7 + 0.0005 * trial.params["units"]
            trial.report(value, 0)
            study.tell(trial, value)
        if seed == 1:
            study.set_user_attr(
                "confirmed_best",
                {"params": {"units": 64}, "val_mean": 0.81, "val_std": 0.004,
                 "test_mean": 0.8, "test_std": 0.005},
            )  # fmt: skip
        urls.append(url)
    out = tmp_path / "stability.json"
    proc = _run(
        ["benchmarks/importance_stability.py", f"--storages={','.join(urls)}",
         "--resamples=2", "--permutations=5", "--targets=final", f"--out={out}"]
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert len(result["rows"]) == 2 * len(PARAMS)
    (summary,) = result["summary"]
    assert summary["trials"] == "12/12"
    assert summary["kendall tau (pairs)"].startswith("+")  # units first in both
    assert [w["confirmed winner"] for w in result["winners"]] == [
        "—", "units=64: val 0.8100 ± 0.0040, test 0.8000 ± 0.0050"
    ]  # fmt: skip
    assert "| s0.db | final | 12 | units |" in proc.stdout


def test_training_benchmark_times_the_trainer_a_trial_runs(
    tiny_tarball: Path, tmp_path: Path
) -> None:
    # "Ours" is study.training.trainer.train_repeats with one seed, not a model.fit route of its
    # own.
    out = tmp_path / "training.json"
    proc = _run(
        [
            "benchmarks/training.py",
            f"--data={tiny_tarball}",
            "--paths=ours",
            "--configs=units8",
            "--epochs=2",
            f"--out={out}",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["mode"] == "train_repeats (vectorized)"
    assert row["steady_epoch_s"] > 0 and 0 <= row["val_accuracy"] <= 1


def test_repeats_benchmark_compares_against_one_run_of_the_same_trainer(
    tiny_tarball: Path, tmp_path: Path
) -> None:
    out = tmp_path / "repeats.json"
    proc = _run(
        [
            "benchmarks/repeats.py",
            f"--data={tiny_tarball}",
            "--configs=units8",
            "--repeats=1,2",
            "--epochs=2",
            f"--out={out}",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    singles = result["raw"]["units8/sequential"]
    assert [run["mode"] for run in singles] == ["vectorized", "vectorized"]
    assert [run["seeds"] for run in singles] == [[1000], [1001]]
    # Each epoch splits into the compiled training calls and the rest (validation).
    for run in [*singles, result["raw"]["units8/vectorized/2"]]:
        for whole, calls, rest in zip(
            run["epoch_s"], run["train_calls_s"], run["after_calls_s"], strict=True
        ):
            assert whole == pytest.approx(calls + rest)
    assert [row["R"] for row in result["rows"]] == [1, 2]


def test_race_benchmark_prints_one_row_per_lead(tmp_path: Path) -> None:
    proc = _run(["benchmarks/race.py", "--races=100", f"--out={tmp_path / 'race.json'}"])
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((tmp_path / "race.json").read_text())["rows"]) == 5
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and " σ " in line]
    assert [row.split(" σ ")[0] for row in rows] == ["| 0", "| 0.5", "| 1", "| 2", "| 3"]
    three = rows[-1].split(" | ")
    assert float(three[1].rstrip(" %")) >= 90  # a lead of 3 seed stds is found alone


def test_gpu_check_says_in_one_line_that_there_is_no_gpu_and_exits_0() -> None:
    import jax

    if jax.default_backend() == "gpu":
        pytest.skip("a GPU is here: run python benchmarks/gpu_check.py itself")
    proc = _run(["benchmarks/gpu_check.py"])
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert line.startswith("gpu_check: no GPU seen by JAX (default backend cpu")
    assert _run(["benchmarks/gpu_check.py", "--help"]).returncode == 0
    refused = _run(["benchmarks/gpu_check.py", "--epochs=0"])
    assert refused.returncode == 2 and "--epochs must be positive, got 0" in refused.stderr


def test_gpu_check_runs_the_study_through_its_cli_with_two_workers(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    # The GPU-only steps cannot run here; this one is the product's CLI and runs anywhere.
    from benchmarks import gpu_check

    args = gpu_check.parse_args(
        [f"--data={tiny_imdb}", "--trials=2", "--epochs=1", "--study-limit-train=0"]
    )
    result, detail = gpu_check._study(args, 2, tmp_path)
    assert result == "ok", detail
    assert "2 complete" in detail


def test_gpu_check_steps_keep_what_a_killed_step_printed_and_refuse_unknown_steps() -> None:
    from benchmarks import gpu_check

    seen: list[str] = []
    code, output = gpu_check._stream(
        ["-c", "import time; print('measured', flush=True); time.sleep(60)"], 3, seen.append
    )
    assert code == 124 and seen == ["measured"] and "timed out after 3 s" in output
    args = gpu_check.parse_args(["--full-study", "--skip-tests"])
    assert args.steps == ["device", "epochs", "baselines", "workers", "study100"]
    refused = _run(["benchmarks/gpu_check.py", "--steps=device,warp"])
    assert refused.returncode == 2 and "--steps: unknown step 'warp'" in refused.stderr


def test_gpu_check_report_is_written_after_every_step(tmp_path: Path) -> None:
    from benchmarks import gpu_check

    report = gpu_check.Report(tmp_path / "gpu.json", {"budget": "480"})
    report.add("epochs", "units8, R = 1: steady epoch", "0.40 s")
    report.save()
    saved = json.loads((tmp_path / "gpu.json").read_text())
    assert saved["rows"][0]["result"] == "0.40 s" and not report.failed
    report.add("workers", "study.optimize", "TIMED OUT")
    assert report.failed
