"""What the device tests need: TensorFlow, a GPU, and float32 products at full precision.

* ``require("tensorflow", "tf_keras")``: a test that runs Keras 2 or the TensorFlow backend skips,
  with the reason, where they are not installed (a GPU machine with JAX alone), and fails in CI
  (``CI=1``), where they are installed and the test must run.
* ``gpu_only``: a test that can only run on a GPU (Keras' cuDNN path); skipped on a CPU with the
  reason. ``benchmarks/gpu_check.py`` runs the files that hold them and reports their count.
* ``full_float32_products``: an autouse fixture, imported by the test modules that compare
  against a reference. On a GPU, JAX's default float32 matmul is TF32 (10-bit mantissa): results
  then miss a float32 reference by 2e-4 to 5e-4 (issue 22). The references check the math, not
  the device's rounding, so those tests run at ``jax.default_matmul_precision("highest")``; the
  product keeps JAX's default. On a CPU both are full float32 and nothing changes.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest


def require(*modules: str) -> None:
    """Skips the calling test when a module is missing, naming it; fails instead in CI."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)}, not installed here"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs it")
    pytest.skip(reason)


def on_gpu() -> bool:
    """Whether JAX's default backend is a GPU."""
    import jax

    return jax.default_backend() == "gpu"


#: Marks a test that only means something on a GPU (cuDNN); on a CPU it is skipped.
gpu_only = pytest.mark.skipif(
    not on_gpu(), reason="GPU only: checks Keras' cuDNN path, which a CPU does not have"
)


@pytest.fixture(autouse=True)
def full_float32_products() -> Iterator[None]:
    """Runs the test with JAX's float32 matrix products at full precision (not TF32)."""
    import jax

    with jax.default_matmul_precision("highest"):
        yield
