"""``python -m study.confirm``: re-train the best and the notebook's configurations R times.

Single runs differ by about a point of accuracy between seeds, as much as the differences the
notebook reports. This command re-trains the study's top-K configurations and the notebook's 14
with other seeds, into a study named ``<NAME>-confirm`` in the same storage; ``python -m reports``
then shows mean ± std and says which differences exceed the seed-to-seed spread.

Each (configuration, repeat) is enqueued once, tagged with ``confirm_key`` and ``repeat``; a rerun
enqueues only what is neither finished nor waiting, so it resumes after a crash and extends the
study when ``--repeats`` grows. Data and training settings default to those the study recorded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from reports.load import ReportInputError, confirm_study_name, load_study_readonly
from reports.tables import PARAMS, complete, config_key, study_frame
from search_spaces.baseline import BASELINE_GRID
from storage import StorageError, open_storage, tune_for_writing
from study import optimize_args
from study.backend import select_backend
from study.cli import add_storage_arguments, command_parser, data_settings, input_error
from study.data import DataError, load_dataset
from study.directions import name_metrics
from study.reruns import Candidate, enqueue_missing, run_waiting, waiting
from study.run import build_objective
from study.study_setup import recorded_settings

#: Added to the study's seed for the repeats, so that no repeat reuses a seed of the study's own
#: trials (each trial's Keras seed is hashed from the study's seed and the trial's number,
#: ``study.seeds.trial_seed``).
SEED_OFFSET = 1000
#: The data and training flags of ``study.optimize`` a confirmation takes (and records).
FLAGS = (
    "data", "max_features", "maxlen", "val_split", "limit_train", "limit_test", "seed",
    "epochs", "batch_size", "learning_rate", "backend", "dropout_style", "repeat_mode",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.confirm`` (data flags are study.optimize's)."""
    p = command_parser(
        "python -m study.confirm",
        "Re-train the top-K configurations of a study and the notebook's 14 "
        "R times with other seeds, into the study <NAME>-confirm. Data and training flags "
        "(--data, --limit-train, --epochs, ...) are those of study.optimize and default to "
        "what the study recorded. Rerunning resumes.",
    )
    add_storage_arguments(p, study_help="the study to confirm")
    p.add_argument("--top", type=int, default=3, help="best distinct configurations to repeat")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    p.add_argument(
        "--no-baseline", action="store_true", help="repeat only the top-K, not the notebook's 14"
    )
    return p


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Own flags, and the remaining (data / training) flags for study.optimize's parser.

    Exits 2 with one line on bad input.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.top < 0:
        parser.error(f"--top must be 0 or more, got {args.top}")
    if args.repeats < 1:
        parser.error(f"--repeats must be positive, got {args.repeats}")
    allowed = {f"--{f.replace('_', '-')}" for f in (*FLAGS, "cache_dir")}
    for token in rest:
        if token.startswith("-") and token.split("=", 1)[0] not in allowed:
            parser.error(
                f"unrecognized argument {token!r}: besides its own flags, study.confirm takes "
                "study.optimize's data and training flags"
            )
    return args, rest


def settings_argv(recorded: dict[str, Any], rest: list[str]) -> list[str]:
    """study.optimize flags: the study's recorded settings, then the user's (last one wins)."""
    argv: list[str] = []
    for name in FLAGS:
        value = recorded.get(name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv + rest


def candidates(study: optuna.Study, top: int, baseline: bool) -> list[Candidate]:
    """The notebook's configurations (unless ``baseline`` is False) and the top-K others."""
    chosen: dict[str, Candidate] = {}
    if baseline:
        for entry in BASELINE_GRID:
            params = entry.config.as_params()
            key = config_key(params)
            chosen[key] = Candidate(key, params, entry.label, entry.label, None)
    done = complete(study_frame(study)).sort_values("val_accuracy", ascending=False)
    picked = 0
    for _, row in done.iterrows():
        if picked >= top:
            break
        key = config_key(row)
        if key in chosen or row[list(PARAMS)].isna().any():
            continue
        params = {p: (int(row[p]) if p in ("units", "embedding_dim", "layers") else float(row[p]))
                  for p in PARAMS}  # fmt: skip
        baseline_label = None if row["source"] == "sampler" else str(row["source"])
        label = f"top {picked + 1}: trial #{int(row['number'])}"
        chosen[key] = Candidate(key, params, label, baseline_label, int(row["number"]))
        picked += 1
    return list(chosen.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Runs (or resumes) the confirmation; returns the process exit code."""
    args, rest = parse_args(argv)
    # Optuna logs every failed trial with its traceback; run_waiting prints one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = load_study_readonly(args.storage, args.study_name)
    except ReportInputError as exc:
        return input_error(exc)
    recorded = recorded_settings(study)
    settings = optimize_args.parse_args(settings_argv(recorded, rest))
    wanted = candidates(study, args.top, baseline=not args.no_baseline)
    if not wanted:
        print(
            f"error: study {args.study_name!r} has no complete trial to confirm", file=sys.stderr
        )
        return 2
    backend = select_backend(settings.backend, compilation_cache=settings.cache_dir / "jax")
    try:
        data = load_dataset(data_settings(settings))
        storage = open_storage(args.storage)  # with heartbeat: this process writes trials
        tune_for_writing(storage)
    except (DataError, StorageError) as exc:
        return input_error(exc)
    if recorded.get("data_fingerprint") not in (None, data.fingerprint):
        print(
            "warning: this data differs from the study's (fingerprint "
            f"{data.fingerprint} vs {recorded['data_fingerprint']})",
            file=sys.stderr,
        )
    name = confirm_study_name(args.study_name)
    confirm = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", load_if_exists=True
    )
    name_metrics(confirm)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(settings).items()}
    confirm.set_user_attr("config", {**config, "data_fingerprint": data.fingerprint,
                                     "data_sizes": data.sizes(), "confirms": args.study_name,
                                     "seed_offset": SEED_OFFSET})  # fmt: skip
    added = enqueue_missing(confirm, wanted, args.repeats)
    todo = waiting(confirm)
    print(
        f"study {name!r}: {len(wanted)} configurations x {args.repeats} repeats; "
        f"{added} newly enqueued, {todo} to run; data {data.sizes()}; backend {backend}",
        file=sys.stderr,
    )
    if todo:
        from study.objective import trial_errors  # imports Keras

        objective = build_objective(
            settings, data, seed=settings.seed + SEED_OFFSET, pruning=False
        )
        code = run_waiting(confirm, objective, trial_errors())
        if code:
            return code
    done = len(confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    print(
        f"{name}: {done} complete runs; report them with "
        f"python -m reports --storage {args.storage} --study-name {args.study_name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
