"""One command for a machine with a GPU: is it used, do the device tests pass, how fast is it.

Installs nothing. Each step runs in its own process (Keras reads ``KERAS_BACKEND`` once), and a
failing step is recorded and the next one still runs:

1. the GPU as the default backend sees it: JAX's default backend and device, and TensorFlow's
   GPU list;
2. the tests that touch the device (``--tests``: the vectorized trainer, the Keras 2 LSTM, the
   hand-written LSTM loop) through pytest;
3. a probe of the product's trainer (``study.training.trainer.train_repeats``) on LSTM(8):
   whether Keras' cuDNN LSTM path is taken without dropout, which mode R = 4 runs in (cuDNN has
   no ``vmap`` rule: ``sequential`` means the replicas ran one after another), and the GPU's peak
   memory;
4. ``benchmarks/repeats.py`` on LSTM(8) and the notebook's dropout model: per-epoch time with and
   without dropout, R = 4 against one run of the same trainer;
5. the study itself through its CLI, ``python -m study.optimize --trials 17`` (the 14 baselines
   and 3 sampled trials) in a temporary journal storage, with 1 worker and then 2 workers on
   the one GPU.

Then it prints one table and writes it as JSON to ``--out``; exits 1 if a step failed. On a
machine whose JAX sees no GPU it says so in one line and exits 0.

    python benchmarks/gpu_check.py --data ../shared/data/aclImdb_reviews.tar.gz
    python benchmarks/gpu_check.py --epochs 1 --study-limit-train 2000 --skip-tests   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, ROOT, default_out, show_and_save

#: The test files that run on the default device (training, the LSTM loops and their gradients).
DEVICE_TESTS = "tests/test_trainer.py,tests/test_keras2_lstm.py,tests/test_lstm_scan.py"

_JAX_PROBE = (
    "import jax, json; d = jax.devices()[0];"
    " print(json.dumps([jax.default_backend(), d.platform, getattr(d, 'device_kind', str(d))]))"
)
_TF_PROBE = (
    "import os; os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3'); import json;"
    " import tensorflow as tf; print(json.dumps(len(tf.config.list_physical_devices('GPU'))))"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run and per trial (>= 1)")
    p.add_argument(
        "--trials", type=int, default=17, help="trials of each study run (14 baselines)"
    )
    p.add_argument(
        "--study-limit-train",
        type=int,
        default=4000,
        help="training reviews of the study runs (0: all), to keep them to a few minutes",
    )
    p.add_argument("--tests", default=DEVICE_TESTS, help="comma-separated test files to run")
    p.add_argument("--skip-tests", action="store_true", help="do not run the device tests")
    p.add_argument("--step-timeout", type=int, default=900, help="seconds allowed per step")
    p.add_argument("--out", type=Path, default=default_out("gpu_check"))
    p.add_argument("--worker", choices=("probe",), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be positive, got {args.epochs}")
    if args.trials < 1:
        p.error(f"--trials must be positive, got {args.trials}")
    return args


def _python(args: list[str], timeout: int, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Runs ``python ARGS`` from the repository root; returns its exit code and its output."""
    try:
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    return proc.returncode, proc.stdout + proc.stderr


def _last_json(output: str) -> Any:
    for line in reversed(output.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON line in the output")


def probe(args: argparse.Namespace) -> dict[str, Any]:
    """In this process: the cuDNN decision, R = 4's mode and the peak GPU memory (JAX)."""
    from study.training.backend import select_backend

    select_backend("jax")
    import importlib

    import jax
    import keras

    from benchmarks.repeats import CONFIGS
    from study.training.data import DataSettings, default_cache_dir, load_dataset
    from study.training.model import build_model
    from study.training.settings import TrainSettings
    from study.training.trainer import train_repeats

    data = load_dataset(
        DataSettings(
            source=args.data, limit_train=2000, limit_test=1000, cache_dir=default_cache_dir()
        )
    )
    model = build_model(CONFIGS["units8"], sequence_length=data.x_train.shape[1])
    lstm = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
    cell = lstm.cell
    # Keras' own test for its cuDNN path (private API; the module, not the ``rnn`` function).
    rnn = importlib.import_module("keras.src.backend.jax.rnn")
    cudnn = bool(
        rnn.cudnn_ok(cell.activation, cell.recurrent_activation, lstm.unroll, cell.use_bias)
    )
    modes = {}
    settings = TrainSettings(epochs=1, eval_batch_size=500)
    for name in ("units8", "dropout0.4"):
        result = train_repeats(
            CONFIGS[name],
            data,
            settings,
            [0, 1, 2, 3],
            vocab_size=1000,
            sequence_length=data.x_train.shape[1],
        )
        modes[name] = result.mode
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "cudnn_lstm_without_dropout": cudnn,
        "lstm_layer": type(lstm).__name__,
        "mode_r4": modes,
        "peak_gib": stats.get("peak_bytes_in_use", 0) / 2**30,
        "limit_gib": stats.get("bytes_limit", 0) / 2**30,
    }


