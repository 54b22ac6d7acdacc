"""Names for a configuration that the study's commands and its reports share.

``PARAMS`` (every search-space parameter, in the order tables show them) and ``config_key`` (a
stable text key of one configuration) are used by ``study.confirm``, ``study.reproduce`` and
``reports``; they live here, below both, so that neither side imports the other for them.
No Keras and no pandas here (``config_key`` takes a DataFrame row or a params dict alike).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from search_spaces.config import NOTEBOOK_CHOICES
from search_spaces.lstm import ALL_DISTRIBUTIONS, DISTRIBUTIONS, EXTENSION, plain_value

if TYPE_CHECKING:
    import pandas as pd

#: The notebook space's parameters, which every configuration has.
NOTEBOOK_PARAMS: tuple[str, ...] = tuple(DISTRIBUTIONS)
#: The extended space's further parameters (``--space extended``).
EXTENDED_PARAMS: tuple[str, ...] = tuple(EXTENSION)
#: Every search-space parameter, in the order the tables show them.
PARAMS: tuple[str, ...] = tuple(ALL_DISTRIBUTIONS)


def is_missing(value: Any) -> bool:
    """Whether a param's value is absent: None, or NaN (a table's empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def row_params(row: pd.Series | Mapping[str, Any]) -> dict[str, Any] | None:
    """A configuration's params from a trial's params or a table's row; None if incomplete.

    The notebook's parameters must all be there; the extended space's are taken when present
    (a notebook study has none of them).
    """
    if any(name not in row or is_missing(row[name]) for name in NOTEBOOK_PARAMS):
        return None
    params = {name: plain_value(name, row[name]) for name in NOTEBOOK_PARAMS}
    for name in EXTENDED_PARAMS:
        if name in row and not is_missing(row[name]):
            params[name] = plain_value(name, row[name])
    return params


def config_key(row: pd.Series | Mapping[str, Any]) -> str:
    """A stable text key for a configuration, equal for the same params in any study.

    Args:
        row: The configuration's params by name (a trial's params, or a report table's row).

    Returns:
        ``name=value`` for every notebook parameter (integers as integers, floats to 6
        decimals, a missing or NaN value as ``name=?``), then each extended parameter whose value
        is set and is not the notebook's: the notebook's configurations have one key in both
        spaces, so an extended study's baselines match the notebook's grid.
    """
    parts = []
    for name in NOTEBOOK_PARAMS:
        value = row.get(name)
        parts.append(f"{name}=?" if is_missing(value) else f"{name}={_text(name, value)}")
    for name in EXTENDED_PARAMS:
        value = row.get(name)
        if is_missing(value) or plain_value(name, value) == NOTEBOOK_CHOICES[name]:
            continue
        parts.append(f"{name}={_text(name, value)}")
    return " ".join(parts)


def _text(name: str, value: Any) -> str:
    plain = plain_value(name, value)
    if name == "learning_rate":
        return f"{plain:.6g}"  # a log-scale value: significant digits, not decimals
    if isinstance(plain, float):
        return f"{round(plain, 6):g}"
    return str(plain)
