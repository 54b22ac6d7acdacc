"""Who runs a trial, whether it is still alive, and what to do with the trials of dead workers.

Every trial records its owner as the user attribute ``worker`` (``host:pid:start``, where ``start``
is the process's start time from ``/proc``, so a recycled pid is not mistaken for the owner). On
start, a worker fails and re-queues the RUNNING trials whose owner is a dead process on *this*
host. That is the journal storage's only recovery (Optuna gives it no heartbeat), and it lets RDB
storages recover at once instead of after the heartbeat's grace period. RUNNING trials owned by
another host are left to the heartbeat (RDB) or to a rerun on that host (journal).

No Keras here: this runs before any model is built.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

OWNER_ATTR = "worker"
#: User attributes that describe what a trial is, rather than how one run of it went.
LABEL_ATTRS = ("baseline", "notebook_part", "notebook_heading")


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
    """This process's (or ``pid``'s) identity: ``host:pid:start-time``."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by ``owner`` still runs: None when it is on another host."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
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
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR)
        if not isinstance(owner, str) or owner_alive(owner) is not False:
            continue
        study._storage.set_trial_user_attr(
            trial._trial_id, "fail_reason", f"worker {owner} died while running it"
        )
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):
            continue  # another worker recovered it first
        _requeue(study, study._storage.get_trial(trial._trial_id), max_retry)
        recovered.append(trial.number)
    return recovered


def fail_own_running_trials(study: optuna.Study, reason: str) -> None:
    """Marks this process's RUNNING trials as FAIL, so an interrupted worker leaves none behind.

    Optuna already fails the trial whose objective was interrupted; this catches the rarer case of
    an interrupt landing between two storage calls, outside the objective.
    """
    me = owner_id()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(OWNER_ATTR) == me:
            study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            study.tell(trial.number, state=TrialState.FAIL)


def _requeue(study: optuna.Study, failed: FrozenTrial, max_retry: int) -> None:
    # The retry keeps the failed trial's labels (baseline, notebook part) but none of its
    # measurements, owner or failure reason: those belong to the run that died.
    failed = copy.copy(failed)
    failed.user_attrs = {k: v for k, v in failed.user_attrs.items() if k in LABEL_ATTRS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna's own retry callback: the copy is WAITING, with the same params and labels, and
        # its system attrs name the failed trial (retried_trial_number / retry_history).
        RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, failed)


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            # Field 22 is the start time in clock ticks; the command name (field 2) may hold
            # spaces, so split after its closing parenthesis.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"
