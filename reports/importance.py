"""Parameter importances with their uncertainty and a noise floor: the data behind the figure.

An evaluator (Optuna's PED-ANOVA by default, fANOVA selectable) returns numbers even when no
parameter matters, so each importance (unnormalized) comes with a bootstrap interval over the
trials and a per-parameter noise floor from studies with the accuracies permuted across the
trials (Westfall-Young min-p, family-wise at ``ALPHA``; ``floor="max"``: one floor for all). A
parameter under its floor is "not distinguishable from noise" and is never ranked. What is
explained is ``TARGETS``' final or first-epoch validation accuracy. Everything is seeded and
judged by Optuna's own evaluator on in-memory copies of the trials; no Keras here. Why these
choices, and the measurements behind them: docs/reports.md ("Parameter importances").
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution
from optuna.importance import (
    FanovaImportanceEvaluator,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from optuna.trial import TrialState, create_trial

from reports.tables import PARAMS

EVALUATORS: tuple[str, ...] = ("ped-anova", "fanova")
TARGETS: tuple[str, ...] = ("final", "first-epoch")
FLOORS: tuple[str, ...] = ("min-p", "max")
#: What ``python -m reports`` uses unless told otherwise (benchmarks/importance_stability.py and
#: docs/reports.md give the measurements behind the choice of target).
DEFAULT_EVALUATOR = "ped-anova"
DEFAULT_TARGET = "final"
DEFAULT_RESAMPLES = 50
DEFAULT_PERMUTATIONS = 300
DEFAULT_SEED = 0
#: Family-wise level of the noise floor.
ALPHA = 0.05
#: Percentiles of the bootstrap interval.
INTERVAL = (5.0, 95.0)
#: PED-ANOVA compares the top trials with all: Optuna's default top 10 %, but at least this many
#: trials (at most half of them), as a top of 3-4 trials is about as concentrated as a random
#: one (docs/reports.md).
TOP_TRIALS = 10
#: The evaluator needs this many trials (PED-ANOVA's top 10 % must hold at least one).
MIN_TRIALS = 5
NOISE = "not distinguishable from noise"
ABOVE = "above noise"
COLUMNS: tuple[str, ...] = (
    "param",
    "importance",
    "raw",
    "low",
    "high",
    "first_share",
    "floor",
    "p_value",
    "p_single",
    "above_noise",
)

_EVALUATOR_NAMES = {
    "fanova": "Optuna's FanovaImportanceEvaluator (fANOVA, random forest of 64 trees, seeded)",
}
_TARGET_NAMES = {
    "final": "final validation accuracy",
    "first-epoch": "validation accuracy after epoch 1",
}


class ImportanceResult(NamedTuple):
    """Importances with intervals and a noise floor, or why there are none.

    Attributes:
        table: One row per parameter (``COLUMNS``): ``importance`` (normalized to sum 1, as
            Optuna reports it), ``raw`` (unnormalized), ``low``/``high`` (5–95 % bootstrap
            interval of ``raw``), ``first_share`` (share of resamples ranking it first),
            ``floor`` (the noise floor, the same for all), ``p_value`` (family-wise permutation
            p-value), ``p_single`` (unadjusted), ``above_noise``; ordered by ``raw``, largest
            first. Empty when unavailable.
        evaluator: ``EVALUATORS`` key.
        target: ``TARGETS`` key actually used.
        trials: Trials the importances rest on.
        resamples: Bootstrap resamples asked for.
        permutations: Permuted studies asked for.
        seed: Seed of the resampling, the permutations and fANOVA.
        reason: Why there are no importances ("" when there are).
        note: Why the target differs from the one asked for ("" when it does not).
    """

    table: pd.DataFrame
    evaluator: str
    target: str
    trials: int
    resamples: int
    permutations: int
    seed: int
    reason: str = ""
    note: str = ""

    @property
    def available(self) -> bool:
        """Whether there are importances to show."""
        return not self.table.empty

    def evaluator_name(self) -> str:
        """The evaluator, named for a reader."""
        if self.evaluator == "ped-anova":
            q = top_quantile(self.trials)
            return (
                "Optuna's PedAnovaImportanceEvaluator (PED-ANOVA: the top "
                f"{q:.0%} of trials, about {round(q * self.trials)}, against all)"
            )
        return _EVALUATOR_NAMES[self.evaluator]

    def target_name(self) -> str:
        """What the importances explain, and on how many trials.

        For example "final validation accuracy, 39 complete trials".
        """
        kind = "complete" if self.target == "final" else "trained (complete and pruned)"
        return f"{_TARGET_NAMES[self.target]}, {self.trials} {kind} trials"

    def settings(self) -> str:
        """The settings that produced them, as the report records them."""
        return (
            f"--importance-evaluator {self.evaluator} --importance-target {self.target} "
            f"--importance-resamples {self.resamples} "
            f"--importance-permutations {self.permutations} --importance-seed {self.seed}"
        )

    def verdicts(self) -> dict[str, bool]:
        """``param -> above_noise``, in ``ordered`` order (no ranking among the noise)."""
        rows = ordered(self.table)
        return {str(p): bool(a) for p, a in zip(rows["param"], rows["above_noise"], strict=True)}


class _Trials(NamedTuple):
    params: list[dict[str, float]]
    distributions: list[dict[str, BaseDistribution]]
    values: np.ndarray
    names: list[str]


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    """The rows in the order a reader sees them: above noise by importance, then the rest.

    Parameters under their floor follow in search-space order: their order among themselves is
    noise, so no table or figure ranks them.
    """
    above = table[table["above_noise"].astype(bool)].sort_values(
        "raw", ascending=False, kind="stable"
    )
    under = table[~table["above_noise"].astype(bool)]
    position = [PARAMS.index(p) if p in PARAMS else len(PARAMS) for p in under["param"]]
    under = under.assign(_pos=position).sort_values("_pos", kind="stable").drop(columns="_pos")
    return pd.concat([above, under], ignore_index=True)


def top_quantile(trials: int) -> float:
    """PED-ANOVA's ``target_quantile`` for a study of ``trials``: 10 %, or ``TOP_TRIALS``."""
    return min(0.5, max(0.1, TOP_TRIALS / max(trials, 1)))


