"""Who runs a trial, whether it is still alive, and what to do with the trials of dead workers.

Every trial records its owner as the user attribute ``worker``:
``host:boot-id:pid-namespace:pid:start``. A pid means something only inside one PID namespace of
one running kernel: two machines may share a host name, and containers on one machine share its
boot id and often its host name (``--net=host``) but number their processes apart. ``start`` is
the process's start time from ``/proc``, so a recycled pid is not mistaken for the owner. On
start, a worker fails and re-queues the RUNNING trials whose owner is a dead process of *its own*
host, boot and PID namespace. That is the journal storage's only recovery (Optuna gives it no
heartbeat), and it lets RDB storages recover at once instead of after the heartbeat's grace
period. RUNNING trials owned elsewhere are left to the heartbeat (RDB) or to a rerun there
(journal). Two processes may recover the same trial at once: the storage lets one of them fail
it, and only that one re-queues it.

No Keras here: this runs before any model is built.
"""

from __future__ import annotations

import os
import signal
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from storage import PROVENANCE_ATTRS, RetryWithProvenance
from storage.optuna_private import storage_of, trial_id

OWNER_ATTR = "worker"
#: User attributes that describe what a trial is, rather than how one run of it went.
LABEL_ATTRS = PROVENANCE_ATTRS


class Terminated(KeyboardInterrupt):
    """What SIGTERM becomes, so that it unwinds exactly like Ctrl-C.

    Optuna records a trial interrupted by ``KeyboardInterrupt`` (or a subclass) as FAIL rather
    than leaving it RUNNING, which is the whole point of turning the signal into an exception.
    """


_pending_signal: int | None = None
_deferring = False


def install_signal_handlers() -> None:
    """Turns SIGINT and SIGTERM into ``KeyboardInterrupt`` / ``Terminated`` in the main thread.

    Inside ``deferred_interrupts()`` the signal is only noted, and raised at the next
    ``check_interrupt()``: an exception raised straight from the handler can land in a garbage
    collector callback (JAX registers one), where Python prints and drops it, and the process
    would carry on as if nothing had happened.
    """
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Notes signals instead of raising them; raises a pending one on the way out."""
    global _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
    check_interrupt()


def check_interrupt() -> None:
    """Raises the interrupt a signal asked for, if one came since the last check."""
    global _pending_signal
    signum, _pending_signal = _pending_signal, None
    if signum is not None:
        raise _interrupt(signum)


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The conventional exit status: 143 after SIGTERM, 130 after SIGINT."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _pending_signal
    if not _deferring:
        raise _interrupt(signum)
    if _pending_signal is None:  # a repeated Ctrl-C changes nothing: one stop is under way
        _pending_signal = signum


def _interrupt(signum: int) -> KeyboardInterrupt:
    name = signal.Signals(signum).name
    return Terminated(name) if signum == signal.SIGTERM else KeyboardInterrupt(name)


def owner_id(pid: int | None = None) -> str:
    """This process's (or ``pid``'s) identity: ``host:boot-id:pid-namespace:pid:start-time``.

    ``pid`` is a process this one sees, so it shares this process's PID namespace.
    """
    pid = os.getpid() if pid is None else pid
    return f"{_namespace()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by ``owner`` still runs.

    Returns:
        True or False for a process of this host, boot and PID namespace; None when it runs
        elsewhere (another machine, another container) or its identity is unreadable, where
        only a heartbeat can tell.
    """
    parts = owner.split(":")
    if len(parts) == 5:
        namespace, pid_text, start = ":".join(parts[:3]), parts[3], parts[4]
        if namespace != _namespace() or "?" in parts[1:3]:
            return None
    elif len(parts) == 3:
        # Written by versions before the boot id and namespace were recorded: judged by host
        # name as they were, so that their dead trials are still recovered.
        host, pid_text, start = parts
        if host != socket.gethostname():
            return None
    else:
        return None
    if not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    return _start_time(pid) == start


def recover_dead_trials(study: optuna.Study, *, max_retry: int = 3) -> list[int]:
    """Fails the RUNNING trials of dead local workers and re-queues their parameters.

    Args:
        study: The study to repair.
        max_retry: How often one configuration is re-queued before it is left failed.

    Returns:
        The numbers of the trials that were failed.
    """
    recovered = []
    storage = storage_of(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if not isinstance(owner, str) or owner_alive(owner) is not False:
            continue
        try:
            storage.set_trial_user_attr(
                trial_id(trial), "fail_reason", f"worker {owner} died while running it"
            )
            # The storage lets exactly one process finish a trial; the others get this error.
            storage.set_trial_state_values(trial_id(trial), state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another process recovered it first, and re-queued it
        _requeue(study, storage.get_trial(trial_id(trial)), max_retry)
        recovered.append(trial.number)
    return recovered


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Fails the RUNNING trials whose heartbeat stopped, wherever their worker ran.

    Optuna's own ``optuna.storages.fail_stale_trials``: with an RDB storage opened with a
    heartbeat (``storage.open_storage``), a trial silent for the grace period is failed and its
    retry callback re-queues it. Optuna does this only when a trial starts; a worker calls it
    before counting running trials toward ``--trials`` as well, so a dead worker's trial on
    another host does not count as running forever. A storage without a heartbeat (journal, a
    report's read-only storage) is left alone.

    Returns:
        The numbers of the trials that were failed.
    """
    storage = storage_of(study)
    running = {
        trial_id(t): t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    }
    if not running:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    still_running = {
        trial_id(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    }
    return sorted(
        number
        for id_, number in running.items()
        if id_ not in still_running and storage.get_trial(id_).state == TrialState.FAIL
    )


def fail_own_running_trials(study: optuna.Study, reason: str) -> None:
    """Marks this process's RUNNING trials as FAIL, so an interrupted worker leaves none behind.

    Optuna already fails the trial whose objective was interrupted; this catches the rarer case of
    an interrupt landing between two storage calls, outside the objective.
    """
    me = owner_id()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(OWNER_ATTR) == me:
            storage_of(study).set_trial_user_attr(trial_id(trial), "fail_reason", reason)
            study.tell(trial.number, state=TrialState.FAIL)


def _requeue(study: optuna.Study, failed: FrozenTrial, max_retry: int) -> None:
    # The retry keeps the failed trial's labels (baseline, notebook part) but none of its
    # measurements, owner or failure reason: those belong to the run that died.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # The copy is WAITING, with the same params and labels, and its system attrs name the
        # failed trial (failed_trial / retry_history).
        RetryWithProvenance(max_retry=max_retry)(study, failed)


def _namespace() -> str:
    """``host:boot-id:pid-namespace`` of this process; ``?`` for a part that cannot be read."""
    return f"{socket.gethostname()}:{_boot_id()}:{_pid_namespace()}"


def _boot_id() -> str:
    # A random id the kernel draws at every boot: it tells two machines with one name apart.
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or "?"
    except OSError:
        return "?"


def _pid_namespace() -> str:
    # The inode of this process's PID namespace (``pid:[4026531836]``): containers differ.
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]") or "?"
    except OSError:
        return "?"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            # Field 22 is the start time in clock ticks; the command name (field 2) may hold
            # spaces, so split after its closing parenthesis.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"
