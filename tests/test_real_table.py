"""Our real-training table as a benchmark: its loader and protocol, and rungs replayed on its curves."""

import csv
import functools
import statistics
import zlib

import pytest

import search_spaces
from benchmarks import rungs_table
from experiments import comparison, real_table
from experiments.tables import RealTable, open_benchmark
from layernas_tf import algorithms
from layernas_tf.algorithms import LayerNAS
from layernas_tf.core.noise import reward_variance
from layernas_tf.trials.executors import SerialExecutor
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.study import Study

RUNGS = (1, 3, 12)


def _curve(arch: str, seed: int, split: str) -> list[float]:
    """A made-up learning curve: each network its own ceiling, each seed a little off it, rising every epoch."""
    ceiling = 0.5 + (zlib.crc32(arch.encode()) % 400) / 1000
    jitter = (zlib.crc32(f"{arch}{seed}{split}".encode()) % 21 - 10) / 1000
    return [round((ceiling + jitter) * e / real_table.EPOCHS, 4) for e in range(1, real_table.EPOCHS + 1)]


def write_table(path, seeds=real_table.SEEDS, skip=0):
    """A whole table of made-up curves (all 243 networks but the first `skip`, every seed) in the build's CSV."""
    space = search_spaces.get("tiny_cnn", input_shape=(16, 16, 3), num_classes=10)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=real_table.COLUMNS)
        writer.writeheader()
        for arch in list(space.all_architectures())[skip:]:
            for seed in range(seeds):
                row = {"seed": seed, "arch": str(arch), "madds": space.madds(arch), "params": space.params(arch),
                       "train_seconds": 10.0}
                for split, key in (("val", "val"), ("test", "test")):
                    for e, value in enumerate(_curve(str(arch), seed, split), 1):
                        row[f"{key}_{e}"] = value
                writer.writerow(row)
    return str(path)


def test_the_table_follows_nas_bench_macros_protocol(tmp_path):
    table = open_benchmark("real_table", dataset="noisy_digits", table=write_table(tmp_path / "t.csv"))
    arch = table.space.parse("1:2:0:1:2")
    assert table.space.size == 243 and not table.missing()
    for run in range(6):  # run r sees seed r % 3, in percent, after the proxy's 12 epochs or a rung's
        assert table.reward(arch, run) == pytest.approx(100 * _curve(str(arch), run % 3, "val")[-1])
        assert table.reward(arch, run, 3) == pytest.approx(100 * _curve(str(arch), run % 3, "val")[2])
    assert table.test_accuracy(arch) == pytest.approx(100 * sum(_curve(str(arch), s, "test")[-1] for s in range(3)) / 3)
    assert table.mean_reward(arch) == pytest.approx(100 * sum(_curve(str(arch), s, "val")[-1] for s in range(3)) / 3)
    for run in range(6):  # scored apart from its luck: the test reward of the two seeds run r did not see
        others = [s for s in range(3) if s != run % 3]
        assert table.held_out_score(arch, run) == pytest.approx(100 * sum(_curve(str(arch), s, "test")[-1]
                                                                          for s in others) / 2)
    limit = 0.5 * table.space.cost(table.space.dearest())
    summary, _ = comparison.compare(table, limit=limit, names=["random"], runs=4, max_trials=10)
    answers = [comparison.search_once(algorithms.create("random", table.space, limit, max_trials=10, seed=r), table,
                                      run=r) for r in range(4)]
    assert [a["held_out"] for a in answers] == [table.held_out_score(table.space.parse(a["arch"]), r)
                                                for r, a in enumerate(answers)]
    assert summary["algorithms"]["random"]["held_out_mean"] == pytest.approx(sum(a["held_out"] for a in answers) / 4)
    with pytest.raises(ValueError, match=r"lacks 5 of 243 networks under all 3 seeds \(0, 1, 2\): python -m "
                                         r"experiments.real_table build trains them"):
        RealTable(write_table(tmp_path / "part.csv", skip=5))


