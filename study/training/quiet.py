"""Keeps TensorFlow's native start-up lines off the terminal, and only those.

TensorFlow's C++ libraries log while they load, before absl logging is initialised, so they
ignore ``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow 2.19-2.21, tensorflow/tensorflow#100442) and print::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795914219.399071   14409 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795914219.400164   14409 cudart_stub.cc:31] Could not find cuda drivers ...
    E0000 00:00:1795914350.439722   15030 cuda_platform.cc:52] failed call to cuInit: ...

No environment variable stops them, so ``filtered_native_stderr`` captures file descriptor 2
around the two calls that print them (importing TensorFlow, listing its GPUs) and writes back
every line except those: absl's banner, native log lines below ``TF_CPP_MIN_LOG_LEVEL`` (the level
TensorFlow itself would have applied; ``backend`` sets 2, so info and warnings), and the
``cuInit`` failure on a machine with no NVIDIA driver at all, where it says only that there is no
GPU. Anything else, a Python warning or another error line, is written back as it came, and
``TF_CPP_MIN_LOG_LEVEL=0`` writes back everything. ``install_tensorflow_import_filter`` applies
the filter to the first ``import tensorflow`` of the process, wherever it comes from (Keras under
its TensorFlow backend, ``study.training.backend.device_name``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

#: absl's notice that it logs to stderr until initialised.
ABSL_BANNER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
)
#: A native log line: absl's ``I0000 00:00:1795914219.399071   14409 port.cc:153] ...`` or
#: TensorFlow's ``2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] ...``.
_NATIVE_LINE = re.compile(
    r"^(?:(?P<absl>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<tf>[IWEF]) )[^\]\s]+:\d+\] (?P<text>.*)$"
)
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
#: The second line of TensorFlow's ``cpu_feature_guard`` notice (an INFO line).
_CONTINUATION = "To enable the following instructions:"


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver (its device node or ``nvidia-smi``)."""
    return os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None


def min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (0: everything, 3: fatal only)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def kept_lines(lines: Sequence[str], *, min_level: int, gpu_driver: bool) -> list[str]:
    """The captured lines worth showing: all but native start-up noise.

    Args:
        lines: Captured stderr, one line per item (without line ends).
        min_level: Native log lines of a lower severity are dropped (I=0, W=1, E=2, F=3).
        gpu_driver: Whether an NVIDIA driver is present; without one a failed ``cuInit`` only
            says there is no GPU, which the trial's ``device`` records anyway.

    ``TF_CPP_MIN_LOG_LEVEL=0`` (TensorFlow's "show everything") keeps every line.
    """
    if min_level <= 0:
        return list(lines)
    kept = []
    dropped_previous = False
    for line in lines:
        match = _NATIVE_LINE.match(line)
        drop = False
        if line.strip() == ABSL_BANNER:
            drop = True
        elif match:
            severity = _SEVERITY[match["absl"] or match["tf"]]
            no_gpu_notice = not gpu_driver and "failed call to cuInit" in match["text"]
            drop = severity < min_level or no_gpu_notice
        elif dropped_previous and line.startswith(_CONTINUATION):
            drop = True
        dropped_previous = drop
        if not drop:
            kept.append(line)
    return kept


@contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Captures file descriptor 2 (C++ and Python writes alike) and writes back what matters."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = kept_lines(
                text.splitlines(), min_level=min_log_level(), gpu_driver=nvidia_driver_present()
            )
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


class _FilteredLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside ``filtered_native_stderr``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its real loader: only this one execution goes through the filter.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with filtered_native_stderr():
            self._loader.exec_module(module)


class _TensorFlowImportFilter(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and wraps its loader, once per process."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import to filter; the finders below locate it
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


def install_tensorflow_import_filter() -> None:
    """Filters the native start-up lines of this process's first ``import tensorflow``."""
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _TensorFlowImportFilter) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowImportFilter())
