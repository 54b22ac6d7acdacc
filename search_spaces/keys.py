"""Names for a configuration that the study's commands and its reports share.

``PARAMS`` (the search-space parameters, in the order tables show them) and ``config_key`` (a
stable text key of one configuration) are used by ``study.confirm``, ``study.reproduce`` and
``reports``; they live here, below both, so that neither side imports the other for them.
No Keras and no pandas here (``config_key`` takes a DataFrame row or a params dict alike).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from search_spaces.lstm import DISTRIBUTIONS

if TYPE_CHECKING:
    import pandas as pd

#: Search-space parameters, in the order the tables show them.
PARAMS: tuple[str, ...] = tuple(DISTRIBUTIONS)


def config_key(row: pd.Series | Mapping[str, Any]) -> str:
    """A stable text key for a configuration, equal for the same params in any study.

    Args:
        row: The configuration's params by name (a trial's params, or a report table's row).

    Returns:
        ``name=value`` for every name in ``PARAMS``, integers as integers, floats to 6 decimals,
        a missing or NaN value as ``name=?``.
    """
    parts = []
    for name in PARAMS:
        value = row[name]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{name}=?")
        elif DISTRIBUTIONS[name].__class__.__name__ == "IntDistribution":
            parts.append(f"{name}={int(value)}")
        else:
            parts.append(f"{name}={round(float(value), 6):g}")
    return " ".join(parts)