def target_trials(study: optuna.Study, target: str) -> _Trials:
    """The trials the importances rest on, their shared parameters and the value explained."""
    if target == "final":
        chosen = [
            (t, float(t.values[0]))
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values and np.isfinite(t.values[0])
        ]
    else:
        chosen = [
            (t, float(t.intermediate_values[0]))
            for t in study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
            )
            if 0 in t.intermediate_values and np.isfinite(t.intermediate_values[0])
        ]
    names = [p for p in PARAMS if chosen and all(p in t.params for t, _ in chosen)]
    trials = _Trials(
        params=[{p: t.params[p] for p in names} for t, _ in chosen],
        distributions=[{p: t.distributions[p] for p in names} for t, _ in chosen],
        values=np.array([v for _, v in chosen], dtype=float),
        names=names,
    )
    return trials


def compute_importances(
    study: optuna.Study,
    *,
    evaluator: str = DEFAULT_EVALUATOR,
    target: str = DEFAULT_TARGET,
    resamples: int = DEFAULT_RESAMPLES,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    floor: str = "min-p",
) -> ImportanceResult:
    """Importances of the search-space parameters for validation accuracy, judged against noise.

    Args:
        study: The study (a multi-objective one is judged on its first objective).
        evaluator: ``"ped-anova"`` or ``"fanova"``.
        target: ``"final"`` or ``"first-epoch"`` (``TARGETS``); ``"first-epoch"`` falls back
            to ``"final"``, and says so in ``note``, for a multi-objective study (which stores no
            per-epoch values) and for one with fewer epoch-1 values than complete trials.
        resamples: Bootstrap resamples for the intervals (0: no interval).
        permutations: Permuted studies for the noise floor (0: no floor, every parameter
            ``above_noise`` is then False and ``floor`` NaN).
        seed: Seed of everything random here.
        floor: ``"min-p"`` (per-parameter floors) or ``"max"`` (one floor): ``noise_null``.

    Raises:
        ValueError: Unknown evaluator or target, negative counts.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f"unknown importance evaluator {evaluator!r}; choose from {EVALUATORS}")
    if target not in TARGETS:
        raise ValueError(f"unknown importance target {target!r}; choose from {TARGETS}")
    if floor not in FLOORS:
        raise ValueError(f"unknown noise floor {floor!r}; choose from {FLOORS}")
    if resamples < 0 or permutations < 0:
        raise ValueError(
            f"resamples and permutations must be 0 or more, got {resamples} and {permutations}"
        )
    note = ""
    if target == "first-epoch" and len(study.directions) > 1:
        target = "final"
        note = "a multi-objective study stores no per-epoch values: final accuracy used"
    trials = target_trials(study, target)
    if target == "first-epoch":
        final = target_trials(study, "final")
        if len(final.values) > len(trials.values):  # trials that never reported an epoch
            trials, target = final, "final"
            note = (
                f"more complete trials ({len(final.values)}) than trials with an epoch-1 "
                "accuracy: final accuracy used"
            )
    result = ImportanceResult(
        pd.DataFrame(columns=list(COLUMNS)),
        evaluator,
        target,
        len(trials.values),
        resamples,
        permutations,
        seed,
        note=note,
    )
    if len(trials.values) < MIN_TRIALS:
        return result._replace(
            reason=f"needs at least {MIN_TRIALS} trials with a value, has {len(trials.values)}"
        )
    if not trials.names:
        return result._replace(reason="the trials share no parameter")
    if np.ptp(trials.values) == 0:
        return result._replace(reason=f"all {len(trials.values)} trials have the same accuracy")
    rng = np.random.default_rng(seed)
    n = len(trials.values)
    # One in-memory study of the trials serves the observed and every permuted study: the
    # permuted accuracies reach the evaluator through its ``target`` (trial number -> value).
    # A resample repeats trials, so each gets a study of its own.
    same = _study(trials, np.arange(n))
    raw = _importances(same, trials.names, trials.values, evaluator, rng)
    if raw is None or not any(v > 0 for v in raw.values()):
        return result._replace(reason=f"the evaluator finds no importance on {n} trials")
    boot = []
    for _ in range(resamples):
        rows = rng.integers(0, n, n)
        boot.append(
            _importances(_study(trials, rows), trials.names, trials.values[rows], evaluator, rng)
        )
    boots = pd.DataFrame([b for b in boot if b is not None], columns=trials.names, dtype=float)
    null = [
        _importances(same, trials.names, rng.permutation(trials.values), evaluator, rng)
        for _ in range(permutations)
    ]
    nulls = pd.DataFrame([b for b in null if b is not None], columns=trials.names, dtype=float)
    table = _table(raw, boots, nulls, floor)
    return result._replace(table=table)


class _Null(NamedTuple):
    """The permuted studies' importances and the family statistic of each permuted study."""

    own: pd.DataFrame  # one row per permuted study, one column per parameter
    family: np.ndarray  # min-p: its smallest per-parameter p-value; max: its largest importance
    method: str

    def p_single(self, param: str, value: float) -> float:
        """Unadjusted permutation p-value of importance ``value`` of ``param``."""
        own = self.own[param].to_numpy()
        return (1 + int(np.sum(own >= value))) / (1 + len(own))

    def p_value(self, param: str, value: float) -> float:
        """Family-wise permutation p-value of importance ``value`` of ``param``.

        How often a permuted study's most extreme parameter is at least as extreme as this one.
        """
        if self.method == "max":
            extreme = int(np.sum(self.family >= value))
        else:
            extreme = int(np.sum(self.family <= self.p_single(param, value)))
        return (1 + extreme) / (1 + len(self.family))

    def floor(self, param: str) -> float:
        """The noise floor of ``param``: an importance above it has ``p_value`` <= ``ALPHA``.

        The smallest such importance among the permuted studies' (inf when none has one: too
        few permutations for the family-wise level).
        """
        pool = self.family if self.method == "max" else self.own[param].to_numpy()
        candidates = np.unique(pool)  # ascending
        passing = [
            v for v in candidates if self.p_value(param, float(np.nextafter(v, np.inf))) <= ALPHA
        ]
        return float(passing[0]) if passing else math.inf


