"""Reports are written whole or not at all."""

import json
import os

import pytest

from layernas_tf import reports


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "r.json"
    reports.write_json(str(path), {"a": 1})
    reports.write_json(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["r.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    reports.write_json(str(path), {"a": 1})
    with pytest.raises(TypeError):
        reports.write_json(str(path), {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_markdown_table():
    assert reports.markdown_table(["a", "b"], [[1, 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"


def test_plot_curves_writes_a_png_even_with_runs_that_start_without_an_answer(tmp_path):
    path = tmp_path / "curves.png"
    nan = float("nan")
    reports.plot_curves(str(path), {"x": [[nan, 1, 2], [nan, nan, 3]], "y": [[1, 1, 1], [2, 2, 2]]},
                        title="t", ylabel="acc", reference=3)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert os.listdir(tmp_path) == ["curves.png"]


def test_plot_search_marks_the_answer_and_skips_failed_trials(tmp_path):
    path = tmp_path / "search.png"
    trials = [{"id": 0, "cost": 5, "reward": 0.5}, {"id": 1, "cost": 3, "reward": 0.6},
              {"id": 2, "cost": 4, "reward": None}]
    reports.plot_search(str(path), trials, t_min=1, t_max=4.5, chosen=1, bucket_edges=[3, 4, 5])
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert os.listdir(tmp_path) == ["search.png"]


def test_plot_search_draws_the_front_apart_from_trials_over_the_budget(tmp_path, monkeypatch):
    drawn = {}
    save = reports._save_figure  # pylint: disable=protected-access

    def keep(plt, fig, ax, path, **options):
        drawn["labels"] = ax.get_legend_handles_labels()[1]
        drawn["front"] = [line.get_xydata().tolist() for line in ax.get_lines() if line.get_label() == "front"]
        drawn["title"] = ax.get_title()
        drawn["tick"] = ax.xaxis.get_major_formatter()(3e6, 0)
        drawn["legend_outside"] = options.get("legend_outside")
        save(plt, fig, ax, path, **options)

    monkeypatch.setattr(reports, "_save_figure", keep)
    trials = [{"id": 0, "cost": 2, "reward": 0.5}, {"id": 1, "cost": 3, "reward": 0.6},
              {"id": 2, "cost": 4, "reward": 0.55}, {"id": 3, "cost": 9, "reward": 0.9}]
    reports.plot_search(str(tmp_path / "search.png"), trials, t_min=0, t_max=5, chosen=1, front=[0, 1],
                        bucket_edges=[3], title="LayerNAS on s: madds at 32x32 in [0, 5]",
                        format_cost=lambda value, _: f"{value / 1e6:g}M")
    assert {"trials", "over the budget", "front", "last layer's buckets", "target", "chosen"} <= set(drawn["labels"])
    assert drawn["front"] == [[[2.0, 0.5], [3.0, 0.6]]]  # drawn as steps through the front's two trials
    assert drawn["title"] == "LayerNAS on s: madds at 32x32 in [0, 5]"
    # Costs read as the console writes them, and the legend sits beside the points, not on them.
    assert drawn["tick"] == "3M" and drawn["legend_outside"]


def test_reports_are_as_readable_as_any_other_file(tmp_path):
    """`mkstemp` makes 0600 files: on a shared study directory other users could not read the answer."""
    previous = os.umask(0o022)
    try:
        reports.write_json(str(tmp_path / "results.json"), {"answer": 1})
        reports.plot_search(str(tmp_path / "search.png"), [{"id": 0, "cost": 1, "reward": 0.5}], t_min=0, t_max=2,
                            chosen=0)
    finally:
        os.umask(previous)
    assert {name: os.stat(tmp_path / name).st_mode & 0o777 for name in os.listdir(tmp_path)} == {
        "results.json": 0o644, "search.png": 0o644}


def test_a_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    (tmp_path / "file").write_text("")
    for path in ("/proc/layernas", str(tmp_path / "file" / "below")):
        with pytest.raises(ValueError, match="out=.* cannot be written"):
            reports.check_writable("out", path)
    reports.check_writable("out", str(tmp_path / "new" / "deeper"))
    assert sorted(os.listdir(tmp_path)) == ["file"]
