"""Writing results so that a reader never finds a half-written file: JSON, Markdown, plots."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from typing import Any, Mapping, Optional, Sequence


def write_atomic(path: str, data: "str | bytes") -> None:
    """Writes `data` to `path` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_curves(
    path: str,
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    reference: Optional[float] = None,
    reference_label: str = "oracle",
) -> None:
    """Plots per-run curves as a mean line and a 25-75% band per method (the paper's figure).

    Args:
      curves: method name -> runs -> value after each trial; runs of one method
        have equal length.
      reference: a horizontal line, e.g. the best feasible network's accuracy.
    """
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in curves.items():
        values = np.asarray(runs, dtype=float)
        x = np.arange(1, values.shape[1] + 1)
        with warnings.catch_warnings():  # trials before any feasible answer are NaN in every run
            warnings.simplefilter("ignore", RuntimeWarning)
            q25, q75 = np.nanpercentile(values, [25, 75], axis=0)
            mean = np.nanmean(values, axis=0)
        (line,) = ax.plot(x, mean, label=name)
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.2)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", linewidth=1, label=reference_label)
    ax.set_xlabel("trials")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