def _study(args: argparse.Namespace, workers: int, folder: Path) -> tuple[str, str]:
    # A journal file: SQLite refuses parallel workers, and one host needs no server.
    storage = f"journal:{folder / f'study_{workers}.log'}"
    command = ["-m", "study.optimize", "--trials", str(args.trials), "--data", args.data]
    command += ["--epochs", str(args.epochs), "--storage", storage, "--workers", str(workers)]
    command += ["--confirm-top", "0"]  # the trials' device time, not a confirmation's
    if args.study_limit_train:
        command += ["--limit-train", str(args.study_limit_train)]
    start = time.perf_counter()
    code, output = _python(command, args.step_timeout)
    seconds = time.perf_counter() - start
    if code != 0:
        return "FAILED", _tail(output)
    done = _count_states(storage)
    how = f"{args.study_limit_train} reviews" if args.study_limit_train else "all reviews"
    return "ok", f"{seconds:.0f} s wall, {done}, {args.epochs} epochs, {how}"


def _count_states(storage: str) -> str:
    import optuna

    from storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(storage, heartbeat=False)
    study = optuna.load_study(study_name="rnn-design", storage=opened)  # study.optimize's default
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))


def _tail(output: str, lines: int = 3) -> str:
    return " / ".join(output.strip().splitlines()[-lines:])


def _repeats_rows(args: argparse.Namespace, folder: Path) -> list[dict[str, str]]:
    out = folder / "repeats.json"
    command = ["benchmarks/repeats.py", "--configs", "units8,dropout0.4", "--repeats", "1,4"]
    command += ["--epochs", str(max(args.epochs, 2)), "--data", args.data, "--out", str(out)]
    code, output = _python(command, args.step_timeout)
    if code != 0:
        return [{"check": "repeats.py", "result": "FAILED", "detail": _tail(output)}]
    payload = json.loads(out.read_text())
    rows = []
    for name in ("units8", "dropout0.4"):
        single = payload["raw"][f"{name}/sequential"][0]
        steady = sorted(single["epoch_s"][1:] or single["epoch_s"])
        rows.append(
            {
                "check": f"{name}: epoch, one run",
                "result": f"{steady[len(steady) // 2]:.2f} s",
                "detail": f"first epoch (compiles) {single['epoch_s'][0]:.1f} s",
            }
        )
        for row in payload["rows"]:
            if row["config"] == name and row["R"] == 4:
                rows.append(
                    {
                        "check": f"{name}: R = 4 / one run",
                        "result": f"{row['vectorized / one run']:.2f}x",
                        "detail": f"mode {row['mode']}, 5-epoch trial {row['vectorized s']:.1f} s",
                    }
                )
    return rows


def run_checks(args: argparse.Namespace, jax_seen: list[str]) -> list[dict[str, str]]:
    """Every step after the GPU was found; one or more table rows each."""
    rows = [{"check": "JAX default backend", "result": jax_seen[0], "detail": jax_seen[2]}]
    code, output = _python(["-c", _TF_PROBE], 300)
    try:
        gpus = int(_last_json(output)) if code == 0 else -1
    except ValueError:
        gpus = -1
    rows.append(
        {
            "check": "TensorFlow GPUs",
            "result": str(gpus) if gpus >= 0 else "FAILED",
            "detail": "" if gpus >= 0 else _tail(output),
        }
    )
    if not args.skip_tests:
        tests = args.tests.split(",")
        # -n 0: one process on the GPU, not pyproject's xdist workers each taking its memory.
        pytest = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
        code, output = _python([*pytest, *tests], 1800)
        rows.append(
            {
                "check": "device tests",
                "result": "ok" if code == 0 else "FAILED",
                "detail": f"{_tail(output, 1)} ({', '.join(Path(t).name for t in tests)})",
            }
        )
    code, output = _python(
        [str(Path(__file__).resolve()), "--worker", "probe", "--data", args.data],
        args.step_timeout,
    )
    if code == 0:
        found = _last_json(output)
        rows.append(
            {
                "check": "cuDNN LSTM without dropout",
                "result": "used" if found["cudnn_lstm_without_dropout"] else "not used",
                "detail": f"layer {found['lstm_layer']}; R = 4 modes {found['mode_r4']}",
            }
        )
        rows.append(
            {
                "check": "GPU memory, peak",
                "result": f"{found['peak_gib']:.2f} GiB",
                "detail": f"of {found['limit_gib']:.0f} GiB; R = 4 of LSTM(8) and dropout0.4",
            }
        )
    else:
        rows.append({"check": "trainer probe", "result": "FAILED", "detail": _tail(output)})
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        rows += _repeats_rows(args, Path(tmp))
        for workers in (1, 2):
            result, detail = _study(args, workers, Path(tmp))
            check = f"study.optimize --trials {args.trials}, {workers} worker(s)"
            rows.append({"check": check, "result": result, "detail": detail})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(probe(args)))
        return 0
    code, output = _python(["-c", _JAX_PROBE], 300)
    try:
        jax_seen = [str(v) for v in _last_json(output)] if code == 0 else []
    except ValueError:
        jax_seen = []
    if not jax_seen or jax_seen[0] != "gpu":
        seen = f"default backend {jax_seen[0]}" if jax_seen else "JAX did not start"
        smi = "nvidia-smi found" if shutil.which("nvidia-smi") else "no nvidia-smi"
        print(f"gpu_check: no GPU seen by JAX ({seen}, {smi}); nothing to check.")
        return 0
    rows = run_checks(args, jax_seen)
    show_and_save(args.out, ["check", "result", "detail"], benchmark="gpu_check", rows=rows)
    return 1 if any(row["result"] == "FAILED" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
