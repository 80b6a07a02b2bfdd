"""The NATS-Bench size space: exact MAdds and parameters, naming (its tables: tests/test_tables.py)."""

import csv
import json

import pytest

from conftest import NATS_CSV, NATS_RECORDS
from search_spaces.nats_sss import NATSSizeSpace


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
