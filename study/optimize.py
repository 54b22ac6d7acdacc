"""``python -m study.optimize``: run (or resume) the Optuna study over the notebook's design axes.

This module wires the parts together: arguments -> backend -> data -> storage -> study -> trials.
Keras is imported only once the backend is chosen and the inputs are known to be good, so
``--help`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from storage import StorageError, kind_of, open_storage
from study.backend import select_backend
from study.data import DataError, Dataset, DataSettings, default_cache_dir, load_dataset
from study.objectives import DIRECTIONS, AccuracyAndParams, is_multi
from study.setup import PRUNERS, StudySetupError, make_pruner, make_sampler, open_study

DEFAULT_STORAGE = "sqlite:///rnn_design_study.db"
DEFAULT_STUDY = "rnn-design"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class _OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments as one line (no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.optimize``."""
    p = _OneLineParser(
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
    d = p.add_argument_group("data")
    d.add_argument(
        "--data",
        default="imdb",
        help="'imdb' (keras.datasets download) or a path to an aclImdb folder or .tar.gz",
    )
    d.add_argument("--max-features", type=int, default=1000, help="vocabulary size (num_words)")
    d.add_argument("--maxlen", type=int, default=80, help="tokens kept per review (the last ones)")
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
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    t.add_argument("--batch-size", type=int, default=32, help="training batch size")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    t.add_argument(
        "--backend",
        choices=("auto", "jax", "tensorflow"),
        default="auto",
        help="Keras backend; auto picks JAX, the fastest on CPU (see README)",
    )
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and validates the command line; exits 2 with one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("trials", "epochs", "batch_size", "max_features", "maxlen"):
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
    """The whole configuration of this run, as recorded in the study's user attributes."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.update(backend=backend, data_fingerprint=data.fingerprint, data_sizes=data.sizes())
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the study; returns the process exit code."""
    args = parse_args(argv)
    backend = select_backend(args.backend)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        kind_of(args.storage)  # a bad URL fails before the (slower) data load
        data = load_dataset(data_settings(args))
        storage = open_storage(args.storage)
        study, created = open_study(
            storage,
            args.study_name,
            sampler=make_sampler(args.seed),
            pruner=make_pruner(args.pruner, args.epochs),
            baseline=not args.no_baseline,
            config=resolved_config(args, backend, data),
            directions=DIRECTIONS[args.objectives],
        )
    except (DataError, StorageError, StudySetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finished = _count(study, FINISHED)
    print(
        f"{'created' if created else 'resuming'} study {args.study_name!r} in {args.storage}: "
        f"{finished}/{args.trials} trials finished; data {data.sizes()}; backend {backend}",
        file=sys.stderr,
    )
    if finished >= args.trials:
        print(
            f"study already holds {finished} finished trials (target {args.trials}); nothing to do"
        )
        _print_summary(study, args)
        return 0

    from study.objective import TRIAL_ERRORS, Objective  # imports Keras, now with its backend
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
    )
    run_trial: Callable[[optuna.Trial], Any] = objective
    if is_multi(args.objectives):
        run_trial = AccuracyAndParams(objective)
    if args.artifact_dir is not None:
        from study.artifacts import WithHistoryArtifacts

        run_trial = WithHistoryArtifacts(run_trial, args.artifact_dir)
    progress = _Progress(args.trials, finished)
    start = time.perf_counter()
    try:
        study.optimize(
            run_trial,
            catch=TRIAL_ERRORS,
            callbacks=[MaxTrialsCallback(args.trials, states=FINISHED), progress],
        )
    finally:
        progress.close()
    print(f"ran {progress.ran} trials in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    _print_summary(study, args)
    return 0


class _Progress:
    """A progress bar over the study's finished trials, with the best value so far."""

    def __init__(self, total: int, done: int) -> None:
        from tqdm import tqdm  # Optuna's own dependency

        self._bar = tqdm(total=total, initial=done, unit="trial", file=sys.stderr)
        self.ran = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.ran += 1
        self._bar.n = min(_count(study, FINISHED), self._bar.total)
        best = _best(study)
        if best is not None:
            self._bar.set_postfix(
                best_val_acc=f"{best.values[0]:.4f}", last=trial.state.name.lower(), refresh=False
            )
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
    print(f"inspect it: optuna-dashboard {args.storage}")


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
