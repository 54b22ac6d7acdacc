"""Resuming a stored study: settings that change results must match, the others stay free."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from search_spaces.baseline import BASELINE_GRID
from search_spaces.lstm import DISTRIBUTIONS
from study.setup.optimize_flags import build_parser
from study.setup.settings import FREE_SETTINGS, RESULT_SETTINGS, StudySetupError, check_settings
from study.training.data import fingerprint_source
from tests.test_optimize_cli import run_optimize

STORED = {
    "data": "/somewhere/aclImdb.tar.gz", "data_fingerprint": "sha256:" + "ab" * 32,
    "max_features": 1000, "maxlen": 80, "val_split": 0.2, "limit_train": None,
    "limit_test": 500, "seed": 0, "epochs": 5, "batch_size": 32, "learning_rate": 0.001,
    "workers": 1, "heartbeat_grace": 90, "artifact_dir": None, "backend": "jax",
    "dropout_style": "keras2", "repeats": 1, "max_lstm_params": 70144,
}  # fmt: skip


def stored_study(config: dict | None) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    if config is not None:
        study.set_user_attr("config", config)
    return study


def test_every_command_line_setting_is_either_a_result_setting_or_free() -> None:
    # A new flag must be sorted into one of the two tuples of study/setup/settings.py (one line).
    flags = {a.dest for a in build_parser()._actions if a.dest != "help"}
    result_flags = {s for s in RESULT_SETTINGS if s != "data_fingerprint"}
    assert flags == result_flags | set(FREE_SETTINGS)
    assert not result_flags & set(FREE_SETTINGS)


def test_the_same_settings_resume() -> None:
    check_settings(stored_study(STORED), dict(STORED))


def test_free_settings_may_differ_and_the_data_path_with_them() -> None:
    now = {**STORED, "data": "/elsewhere/copy.tar.gz", "workers": 4, "heartbeat_grace": 10,
           "artifact_dir": "out", "backend": "tensorflow", "learning_rate": 1e-3}  # fmt: skip
    check_settings(stored_study(STORED), now)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", 1, "--seed 0 (stored) vs 1 (now)"),
        ("epochs", 1, "--epochs 5 (stored) vs 1 (now)"),
        ("val_split", 0.25, "--val-split 0.2 (stored) vs 0.25 (now)"),
        ("limit_train", 2000, "--limit-train unset (stored) vs 2000 (now)"),
        ("limit_test", None, "--limit-test 500 (stored) vs unset (now)"),
        ("max_features", 2000, "--max-features 1000 (stored) vs 2000 (now)"),
        ("maxlen", 100, "--maxlen 80 (stored) vs 100 (now)"),
        ("batch_size", 64, "--batch-size 32 (stored) vs 64 (now)"),
        ("learning_rate", 0.01, "--learning-rate 0.001 (stored) vs 0.01 (now)"),
    ],
)
def test_a_setting_that_changes_results_is_refused(name: str, value, expected: str) -> None:
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), {**STORED, name: value})
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "pick another --study-name" in message


def test_other_data_is_refused_by_content_with_both_fingerprints() -> None:
    now = {**STORED, "data": STORED["data"], "data_fingerprint": "sha256:" + "cd" * 32}
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), now)
    message = str(info.value)
    assert "--data" in message and "sha256:abababababab" in message
    assert "sha256:cdcdcdcdcdcd" in message and "another path" in message


def test_every_differing_setting_is_named_in_one_line() -> None:
    with pytest.raises(StudySetupError) as info:
        check_settings(stored_study(STORED), {**STORED, "seed": 7, "epochs": 1})
    assert "--seed 0 (stored) vs 7 (now)" in str(info.value)
    assert "--epochs 5 (stored) vs 1 (now)" in str(info.value)


def test_a_study_without_a_recorded_value_is_not_refused_on_it() -> None:
    old = {k: v for k, v in STORED.items() if k not in ("batch_size", "data_fingerprint")}
    check_settings(stored_study(old), {**STORED, "batch_size": 64, "data_fingerprint": "x"})
    check_settings(stored_study(None), {**STORED, "seed": 3})
    with pytest.raises(StudySetupError, match="--seed"):
        check_settings(stored_study(old), {**STORED, "seed": 3})


def test_the_same_tarball_at_another_path_resumes_from_the_cli(
    tiny_tarball: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    study.set_user_attr(
        "config",
        {**STORED, "data": str(tiny_tarball), "data_fingerprint": fingerprint_source(tiny_tarball),
         "limit_test": None, "maxlen": 20, "epochs": 1},
    )  # fmt: skip
    params = {
        "units": 8,
        "embedding_dim": 8,
        "layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
    }
    study.add_trial(create_trial(params=params, distributions=DISTRIBUTIONS, value=0.7))
    copy = tmp_path / "copy" / "reviews.tar.gz"
    copy.parent.mkdir()
    shutil.copy(tiny_tarball, copy)
    result = run_optimize(
        "--data", str(copy), "--storage", url, "--trials", "1", "--maxlen", "20", "--epochs", "1",
        "--workers", "1", "--heartbeat-grace", "30", "--cache-dir", str(tmp_path / "cache"),
        "--confirm-top", "0",  # at its target with nothing else to do
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nothing to do" in result.stdout


def run_cheaply(url: str, n: int) -> list[tuple]:
    """``n`` trials of the study as ``study.optimize`` opens and seeds it, without training."""
    from search_spaces.lstm import suggest_params
    from storage import open_storage
    from study.setup.create import open_study
    from study.setup.optimize_flags import parse_args
    from study.setup.sampling import make_pruner, make_sampler
    from study.workers.run import process_sampler_seed, use_process_sampler

    args = parse_args(["--storage", url, "--no-baseline", "--seed", "0"])
    study, _ = open_study(
        open_storage(url),
        args.study_name,
        sampler=make_sampler(process_sampler_seed(args)),
        pruner=make_pruner(args.pruner, args.epochs),
        baseline=False,
        settings={},
    )
    use_process_sampler(args, study)  # what run_worker does before its first trial
    study.optimize(lambda trial: suggest_params(trial).units / 256, n_trials=n)
    return [tuple(t.params.values()) for t in study.trials]


def test_a_resumed_study_does_not_propose_its_start_up_trials_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    first = run_cheaply(url, 3)
    resumed = run_cheaply(url, 3)
    assert resumed[:3] == first
    assert len(set(resumed)) == 6, resumed


def test_an_uninterrupted_study_proposes_what_it_did_before_resumes_were_reseeded(
    tmp_path: Path,
) -> None:
    from search_spaces.cost import NOTEBOOK_MAX_LSTM_PARAMS
    from search_spaces.lstm import NOTEBOOK, suggest_params
    from study.setup.sampling import make_sampler
    from study.training.seeds import derive_seed

    # The sampler seed of a fresh single-process study stays derive_seed("sampler", seed): the
    # README's figures were measured on that trajectory. (Without the grid, the start-up is
    # drawn under the default cost cap: study.setup.capped_startup.)
    sampler = make_sampler(
        derive_seed("sampler", 0), space=NOTEBOOK, max_lstm_params=NOTEBOOK_MAX_LSTM_PARAMS
    )
    reference = optuna.create_study(direction="maximize", sampler=sampler)
    reference.optimize(lambda trial: suggest_params(trial).units / 256, n_trials=3)
    assert run_cheaply(f"sqlite:///{tmp_path / 'fresh.db'}", 3) == [
        tuple(t.params.values()) for t in reference.trials
    ]


def baseline_trial(index: int, state: TrialState, reason: str | None = None) -> FrozenTrial:
    """A trial of the notebook's ``index``-th configuration, as ``enqueue_baseline`` labels it."""
    entry = BASELINE_GRID[index]
    attrs = {
        "baseline": entry.label,
        "notebook_part": entry.part,
        "notebook_heading": entry.heading,
    }
    if reason is not None:
        attrs["fail_reason"] = reason
    return create_trial(
        params=entry.config.as_params(),
        distributions=DISTRIBUTIONS,
        state=state,
        value=0.8 if state == TrialState.COMPLETE else None,
        user_attrs=attrs,
    )


