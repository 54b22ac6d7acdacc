"""``python -m study.optimize``: run (or resume) the Optuna study over the notebook's design axes.

This module wires the parts together: arguments -> backend -> data -> storage -> study -> trials.
Keras is imported only once the backend is chosen and the inputs are known to be good, so
``--help`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from search_spaces.config import DROPOUT_STYLES
from storage import (
    HEARTBEAT_GRACE,
    JOURNAL_PREFIX,
    StorageError,
    kind_of,
    open_storage,
    redacted,
    release,
    tune_for_writing,
)
from study.backend import select_backend
from study.data import DataError, Dataset, DataSettings, default_cache_dir, load_dataset
from study.directions import DIRECTIONS, AccuracyAndParams, is_multi
from study.study_setup import (
    PRUNERS,
    StudySetupError,
    make_pruner,
    make_sampler,
    open_study,
    sampler_seed,
)
from study.workers import (
    Terminated,
    check_interrupt,
    deferred_interrupts,
    exit_code,
    fail_own_running_trials,
    fail_stale_trials,
    install_signal_handlers,
    recover_dead_trials,
)

DEFAULT_STORAGE = "sqlite:///rnn_design_study.db"
DEFAULT_STUDY = "rnn-design"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: A worker stops starting trials once finished plus running ones reach the target: with several
#: workers, counting only finished ones would let each start one more and overshoot. If a running
#: trial then fails, its own worker is still alive, sees the count drop, and goes on.
TARGET_STATES = (*FINISHED, TrialState.RUNNING)


class OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments as one line (no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.optimize``."""
    p = OneLineParser(
        prog="python -m study.optimize",
        description="Optuna study over LSTM units, embedding size, dropout and layers on IMDB. "
        "Rerunning the same command resumes the study until it holds --trials finished trials.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("study")
    g.add_argument(
        "--trials",
        type=int,
        default=100,
        help="finished (complete or pruned) trials the study should hold in total",
    )
    g.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help="Optuna storage: sqlite:///FILE.db, postgresql://..., journal:FILE or FILE.log",
    )
    g.add_argument("--study-name", default=DEFAULT_STUDY, help="name of the study in the storage")
    g.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=None,
        help="prunes on validation accuracy after each epoch (baselines never); default median, "
        "none with --objectives accuracy,params",
    )
    g.add_argument(
        "--objectives",
        choices=tuple(DIRECTIONS),
        default="accuracy",
        help="maximize validation accuracy, or also minimize the parameter count "
        "(multi-objective TPE; no pruning)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the TPE sampler, the data split and every trial's Keras seed",
    )
    g.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="seeds trained per trial, together in one vectorized program (JAX); the objective "
        "is their mean validation accuracy and each trial records their spread",
    )
    g.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not enqueue the notebook's 14 configurations when creating the study",
    )
    g.add_argument(
        "--artifact-dir",
        type=Path,
        default=None,
        help="upload each trial's learning curve (CSV, PNG) to this optuna-dashboard artifact "
        "folder",
    )
    add_data_arguments(p)
    add_training_arguments(p)
    w = p.add_argument_group("workers and recovery")
    w.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this host, sharing the storage (needs journal or PostgreSQL); "
        "with several GPUs each worker gets one through CUDA_VISIBLE_DEVICES",
    )
    w.add_argument(
        "--heartbeat-grace",
        type=int,
        default=HEARTBEAT_GRACE,
        help="seconds without a heartbeat before an RDB trial's worker is taken for dead and its "
        "trial failed and re-queued",
    )
    w.add_argument(
        "--max-failures",
        type=int,
        default=5,
        help="stop after this many trials in a row fail (diverged, out of memory)",
    )
    return p


