"""The notebook's 14 distinct configurations, enqueued as the study's first (baseline) trials.

Each entry carries the figures the notebook printed for it (parameter count and test accuracy; the
notebook printed no accuracy for embedding sizes 16 and 32), so reports can set this study's
measurements beside them. The notebook's Part 4 headings say "2/3/7 layer" but its code stacks 3, 4
and 8 LSTM layers, which its parameter counts confirm; we keep the headings and build the code's
model.
"""

from __future__ import annotations

from typing import NamedTuple

from search_spaces.config import ModelConfig


class Baseline(NamedTuple):
    """One notebook configuration and what the notebook printed for it."""

    part: str
    heading: str
    config: ModelConfig
    notebook_params: int
    notebook_test_accuracy: float | None

    @property
    def label(self) -> str:
        """The label stored on the trial, e.g. ``"Part 1: LSTM with 8 nodes"``."""
        return f"{self.part}: {self.heading}"


_P1 = "Part 1"
_P2 = "Part 2"
_P3 = "Part 3"
_P4 = "Part 4"

BASELINE_GRID: tuple[Baseline, ...] = (
    Baseline(_P1, "LSTM with 8 nodes", ModelConfig(8, 8), 8553, 0.82284),
    Baseline(_P1, "LSTM with 16 nodes", ModelConfig(16, 8), 9617, 0.81892),
    Baseline(_P1, "LSTM with 32 nodes", ModelConfig(32, 8), 13281, 0.82200),
    Baseline(_P1, "LSTM with 64 nodes", ModelConfig(64, 8), 26753, 0.82088),
    Baseline(_P1, "LSTM with 128 nodes", ModelConfig(128, 8), 78273, 0.81908),
    Baseline(_P2, "Embedding size 4", ModelConfig(16, 4), 5361, 0.81964),
    Baseline(_P2, "Embedding size 16", ModelConfig(16, 16), 18129, None),
    Baseline(_P2, "Embedding size 32", ModelConfig(16, 32), 35153, None),
    Baseline(_P3, "Dropout with rate 0.4", ModelConfig(8, 32, 1, 0.4, 0.5), 33321, 0.82384),
    Baseline(_P3, "Dropout with rate 0.5", ModelConfig(8, 32, 1, 0.5, 0.5), 33321, 0.81728),
    Baseline(_P3, "Dropout with rate 0.7", ModelConfig(8, 32, 1, 0.7, 0.5), 33321, 0.81848),
    Baseline(_P4, "RNN with 2 layer LSTM", ModelConfig(8, 8, 3), 9641, 0.81848),
    Baseline(_P4, "RNN with 3 layer LSTM", ModelConfig(8, 8, 4), 10185, 0.82160),
    Baseline(_P4, "RNN with 7 layer LSTM", ModelConfig(8, 8, 8), 12361, 0.81496),
)
