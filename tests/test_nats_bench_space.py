"""The NATS-Bench size space: exact MAdds and parameters, naming, and both reward sources."""

import csv
import json

import pytest

from conftest import NATS_CSV, NATS_OFFICIAL, NATS_RECORDS
from search_spaces.nats_bench import NATSOfficial, NATSSizeSpace, NATSTable, open_benchmark


def _space_dataset(record_dataset):
    return record_dataset.replace("-valid", "")


def test_madds_and_params_equal_every_official_record():
    records = json.load(open(NATS_RECORDS))
    assert len(records) == 36
    for r in records:
        space = NATSSizeSpace(_space_dataset(r["dataset"]))
        arch = space.from_channels(r["arch"])
        assert space.index(arch) == r["arch_index"]
        assert space.madds(arch) == round(r["flops_m"] * 1e6), r
        assert space.params(arch) == round(r["params_m"] * 1e6), r


def test_params_equal_the_table_for_every_network():
    c10, c100 = NATSSizeSpace("cifar10"), NATSSizeSpace("cifar100")
    with open(NATS_CSV, newline="") as f:
        for row in csv.DictReader(f):
            arch = c10.from_index(int(row["index"]))
            assert c10.channel_string(arch) == row["arch"]
            assert c10.params(arch) == int(row["cifar10_params"])
            assert c100.params(arch) == int(row["cifar100_params"])


def test_space_shape_default_and_naming():
    space = NATSSizeSpace()
    assert len(space) == 5 and space.size == 32768
    assert str(space.default()) == "7:7:7:7:7" == str(space.dearest())
    assert str(space.cheapest()) == "0:0:0:0:0"
    arch = space.from_channels("8:8:8:16:32")
    assert str(arch) == "0:0:0:1:3" and space.index(arch) == 11 and space.from_index(11) == arch
    assert list(space.all_architectures())[284] == space.from_index(284)
    with pytest.raises(ValueError, match=r"8, 16, 24"):
        space.from_channels("8:8:8:16:33")
    with pytest.raises(ValueError, match="0..32767"):
        space.from_index(32768)


def test_madds_follow_input_size_and_classes():
    space = NATSSizeSpace("cifar10")
    arch = space.parse("1:2:3:4:5")
    convs = space.madds(arch) - (48 * 10 + 10)
    assert space.madds(arch, input_shape=(16, 16, 3), num_classes=120) == convs // 4 + 48 * 120 + 120
    assert space.madds(arch) == space.cost(arch)
    with pytest.raises(ValueError, match="multiple of 4"):
        space.madds(arch, input_shape=(30, 30, 3))
    with pytest.raises(ValueError, match="num_classes"):
        space.madds(arch, num_classes=0)
    with pytest.raises(ValueError, match="cifar10, cifar100, ImageNet16-120"):
        NATSSizeSpace("svhn")


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
        open_benchmark("cifar10")
    with pytest.raises(ValueError, match="exactly one"):
        open_benchmark("cifar10", table=NATS_CSV, nats_dir=NATS_OFFICIAL)
    assert isinstance(open_benchmark("cifar100", nats_dir=NATS_OFFICIAL), NATSOfficial)
