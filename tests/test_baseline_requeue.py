"""Two processes resuming one study at once re-enqueue each lost baseline once, however they
interleave (a forced interleaving: one process runs in the middle of the other's enqueueing)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import optuna

from search_spaces.baseline import BASELINE_GRID
from study.setup.baselines import requeue_missing_baselines
from tests.test_resume import study_with_baselines, waiting_labels


def test_a_process_that_looks_while_another_enqueues_does_not_enqueue_again(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    lost = {0: ["KeyboardInterrupt: SIGINT"], 1: ["worker h:b:n:1:2 died while running it"]}
    study_with_baselines(url, lost)
    first = optuna.load_study(storage=url, study_name="s")
    second = optuna.load_study(storage=url, study_name="s")
    enqueue = first.enqueue_trial
    others: list[list[str]] = []

    def enqueue_then_let_the_other_resume(*args: Any, **kwargs: Any) -> None:
        enqueue(*args, **kwargs)
        if not others:  # after the first enqueue only: the second process resumes in full
            others.append(requeue_missing_baselines(second))

    first.enqueue_trial = enqueue_then_let_the_other_resume  # type: ignore[method-assign]
    labels = requeue_missing_baselines(first)
    assert labels == [BASELINE_GRID[0].label, BASELINE_GRID[1].label]
    assert others == [[]]  # it found the claim held, and left the enqueueing to its holder
    assert Counter(waiting_labels(first)) == {BASELINE_GRID[0].label: 1, BASELINE_GRID[1].label: 1}
    assert optuna.get_all_study_names(url) == ["s"]  # the claim was dropped


def test_a_baseline_lost_again_is_re_enqueued_again_under_a_new_claim(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    from study.setup.baselines import requeue_claim

    url = f"sqlite:///{tmp_path / 'b.db'}"
    study_with_baselines(url, {0: ["KeyboardInterrupt: SIGINT"]})
    study = optuna.load_study(storage=url, study_name="s")
    before = requeue_claim(study)
    assert requeue_missing_baselines(study) == [BASELINE_GRID[0].label]
    assert requeue_claim(study) == before  # enqueueing leaves the claim's name as it was
    retry = study.ask()  # its retry runs and is interrupted in turn
    retry.set_user_attr("fail_reason", "KeyboardInterrupt: SIGINT")
    study.tell(retry, state=TrialState.FAIL)
    assert requeue_claim(study) != before
    assert requeue_missing_baselines(study) == [BASELINE_GRID[0].label]
    assert waiting_labels(study) == [BASELINE_GRID[0].label]