def add_data_arguments(parser: argparse.ArgumentParser, *, val_split: bool = True) -> None:
    """The data flags (``--data``, ``--max-features``, ...), shared by the study's commands.

    Args:
        parser: The command line to add them to.
        val_split: Whether the command holds out a validation split (``--val-split``).
    """
    d = parser.add_argument_group("data")
    d.add_argument(
        "--data",
        default="imdb",
        help="'imdb' (keras.datasets download) or a path to an aclImdb folder or .tar.gz",
    )
    d.add_argument("--max-features", type=int, default=1000, help="vocabulary size (num_words)")
    d.add_argument("--maxlen", type=int, default=80, help="tokens kept per review (the last ones)")
    if val_split:
        d.add_argument(
            "--val-split",
            type=float,
            default=0.2,
            help="fraction of training reviews held out for validation (the objective)",
        )
    d.add_argument(
        "--limit-train",
        type=int,
        default=None,
        help="class-balanced subset of training reviews, for quick runs",
    )
    d.add_argument(
        "--limit-test",
        type=int,
        default=None,
        help="class-balanced subset of test reviews, for quick runs",
    )
    d.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="where encoded arrays are cached",
    )


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (``--epochs``, ``--dropout-style``, ...), shared by the commands."""
    t = parser.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    t.add_argument("--batch-size", type=int, default=32, help="training batch size")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument(
        "--dropout-style",
        choices=DROPOUT_STYLES,
        default="keras2",
        help="how LSTM dropout masks are drawn: keras2 = new masks at every time step, as the "
        "notebook's Keras 2 did (reproduces its figures); keras3 = one mask per review, Keras 3's "
        "LSTM as it is (see README)",
    )
    t.add_argument(
        "--repeat-mode",
        choices=("vectorized", "sequential"),
        default="vectorized",
        help="how several seeds of one configuration train: together as one JAX program, or one "
        "after another (the same runs, slower; for comparison)",
    )
    t.add_argument(
        "--backend",
        choices=("auto", "jax", "tensorflow"),
        default="auto",
        help="Keras backend; auto picks JAX, the fastest on CPU (see README)",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and validates the command line; exits 2 with one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    positive = ("trials", "epochs", "batch_size", "max_features", "maxlen", "workers", "repeats")
    for flag in (*positive, "heartbeat_grace", "max_failures"):
        value = getattr(args, flag)
        if value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    for flag in ("limit_train", "limit_test"):
        value = getattr(args, flag)
        if value is not None and value < 2:
            parser.error(f"--{flag.replace('_', '-')} must be at least 2, got {value}")
    if not 0.0 < args.val_split < 1.0:
        parser.error(f"--val-split must be between 0 and 1 (exclusive), got {args.val_split}")
    if args.pruner is None:
        args.pruner = "none" if is_multi(args.objectives) else "median"
    elif is_multi(args.objectives) and args.pruner != "none":
        parser.error(
            f"--pruner {args.pruner} cannot be combined with --objectives {args.objectives}: "
            "Optuna does not prune multi-objective trials (use --pruner none or leave it out)"
        )
    if not args.learning_rate > 0:
        parser.error(f"--learning-rate must be positive, got {args.learning_rate}")
    try:
        storage_kind = kind_of(args.storage)
    except StorageError as exc:
        parser.error(str(exc))
    if args.workers > 1 and storage_kind == "sqlite":
        parser.error(
            f"--workers {args.workers} with SQLite: SQLite is not safe for parallel workers; use "
            "--storage journal:FILE.log (one host) or postgresql://... (several hosts)"
        )
    if (
        args.artifact_dir is not None
        and args.artifact_dir.exists()
        and not args.artifact_dir.is_dir()
    ):
        parser.error(f"--artifact-dir must be a folder, got the file {str(args.artifact_dir)!r}")
    return args


def data_settings(args: argparse.Namespace) -> DataSettings:
    """The data part of the command line."""
    return DataSettings(
        source=args.data,
        max_features=args.max_features,
        maxlen=args.maxlen,
        val_split=args.val_split,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        seed=args.seed,
        cache_dir=args.cache_dir,
    )


def resolved_config(args: argparse.Namespace, backend: str, data: Dataset) -> dict[str, Any]:
    """The whole configuration of this run, as recorded in the study's user attributes.

    The storage URL is recorded without its password: anyone who can read the study could
    read it there.
    """
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.update(
        storage=redacted(args.storage),
        backend=backend,
        data_fingerprint=data.fingerprint,
        data_sizes=data.sizes(),
    )
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the study; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    backend = _set_up_process(args)
    try:
        return _run(args, argv, backend)
    except KeyboardInterrupt as exc:  # before or after the trials: nothing to record
        print(f"interrupted; resume with: {_resume_command(argv)}", file=sys.stderr)
        return exit_code(exc)


def _set_up_process(args: argparse.Namespace) -> str:
    """What the main process and every worker do first; returns the backend chosen."""
    backend = select_backend(args.backend, compilation_cache=args.cache_dir / "jax")
    # Optuna logs each failed trial with its traceback; _FailureGuard prints one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    install_signal_handlers()
    return backend


def _run(args: argparse.Namespace, argv: list[str], backend: str) -> int:
    try:
        data = load_dataset(data_settings(args))
        storage = open_storage(args.storage, grace_period=args.heartbeat_grace)
        study, created = open_study(
            storage,
            args.study_name,
            sampler=make_sampler(_sampler_seed(args)),
            pruner=make_pruner(args.pruner, args.epochs),
            baseline=not args.no_baseline,
            config=resolved_config(args, backend, data),
            directions=DIRECTIONS[args.objectives],
        )
    except (DataError, StorageError, StudySetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tune_for_writing(storage)
    try:
        return _optimize(args, argv, backend, study, data, created)
    finally:
        release(storage)


def _optimize(
    args: argparse.Namespace,
    argv: list[str],
    backend: str,
    study: optuna.Study,
    data: Dataset,
    created: bool,
) -> int:
    recovered = recover_dead_trials(study)
    if recovered:
        print(f"re-queued trial(s) {recovered}: their worker died", file=sys.stderr)
    stale = fail_stale_trials(study)
    if stale:
        print(
            f"re-queued trial(s) {stale}: no heartbeat for {args.heartbeat_grace} s",
            file=sys.stderr,
        )
    finished = _count(study, FINISHED)
    print(
        f"{'created' if created else 'resuming'} study {args.study_name!r} in "
        f"{redacted(args.storage)}: "
        f"{finished}/{args.trials} trials finished; data {data.sizes()}; backend {backend}",
        file=sys.stderr,
    )
    if finished >= args.trials:
        print(
            f"study already holds {finished} finished trials (target {args.trials}); nothing to do"
        )
        _print_summary(study, args)
        return 0
    start = time.perf_counter()
    if args.workers == 1:
        code = run_worker(args, study, data, show_progress=True)
    else:
        code = run_workers(args, argv, study)
    if code == 0:
        print(f"target reached after {time.perf_counter() - start:.0f} s", file=sys.stderr)
    elif code in (130, 143):
        print(
            "interrupted: the running trial was recorded as FAIL; resume with: "
            + _resume_command(argv),
            file=sys.stderr,
        )
        return code
    _print_summary(study, args)
    return code


def run_worker(
    args: argparse.Namespace, study: optuna.Study, data: Dataset, *, show_progress: bool
) -> int:
    """Runs trials in this process until the study holds ``--trials`` finished ones.

    Returns:
        0 when the target is reached, 1 after ``--max-failures`` failures in a row, 130/143 when
        interrupted by SIGINT/SIGTERM.
    """
    from study.objective import Objective, trial_errors  # imports Keras, now with its backend
    from study.train import TrainSettings

    objective = Objective(
        data,
        TrainSettings(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate
        ),
        vocab_size=args.max_features,
        sequence_length=args.maxlen,
        seed=args.seed,
        pruning=args.pruner != "none",
        dropout_style=args.dropout_style,
        repeats=args.repeats,
        vectorize=args.repeat_mode == "vectorized",
        record={"sampler_seed": _sampler_seed(args)},
    )
    # A trial counts as running only while its worker lives: fail (and re-queue) the trials whose
    # heartbeat stopped first, or a worker that died on another host would hold the study one
    # trial short of its target for good.
    fail_stale_trials(study)
    if _count(study, TARGET_STATES) >= args.trials:
        return 0  # the other workers' running trials complete the target
    run_trial: Callable[[optuna.Trial], Any] = objective
    if is_multi(args.objectives):
        run_trial = AccuracyAndParams(objective)
    if args.artifact_dir is not None:
        from study.artifacts import WithHistoryArtifacts

        run_trial = WithHistoryArtifacts(run_trial, args.artifact_dir)
    guard = _FailureGuard(args.max_failures)
    callbacks: list[Any] = [_TargetCallback(args.trials), guard]
    progress = _Progress(args.trials, _count(study, FINISHED)) if show_progress else None
    if progress is not None:
        callbacks.append(progress)
    # Checked after every trial; the objective checks after every batch.
    callbacks.append(lambda study, trial: check_interrupt())
    try:
        with deferred_interrupts():
            study.optimize(run_trial, catch=trial_errors(), callbacks=callbacks)
    except KeyboardInterrupt as exc:
        fail_own_running_trials(study, f"interrupted ({type(exc).__name__})")
        return exit_code(exc)
    finally:
        if progress is not None:
            progress.close()
    if guard.tripped:
        print(
            f"error: {guard.limit} trials failed in a row, stopping (last: {guard.last_reason})",
            file=sys.stderr,
        )
        return 1
    return 0


def run_workers(args: argparse.Namespace, argv: list[str], study: optuna.Study) -> int:
    """Runs ``--workers`` processes against the study's storage and shows their progress.

    Each worker loads the (cached) data, opens the storage and runs trials with its own sampler
    seed (``study.study_setup.sampler_seed``), so they propose different configurations. The parent
    only watches the storage.
    """
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no Keras state is shared
    gpus = visible_gpus()
    workers = [
        ctx.Process(
            target=_worker_entry,
            args=(argv, gpus[index % len(gpus)] if gpus else None),
            name=f"worker-{index}",
        )
        for index in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    progress = _Progress(args.trials, _count(study, FINISHED))
    try:
        while any(w.is_alive() for w in workers):
            progress.show(study)
            for worker in workers:
                worker.join(timeout=2 / len(workers))
    except KeyboardInterrupt as exc:
        # Pass the signal on: Ctrl-C in a terminal reaches the workers already (and a second
        # one changes nothing), but a signal sent to this process alone does not.
        forwarded = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, forwarded)
        for worker in workers:
            worker.join()
        return exit_code(exc)
    finally:
        progress.show(study)
        progress.close()
    codes = []
    for worker in workers:
        code = worker.exitcode or 0
        if code < 0:  # killed by a signal: multiprocessing reports minus its number
            name = signal.Signals(-code).name
            print(
                f"error: {worker.name} was killed by {name}; its trial stays RUNNING until a "
                "rerun of the same command (or the heartbeat) fails and re-queues it",
                file=sys.stderr,
            )
            code = 128 - code  # the shell's convention; sys.exit(-9) would give 247
        codes.append(code)
    return max(codes)


def _worker_entry(argv: list[str], gpu: str | None) -> None:
    """A worker process: the same command, seeded apart, on its own GPU when there are several."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    args = parse_args(argv)
    _set_up_process(args)
    try:
        data = load_dataset(data_settings(args))
        study = optuna.load_study(
            study_name=args.study_name,
            storage=open_storage(args.storage, grace_period=args.heartbeat_grace),
            sampler=make_sampler(_sampler_seed(args)),
            pruner=make_pruner(args.pruner, args.epochs),
        )
        code = run_worker(args, study, data, show_progress=False)
    except KeyboardInterrupt as exc:
        code = exit_code(exc)
    sys.exit(code)