def test_the_report_states_the_proxy_checks_reward_variance(tmp_path):
    """The report's noise figure is the variance check's estimator (sd over seeds with ddof 1), not a second one."""
    rows = real_table.read(write_table(tmp_path / "t.csv"))
    by_arch = {}
    for r in rows:
        by_arch.setdefault(r["arch"], [None] * real_table.SEEDS)[r["seed"]] = r["val"][-1]
    noise, between = reward_variance(list(by_arch.values()))
    text = real_table.report(rows)
    assert "729 trainings; 243 of 243 networks trained under all 3 seeds" in text
    assert f"a network's sd over seeds {noise:.4f} against the sd of the networks' means {between:.4f}" in text
    population = sum(statistics.pstdev(v) for v in by_arch.values()) / len(by_arch)
    assert f"{population:.4f}" != f"{noise:.4f}"  # the estimator the report used before, which differs here


def test_a_table_with_a_fourth_seed_keeps_the_three_seed_protocol_unless_asked(tmp_path):
    path = write_table(tmp_path / "t4.csv", seeds=4)
    arch = RealTable(path).space.parse("2:0:1:1:0")
    final = {(s, split): 100 * _curve(str(arch), s, split)[-1] for s in range(4) for split in ("val", "test")}
    three, four, other = RealTable(path), RealTable(path, seeds=range(4)), RealTable(path, seeds=(1, 3, 0))
    assert three.reward(arch, 3) == pytest.approx(final[0, "val"])  # run 3 sees seed 0, as before the 4th
    assert three.test_accuracy(arch) == pytest.approx(sum(final[s, "test"] for s in range(3)) / 3)
    assert three.mean_reward(arch) == pytest.approx(sum(final[s, "val"] for s in range(3)) / 3)
    assert four.reward(arch, 3) == pytest.approx(final[3, "val"]) and four.reward(arch, 4) == three.reward(arch, 0)
    assert four.test_accuracy(arch) == pytest.approx(sum(final[s, "test"] for s in range(4)) / 4)
    assert four.held_out_score(arch, 1) == pytest.approx((final[0, "test"] + final[2, "test"] + final[3, "test"]) / 3)
    assert [other.reward(arch, run) for run in range(4)] == pytest.approx([final[s, "val"] for s in (1, 3, 0, 1)])
    assert other.test_accuracy(arch) == pytest.approx((final[0, "test"] + final[1, "test"] + final[3, "test"]) / 3)
    assert other.held_out_score(arch, 1) == pytest.approx((final[0, "test"] + final[1, "test"]) / 2)  # saw seed 3
    assert RealTable(path, seeds=[2]).held_out_score(arch, 0) is None  # one seed: none held out
    with pytest.raises(ValueError, match=r"lacks 243 of 243 networks under all 2 seeds \(0, 3\): python -m "
                                         r"experiments.real_table build --seeds=4 trains them"):
        RealTable(write_table(tmp_path / "t3.csv"), seeds=[0, 3])
    for wrong in ([], [1, 1], [-1]):
        with pytest.raises(ValueError, match="seeds must be distinct seeds >= 0, at least one"):
            RealTable(path, seeds=wrong)


def _table_objective(trial_id, arch, epochs, *, path, run, reached):
    """A live trial over the table: the reward its rung reports, trained on from its checkpoint (`reached`)."""
    del trial_id
    table = _tables(path)
    done = reached.get(arch, 0)
    reached[arch] = epochs
    return {"reward": table.reward(table.space.parse(arch), run, epochs), "epochs_trained": epochs - done}


@functools.lru_cache(maxsize=None)
def _tables(path):
    return RealTable(path)


