"""What our commands may print on stderr: their own lines and the progress bar, nothing else.

Each command's allowed lines are listed as regular expressions; ``foreign_lines`` returns every
line of a captured stderr (split at ``\\n`` and at the ``\\r`` the progress bar redraws with) that
none of them matches, so a test asserts it is empty and shows what leaked if not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: tqdm's bar, e.g. `` 50%|█████     | 1/2 [00:16<00:16, 16.16s/trial, best_val_acc=0.5000]``.
PROGRESS_BAR = r" *\d{1,3}%\|.*\| *\d+/\d+ \[.*\]"

CONFIRM = (
    r"study '[^']+-confirm': \d+ configurations x \d+ repeats; \d+ newly enqueued, \d+ to run; "
    r"data \{'train': \d+, 'val': \d+, 'test': \d+\}; backend (jax|tensorflow)",
    PROGRESS_BAR,
    r"ran \d+ trainings in \d+ s",
)
#: The race of the best configurations (study.optimize ends with one, study.confirm --race).
RACE = (
    r"race in '[^']+-confirm': \d+ of \d+ configurations to \d+ seeds each \(\d+ runs "
    r"enqueued, \d+ to run\); spent \d+ of \d+ s \(\d+% of the trials' \d+ s\)",
    PROGRESS_BAR,
    r"ran \d+ trainings in \d+ s",
    r"race over after \d+ s",
)
#: study.optimize ends with the race of its best configurations (``RACE``'s lines).
OPTIMIZE = (
    r"(created|resuming) study '[^']+' in \S+: \d+/\d+ trials finished; "
    r"data \{'train': \d+, 'val': \d+, 'test': \d+\}; backend (jax|tensorflow); "
    r"space (notebook|extended)",
    r"reference models (\(logistic regression, (stored, )?fitted in \d+ s\)|not fitted): .*",
    PROGRESS_BAR,
    r"target reached after \d+ s",
    *RACE,
)
REPRODUCE = (
    r"(created|resuming) study '[^']+-reproduce': \d+ configurations x \d+ repeats under the "
    r"notebook's protocol; \d+ newly enqueued, \d+ to run; "
    r"data \{'train': \d+, 'val': \d+, 'test': \d+\} \(validation = test\); "
    r"backend (jax|tensorflow)",
    PROGRESS_BAR,
    r"ran \d+ trainings in \d+ s",
)
#: ``python -m reports`` prints nothing on stderr when all goes well.
REPORTS: tuple[str, ...] = ()


def foreign_lines(stderr: str, allowed: Sequence[str]) -> list[str]:
    """The non-blank lines of ``stderr`` that match none of the ``allowed`` patterns."""
    return [
        line
        for line in re.split(r"[\r\n]+", stderr)
        if line.strip() and not any(re.fullmatch(pattern, line) for pattern in allowed)
    ]