def study_with_baselines(url: str, failed: dict[int, list[str]]) -> None:
    """A study as ``open_study`` created it, its baselines run, some failed with these reasons."""
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    study.set_user_attr("baseline_enqueued", True)
    for index in range(len(BASELINE_GRID)):
        for reason in failed.get(index, []):
            study.add_trial(baseline_trial(index, TrialState.FAIL, reason))
        if index not in failed:
            study.add_trial(baseline_trial(index, TrialState.COMPLETE))


def resume(url: str) -> optuna.Study:
    from study.setup.create import open_study
    from study.setup.sampling import make_pruner, make_sampler

    study, created = open_study(
        optuna.storages.RDBStorage(url),
        "s",
        sampler=make_sampler(0),
        pruner=make_pruner("median", 5),
        baseline=True,
        settings={},
    )
    assert not created
    return study


def waiting_labels(study: optuna.Study) -> list[str]:
    return [t.user_attrs["baseline"] for t in study.get_trials(states=(TrialState.WAITING,))]


def test_a_resume_re_enqueues_the_interrupted_baselines_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study_with_baselines(
        url, {2: ["KeyboardInterrupt: SIGINT"], 5: ["worker h:b:n:1:2 died while running it"]}
    )
    assert waiting_labels(resume(url)) == [BASELINE_GRID[2].label, BASELINE_GRID[5].label]
    assert len(waiting_labels(resume(url))) == 2  # waiting already: not enqueued again