def noise_null(nulls: pd.DataFrame, method: str = "min-p") -> _Null:
    """The null distribution the floors and family-wise p-values are read from.

    Args:
        nulls: Unnormalized importances of the permuted studies, one row each, one column per
            parameter.
        method: ``"min-p"``: the family statistic of a permuted study is the smallest p-value of
            its parameters, each against its own parameter's null (Westfall–Young min-p), so each
            parameter gets its own floor; ``"max"``: its largest unnormalized importance, one
            floor for all.
    """
    if method == "max":
        return _Null(nulls, nulls.max(axis=1).to_numpy(), method)
    # Each permuted study's p-value against the others, on the observed one's scale (B + 1 in
    # the denominator): slightly smaller than exact, so the family-wise p-value errs high.
    p_null = nulls.rank(ascending=False, method="max") / (len(nulls) + 1)
    return _Null(nulls, p_null.min(axis=1).to_numpy(), method)


def _table(
    raw: dict[str, float], boots: pd.DataFrame, nulls: pd.DataFrame, method: str
) -> pd.DataFrame:
    total = sum(raw.values())
    firsts = boots.idxmax(axis=1).value_counts() if len(boots) else pd.Series(dtype=float)
    null = noise_null(nulls, method) if len(nulls) else None
    rows = []
    for param, value in raw.items():
        p_value = null.p_value(param, value) if null else math.nan
        rows.append(
            {
                "param": param,
                "importance": value / total if total > 0 else math.nan,
                "raw": value,
                "low": _pct(boots, param, INTERVAL[0]),
                "high": _pct(boots, param, INTERVAL[1]),
                "first_share": (
                    float(firsts.get(param, 0)) / len(boots) if len(boots) else math.nan
                ),
                "floor": null.floor(param) if null else math.nan,
                "p_value": p_value,
                "p_single": null.p_single(param, value) if null else math.nan,
                "above_noise": bool(null) and p_value <= ALPHA,
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("raw", ascending=False, kind="stable", ignore_index=True)


def _pct(boots: pd.DataFrame, param: str, q: float) -> float:
    return float(np.percentile(boots[param], q)) if len(boots) else math.nan


def _study(trials: _Trials, rows: np.ndarray) -> optuna.Study:
    """An in-memory study of trials ``rows``, numbered 0.. in that order.

    Their values are placeholders: the evaluator reads the accuracies through its target.
    """
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            create_trial(params=trials.params[i], distributions=trials.distributions[i], value=0.0)
            for i in rows
        ]
    )
    return study


def _importances(
    study: optuna.Study,
    names: list[str],
    values: np.ndarray,
    evaluator: str,
    rng: np.random.Generator,
) -> dict[str, float] | None:
    """Unnormalized importances of ``study`` whose trial number ``i`` has accuracy ``values[i]``.

    None when the evaluator cannot judge it (e.g. a resample with one distinct value).
    """
    judge: PedAnovaImportanceEvaluator | FanovaImportanceEvaluator = (
        PedAnovaImportanceEvaluator(target_quantile=top_quantile(len(values)))
        if evaluator == "ped-anova"
        else FanovaImportanceEvaluator(seed=int(rng.integers(2**31)))
    )
    # PED-ANOVA takes a lower target as better: the negated accuracy. (fANOVA, which explains
    # the target's variance, gives the same for either sign.)
    target = -np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials", "lower target": said elsewhere
        try:
            out = get_param_importances(
                study,
                evaluator=judge,
                params=names,
                target=lambda t: float(target[t.number]),
                normalize=False,
            )
        except (ValueError, RuntimeError, ZeroDivisionError):
            return None
    return {p: float(out.get(p, 0.0)) for p in names}