def test_rungs_replayed_on_the_table_promote_as_a_live_search_on_the_same_rewards(tmp_path):
    """The benchmark's replay (the algorithm asked and told) against the runner driving a live search whose trials
    report the table's rewards: the same trials, rungs, promotions and answer, and the epochs the runner
    records are the replay's count."""
    path = write_table(tmp_path / "t.csv")
    table = _tables(path)
    limit = 0.5 * table.space.cost(table.space.dearest())
    replayed = rungs_table.replay(table, "layernas", limit, 1, RUNGS, 3)
    study = Study(str(tmp_path / "study"), {"space": "tiny_cnn"})
    live = LayerNAS(table.space, limit, seed=1, rungs=RUNGS, rung_factor=3)
    factory = functools.partial(functools.partial, _table_objective, path=path, run=1, reached={})
    Runner(study, live, SerialExecutor(factory), log=lambda line: None).run()
    rows = study.trials()
    study.close()
    ours = replayed["algorithm"]
    assert [(str(t.arch), t.epochs, t.rewards) for t in ours.trials] == [(str(t.arch), t.epochs, t.rewards)
                                                                       for t in live.trials]
    assert ours.rung_log == live.rung_log and any(entry["promoted"] for entry in live.rung_log)
    assert str(ours.best().arch) == str(live.best().arch)
    assert replayed["epochs"] == sum(g["epochs_trained"] for r in rows for g in r["rungs"])
    assert replayed["epochs"] < real_table.EPOCHS * replayed["trials"]  # the rungs stopped some early


def test_an_answer_is_scored_by_its_rank_among_the_networks_within_the_budget():
    table = RealTable()  # the table in the repository
    limit = 0.5 * table.space.cost(table.space.dearest())
    within = [a for a in table.space.all_architectures() if table.space.cost(a) <= limit]
    best = max(within, key=table.test_accuracy)
    worst = min(within, key=table.test_accuracy)
    assert table.scored(str(best), limit) == {"answer": str(best), "test": table.test_accuracy(best), "rank": 1,
                                              "feasible": len(within), "best_test": table.test_accuracy(best)}
    assert table.scored(str(worst), limit)["rank"] == len(within)
    with pytest.raises(ValueError, match="over the budget"):  # the dearest network is over half its own cost
        table.scored(str(table.space.dearest()), limit)


def test_the_committed_tables_costs_are_the_spaces_own_counts():
    """MAdds and parameters as the search counts them (its first 82 rows once held trainable parameters only, from
    before tiny_cnn counted as Keras' `count_params` does, BatchNorm's moving statistics included)."""
    space = search_spaces.get("tiny_cnn", input_shape=(16, 16, 3), num_classes=10)
    rows = real_table.read()
    assert len(rows) == 972 and sorted({r["seed"] for r in rows}) == [0, 1, 2, 3]
    for row in rows:
        arch = space.parse(row["arch"])
        assert (row["madds"], row["params"]) == (space.madds(arch), space.params(arch)), row["arch"]


@pytest.mark.slow
def test_the_build_trains_one_seed_on_two_processes_as_the_table_holds_it_and_resumes(tmp_path):
    """Two processes training networks of the same seed at once (a build of one more seed, or the last seed of a
    resumed build) each remove only their own trial's folder: the first build of a fourth seed failed when one
    training's clean-up removed the other's backup. The rows are the committed table's, and a rerun goes on from there."""
    path = str(tmp_path / "t.csv")
    assert real_table.build(workers=2, seeds=1, path=path, limit=3) == 3
    built = {r["arch"]: r for r in real_table.read(path)}
    committed = {r["arch"]: r for r in real_table.read() if r["seed"] == 0}
    assert sorted(built) == sorted(real_table.architectures()[:3])
    for arch, row in built.items():
        assert row["seed"] == 0 and (row["madds"], row["params"]) == (committed[arch]["madds"], committed[arch]["params"])
        assert row["val"] == pytest.approx(committed[arch]["val"], abs=1e-4)
        assert row["test"] == pytest.approx(committed[arch]["test"], abs=1e-4)
    assert real_table.build(workers=2, seeds=1, path=path, limit=1) == 1  # resumed: the next network, none again
    assert sorted(r["arch"] for r in real_table.read(path)) == sorted(real_table.architectures()[:4])