def _sampler_seed(args: argparse.Namespace) -> int:
    """This process's TPE seed: apart from every other process's whenever they can coexist."""
    concurrent = args.workers > 1 or kind_of(args.storage) != "sqlite"
    return sampler_seed(args.seed, concurrent=concurrent)


def visible_gpus() -> list[str]:
    """GPU ids to hand out to workers: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in listed.split(",") if gpu.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(i) for i, line in enumerate(result.stdout.splitlines()) if line.startswith("GPU")]


class _TargetCallback:
    """Stops the worker once finished plus running trials reach the target.

    Optuna's ``MaxTrialsCallback`` over ``TARGET_STATES``, after failing the trials whose
    heartbeat stopped, so that a dead worker's trial is not counted as running.
    """

    def __init__(self, target: int) -> None:
        self._max_trials = MaxTrialsCallback(target, states=TARGET_STATES)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        fail_stale_trials(study)
        self._max_trials(study, trial)


class _FailureGuard:
    """Stops the study after ``limit`` trials in a row fail in this worker."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures = 0
        self.tripped = False
        self.last_reason = ""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self.failures = 0
            return
        self.failures += 1
        self.last_reason = str(trial.user_attrs.get("fail_reason", "no reason recorded"))
        # One line instead of Optuna's logged traceback (its log level is ERROR here).
        print(f"trial {trial.number} failed: {self.last_reason}", file=sys.stderr)
        if self.failures >= self.limit:
            self.tripped = True
            study.stop()


