"""Tabular benchmarks: every network of a space trained already, its results looked up.

A benchmark is data about a space, not a space: the NATS-Bench size space's CSV
table and official release, NAS-Bench-Macro's JSON, and our own real-training table
(`experiments/real_table.py`, rewards after every epoch, so rungs replay on it). Each
reader offers

    space                   the search space (its cost is the benchmark's cost column)
    reward(arch, run)       what a search sees when it trains `arch` in search run `run`
    mean_reward(arch)       the reward without training noise (what the oracle maximizes)
    test_accuracy(arch)     the score that is only reported, never searched on
    held_out_score(arch, run)  the score on the trainings run `run` did not see (None: one training per
                            network), the answer's quality free of the luck of the training it was picked on
    train_seconds(arch)     the simulated training time, or None when the data has none
    missing()               networks the data holds no record of

so `experiments.comparison` runs every algorithm against any of them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Optional, Sequence

from layernas_tf.core.space import Architecture
from search_spaces.nas_bench_macro import NASBenchMacroSpace
from search_spaces.nats_sss import NATSSizeSpace, check_dataset

BENCHMARKS = ("nats_sss", "nas_bench_macro", "real_table")


class NATSTable:
    """Rewards from the per-architecture CSV table (`nats_sss_cifar.csv` format).

    The reward is `<dataset>_valid_acc90` (validation accuracy); the test column
    is only ever reported, never searched on.
    """

    name = "nats_sss"

    def __init__(self, path: str, dataset: str = "cifar10"):
        if not os.path.isfile(path):
            raise ValueError(f"NATS-Bench table {path!r} does not exist (expected the nats_sss_cifar.csv format)")
        self.path, self.dataset = path, dataset
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            datasets = [c[: -len("_valid_acc90")] for c in columns if c.endswith("_valid_acc90")]
            if dataset not in datasets:
                raise ValueError(
                    f"table {path!r} has no columns for dataset {dataset!r}; valid: {', '.join(datasets) or 'none'}"
                )
            valid_col, test_col = f"{dataset}_valid_acc90", f"{dataset}_test_acc90"
            self.space = NATSSizeSpace(dataset)
            size = self.space.size
            self._valid = [math.nan] * size
            self._test = [math.nan] * size
            rows = 0
            for row in reader:
                index = int(row["index"])
                if self.space.channel_string(self.space.from_index(index)) != row["arch"]:
                    raise ValueError(f"table {path!r}: row {index} names {row['arch']}, not the official network")
                self._valid[index] = float(row[valid_col])
                self._test[index] = float(row[test_col])
                rows += 1
        if rows != size:
            raise ValueError(f"table {path!r} has {rows} rows; the size space has {size} networks")

    def reward(self, arch: Architecture, run: int = 0) -> float:
        del run  # one training per network: every run sees the same reward
        return self._valid[self.space.index(arch)]

    mean_reward = reward

    def test_accuracy(self, arch: Architecture) -> float:
        return self._test[self.space.index(arch)]

    def held_out_score(self, arch: Architecture, run: int = 0) -> None:
        """None: every run sees the same training, so no training is held out."""
        del arch, run

    def train_seconds(self, arch: Architecture) -> Optional[float]:
        """The table carries no training times."""
        del arch
        return None

    def missing(self) -> list[int]:
        return []


class NATSOfficial:
    """Rewards from the official NATS-Bench release, through the `nats_bench` package.

    The protocol of the NATS-Bench paper: the reward is the validation accuracy after
    12 epochs (`hp=12`; CIFAR-10 uses its `cifar10-valid` split), the simulated
    training time of that run is what a time budget spends, and the reported test
    accuracy is that of the 90-epoch run.
    """

    name = "nats_sss"

    def __init__(self, nats_dir: str, dataset: str = "cifar10"):
        check_dataset(dataset)
        if not os.path.isdir(nats_dir):
            raise ValueError(f"NATS-Bench release {nats_dir!r} is not a directory (e.g. NATS-sss-v1_0-50262-simple)")
        try:
            import nats_bench  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise ValueError("--nats_dir needs the nats_bench package: pip install 'layernas_tf[nats]'") from None
        self.nats_dir, self.dataset = nats_dir, dataset
        self.space = NATSSizeSpace(dataset)
        self._api = nats_bench.create(nats_dir, "sss", fast_mode=True, verbose=False)
        self._valid_name = "cifar10-valid" if dataset == "cifar10" else dataset

    def missing(self) -> list[int]:
        """Indices of networks the release holds no record of (the test release has 3 of 32,768)."""
        def present(index):
            return any(
                os.path.isfile(os.path.join(self.nats_dir, f"{name}.pickle.pbz2"))
                for name in (f"{index:06d}", str(index))
            )

        return [index for index in range(self.space.size) if not present(index)]

    def _info(self, arch: Architecture, dataset: str, hp: str) -> dict:
        index = self.space.index(arch)
        try:
            return self._api.get_more_info(index, dataset, hp=hp, is_random=False)
        except AssertionError:
            raise ValueError(
                f"NATS-Bench release {self.nats_dir!r} holds no record of network {index} "
                f"({self.space.channel_string(arch)}); point --nats_dir at the full release"
            ) from None

    def reward(self, arch: Architecture, run: int = 0) -> float:
        del run  # the 12-epoch runs of one seed, as the NATS-Bench paper searched
        return self._info(arch, self._valid_name, "12")["valid-accuracy"]

    mean_reward = reward

    def test_accuracy(self, arch: Architecture) -> float:
        return self._info(arch, self.dataset, "90")["test-accuracy"]

    held_out_score = NATSTable.held_out_score

    def train_seconds(self, arch: Architecture) -> float:
        info = self._info(arch, self._valid_name, "12")
        return info["train-all-time"] + info["valid-per-time"]


def open_nats(dataset: str, table: Optional[str] = None, nats_dir: Optional[str] = None):
    """The NATS-Bench reward source a user points at: a CSV table or the official release."""
    if (table is None) == (nats_dir is None):
        raise ValueError("give exactly one of --table (CSV) or --nats_dir (official NATS-Bench release)")
    return NATSTable(table, dataset) if table is not None else NATSOfficial(nats_dir, dataset)


class NASBenchMacro:
    """NAS-Bench-Macro's JSON (`nas-bench-macro_cifar10.json`): every network trained three times.

    Its README's noisy protocol: search run `r` sees the accuracy of training
    `r % 3` as a network's reward (there is no validation column); the answer is
    scored by the mean of the three.
    """

    name = "nas_bench_macro"
    dataset = "cifar10"

    def __init__(self, path: str):
        try:
            with open(path) as f:
                records = json.load(f)
        except OSError as e:
            raise ValueError(f"NAS-Bench-Macro table {path!r} cannot be read ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"NAS-Bench-Macro table {path!r} is not JSON ({e.msg}, line {e.lineno})") from None
        try:
            flops = {key: int(r["flops"]) for key, r in records.items()}
            params = {key: int(r["params"]) for key, r in records.items()}
            self._runs = {key: [float(a) for a in r["test_acc"]] for key, r in records.items()}
            self._mean = {key: float(r["mean_acc"]) for key, r in records.items()}
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"NAS-Bench-Macro table {path!r} is not in the nas-bench-macro_cifar10.json format "
                             f"(each network needs test_acc, mean_acc, params, flops: {e!r})") from None
        self.path = path
        self.space = NASBenchMacroSpace(flops, params)
        if len(records) != self.space.size:
            raise ValueError(f"NAS-Bench-Macro table {path!r} has {len(records)} networks; the space has "
                             f"{self.space.size}")

    def reward(self, arch: Architecture, run: int = 0) -> float:
        runs = self._runs[self.space.key(arch)]
        return runs[run % len(runs)]

    def mean_reward(self, arch: Architecture) -> float:
        return self._mean[self.space.key(arch)]

    test_accuracy = mean_reward

    def held_out_score(self, arch: Architecture, run: int = 0) -> float:
        """The mean of the two trainings run `run` did not see (its score includes the one it saw)."""
        runs = self._runs[self.space.key(arch)]
        others = [a for i, a in enumerate(runs) if i != run % len(runs)]
        return sum(others) / len(others)

    def train_seconds(self, arch: Architecture) -> Optional[float]:
        """The table carries no training times."""
        del arch
        return None

    def missing(self) -> list[int]:
        return []


class RealTable:
    """Our own real-training table (`experiments/real_table.py`): every `tiny_cnn` network on `noisy_digits`,
    trained on this machine under several seeds, with its validation and test reward after every epoch.

    NAS-Bench-Macro's protocol: search run `r` sees seed `r % 3`'s validation reward (after the proxy's last
    epoch, or after `epochs` for a rung: a rung trains the first epochs of the same schedule); the answer is
    scored by the mean over the seeds of its final test reward. Rewards in percent, as the other tables'.

    `seeds`: which of the file's seeds make the benchmark (default the first 3, the issue's protocol). The file
    may hold more (a 4th was trained to see how far a verdict rests on which 3 seeds were drawn); with `seeds`
    given, run `r` sees `seeds[r % len(seeds)]` and the score is the mean over them.
    """

    name = "real_table"
    dataset = "noisy_digits"

    def __init__(self, path: Optional[str] = None, seeds: Optional[Sequence[int]] = None):
        from experiments import real_table  # pylint: disable=import-outside-toplevel  (its build imports more)

        import search_spaces  # pylint: disable=import-outside-toplevel

        self.path = path or real_table.TABLE
        self.seed_ids = tuple(range(real_table.SEEDS)) if seeds is None else tuple(seeds)
        if not self.seed_ids or min(self.seed_ids) < 0 or len(set(self.seed_ids)) < len(self.seed_ids):
            raise ValueError(f"the real table's seeds must be distinct seeds >= 0, at least one, not {list(seeds)}")
        self.epochs, self.seeds = real_table.EPOCHS, len(self.seed_ids)
        self.space = search_spaces.get("tiny_cnn", input_shape=(16, 16, 3), num_classes=10)
        rows: dict[str, dict[int, dict]] = {}
        for row in real_table.read(self.path):
            rows.setdefault(row["arch"], {}).setdefault(row["seed"], row)  # a seed trained twice: the first row
        self._val: dict[str, list[list[float]]] = {}
        self._test: dict[str, list[list[float]]] = {}
        self._seconds: dict[str, list[float]] = {}
        for arch, by_seed in rows.items():
            if all(s in by_seed for s in self.seed_ids):
                self._val[arch] = [[100 * v for v in by_seed[s]["val"]] for s in self.seed_ids]
                self._test[arch] = [[100 * v for v in by_seed[s]["test"]] for s in self.seed_ids]
                self._seconds[arch] = [by_seed[s]["train_seconds"] for s in self.seed_ids]
        absent = self.missing()
        if absent:
            needed = max(self.seed_ids) + 1
            raise ValueError(f"the real table {self.path} lacks {len(absent)} of {self.space.size} networks under all "
                             f"{self.seeds} seeds ({', '.join(map(str, self.seed_ids))}): python -m "
                             f"experiments.real_table build{'' if needed == real_table.SEEDS else f' --seeds={needed}'}"
                             " trains them")

    def reward(self, arch: Architecture, run: int = 0, epochs: Optional[int] = None) -> float:
        return self._val[str(arch)][run % self.seeds][(epochs or self.epochs) - 1]

    def mean_reward(self, arch: Architecture) -> float:
        return sum(v[-1] for v in self._val[str(arch)]) / self.seeds

    def test_accuracy(self, arch: Architecture) -> float:
        return sum(t[-1] for t in self._test[str(arch)]) / self.seeds

    def held_out_score(self, arch: Architecture, run: int = 0) -> Optional[float]:
        """The mean final test reward of the seeds run `run` did not see: trained apart from the one its reward
        came from, so a network picked for a lucky training of its seed gains nothing here."""
        others = [t[-1] for s, t in enumerate(self._test[str(arch)]) if s != run % self.seeds]
        return sum(others) / len(others) if others else None  # one seed: none held out

    def scored(self, arch: str, limit: float) -> dict:
        """A live search's answer as the table scores it: its mean test reward, its rank among the networks within
        `limit` MAdds by that score, their count and the best's score (the real-training benchmarks' verdict)."""
        feasible = sorted((a for a in self.space.all_architectures() if self.space.cost(a) <= limit),
                          key=self.test_accuracy, reverse=True)
        answer = self.space.parse(arch)
        if answer not in feasible:
            raise ValueError(f"{arch} costs {self.space.cost(answer):,} MAdds, over the budget's {limit:,.0f}: not an "
                             "answer")
        return {"answer": str(answer), "test": self.test_accuracy(answer), "rank": feasible.index(answer) + 1,
                "feasible": len(feasible), "best_test": self.test_accuracy(feasible[0])}

    def train_seconds(self, arch: Architecture) -> float:
        """Measured here: one CPU thread per training, all 12 epochs with both evaluations."""
        return sum(self._seconds[str(arch)]) / len(self._seconds[str(arch)])

    def missing(self) -> list[int]:
        return [i for i, a in enumerate(self.space.all_architectures()) if str(a) not in self._val]


def open_benchmark(benchmark: str, *, dataset: str = "cifar10", table: Optional[str] = None,
                   nats_dir: Optional[str] = None):
    """The benchmark a user names, read from where they point."""
    if benchmark == "real_table":
        if dataset not in ("cifar10", "noisy_digits"):  # cifar10: the other tables' default, not given
            raise ValueError(f"the real table has noisy_digits only, not --dataset={dataset}")
        return RealTable(table)
    if benchmark == "nats_sss":
        return open_nats(dataset, table=table, nats_dir=nats_dir)
    if benchmark == "nas_bench_macro":
        if table is None or nats_dir is not None:
            raise ValueError("--benchmark=nas_bench_macro reads --table=PATH (nas-bench-macro_cifar10.json)")
        if dataset != "cifar10":
            raise ValueError(f"NAS-Bench-Macro has cifar10 only, not --dataset={dataset}")
        return NASBenchMacro(table)
    raise ValueError(f"unknown benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
