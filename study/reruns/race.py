"""The race: the study's best configurations on shared new seeds, in rounds, until one is left.

What ``python -m study.optimize`` ends with, and ``python -m study.confirm --race`` runs. The top
K configurations by their single run enter; every one still in the race is trained on the same
new seeds (2, then 4, 8, ... in all: ``race_rules.look_seeds``), and after each round those
worse than the leader beyond the seed noise are dropped (``race_rules.judge``). The race stops
when one is left, when ``--max-seeds`` is reached, or before a round that its budget (a share of
the trials' training time) cannot pay for; the first round's field is cut to the best the budget
affords (at least two). The answer, the winner or the set still tied with mean ± std over their
shared seeds, is recorded as the study's ``confirmed_best`` with how the race went.

The runs go into ``<NAME>-confirm`` like the fixed confirmation's (``study.reruns.confirmation``),
tagged with their configuration, repeat and seed, and the race keeps no other state: a rerun
replays the rounds its complete runs allow (``race_rules.replay``) and goes on from there, so an
interrupted race resumes and a finished one records the same answer again.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any, NamedTuple

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from reports.repeats import confirmed_best, confirmed_text
from reports.tables import study_frame, trials_frame
from study.reruns.confirmation import (
    TrainerFactory,
    candidates,
    open_confirm_study,
    recover_lost_runs,
)
from study.reruns.groups import (
    Candidate,
    describe_incomplete,
    enqueue_missing,
    incomplete,
    missing,
    run_waiting,
    waiting,
)
from study.reruns.race_rules import ALPHA, FIRST_SEEDS, Standing, replay
from study.setup.settings import StudySetupError
from study.training.seeds import derive_seed

#: Finished trials, whose training time the race's budget is a share of.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class RacePlan(NamedTuple):
    """How a race is run.

    Attributes:
        top: Configurations that enter (the study's best distinct ones by single run).
        budget: The most the race may train, as a share of the study's trials' training time.
        max_seeds: The most seeds a configuration gets.
    """

    top: int
    budget: float
    max_seeds: int


def race_seed(study_seed: int, repeat: int) -> int:
    """The seed of every configuration's ``repeat``-th race run: shared, so runs pair up."""
    return derive_seed("race", study_seed, repeat)


def run_seconds(trial: FrozenTrial) -> float:
    """A trial's training and test time (its share, when trained with others)."""
    attrs = trial.user_attrs
    return float(attrs.get("train_seconds", 0.0)) + float(attrs.get("test_seconds", 0.0))


def trials_seconds(study: optuna.Study) -> float:
    """The training time of the study's finished trials: what the budget is a share of."""
    return sum(run_seconds(t) for t in study.get_trials(deepcopy=False, states=FINISHED))


def entrants(
    field: list[Candidate], source: dict[int, FrozenTrial], budget: float, begun: set[str]
) -> list[Candidate]:
    """The best of ``field`` whose first round the budget pays for, at least two.

    Costed by each one's own trial (its single run's time for each seed), which a rerun finds
    unchanged; those that have runs already (``begun``) stay in whatever the budget, so a race
    resumed with another budget keeps its entrants.
    """
    cost = 0.0
    affordable = 0
    for candidate in field:
        cost += FIRST_SEEDS * _trial_seconds(candidate, source)
        if cost > budget and affordable >= 2:
            break
        affordable += 1
    return [c for i, c in enumerate(field) if i < affordable or c.key in begun]


def _trial_seconds(candidate: Candidate, source: dict[int, FrozenTrial]) -> float:
    trial = None if candidate.source_trial is None else source.get(candidate.source_trial)
    return 0.0 if trial is None else run_seconds(trial)


def race_runs(confirm: optuna.Study, keys: set[str]) -> dict[str, dict[int, FrozenTrial]]:
    """The complete runs of these configurations in the confirmation study, by repeat."""
    runs: dict[str, dict[int, FrozenTrial]] = {k: {} for k in keys}
    for trial in confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = trial.user_attrs.get("confirm_key")
        if key in runs:
            runs[key][int(trial.user_attrs["repeat"])] = trial
    return runs


def standing_of(
    confirm: optuna.Study, field: list[Candidate], max_seeds: int
) -> tuple[Standing, dict[str, dict[int, FrozenTrial]]]:
    """The race replayed on its complete runs, and those runs."""
    runs = race_runs(confirm, {c.key for c in field})
    values = {k: {r: float(t.value) for r, t in by.items()} for k, by in runs.items()}  # type: ignore[arg-type]
    return replay([c.key for c in field], values, max_seeds, ALPHA), runs


def run_race(
    study: optuna.Study,
    storage: BaseStorage,
    settings: dict[str, Any],
    make_trainer: TrainerFactory,
    plan: RacePlan,
    *,
    progress: bool = True,
) -> int:
    """Runs (or resumes) the race of ``study``'s best configurations and records its answer.

    Args:
        study: The study whose configurations race.
        storage: A storage to write the runs to (with a heartbeat where it has one).
        settings: ``confirmation.confirm_settings`` of this run.
        make_trainer: Called once, when runs wait (``confirmation.keras_trainer``).
        plan: The field, budget and seed cap.
        progress: Show a progress bar on stderr.

    Returns:
        0 when the answer is recorded (or nothing can race: no complete trial), 1 when runs of a
        round failed (a rerun retries them), 2 when the stored confirmation was trained another
        way, 130/143 when interrupted (rerun to resume).
    """
    field = candidates(study, plan.top, baseline=False)
    if not field:
        name = study.study_name
        print(f"nothing to race: study {name!r} has no complete trial", file=sys.stderr)
        return 0
    try:
        confirm = open_confirm_study(storage, study.study_name, settings)
    except StudySetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lost = recover_lost_runs(confirm)
    if lost:
        print(f"re-queued race run(s) {lost}: their worker died", file=sys.stderr)
    source = {t.number: t for t in study.get_trials(deepcopy=False)}
    trained = trials_seconds(study)
    budget = plan.budget * trained
    begun = {t.user_attrs.get("confirm_key") for t in confirm.get_trials(deepcopy=False)}
    field = entrants(field, source, budget, {k for k in begun if k is not None})
    by_key = {c.key: c for c in field}
    trainer = None
    while True:
        standing, runs = standing_of(confirm, field, plan.max_seeds)
        survivors = [by_key[k] for k in standing.survivors]
        stopped = _stopped(confirm, survivors, standing, runs, source, budget)
        if stopped or standing.next_seeds is None:
            break
        spent = _spent(runs)
        added = enqueue_missing(
            confirm,
            survivors,
            standing.next_seeds,
            seed_of=lambda repeat: race_seed(int(settings["seed"]), repeat),
        )
        print(
            f"race in {confirm.study_name!r}: {len(survivors)} of {len(field)} configurations "
            f"to {standing.next_seeds} seeds each ({added} runs enqueued, {waiting(confirm)} to "
            f"run); spent {spent:.0f} of {budget:.0f} s ({plan.budget:.0%} of the trials' "
            f"{trained:.0f} s)",
            file=sys.stderr,
        )
        if waiting(confirm):
            trainer = trainer or make_trainer()
            code = run_waiting(confirm, *trainer, progress=progress)
            if code:
                return code
        lacking = incomplete(confirm, survivors, standing.next_seeds)
        if lacking:
            print(
                f"the race stopped: {describe_incomplete(confirm, lacking)}; rerun the same "
                "command to go on",
                file=sys.stderr,
            )
            # Failed (not waiting or running): nothing under way will complete them.
            return 1 if missing(confirm, survivors, standing.next_seeds) else 0
    record = race_record(study, confirm, field, standing, runs)
    if record is not None:
        record["race"].update(
            stopped=stopped,
            budget_seconds=round(budget, 1),
            spent_seconds=round(_spent(runs), 1),
            trials_seconds=round(trained, 1),
            max_seeds=plan.max_seeds,
        )
        if record != study.user_attrs.get("confirmed_best"):
            study.set_user_attr("confirmed_best", record)
            save_answer_note(study, record)
    return 0


def save_answer_note(study: optuna.Study, record: dict[str, Any]) -> None:
    """Puts the answer on the study's optuna-dashboard page until a report writes its findings.

    Only a new answer is written, so a rerun of a finished race leaves a report's note alone.
    """
    from optuna_dashboard import save_note

    save_note(
        study,
        f"## Answer\n\n{confirmed_text(record)}\n\n(written by the race; `python -m reports` "
        "replaces this note with the findings, which start with the same answer)",
    )


def _stopped(
    confirm: optuna.Study,
    survivors: list[Candidate],
    standing: Standing,
    runs: dict[str, dict[int, FrozenTrial]],
    source: dict[int, FrozenTrial],
    budget: float,
) -> str | None:
    """Why the race is over (``one left``, ``seed cap``, ``budget``), or None to run a round.

    The first round always runs; a later one only when the budget pays for it at the
    survivors' mean run so far, or when it was begun already.
    """
    if standing.next_seeds is None:
        return "one left" if len(standing.survivors) == 1 else "seed cap"
    if not standing.seeds or _started(confirm, survivors, standing):
        return None
    seeds = standing.next_seeds - standing.seeds
    cost = seeds * sum(_run_cost(c, runs, source) for c in survivors)
    return "budget" if _spent(runs) + cost > budget else None


def _started(confirm: optuna.Study, survivors: list[Candidate], standing: Standing) -> bool:
    """Whether the next round has runs already (begun, it is finished whatever it costs)."""
    keys = {c.key for c in survivors}
    assert standing.next_seeds is not None
    wanted = range(standing.seeds, standing.next_seeds)
    return any(
        t.user_attrs.get("confirm_key") in keys and t.user_attrs.get("repeat") in wanted
        for t in confirm.get_trials(deepcopy=False)
    )


def _spent(runs: dict[str, dict[int, FrozenTrial]]) -> float:
    return sum(run_seconds(t) for by in runs.values() for t in by.values())


def _run_cost(
    candidate: Candidate, runs: dict[str, dict[int, FrozenTrial]], source: dict[int, FrozenTrial]
) -> float:
    """One more run's expected time: the mean of its race runs so far, else its own trial's."""
    own = [run_seconds(t) for t in runs[candidate.key].values()]
    return statistics.fmean(own) if own else _trial_seconds(candidate, source)


def race_record(
    study: optuna.Study,
    confirm: optuna.Study,
    field: list[Candidate],
    standing: Standing,
    runs: dict[str, dict[int, FrozenTrial]],
) -> dict[str, Any] | None:
    """The ``confirmed_best`` record of a race: its leader, every entrant, how it went.

    The leader's figures are over the seeds the survivors share; each dropped entrant's are
    over the seeds it had when dropped. ``race`` holds ``tied`` (the survivors, the leader
    first), ``dropped`` (each with the seeds it had, its gap below the leader and the margin
    it exceeded), ``seeds``, ``entrants`` and ``alpha``; ``runs`` counts the confirmation
    study's complete runs, as ``reports.repeats.current_confirmed`` expects.
    """
    used = {k: standing.seeds for k in standing.survivors}
    used.update({d.key: d.seeds for d in standing.dropped})
    raced = [t for k, n in used.items() for r, t in runs[k].items() if r < n]
    survived = [t for t in raced if t.user_attrs["confirm_key"] in standing.survivors]
    frame = study_frame(study)
    leader = confirmed_best(frame, trials_frame(survived), min_runs=1)
    if leader is None:
        return None
    everyone = confirmed_best(frame, trials_frame(raced), min_runs=1)
    by_key = {c.key: c for c in field}
    done = confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return {
        **leader,
        "candidates": everyone["candidates"] if everyone else leader["candidates"],
        "runs": len(done),
        "race": {
            "entrants": len(field),
            "seeds": standing.seeds,
            "alpha": ALPHA,
            "tied": [_name(by_key[k]) for k in standing.survivors],
            "dropped": [
                {
                    "name": _name(by_key[d.key]),
                    "seeds": d.seeds,
                    "gap": round(d.gap, 5),
                    "margin": round(d.margin, 5),
                }
                for d in standing.dropped
            ],
        },
    }


def _name(candidate: Candidate) -> str:
    if candidate.source_trial is None:
        return candidate.label
    return f"trial #{candidate.source_trial}"
