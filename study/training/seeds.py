"""Seeds derived from ``--seed``: every integer is accepted, and each use gets its own value.

NumPy takes only non-negative seeds (``RandomState``, and so Keras' ``set_random_seed`` and
Optuna's samplers, only those below 2**32), while ``--seed`` is any integer. Instead of
arithmetic on the seed, which overflows (``seed * 100_003 + trial``), a seed for each use is
hashed from the study's seed and what it is for: the same inputs always give the same seed, and
different inputs give unrelated ones.

No Keras, no Optuna here: the data loader, the objective and the CLI all use it.
"""

from __future__ import annotations

import hashlib

#: Derived seeds lie in [0, SEED_SPAN): valid for NumPy, Keras, TensorFlow, JAX and Optuna.
SEED_SPAN = 2**31


def derive_seed(*parts: int | str) -> int:
    """A seed in ``[0, SEED_SPAN)`` that depends on every part, for any integers and strings.

    Args:
        parts: What the seed is for and what it is derived from, e.g.
            ``("trial", study_seed, trial_number)``.
    """
    text = "\x1f".join(f"{type(p).__name__}:{p}" for p in parts)
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_SPAN


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The Keras seed of one trial: the same command gives each trial number the same seed."""
    return derive_seed("trial", study_seed, trial_number)


def entropy(seed: int) -> int:
    """NumPy ``SeedSequence`` entropy for ``--seed``.

    A seed of 0 or more is its own entropy, so data drawn from it stays what earlier versions
    drew; a negative seed, which NumPy refuses, becomes a 256-bit hash of it (no seed anyone
    types maps to the same value).
    """
    if seed >= 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"negative seed {seed}".encode()).digest(), "big")
