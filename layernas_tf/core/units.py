"""Costs as people write budgets: `220M`, `0.22G`, `12ms`, parsed and shown.

Errors name the argument as `name=value`; the command line shows them as its flags.
"""

from __future__ import annotations

import math
import re

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}
# A cost's name as the console and the plots show it.
UNITS = {"madds": "MAdds", "params": "parameters", "latency": "latency"}


def parse_count(name: str, value: "str | int | float") -> int:
    """Parses `220M`, `0.22G`, `2.5m`, `220000000` (or a number) into a positive integer.

    Raises:
      ValueError: not a positive, finite count; the message names `name`.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not a count: use e.g. 220M, 0.22G or 220000000")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+]?[0-9]+)?)\s*([kKmMgG]?)\s*", value or "")
        if not match:
            raise ValueError(f"{name}={value!r} is not a count: use e.g. 220M, 0.22G or 220000000")
        number = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if not math.isfinite(number) or number > 1e18:
        raise ValueError(f"{name}={value!r} is not a finite count below 1e18: use e.g. 220M, 0.22G or 220000000")
    count = int(round(number))
    if count <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return count


def parse_latency(value: "str | int | float", name: str = "latency") -> float:
    """Parses `12ms`, `0.012s`, `12` (ms) or a number of ms into milliseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ms = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us)?\s*", str(value or ""))
        ms = float(match.group(1)) * {"ms": 1, None: 1, "s": 1000, "us": 1e-3}[match.group(2)] if match else 0
    if not (ms > 0 and math.isfinite(ms)):
        raise ValueError(f"{name}={value!r} is not a positive latency: use e.g. 12ms, 0.012s or 12")
    return ms


def human(count: float) -> str:
    """A count as people write budgets: 2.09M, 220M, 1.2G."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.4g}{unit}"
    return f"{count:.4g}"


def show(cost: str, value: float) -> str:
    """A cost as its budget is written: counts as `human` does, latency in ms (12.5ms)."""
    return f"{value:.4g}ms" if cost == "latency" else human(value)


def label(cost: str, value: float) -> str:
    """A cost with its unit, as the console prints it: `MAdds 1.2M`, `latency 3.1ms`."""
    return f"{UNITS[cost]} {show(cost, value)}"