def dashboard_target(storage_url: str) -> str:
    """What to pass to ``optuna-dashboard``: the URL, or the file of a journal storage."""
    if kind_of(storage_url) == "journal":
        return shlex.quote(storage_url.removeprefix(JOURNAL_PREFIX))
    return shlex.quote(storage_url)


def _resume_command(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "study.optimize", *argv])


class _Progress:
    """A progress bar over the study's finished trials, with the best value so far."""

    def __init__(self, total: int, done: int) -> None:
        from tqdm import tqdm  # Optuna's own dependency

        self._bar = tqdm(total=total, initial=done, unit="trial", file=sys.stderr)
        self.ran = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.ran += 1
        self.show(study, last=trial.state.name.lower())

    def show(self, study: optuna.Study, last: str | None = None) -> None:
        """Redraws the bar from the storage (it is the truth when several workers write)."""
        done = min(_count(study, FINISHED), self._bar.total)
        if done == self._bar.n and last is None:
            return  # nothing new: keep a log file free of identical lines
        self._bar.n = done
        best = _best(study)
        if best is not None:
            postfix = {"best_val_acc": f"{best.values[0]:.4f}"}
            if last:
                postfix["last"] = last
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _count(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _best(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    # values[0] is validation accuracy in both single- and multi-objective studies.
    return max(complete, key=lambda t: t.values[0] if t.values else 0.0) if complete else None


def _print_summary(study: optuna.Study, args: argparse.Namespace) -> None:
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    print("trials: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n))
    best = _best(study)
    if best is None:
        print("no trial has completed yet")
    else:
        attrs = best.user_attrs
        print(
            f"best trial #{best.number}: val_accuracy {best.values[0]:.4f}, "
            f"test_accuracy {attrs.get('test_accuracy', float('nan')):.4f}, "
            f"n_params {attrs.get('n_params')}, train_seconds {attrs.get('train_seconds')}"
        )
        print("  params: " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()))
        if "baseline" in attrs:
            print(f"  (the notebook's {attrs['baseline']})")
    print(f"inspect it: optuna-dashboard {dashboard_target(args.storage)}")


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
