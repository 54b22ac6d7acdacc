"""Seed-to-seed spread and the confirmed best from a confirmation study (``study.confirm``).

The confirmation study re-trains chosen configurations several times with different seeds. Here
its trials become mean ± std per configuration, and one pooled spread that tells findings which
differences are larger than the noise of a single training run.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from reports.tables import PARAMS, complete, config_key, config_text
from search_spaces.keys import row_params


class Spread(NamedTuple):
    """The pooled seed-to-seed standard deviation of validation accuracy.

    Attributes:
        std: Pooled standard deviation of one run's validation accuracy (a fraction).
        repeats: Typical number of repeats per configuration (the median).
        configs: Configurations with at least two repeats, which the pool is made of.
        dof: Degrees of freedom of the pooled variance: the repeats minus one per
            configuration, summed.
    """

    std: float
    repeats: int
    configs: int
    dof: int


def summary(confirm_frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of validation and test accuracy per configuration of a confirmation study.

    Returns:
        One row per configuration: ``config`` (``tables.config_key``), the params, ``repeats``
        (complete runs), ``val_mean``, ``val_std``, ``test_mean``, ``test_std``, ``n_params``,
        ``train_seconds`` (mean) and ``source``. Standard deviations use ddof=1 (NaN for one
        run).
    """
    done = complete(confirm_frame).copy()
    columns = [
        "config", *PARAMS, "source", "repeats", "val_mean", "val_std", "test_mean", "test_std",
        "n_params", "train_seconds",
    ]  # fmt: skip
    if done.empty:
        return pd.DataFrame(columns=columns)
    done["config"] = done.apply(config_key, axis=1)
    grouped = done.groupby("config", sort=False)
    out = grouped[list(PARAMS)].first()
    out["source"] = grouped["source"].first()
    out["repeats"] = grouped["val_accuracy"].count()
    out["val_mean"] = grouped["val_accuracy"].mean()
    out["val_std"] = grouped["val_accuracy"].std(ddof=1)
    out["test_mean"] = grouped["test_accuracy"].mean()
    out["test_std"] = grouped["test_accuracy"].std(ddof=1)
    out["n_params"] = grouped["n_params"].first()
    out["train_seconds"] = grouped["train_seconds"].mean()
    return out.reset_index()[columns].sort_values("val_mean", ascending=False, ignore_index=True)


