"""Scale out and survive: parallel workers, killed workers, interrupts, diverging trials.

Every test drives the real CLI in subprocesses against real storages (journal file, SQLite and a
PostgreSQL server started by the fixture), on tiny data.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search_spaces.baseline import BASELINE_GRID
from tests.conftest import ROOT

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


#: Flags for a trial that is still training when the test kills or interrupts it: one
#: ``model.fit`` per epoch (the sequential path), 400 epochs: several seconds even on tiny data
#: with its programs already in the JAX compilation cache (a CI run saw 40 epochs finish in 0.8 s,
#: between two polls), where the vectorized trainer would finish before the poller saw an epoch.
SLOW_TRIAL = ("--epochs", "400", "--repeat-mode", "sequential")


def optimize_cmd(data: Path, storage: str, *extra: str) -> list[str]:
    # No cost cap: these tests need their randomly sampled trials to train (about half the
    # search space is over the default cap and would be pruned before training). No
    # confirmation after the trials (a test asks for one): it would re-train SLOW_TRIAL.
    return [
        sys.executable, "-m", "study.optimize", "--data", str(data), "--maxlen", "20",
        "--storage", storage, "--cache-dir", str(data.parent / "cache"),
        "--max-lstm-params", "0", "--confirm-top", "0", *extra,
    ]  # fmt: skip


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def start(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def load(storage: str) -> optuna.Study:
    from storage import open_storage

    return optuna.load_study(
        study_name="rnn-design", storage=open_storage(storage, heartbeat=False)
    )


def storage_file(storage: str) -> Path:
    from storage import JOURNAL_PREFIX, sqlite_path

    path = sqlite_path(storage) if storage.startswith("sqlite") else None
    return path or Path(storage.removeprefix(JOURNAL_PREFIX))


def wait_for_training(storage: str, proc: subprocess.Popen[str], timeout: float = 300) -> int:
    """Waits until a trial is RUNNING and has finished at least one epoch; returns its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if not storage.startswith("postgresql") and not storage_file(storage).exists():
            time.sleep(0.5)  # let the worker create the storage before opening it here
            continue
        try:
            running = load(storage).get_trials(states=(TrialState.RUNNING,))
        except Exception:  # the worker is still creating the storage or the study
            running = []
        for trial in running:
            if trial.intermediate_values:
                return trial.number
        time.sleep(0.5)
    raise AssertionError("no trial started training in time")


def with_one_small_trial(storage: str, count: int = 1) -> None:
    """Creates the study with the notebook's LSTM(8) (and LSTM(16), ...) queued first.

    A trial the test kills is retried on rerun with the same command (so the same --epochs);
    a small model keeps its 400 epochs on tiny data quick, where a sampled one may be 8 layers.
    """
    from storage import open_storage

    study = optuna.create_study(
        storage=open_storage(storage, heartbeat=False),
        study_name="rnn-design",
        direction="maximize",
    )
    for entry in BASELINE_GRID[:count]:
        study.enqueue_trial(entry.config.as_params())