def test_a_baseline_that_failed_twice_on_its_own_is_named_missing_not_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from study.workers.progress import print_summary

    url = f"sqlite:///{tmp_path / 'b.db'}"
    nan = "TrainingDiverged: loss is NaN after epoch 1"
    study_with_baselines(url, {3: [nan], 4: [nan, "KeyboardInterrupt: SIGINT", nan]})
    study = resume(url)
    assert waiting_labels(study) == [BASELINE_GRID[3].label]  # one more try for the first
    print_summary(study, url)
    out = capsys.readouterr().out
    assert f"notebook baselines missing: 2 of {len(BASELINE_GRID)}" in out
    assert f"{BASELINE_GRID[4].label} (failed 3 times, last: {nan}; not retried)" in out
    assert f"{BASELINE_GRID[3].label} (failed once, last: {nan}; waiting to run)" in out


def test_a_process_that_saw_a_baseline_missing_too_late_does_not_enqueue_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from study.setup import baselines as study_setup

    url = f"sqlite:///{tmp_path / 'b.db'}"
    study_with_baselines(url, {0: ["KeyboardInterrupt: SIGINT"]})
    late = optuna.load_study(storage=url, study_name="s")
    seen = study_setup.missing_baselines(late)  # B looks: baseline 0 is missing
    resume(url)  # A, resuming at the same moment, re-enqueues it first
    looks = iter([seen])  # B's first look is the one it took before A enqueued
    real = study_setup.missing_baselines
    monkeypatch.setattr(
        study_setup,
        "missing_baselines",
        lambda study, **kw: next(looks, None) or real(study, **kw),
    )
    assert study_setup.requeue_missing_baselines(late) == []
    assert waiting_labels(late) == [BASELINE_GRID[0].label]
    assert optuna.get_all_study_names(url) == ["s"]  # every claim was dropped


def test_a_process_leaves_the_re_enqueue_to_the_one_that_holds_the_claim(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study_with_baselines(url, {0: ["KeyboardInterrupt: SIGINT"]})
    from study.setup.baselines import requeue_claim

    claim = requeue_claim(optuna.load_study(storage=url, study_name="s"))
    holder = optuna.create_study(storage=url, study_name=claim)
    assert waiting_labels(resume(url)) == []  # another process is re-enqueuing it right now
    optuna.delete_study(study_name=holder.study_name, storage=url)
    assert waiting_labels(resume(url)) == [BASELINE_GRID[0].label]
