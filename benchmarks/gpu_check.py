"""One command for a machine with a GPU: is it used, do the device tests pass, how fast is it.

Installs nothing, and needs no TensorFlow (the JAX path; TensorFlow's tests skip without it).
Each step runs in its own process (Keras reads ``KERAS_BACKEND`` once) under its own time box,
cut to what is left of ``--budget`` (default 480 s: the default steps fit 8 minutes). Each row is
printed as it is measured and the JSON (``--out``) is rewritten after every step, so a step cut
short, or the whole command killed, keeps what was measured. A failing step is recorded and the
next one still runs:

1. ``device``: JAX's default backend and device, whether TensorFlow is installed;
2. ``tests``: the device tests (``--tests``) at full float32 precision (the tests scope it), with
   the count of GPU-only tests that ran: on a GPU none may be skipped;
3. ``epochs``: the steady epoch (the second; the first compiles) of ``train_repeats`` on all
   training reviews, per model and R (``EPOCH_RUNS``), with the trainer's mode, its scan unroll
   and the GPU's peak memory;
4. ``baselines``: the 14 notebook baselines through the CLI (``python -m study.optimize
   --trials 14 --confirm-top 0``, all reviews, 5 epochs, 1 worker), each one's seconds beside the
   2-core CPU's (``CPU_BASELINES``, from ``--cpu-baselines`` on that machine);
5. ``workers``: the same 14 baselines with ``--workers 4`` on the one GPU (journal storage);
6. ``study100`` (``--full-study``): ``python -m study.optimize --trials 100 --repeats auto`` with
   its confirmation, in its own box (``--full-study-timeout``, 540 s: with its start-up it fits
   a 10-minute command; run it alone with ``--steps study100 --full-study``).

Exits 1 if a step failed. On a machine whose JAX sees no GPU it says so in one line and exits 0.

    python benchmarks/gpu_check.py --data ../shared/data/aclImdb_reviews.tar.gz
    python benchmarks/gpu_check.py --steps study100 --full-study     # the 100-trial study alone
    python benchmarks/gpu_check.py --cpu-baselines    # on the CPU machine: CPU_BASELINES' file
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, RESULTS, ROOT, default_out, write_json

#: The test files that run on the default device (training, the LSTM and GRU loops).
DEVICE_TESTS = (
    "tests/test_trainer.py,tests/test_keras2_lstm.py,tests/test_lstm_scan.py,"
    "tests/test_keras2_gru.py"
)
#: (config of ``benchmarks.repeats.CONFIGS``, R): the steady epochs measured, in order.
EPOCH_RUNS = (
    ("units8", 1),
    ("units8", 16),
    ("dropout0.4", 1),
    ("dropout0.4", 16),
    ("units128", 16),
    ("layers8", 1),
)
DEFAULT_STEPS = ("device", "tests", "epochs", "baselines", "workers")
STEPS = (*DEFAULT_STEPS, "study100")
#: Each step's own box in seconds (cut to what is left of --budget).
STEP_SECONDS = {"device": 60, "tests": 150, "epochs": 150, "baselines": 150, "workers": 120}
#: The 14 baselines' seconds on the 2-core CPU, by label (written by --cpu-baselines).
CPU_BASELINES = RESULTS / "baselines_cpu.json"

_JAX_PROBE = (
    "import importlib.util, jax, json; d = jax.devices()[0];"
    " print(json.dumps([jax.default_backend(), d.platform, getattr(d, 'device_kind', str(d)),"
    " importlib.util.find_spec('tensorflow') is not None]))"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial of the CLI steps")
    p.add_argument("--trials", type=int, default=14, help="trials of the baselines steps")
    p.add_argument(
        "--study-limit-train",
        type=int,
        default=0,
        help="CLI steps' reviews (0: all)",
    )
    p.add_argument("--tests", default=DEVICE_TESTS, help="comma-separated test files to run")
    p.add_argument("--steps", default=",".join(DEFAULT_STEPS), help=f"of {','.join(STEPS)}")
    p.add_argument("--skip-tests", action="store_true", help="do not run the device tests")
    p.add_argument("--budget", type=int, default=480, help="seconds for all steps together")
    p.add_argument("--full-study", action="store_true", help="add the 100-trial study step")
    p.add_argument("--full-study-timeout", type=int, default=540, help="its own box, seconds")
    p.add_argument(
        "--cpu-baselines",
        action="store_true",
        help=f"run only the baselines step on this machine's device and write {CPU_BASELINES}",
    )
    p.add_argument("--out", type=Path, default=default_out("gpu_check"))
    p.add_argument("--worker", choices=("epochs",), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be positive, got {args.epochs}")
    if args.trials < 1:
        p.error(f"--trials must be positive, got {args.trials}")
    steps = [s for s in args.steps.split(",") if s]
    for step in steps:
        if step not in STEPS:
            p.error(f"--steps: unknown step {step!r}, choose from {', '.join(STEPS)}")
    if args.full_study and "study100" not in steps:
        steps.append("study100")
    if args.skip_tests and "tests" in steps:
        steps.remove("tests")
    args.steps = steps
    return args


def _stream(
    command: list[str], timeout: float, on_line: Callable[[str], None] | None = None
) -> tuple[int, str]:
    """Runs ``python COMMAND`` from the root, handing each output line on as it comes.

    Killed after ``timeout`` seconds (exit code 124); returns the exit code and all output.
    """
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    timer = threading.Timer(max(timeout, 1.0), proc.kill)
    timer.start()
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        code = proc.wait()
    finally:
        expired = not timer.is_alive()
        timer.cancel()
    if expired and code != 0:
        lines.append(f"timed out after {timeout:.0f} s\n")
        code = 124
    return code, "".join(lines)


def _tail(output: str, lines: int = 3) -> str:
    return " / ".join(output.strip().splitlines()[-lines:])


def _last_json(output: str) -> Any:
    for line in reversed(output.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON line in the output")


class Report:
    """The rows measured so far: each printed as it comes, the JSON rewritten after each step."""

    def __init__(self, out: Path, settings: dict[str, Any]) -> None:
        self.out, self.settings = out, settings
        self.rows: list[dict[str, str]] = []

    def add(self, step: str, check: str, result: str, detail: str = "") -> None:
        row = {"step": step, "check": check, "result": result, "detail": detail}
        self.rows.append(row)
        print(f"[{step}] {check}: {result}" + (f"  ({detail})" if detail else ""), flush=True)

    def save(self) -> None:
        write_json(
            self.out, {"benchmark": "gpu_check", "settings": self.settings, "rows": self.rows}
        )

    @property
    def failed(self) -> bool:
        return any(row["result"] in ("FAILED", "TIMED OUT") for row in self.rows)


# -- the steps ---------------------------------------------------------------------------------
def step_tests(args: argparse.Namespace, report: Report, timeout: float) -> None:
    tests = args.tests.split(",")
    command = ["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-n", "0", *tests]
    code, output = _stream(command, timeout)
    gpu_skips = output.count("GPU only:")
    result = "ok" if code == 0 else ("TIMED OUT" if code == 124 else "FAILED")
    if code == 0 and gpu_skips:
        result = "FAILED"  # a GPU-only test skipped on this GPU: it did not run
    summary = next(
        (ln for ln in reversed(output.splitlines()) if " passed" in ln or " failed" in ln), ""
    )
    report.add(
        "tests", "device tests", result, f"{summary.strip('= ')}; GPU-only skipped: {gpu_skips}"
    )
    skipped = [ln for ln in output.splitlines() if ln.startswith("SKIPPED")]
    for line in skipped:
        report.add("tests", "skipped", "skip", line[len("SKIPPED ") :])
    if code != 0:
        failed = [ln for ln in output.splitlines() if ln.startswith("FAILED")]
        for line in failed[:20]:
            report.add("tests", "failed", "FAILED", line[len("FAILED ") :])


def epochs_worker(args: argparse.Namespace) -> None:
    """In this process: one JSON line per (config, R) of ``EPOCH_RUNS``, as each finishes."""
    from study.training.backend import select_backend

    select_backend("jax")
    import jax

    from benchmarks.repeats import CONFIGS
    from search_spaces import ModelSpec
    from study.training.data import DataSettings, default_cache_dir, load_dataset
    from study.training.settings import TrainSettings, even_eval_batch_size
    from study.training.trainer import train_repeats
    from study.training.unroll import scan_unroll

    data = load_dataset(DataSettings(source=args.data, cache_dir=default_cache_dir()))
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=2, eval_batch_size=even_eval_batch_size(sizes, 1024))
    for name, r in EPOCH_RUNS:
        start = time.perf_counter()
        spec = ModelSpec(CONFIGS[name], vocab_size=1000, sequence_length=data.x_train.shape[1])
        result = train_repeats(spec, data, settings, list(range(r)))
        stats = jax.devices()[0].memory_stats() or {}
        row = {
            "config": name,
            "R": r,
            "first_s": result.epoch_seconds[0],
            "steady_s": result.epoch_seconds[-1],
            "wall_s": time.perf_counter() - start,
            "mode": result.mode,
            "unroll": scan_unroll(),
            "peak_gib": stats.get("peak_bytes_in_use", 0) / 2**30,
        }
        print(json.dumps(row), flush=True)


def step_epochs(args: argparse.Namespace, report: Report, timeout: float) -> None:
    def on_line(line: str) -> None:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            return
        if not isinstance(row, dict) or "steady_s" not in row:
            return
        report.add(
            "epochs",
            f"{row['config']}, R = {row['R']}: steady epoch",
            f"{row['steady_s']:.2f} s",
            f"first {row['first_s']:.1f} s, mode {row['mode']}, unroll {row['unroll']},"
            f" peak {row['peak_gib']:.2f} GiB",
        )
        report.save()

    command = [str(Path(__file__).resolve()), "--worker", "epochs", "--data", args.data]
    code, output = _stream(command, timeout, on_line)
    if code != 0:
        report.add(
            "epochs", "train_repeats", "TIMED OUT" if code == 124 else "FAILED", _tail(output)
        )


def _study_command(args: argparse.Namespace, storage: str, trials: int, workers: int) -> list[str]:
    command = ["-m", "study.optimize", "--trials", str(trials), "--data", args.data]
    command += ["--epochs", str(args.epochs), "--storage", storage, "--workers", str(workers)]
    if args.study_limit_train:
        command += ["--limit-train", str(args.study_limit_train)]
    return command


def _study(
    args: argparse.Namespace, workers: int, folder: Path, timeout: float | None = None
) -> tuple[str, str]:
    """The baselines (``--trials``) through the CLI: its result and a one-line summary."""
    # A journal file: SQLite refuses parallel workers, and one host needs no server.
    storage = f"journal:{folder / f'study_{workers}.log'}"
    command = [*_study_command(args, storage, args.trials, workers), "--confirm-top", "0"]
    start = time.perf_counter()
    code, output = _stream(command, timeout or args.budget)
    seconds = time.perf_counter() - start
    if code not in (0, 124):
        return "FAILED", _tail(output)
    try:
        done = ", ".join(f"{n} {state}" for state, n in _trials(storage)["states"].items())
    except Exception as exc:  # noqa: BLE001  (no study yet: killed before its first trial)
        done = f"no trials read ({type(exc).__name__})"
    how = f"{args.study_limit_train} reviews" if args.study_limit_train else "all reviews"
    result = "TIMED OUT" if code == 124 else "ok"
    return result, f"{seconds:.0f} s wall, {done}, {args.epochs} epochs, {how}"


def _trials(storage: str) -> dict[str, Any]:
    """The study's trial states and each finished baseline's seconds, by label."""
    import optuna

    from storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(storage, heartbeat=False)
    study = optuna.load_study(study_name="rnn-design", storage=opened)  # study.optimize's default
    states: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
        if trial.duration is not None and "baseline" in trial.user_attrs:
            seconds[trial.user_attrs["baseline"]] = trial.duration.total_seconds()
    return {"states": dict(sorted(states.items())), "seconds": seconds}


def step_baselines(
    args: argparse.Namespace, report: Report, timeout: float, workers: int, folder: Path
) -> dict[str, float]:
    step = "baselines" if workers == 1 else "workers"
    result, detail = _study(args, workers, folder, timeout)
    report.add(step, f"study.optimize --trials {args.trials}, {workers} worker(s)", result, detail)
    try:
        seconds = _trials(f"journal:{folder / f'study_{workers}.log'}")["seconds"]
    except Exception:  # noqa: BLE001
        return {}
    if workers == 1:
        cpu = json.loads(CPU_BASELINES.read_text())["seconds"] if CPU_BASELINES.exists() else {}
        for label, s in seconds.items():
            beside = (
                f"CPU {cpu[label]:.1f} s, CPU / this {cpu[label] / s:.2f}x" if label in cpu else ""
            )
            report.add(step, label, f"{s:.1f} s", beside)
        common = [label for label in seconds if label in cpu]
        if common:
            ours, theirs = sum(seconds[k] for k in common), sum(cpu[k] for k in common)
            report.add(
                step,
                f"{len(common)} baselines in total",
                f"{ours:.0f} s",
                f"CPU {theirs:.0f} s: {theirs / ours:.2f}x (goal >= 4x)",
            )
    return seconds


def step_study100(args: argparse.Namespace, report: Report, timeout: float, folder: Path) -> None:
    storage = f"journal:{folder / 'study_100.log'}"
    command = [*_study_command(args, storage, 100, 1), "--repeats", "auto"]
    start = time.perf_counter()
    code, output = _stream(command, timeout)
    seconds = time.perf_counter() - start
    result = "ok" if code == 0 else ("TIMED OUT" if code == 124 else "FAILED")
    try:
        states = _trials(storage)["states"]
        done = ", ".join(f"{n} {state}" for state, n in states.items())
    except Exception as exc:  # noqa: BLE001
        done = f"no trials read ({type(exc).__name__})"
    answer = next((ln for ln in output.splitlines() if "±" in ln), "")
    report.add(
        "study100",
        "study.optimize --trials 100 --repeats auto + confirmation",
        result,
        f"{seconds:.0f} s wall (goal <= 600 s), {done}; {answer.strip()}"
        + ("" if code == 0 else f"; {_tail(output)}"),
    )


def cpu_baselines(args: argparse.Namespace) -> int:
    """On the CPU machine: the baselines step, written as the reference beside the GPU's."""
    report = Report(args.out, {k: str(v) for k, v in vars(args).items()})
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        seconds = step_baselines(args, report, 3600, 1, Path(tmp))
    write_json(CPU_BASELINES, {"benchmark": "gpu_check --cpu-baselines", "seconds": seconds})
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        epochs_worker(args)
        return 0
    if args.cpu_baselines:
        return cpu_baselines(args)
    code, output = _stream(["-c", _JAX_PROBE], 120)
    try:
        seen = _last_json(output) if code == 0 else []
    except ValueError:
        seen = []
    if not seen or seen[0] != "gpu":
        found = f"default backend {seen[0]}" if seen else "JAX did not start"
        smi = "nvidia-smi found" if shutil.which("nvidia-smi") else "no nvidia-smi"
        print(f"gpu_check: no GPU seen by JAX ({found}, {smi}); nothing to check.")
        return 0
    report = Report(args.out, {k: str(v) for k, v in vars(args).items()})
    deadline = time.monotonic() + args.budget
    report.add("device", "JAX default backend", str(seen[0]), str(seen[2]))
    report.add("device", "TensorFlow", "installed" if seen[3] else "not installed", "not needed")
    report.save()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        folder = Path(tmp)
        for step in args.steps:
            if step == "device":
                continue
            if step == "study100":
                step_study100(args, report, args.full_study_timeout, folder)
                report.save()
                continue
            left = deadline - time.monotonic()
            if left < 10:
                report.add(step, "not run", "TIMED OUT", f"--budget {args.budget} s spent")
                continue
            box = min(STEP_SECONDS[step], left)
            if step == "tests":
                step_tests(args, report, box)
            elif step == "epochs":
                step_epochs(args, report, box)
            else:
                step_baselines(args, report, box, 1 if step == "baselines" else 4, folder)
            report.save()
    report.save()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
