"""How many time steps of the recurrent loop one iteration of its ``lax.scan`` runs, by device.

The study's models are so small that a training step costs the loop's iterations, not their
arithmetic (issue 22: on a GPU about 16 us per iteration, 100,000 of them per epoch). Unrolling
``u`` steps per iteration divides the iterations by ``u`` and lets XLA fuse across steps, at the
price of a larger program to compile. It applies to our own loops (``lstm_scan``, forward and
backward; Keras' loop for configurations without dropout has no partial unroll, and takes cuDNN
on a GPU). The default per device is what ``benchmarks/repeats_profile.py --unroll`` measured
(benchmarks/README.md); ``RNN_SCAN_UNROLL`` overrides it (benchmarks). Each trial records it.
"""

from __future__ import annotations

import os

#: The default unroll per JAX platform. CPU: measured (benchmarks/README.md). GPU: not yet
#: measured (no GPU lent), chosen from the issue's latency figures; gpu_check measures it.
DEFAULT_UNROLL = {"cpu": 1, "gpu": 8}
ENV = "RNN_SCAN_UNROLL"


def scan_unroll() -> int:
    """The unroll for this process's default JAX device (``RNN_SCAN_UNROLL`` if set).

    Raises:
        ValueError: ``RNN_SCAN_UNROLL`` is not a positive integer.
    """
    raw = os.environ.get(ENV)
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{ENV} must be a positive integer, got {raw!r}")
        return int(raw)
    import jax

    return DEFAULT_UNROLL.get(jax.default_backend(), 1)
