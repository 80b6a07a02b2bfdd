"""Tabular benchmarks as data: NATS-Bench's CSV table and official release, NAS-Bench-Macro's JSON."""

import json

import pytest

from conftest import MACRO_JSON, NATS_CSV, NATS_OFFICIAL, NATS_RECORDS
from experiments.tables import NASBenchMacro, NATSOfficial, NATSTable, open_benchmark


def test_csv_rewards_are_the_valid_column_and_test_is_separate(nats_table_cifar10, nats_table_cifar100):
    space = nats_table_cifar10.space
    arch = space.from_channels("8:8:8:8:16")
    assert nats_table_cifar10.reward(arch) == 80.056 and nats_table_cifar10.test_accuracy(arch) == 82.56
    assert nats_table_cifar100.reward(arch) == 42.96 and nats_table_cifar100.test_accuracy(arch) == 43.16
    assert nats_table_cifar10.train_seconds(arch) is None


def test_csv_errors_name_what_is_valid(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        NATSTable(str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="valid: cifar10, cifar100"):
        NATSTable(NATS_CSV, "ImageNet16-120")
    short = tmp_path / "short.csv"
    short.write_text("".join(open(NATS_CSV).readlines()[:10]))
    with pytest.raises(ValueError, match="9 rows"):
        NATSTable(str(short))


def test_official_release_follows_the_nats_bench_protocol():
    records = json.load(open(NATS_RECORDS))
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        bench = NATSOfficial(NATS_OFFICIAL, dataset)
        valid_split = "cifar10-valid" if dataset == "cifar10" else dataset
        for index in (0, 11, 284):
            arch = bench.space.from_index(index)
            hp12 = next(r for r in records if r["arch_index"] == index and r["hp"] == 12 and r["dataset"] == valid_split)
            hp90 = next(r for r in records if r["arch_index"] == index and r["hp"] == 90 and r["dataset"] == dataset)
            assert bench.reward(arch) == pytest.approx(hp12["valid-accuracy"])
            assert bench.test_accuracy(arch) == pytest.approx(hp90["test-accuracy"])
            assert bench.train_seconds(arch) > hp12["train-all-time"]  # plus one validation pass


def test_official_release_errors_are_clear(tmp_path):
    bench = NATSOfficial(NATS_OFFICIAL, "cifar10")
    missing = bench.missing()
    assert len(missing) == 32768 - 3 and not {0, 11, 284} & set(missing)
    with pytest.raises(ValueError, match=r"no record of network 12 \(8:8:8:16:40\)"):
        bench.reward(bench.space.from_index(12))
    with pytest.raises(ValueError, match="not a directory"):
        NATSOfficial(str(tmp_path / "nowhere"))


def test_open_benchmark_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        open_benchmark("nats_sss", dataset="cifar10")
    with pytest.raises(ValueError, match="exactly one"):
        open_benchmark("nats_sss", dataset="cifar10", table=NATS_CSV, nats_dir=NATS_OFFICIAL)
    assert isinstance(open_benchmark("nats_sss", dataset="cifar100", nats_dir=NATS_OFFICIAL), NATSOfficial)
    with pytest.raises(ValueError, match="nats_sss, nas_bench_macro"):
        open_benchmark("nas_bench_201", table=NATS_CSV)
    with pytest.raises(ValueError, match="cifar10 only"):
        open_benchmark("nas_bench_macro", dataset="cifar100", table=MACRO_JSON)


def test_nas_bench_macro_rewards_one_training_per_run_and_scores_the_mean():
    bench = open_benchmark("nas_bench_macro", table=MACRO_JSON)
    space = bench.space
    assert space.size == 6561 and len(space) == 8 and str(space.default()) == "2:2:2:2:2:2:2:2"
    arch = space.parse("0:2:0:1:2:1:0:0")  # the JSON's "02012100"
    runs = [89.47000122070312, 88.94999694824219, 89.16999816894531]
    assert [bench.reward(arch, run) for run in range(6)] == runs + runs
    assert bench.mean_reward(arch) == bench.test_accuracy(arch) == pytest.approx(sum(runs) / 3)
    assert [bench.held_out_score(arch, run) for run in range(4)] == pytest.approx(
        [(runs[1] + runs[2]) / 2, (runs[0] + runs[2]) / 2, (runs[0] + runs[1]) / 2, (runs[1] + runs[2]) / 2])
    assert space.cost(arch) == space.madds(arch) == 47327744 and space.params(arch) == 890666
    assert space.cost(space.dearest()) == max(space.cost(a) for a in space.all_architectures())
    assert bench.train_seconds(arch) is None and bench.missing() == []


def test_nas_bench_macro_errors_name_the_format(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        NASBenchMacro(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not JSON"):
        NASBenchMacro(str(tmp_path / "bad.json"))
    (tmp_path / "fields.json").write_text(json.dumps({"00000000": {"acc": 1}}))
    with pytest.raises(ValueError, match="test_acc, mean_acc, params, flops"):
        NASBenchMacro(str(tmp_path / "fields.json"))
    (tmp_path / "short.json").write_text(json.dumps(
        {"00000000": {"test_acc": [1, 2, 3], "mean_acc": 2, "params": 1, "flops": 1}}))
    with pytest.raises(ValueError, match="has 1 networks; the space has 6561"):
        NASBenchMacro(str(tmp_path / "short.json"))


def test_nas_bench_macro_strings_of_one_network_share_its_record_and_train_once():
    bench = open_benchmark("nas_bench_macro", table=MACRO_JSON)
    space = bench.space
    networks = {space.canonical(a) for a in space.all_architectures()}
    assert len(networks) == 3969  # the README's count of distinct networks
    records = json.load(open(MACRO_JSON))
    for arch in space.all_architectures():
        assert records[space.key(arch)] == records[space.key(space.canonical(arch))]
    # an identity moved within the later layers of a stage: one network; moved onto a stage's first layer: another
    assert space.canonical(space.parse("1:2:1:0:2:1:1:1")) == space.canonical(space.parse("1:2:1:2:0:1:1:1"))
    assert space.canonical(space.parse("1:2:1:0:2:1:1:1")) != space.canonical(space.parse("1:2:0:1:2:1:1:1"))