def storage_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return f"journal:{tmp_path / 'study.log'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_four_workers_reach_the_target_exactly_once_each(
    kind: str, tiny_imdb: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = storage_url(kind, tmp_path, request)
    if kind == "postgresql":  # a password (the test server trusts every login, so any will do)
        storage = storage.replace("//postgres@", "//postgres:s3cret@")
    cmd = optimize_cmd(tiny_imdb, storage, "--workers", "4", "--trials", "16", "--epochs", "1",
                       "--confirm-top", "1", "--confirm-max-seeds", "2")  # fmt: skip
    result = run(cmd, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "s3cret" not in json.dumps(load(storage).user_attrs)  # recorded without it
    # The main process raced the best configuration once the workers were done: alone, it got
    # the first round's two seeds.
    confirmed = load(storage).user_attrs["confirmed_best"]
    assert confirmed["repeats"] == 2 and "confirmed best: trial #" in result.stdout
    trials = load(storage).get_trials()
    assert len([t for t in trials if t.state in FINISHED]) == 16
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    labels = [t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs]
    assert sorted(labels) == sorted(entry.label for entry in BASELINE_GRID)
    # Workers are seeded apart: the two sampled trials are not the same configuration.
    sampled = [tuple(t.params.values()) for t in trials if "baseline" not in t.user_attrs]
    assert len(set(sampled)) == len(sampled)


def test_the_same_command_on_two_hosts_proposes_different_configurations(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    # Two processes sharing one study (here one after the other, as a second host would join):
    # seeded alike they drew the same configurations from TPE's random start-up phase.
    storage = f"journal:{tmp_path / 'study.log'}"
    for trials in ("1", "2"):
        # A negative --seed, which NumPy refuses as a seed, works like any other.
        flags = ("--trials", trials, "--epochs", "1", "--no-baseline", "--seed", "-5")
        result = run(optimize_cmd(tiny_imdb, storage, *flags), tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = load(storage).trials
    assert first.params != second.params
    assert first.user_attrs["sampler_seed"] != second.user_attrs["sampler_seed"]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_killed_worker_is_failed_and_retried_on_rerun(
    kind: str, tiny_imdb: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = storage_url(kind, tmp_path, request)
    with_one_small_trial(storage)
    cmd = optimize_cmd(tiny_imdb, storage, "--trials", "1", *SLOW_TRIAL)
    proc = start(cmd, tmp_path)
    killed = wait_for_training(storage, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert load(storage).trials[killed].state == TrialState.RUNNING  # nobody cleaned up

    # The same command again (other --epochs would be refused: they change results).
    rerun = run(cmd, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"re-queued trial(s) [{killed}]" in rerun.stderr
    trials = load(storage).trials
    assert trials[killed].state == TrialState.FAIL
    assert "died" in trials[killed].user_attrs["fail_reason"]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].params == trials[killed].params
    assert retries[0].state in FINISHED
    assert len([t for t in trials if t.state in FINISHED]) == 1
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_worker_killed_on_another_host_is_recovered_through_the_heartbeat(
    kind: str, tiny_imdb: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = storage_url(kind, tmp_path, request)
    # The study's last trial: its worker dies, and until the heartbeat says so it counts as
    # running, which used to leave every rerun saying "target reached" one trial short.
    with_one_small_trial(storage)
    cmd = optimize_cmd(tiny_imdb, storage, "--trials", "1", *SLOW_TRIAL, "--heartbeat-grace", "2")
    proc = start(cmd, tmp_path)
    killed = wait_for_training(storage, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    study = load(storage)
    # As if it had run on host B: this host cannot see that process, only its silence.
    study._storage.set_trial_user_attr(
        study.trials[killed]._trial_id, "worker", "host-b:boot-b:4026531836:4242:1234"
    )
    time.sleep(3)  # longer than --heartbeat-grace

    rerun = run(cmd, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    trials = load(storage).trials
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].params == trials[killed].params
    assert retries[0].state in FINISHED
    assert len([t for t in trials if t.state in FINISHED]) == 1
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_a_worker_killed_outright_makes_the_run_exit_with_its_signal(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    storage = f"journal:{tmp_path / 'study.log'}"
    with_one_small_trial(storage, count=2)
    cmd = optimize_cmd(tiny_imdb, storage, "--workers", "2", "--trials", "2", *SLOW_TRIAL)
    proc = start(cmd, tmp_path)
    number = wait_for_training(storage, proc)
    owner = load(storage).trials[number].user_attrs["worker"]  # ...:pid:start-time
    os.kill(int(owner.split(":")[-2]), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    # The shell's convention, 128 + signal number; sys.exit(-9) would have made it 247.
    assert proc.returncode == 128 + signal.SIGKILL, stderr[-3000:]
    assert "was killed by SIGKILL" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_records_the_trial_and_prints_how_to_resume(
    sig: signal.Signals, code: int, tiny_imdb: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = optimize_cmd(tiny_imdb, storage, "--trials", "3", *SLOW_TRIAL, "--no-baseline")
    proc = start(cmd, tmp_path)
    interrupted = wait_for_training(storage, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert "resume with: python -m study.optimize" in stderr
    assert "Traceback" not in stderr
    trials = load(storage).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert trials[interrupted].state == TrialState.FAIL
    # The signal lands while a trial trains: the objective's per-batch check raises it, and the
    # objective records which interrupt stopped the trial (SIGTERM is ``Terminated``).
    raised = "Terminated" if sig == signal.SIGTERM else "KeyboardInterrupt"
    assert trials[interrupted].user_attrs["fail_reason"] == f"{raised}: {sig.name}"


def test_diverging_trials_fail_with_reason_and_stop_after_the_limit(
    tiny_imdb: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # A learning rate of 1e38 overflows float32 weights: the loss becomes NaN in the first epoch.
    cmd = optimize_cmd(
        tiny_imdb, storage, "--trials", "5", "--epochs", "1", "--no-baseline",
        "--learning-rate", "1e38", "--max-failures", "2",
    )  # fmt: skip
    result = run(cmd, tmp_path)
    assert result.returncode == 1
    assert "2 trials failed in a row" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    trials = load(storage).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]  # the 2nd still ran
    for trial in trials:
        assert "NaN" in trial.user_attrs["fail_reason"]
        assert "n_params" in trial.user_attrs


def dead_local_owner() -> str:
    """The owner id of a process of this host that has exited."""
    from study.workers.ownership import owner_id

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = owner_id(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return owner


def running_trial(study: optuna.Study, owner: str) -> int:
    from study.workers.ownership import OWNER_ATTR

    trial = study.ask({"units": optuna.distributions.IntDistribution(8, 256, log=True)})
    trial.set_user_attr(OWNER_ATTR, owner)
    return trial.number


def test_two_processes_recovering_the_same_dead_trial_retry_it_once(tmp_path: Path) -> None:
    from study.workers.ownership import recover_dead_trials

    url = f"sqlite:///{tmp_path / 'race.db'}"
    first = optuna.create_study(storage=url, study_name="s", direction="maximize")
    number = running_trial(first, dead_local_owner())
    second = optuna.load_study(storage=url, study_name="s")
    # The second process listed the RUNNING trials just before the first one recovered it.
    seen = second.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert recover_dead_trials(first) == [number]
    second.get_trials = lambda *a, **k: seen  # type: ignore[method-assign]
    assert recover_dead_trials(second) == []  # lost the race: no traceback, no second retry
    trials = first.get_trials()
    assert trials[number].state == TrialState.FAIL
    assert [t.state for t in trials if t.number != number] == [TrialState.WAITING]


def in_other_pid_namespace(code: str) -> subprocess.Popen[str]:
    """Runs Python in a new PID namespace with its own /proc, as a container's process runs."""
    unshare = shutil.which("unshare")
    probe = subprocess.run(
        [unshare or "unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True
    ) if unshare else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        reason = "unshare cannot create a PID namespace here (needs root / CAP_SYS_ADMIN)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_live_trial_in_another_pid_namespace_with_our_host_name_is_left_alone(
    tmp_path: Path,
) -> None:
    from study.workers.ownership import recover_dead_trials

    # A container sharing this host's name (or run with --net=host) has its own PID numbers.
    proc = in_other_pid_namespace(
        "import sys, time\nfrom study.workers.ownership import owner_id\n"
        "print(owner_id(), flush=True)\ntime.sleep(120)"
    )
    try:
        assert proc.stdout is not None
        owner = proc.stdout.readline().strip()
        assert owner, "the process in the other namespace printed no owner id"
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'ns.db'}", study_name="s")
        number = running_trial(study, owner)
        assert proc.poll() is None  # its owner is alive
        assert recover_dead_trials(study) == []
        assert study.trials[number].state == TrialState.RUNNING
    finally:
        proc.kill()
        proc.wait()


def test_owner_on_another_machine_with_our_host_name_is_not_judged_here() -> None:
    from study.workers.ownership import owner_alive, owner_id

    mine = owner_id()
    assert owner_alive(mine) is True
    host, boot, namespace, pid, start = mine.split(":")
    assert owner_alive(":".join([host, "another-boot-id", namespace, pid, start])) is None
    assert owner_alive(":".join([host, boot, "4026531999", "999999", start])) is None
    assert owner_alive(":".join([host, boot, namespace, "999999", start])) is False


#: What one run of a trial measured: a retry must not inherit any of it.
MEASUREMENTS = {"val_accuracy": 0.9, "test_accuracy": 0.8, "n_params": 1234, "fail_reason": "x"}


def stale_running_trial(study: optuna.Study, owner: str) -> optuna.Trial:
    from study.workers.ownership import OWNER_ATTR

    trial = study.ask({"units": optuna.distributions.IntDistribution(8, 256, log=True)})
    for key, value in {OWNER_ATTR: owner, "baseline": "Part 1: LSTM(8)", **MEASUREMENTS}.items():
        trial.set_user_attr(key, value)
    return trial


def test_a_heartbeat_retry_starts_with_the_configuration_and_its_labels_only(
    tmp_path: Path,
) -> None:
    from storage import open_storage
    from study.workers.ownership import fail_stale_trials

    storage = open_storage(f"sqlite:///{tmp_path / 'stale.db'}", grace_period=1)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = stale_running_trial(study, "host-b:boot-b:4026531836:4242:1234")
    storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
    time.sleep(2)  # longer than the grace period: its worker is taken for dead
    assert fail_stale_trials(study) == [trial.number]
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.params == study.trials[trial.number].params
    assert retry.system_attrs["failed_trial"] == trial.number
    assert retry.user_attrs == {"baseline": "Part 1: LSTM(8)"}


def test_a_dead_local_workers_retry_starts_with_the_configuration_and_its_labels_only(
    tmp_path: Path,
) -> None:
    from study.workers.ownership import recover_dead_trials

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'dead.db'}", direction="maximize")
    trial = stale_running_trial(study, dead_local_owner())
    assert recover_dead_trials(study) == [trial.number]
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs["failed_trial"] == trial.number
    assert retry.user_attrs == {"baseline": "Part 1: LSTM(8)"}
