"""The space and data of our own real-training table: exact costs, a deterministic dataset, per-epoch curves."""

import numpy as np
import pytest

import search_spaces
from layernas_tf.training import data


def test_tiny_cnn_costs_are_exact_against_the_built_network():
    from layernas_tf.cost import graph  # pylint: disable=import-outside-toplevel

    space = search_spaces.get("tiny_cnn")
    assert space.size == 243 and space.default() == (2, 2, 2, 2, 2)
    for arch in (space.default(), space.cheapest(), space.parse("0:2:1:0:2")):
        model = space.build(arch)
        assert model.count_params() == space.params(arch)
        assert graph.profile_madds(model) == space.madds(arch)
    # 16x16 in, 10 classes: conv1 at 16x16, conv2-3 at 8x8, conv4-5 at 4x4, the classifier.
    assert space.madds(space.cheapest()) == 256 * 27 * 2 + 64 * 9 * 2 * 4 + 64 * 9 * 4 * 4 + 16 * 9 * 4 * 8 \
        + 16 * 8 * 8 + 8 * 10


def test_tiny_cnn_refuses_a_size_its_strides_cannot_take():
    with pytest.raises(ValueError, match="multiple of 4"):
        search_spaces.get("tiny_cnn", input_shape=(18, 18, 3))


def test_noisy_digits_is_deterministic_and_keeps_each_digit_in_one_split():
    first, again = data.noisy_digits_arrays(), data.noisy_digits_arrays()
    assert {k: v[0].shape for k, v in first.items()} == {
        "train": (3234, 16, 16, 3), "validation": (1077, 16, 16, 3), "test": (1080, 16, 16, 3)}
    for split in first:
        np.testing.assert_array_equal(first[split][0], again[split][0])
    # Three copies of each digit, consecutive, in the split its original belongs to.
    labels = first["validation"][1]
    assert (labels[0::3] == labels[1::3]).all() and (labels[0::3] == labels[2::3]).all()
    loaded = data.load(data.NOISY_DIGITS)
    assert loaded.sizes == {"train": 3234, "validation": 1077, "test": 1080} and loaded.native_size == 16


@pytest.mark.slow
def test_a_curve_scores_every_epoch_and_its_last_entry_is_the_reward(tmp_path):
    from layernas_tf import api  # pylint: disable=import-outside-toplevel
    from layernas_tf.training.worker import TrialWorker  # pylint: disable=import-outside-toplevel

    config = api.prepare(log=lambda line: None, space="tiny_cnn", dataset="noisy_digits", image_size=16,
                         deploy_image_size=16, batch_size=64, learning_rate=0.05, proxy_epochs=3, madds=1e9,
                         executor="serial", study_dir=str(tmp_path), train_examples=600, verbose=0).config
    worker = TrialWorker(config)
    curved = worker(0, "1:1:1:1:1", curve=True)
    assert len(curved["curve"]["validation"]) == len(curved["curve"]["test"]) == 3
    assert curved["curve"]["validation"][-1] == pytest.approx(curved["reward"])
    # A rung of 2 epochs reports what the straight training's curve held after epoch 2.
    rung = worker(1, "1:1:1:1:1", 2)
    assert rung["reward"] == pytest.approx(curved["curve"]["validation"][1])


def test_the_real_tables_rows_are_read_back_a_cut_line_skipped_and_reported(tmp_path):
    import csv  # pylint: disable=import-outside-toplevel

    from experiments import real_table  # pylint: disable=import-outside-toplevel

    path = tmp_path / "table.csv"
    archs = real_table.architectures()[:6]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=real_table.COLUMNS)
        writer.writeheader()
        for seed in range(3):
            for i, arch in enumerate(archs):  # network i gets better with i, whatever the seed
                row = {"seed": seed, "arch": arch, "madds": 1000 * (i + 1), "params": 10, "train_seconds": 1.0}
                for e in range(1, real_table.EPOCHS + 1):
                    row[f"val_{e}"] = row[f"test_{e}"] = f"{0.1 * i + 0.01 * e + 0.001 * seed:.4f}"
                writer.writerow(row)
        f.write(f"0,{archs[0]},1000,10,0.5")  # a line a kill cut short
    rows = real_table.read(str(path))
    assert len(rows) == 18
    real_table._drop_cut_line(str(path))  # pylint: disable=protected-access  (what a resumed build does first)
    assert path.read_text().endswith("\n") and len(real_table.read(str(path))) == 18 and rows[0]["val"][0] == pytest.approx(0.01) and len(rows[0]["test"]) == 12
    text = real_table.report(rows)
    assert "6 of 243 networks trained under all 3 seeds" in text
    assert "Spearman of final validation rewards +1.000, +1.000, +1.000" in text
    assert "epoch 3 predicts epoch 12: Spearman +1.000, +1.000, +1.000" in text
