"""Results a reader never finds half-written: JSON, Markdown, plots, TensorBoard HParams."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np


def check_writable(name: str, path: str, value: Optional[str] = None) -> None:
    """ValueError unless `path` (a folder to create or fill) can be written, said before any work is done;
    the message names the argument as `name=value` (default: the path).

    Tried, not asked: `os.access` says yes to root everywhere, /proc included. Creates
    nothing that lasts.
    """
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    try:
        if not os.path.isdir(existing):
            raise OSError(f"{existing} is not a directory")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ValueError(f"{name}={value or path} cannot be written ({existing} is not a writable directory: "
                         f"{getattr(e, 'strerror', None) or e})") from None


def _readable_as_any_file(path: str) -> None:
    """`mkstemp` makes files 0600; give the file the mode any other file here gets (0644 under umask 022),
    so other users of a shared study directory can read the answer."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def written_whole(path: str, write: Callable[[str], None]) -> None:
    """`write(tmp)` on a fresh file beside `path` (`.tmp-` + a unique part + `path`'s name, so its extension, which
    `np.savez` and `savefig` go by, is `path`'s), then `tmp` renamed to `path`: the file is whole or absent. A write
    that fails (a full disk) or is interrupted leaves no part of it behind, so nothing reads half a file and a stop
    frees what it took. The one way this project writes a file others read."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        _readable_as_any_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(path: str, data: "str | bytes") -> None:
    """Writes `data` to `path` whole or not at all (`written_whole`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)

    written_whole(path, write)


@contextlib.contextmanager
def folder_atomic(path: str) -> Iterator[str]:
    """Yields a temporary folder beside `path` to fill; on success it replaces `path`, on error it goes."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(path)}-")
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def write_json(path: str, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _pyplot():
    # Loaded when a plot is drawn, and with the Agg backend then: a notebook that imports this module keeps its own.
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    return plt


def _save_figure(plt, fig, ax, path: str, legend_outside: bool = False) -> None:
    """Finishes the axes, writes the PNG through a temporary file and a rename, closes the figure."""
    ax.grid(alpha=0.3)
    if legend_outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize="small")
    else:
        ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        written_whole(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_search(
    path: str,
    trials: Sequence[Mapping[str, Any]],
    *,
    t_min: float,
    t_max: float,
    chosen: Optional[int],
    bucket_edges: Sequence[float] = (),
    front: Sequence[int] = (),
    cost_name: str = "MAdds",
    format_cost: Optional[Callable[[float, Any], str]] = None,
    title: str = "",
) -> None:
    """Cost against reward of every completed trial: the front, the target, buckets and the answer.

    Args:
      trials: rows with `id`, `cost`, `reward` (None for failed trials, which are skipped).
      chosen: id of the answer's trial, marked with a star.
      bucket_edges: the last layer's cost bucket edges, drawn as dotted vertical lines.
      front: ids of the front's trials, cheapest first, joined by a step line.
      format_cost: how the cost axis writes a cost ("1.2M"), instead of matplotlib's
        numbers under a "1e6" offset.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    done = [t for t in trials if t.get("reward") is not None]
    inside = [t for t in done if t_min <= t["cost"] <= t_max]
    outside = [t for t in done if not t_min <= t["cost"] <= t_max]
    ax.scatter([t["cost"] for t in inside], [t["reward"] for t in inside], s=14, alpha=0.7, label="trials")
    if outside:
        ax.scatter([t["cost"] for t in outside], [t["reward"] for t in outside], s=14, marker="x", color="grey",
                   alpha=0.7, label="over the budget")
    by_id = {t["id"]: t for t in done}
    points = [by_id[i] for i in front if i in by_id]
    if points:
        ax.step([t["cost"] for t in points], [t["reward"] for t in points], where="post", color="black",
                linewidth=1, label="front")
    for i, edge in enumerate(bucket_edges):
        ax.axvline(edge, color="tab:green", linestyle=(0, (1, 3)), linewidth=0.8,
                   label="last layer's buckets" if i == 0 else None)
    ax.axvline(t_max, color="red", linestyle="--", linewidth=1, label="target")
    if t_min > 0:
        ax.axvline(t_min, color="red", linestyle=":", linewidth=1)
    best = [t for t in done if t["id"] == chosen]
    if best:
        ax.scatter([best[0]["cost"]], [best[0]["reward"]], marker="*", s=220, color="gold", edgecolor="black",
                   zorder=5, label="chosen")
    ax.set_xlabel(cost_name)
    ax.set_ylabel("reward (validation top-1)")
    if format_cost is not None:
        from matplotlib.ticker import FuncFormatter  # pylint: disable=import-outside-toplevel  (as `_pyplot`)

        ax.xaxis.set_major_formatter(FuncFormatter(format_cost))
    if title:
        ax.set_title(title)
    # The legend goes beside the axes: inside, it hid the over-budget crosses at the right edge.
    _save_figure(plt, fig, ax, path, legend_outside=True)


def write_hparams(log_dir: str, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """One trial's row of TensorBoard's HParams dashboard (`tensorboard --logdir=STUDY_DIR`)."""
    # Keeps TensorFlow out of the pure-Python side that writes reports too (the tabular comparisons).
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorboard.plugins.hparams import api as hp  # pylint: disable=import-outside-toplevel

    with tf.summary.create_file_writer(log_dir).as_default():
        hp.hparams(dict(hparams))
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=0)


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
    plt = _pyplot()
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
    _save_figure(plt, fig, ax, path)