def within_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std per configuration from trials that trained several seeds (``--repeats``).

    Each such trial is a set of repeats already: its value is the seeds' mean validation
    accuracy and it recorded their standard deviations. The columns are ``summary``'s; a
    configuration trained by several such trials keeps the last one.
    """
    columns = [
        "config", *PARAMS, "source", "repeats", "val_mean", "val_std", "test_mean", "test_std",
        "n_params", "train_seconds",
    ]  # fmt: skip
    done = complete(frame)
    done = done[(done["repeats"] >= 2) & done["val_accuracy_std"].notna()].copy()
    if done.empty:
        return pd.DataFrame(columns=columns)
    done["config"] = done.apply(config_key, axis=1)
    last = done.groupby("config", sort=False).tail(1)
    out = last.rename(
        columns={
            "val_accuracy": "val_mean",
            "val_accuracy_std": "val_std",
            "test_accuracy": "test_mean",
            "test_accuracy_std": "test_std",
        }
    )
    out["repeats"] = out["repeats"].astype(int)
    return out[columns].sort_values("val_mean", ascending=False, ignore_index=True)


#: Where ``seed_table``'s runs come from, as the report's "Repeated runs" heading names it.
CONFIRMATION = "confirmation study"
TRIAL_SEEDS = "each trial's seeds, --repeats"
BOTH = "confirmation study, and each other trial's seeds, --repeats"


def seed_table(
    frame: pd.DataFrame, confirm_frame: pd.DataFrame | None = None
) -> tuple[pd.DataFrame | None, str | None]:
    """Every configuration measured over several seeds, and where those seeds come from.

    A configuration the confirmation study re-trained takes its runs there (other seeds, not
    picked for being high); every other configuration whose trial trained several seeds
    (``--repeats``) takes that trial's own. Without the trials' seeds, a ``--repeats R`` study
    with a confirmation had no mean for the notebook's settings, and each axis test took its
    trials' means of R seeds for single runs.

    Args:
        frame: ``tables.trials_frame`` of the study.
        confirm_frame: ``tables.trials_frame`` of its confirmation study, if it has one.

    Returns:
        ``summary``'s columns, or None with neither source; and the source in words.
    """
    within = within_trials(frame)
    if confirm_frame is None:
        return (None, None) if within.empty else (within, TRIAL_SEEDS)
    confirmed = summary(confirm_frame)
    if within.empty:
        return confirmed, CONFIRMATION
    others = within[~within["config"].isin(confirmed["config"])]
    if confirmed.empty:
        return others, TRIAL_SEEDS
    table = pd.concat([confirmed, others], ignore_index=True)
    return (
        table.sort_values("val_mean", ascending=False, ignore_index=True),
        BOTH,
    )


def pooled_spread(table: pd.DataFrame) -> Spread | None:
    """The pooled std over configurations with at least two repeats; None if there are none."""
    usable = table[(table["repeats"] >= 2) & table["val_std"].notna()]
    if usable.empty:
        return None
    dof = usable["repeats"] - 1
    variance = float((dof * usable["val_std"] ** 2).sum() / dof.sum())
    return Spread(
        std=math.sqrt(variance),
        repeats=int(np.median(usable["repeats"])),
        configs=len(usable),
        dof=int(dof.sum()),
    )


def confirmed_best(
    frame: pd.DataFrame, confirm_frame: pd.DataFrame, min_runs: int = 2
) -> dict[str, Any] | None:
    """The configuration of highest MEAN validation accuracy over its confirmation runs.

    Only the confirmation runs count: the study's own run of a configuration is left out of its
    mean, because it was picked for being high (the largest of many noisy runs), so pooling it
    in would bias the mean upward. It is reported beside the mean as ``single_val`` /
    ``single_test``.

    Args:
        frame: ``tables.trials_frame`` of the study.
        confirm_frame: ``tables.trials_frame`` of its confirmation study.
        min_runs: Configurations with fewer complete confirmation runs are not compared (a
            lucky single run would win as easily as in the study).

    Returns:
        ``source_trial`` (the study's best complete trial of that configuration, or None),
        ``params``, ``repeats``, ``val_mean``, ``val_std``, ``test_mean``, ``test_std``,
        ``single_val``, ``single_test``, ``n_params`` and ``candidates`` (every configuration
        compared, best mean first, with its source trial, repeats and mean ± std); None when no
        configuration has ``min_runs`` runs. NaN figures are None (the record is JSON).
    """
    table = summary(confirm_frame)
    table = table[table["repeats"] >= min_runs]
    if table.empty:
        return None
    done = complete(frame)
    done = done.assign(config=done.apply(config_key, axis=1) if not done.empty else [])
    rows: list[dict[str, Any]] = []
    for _, row in table.iterrows():
        own = done[done["config"] == row["config"]].sort_values("val_accuracy", ascending=False)
        single = own.iloc[0] if not own.empty else None
        rows.append(
            {
                "source_trial": None if single is None else int(single["number"]),
                "label": str(row["source"]),
                "params": row_params(row) or {},
                "repeats": int(row["repeats"]),
                **{k: _finite(row[k]) for k in ("val_mean", "val_std", "test_mean", "test_std")},
                "single_val": None if single is None else _finite(single["val_accuracy"]),
                "single_test": None if single is None else _finite(single["test_accuracy"]),
                "n_params": None if math.isnan(row["n_params"]) else int(row["n_params"]),
            }
        )
    # summary() sorts by val_mean already; sorted() again so the rule is stated here.
    rows.sort(key=lambda r: r["val_mean"], reverse=True)
    return {**rows[0], "candidates": rows}


def current_confirmed(
    stored: dict[str, Any] | None, frame: pd.DataFrame, confirm_frame: pd.DataFrame | None
) -> dict[str, Any] | None:
    """The answer to show: the recorded ``confirmed_best`` while it is current, else recomputed.

    A record is current while the confirmation study holds exactly the complete runs it was
    computed from (its ``runs``; a record without one, from before it was counted, is taken as
    current). Once a later confirmation, interrupted or still running, has added runs, the
    record may name the wrong winner: the answer is then computed from every complete run and
    marked ``provisional`` (as it is when no finished confirmation recorded one at all), and
    ``confirmed_text`` says so.

    Args:
        stored: The study's ``confirmed_best`` user attribute, if any.
        frame: ``tables.trials_frame`` of the study.
        confirm_frame: ``tables.trials_frame`` of its confirmation study, if it has one.
    """
    if confirm_frame is None:
        return stored or None
    runs = len(complete(confirm_frame))
    if stored and stored.get("runs", runs) == runs:
        return stored
    record = confirmed_best(frame, confirm_frame)
    if record is None:
        return None
    why = "runs added since the recorded answer" if stored else "no finished confirmation"
    record["provisional"] = (
        f"computed by the report from the confirmation's {runs} complete runs ({why}); "
        "rerun the confirmation to complete it"
    )
    return record


def confirmed_text(record: dict[str, Any]) -> str:
    """One line for a ``confirmed_best`` record.

    E.g. ``confirmed best: trial #32 (units=31, ...): validation 0.8201 ± 0.0020, test 0.8255 ±
    0.0011 (3 seeds); its single run: 0.8236 / 0.8242``. An extended configuration names its
    choices first (``trial #40 (GRU, bidirectional, mean readout, learning rate 0.00213;
    units=31, ...)``: ``tables.config_text``).
    """
    source = record.get("source_trial")
    name = "a configuration" if source is None else f"trial #{source}"
    params = config_text(record["params"])
    race = record.get("race") or {}
    tied = race.get("tied", [])[1:]
    text = (
        f"{'tied best' if tied else 'confirmed best'}: {name} ({params}): validation "
        f"{_pm(record['val_mean'], record['val_std'])}, test "
        f"{_pm(record['test_mean'], record['test_std'])} ({record['repeats']} seeds)"
    )
    if record.get("single_val") is not None:
        text += f"; its single run: {_num(record['single_val'])} / {_num(record['single_test'])}"
    if race:
        text += f"; {race_text(race)}"
    if record.get("provisional"):
        text += f" (provisional: {record['provisional']})"
    return text


def race_text(race: dict[str, Any]) -> str:
    """How a race (``study.reruns.race``) went, for the answer's line.

    E.g. ``tied with trial #7, trial #12 on 2 shared seeds (not told apart at 5 %; stopped: its
    budget, 240 of 252 s); dropped trial #3 after 2 seeds (1.35 pp below the leader, margin
    0.90 pp)``.
    """
    stopped = {
        "one left": "one left",
        "seed cap": f"at its cap of {race.get('max_seeds')} seeds",
        "budget": (
            f"its budget, {race.get('spent_seconds', 0):.0f} of "
            f"{race.get('budget_seconds', 0):.0f} s spent"
        ),
    }.get(str(race.get("stopped")), str(race.get("stopped")))
    tied = race["tied"][1:]
    if tied:
        text = (
            f"tied with {', '.join(tied)} on {race['seeds']} shared seeds (not told apart at "
            f"{race['alpha']:.0%}; the race stopped: {stopped})"
        )
    else:
        text = f"the race of {race['entrants']} stopped: {stopped}"
    dropped = [
        f"{d['name']} after {d['seeds']} seeds ({100 * d['gap']:.2f} pp below the leader, "
        f"margin {100 * d['margin']:.2f} pp)"
        for d in race["dropped"]
    ]
    if dropped:
        text += f"; dropped {', '.join(dropped)}"
    return text


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _pm(mean: float | None, std: float | None) -> str:
    return _num(mean) if std is None else f"{_num(mean)} ± {std:.4f}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
