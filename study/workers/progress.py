"""What a study run shows: a progress bar over the finished trials, and the closing summary.

Both read the storage, which is the truth when several workers write. No Keras here.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search_spaces.baseline import BASELINE_GRID
from storage import JOURNAL_PREFIX, kind_of
from study.setup.baselines import missing_baselines
from study.workers.stopping import FINISHED, count_trials, counts_toward_target


class Progress:
    """A progress bar over the study's finished trials, with the best value so far.

    Called after each trial of this process (an Optuna callback); ``show`` redraws it for the
    parent of ``--workers N``, which runs no trials itself.
    """

    def __init__(self, total: int, done: int) -> None:
        from tqdm import tqdm  # Optuna's own dependency

        self._bar = tqdm(total=total, initial=done, unit="trial", file=sys.stderr)
        self.ran = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.ran += 1
        self.show(study, last=trial.state.name.lower())

    def show(self, study: optuna.Study, last: str | None = None) -> None:
        """Redraws the bar from the storage (it is the truth when several workers write)."""
        done = min(count_trials(study, FINISHED), self._bar.total)
        if done == self._bar.n and last is None:
            return  # nothing new: keep a log file free of identical lines
        self._bar.n = done
        best = best_trial(study)
        if best is not None:
            postfix = {"best_val_acc": f"{best.values[0]:.4f}"}
            if last:
                postfix["last"] = last
            self._bar.set_postfix(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Ends the bar's line."""
        self._bar.close()


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial of highest validation accuracy, or None before any completes.

    ``values[0]`` is validation accuracy in both single- and multi-objective studies.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.values[0] if t.values else 0.0) if complete else None


def print_summary(study: optuna.Study, storage_url: str) -> None:
    """Prints the trials by state, the answer and the command that shows the study.

    The answer is the confirmed best (``confirmed_best``: mean ± std over other seeds) when the
    study was confirmed; the best single run follows, labelled as one seed.

    Args:
        study: The study just run (or found finished).
        storage_url: Its ``--storage``, for the ``optuna-dashboard`` command.
    """
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    line = "trials: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    capped = sum(not counts_toward_target(t) for t in trials)
    if capped:
        line += f" ({capped} of them over --max-lstm-params: not trained, not counted in --trials)"
    print(line)
    _print_missing_baselines(study)
    confirmed = study.user_attrs.get("confirmed_best")
    if confirmed:  # the answer: a mean over other seeds, not the luckiest single run
        # pandas: only for a confirmed study
        from reports.load import load_confirm_study
        from reports.repeats import confirmed_text, current_confirmed
        from reports.tables import study_frame

        confirm = load_confirm_study(study)
        frame = None if confirm is None else study_frame(confirm)
        confirmed = current_confirmed(confirmed, study_frame(study), frame)
    if confirmed:
        print(confirmed_text(confirmed))
    best = best_trial(study)
    if best is None:
        print("no trial has completed yet")
    else:
        attrs = best.user_attrs
        seeds = int(attrs.get("repeats", 1) or 1)
        print(
            f"best single run ({'one seed' if seeds == 1 else f'mean of {seeds} seeds'}): "
            f"trial #{best.number}: val_accuracy {best.values[0]:.4f}, "
            f"test_accuracy {attrs.get('test_accuracy', float('nan')):.4f}, "
            f"n_params {attrs.get('n_params')}, train_seconds {attrs.get('train_seconds')}"
        )
        print("  params: " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()))
        if "baseline" in attrs:
            print(f"  (the notebook's {attrs['baseline']})")
    print(f"inspect it: optuna-dashboard {dashboard_target(storage_url)}")


def _print_missing_baselines(study: optuna.Study) -> None:
    """Names the notebook configurations the study does not hold complete, and why."""
    if not study.user_attrs.get("baseline_enqueued"):
        return
    missing = missing_baselines(study, pending=True)
    if not missing:
        return
    described = []
    for entry in missing:
        if entry.pending:
            fate = f"{entry.pending} to run" if entry.pending == "waiting" else "running"
        elif entry.retry:
            fate = "re-enqueued when the study is resumed"
        else:
            fate = "not retried"
        times = {1: "once", 2: "twice"}.get(len(entry.reasons), f"{len(entry.reasons)} times")
        why = f"failed {times}, last: {entry.reasons[-1]}; " if entry.reasons else ""
        described.append(f"{entry.label} ({why}{fate})")
    print(
        f"notebook baselines missing: {len(missing)} of {len(BASELINE_GRID)}: "
        + "; ".join(described)
    )


def dashboard_target(storage_url: str) -> str:
    """What to pass to ``optuna-dashboard``: the URL, or the file of a journal storage."""
    if kind_of(storage_url) == "journal":
        return shlex.quote(storage_url.removeprefix(JOURNAL_PREFIX))
    return shlex.quote(storage_url)


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
