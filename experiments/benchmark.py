r"""LayerNAS against random search, regularized evolution and REINFORCE on a tabular benchmark.

Every algorithm searches for the most accurate network under a MAdds limit (a
fraction of the largest network's), with rewards looked up in a benchmark table
instead of trained, many times over with different seeds. Every algorithm gets the
same number of trials: `--max_trials`, or by default as many as one LayerNAS
search takes. Search run r sees training r's reward where the benchmark trained
each network more than once (NAS-Bench-Macro: three times).

    python -m experiments.benchmark --benchmark=nats_sss --table=../shared/data/nats_sss/nats_sss_cifar.csv \
        --dataset=cifar10 --output_dir=runs/nats_bench_cifar10
    python -m experiments.benchmark --benchmark=nas_bench_macro \
        --table=../shared/data/nas_bench_macro/nas-bench-macro_cifar10.json --flops_fraction=0.25

Writes `summary.json` (with each algorithm's mean score after every 25 trials),
`summary.md` and `curves.png` to `--output_dir`. `python -m experiments.nats_bench`
is this command for NATS-Bench.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import tables
from experiments.comparison import TITLES, compare, summary_markdown
from layernas_tf import algorithms, cli, reports
from search_spaces import nats_sss

_BENCHMARK = flags.DEFINE_enum("benchmark", "nats_sss", list(tables.BENCHMARKS), "The tabular benchmark.")
_TABLE = flags.DEFINE_string(
    "table", None, "nats_sss: a CSV table in the nats_sss_cifar.csv format; nas_bench_macro: its JSON.")
_NATS_DIR = flags.DEFINE_string(
    "nats_dir", None, "Official NATS-Bench size-space release (needs the nats_bench package)."
)
_DATASET = flags.DEFINE_string(
    "dataset", "cifar10", f"nats_sss: one of {', '.join(nats_sss.DATASETS)}; nas_bench_macro: cifar10.")
_FLOPS_FRACTION = flags.DEFINE_float(
    "flops_fraction", 0.5, "MAdds limit as a fraction of the largest network's MAdds."
)
_RUNS = flags.DEFINE_integer("runs", 100, "Searches per algorithm, with seeds seed..seed+runs-1.")
_MAX_TRIALS = flags.DEFINE_integer(
    "max_trials", None, "Trials per search for every algorithm; default: as many as LayerNAS takes."
)
_TIME_BUDGET = flags.DEFINE_float(
    "time_budget", None, "Simulated training seconds per search (official release only; NATS-Bench's budget)."
)
_ALGORITHMS = flags.DEFINE_list("algorithms", algorithms.names(), f"Any of {', '.join(algorithms.names())}.")
_BUCKETS = flags.DEFINE_integer("buckets", 10, "LayerNAS: H, cost buckets per layer.")
_PER_BUCKET = flags.DEFINE_integer("per_bucket", 1, "LayerNAS: k, candidates kept per bucket.")
_CONTROLLER_BATCH = flags.DEFINE_integer(
    "controller_batch", 1, "RNN controller: networks per policy update (Zoph & Le's m); 1 compares at equal trials."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the first run.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where the summary and plot go; default runs/<benchmark>.")


def main(values):
    del values  # the module's flag holders read them
    with cli.bad_input():
        for name in _ALGORITHMS.value:
            if name not in algorithms.names():
                raise ValueError(f"unknown algorithm {name!r} in --algorithms; valid: {', '.join(algorithms.names())}")
        for flag, value in (("runs", _RUNS.value), ("max_trials", _MAX_TRIALS.value),
                            ("buckets", _BUCKETS.value), ("per_bucket", _PER_BUCKET.value),
                            ("controller_batch", _CONTROLLER_BATCH.value)):
            if value is not None and value < 1:
                raise ValueError(f"--{flag} must be a positive integer, got {value}")
        if not _FLOPS_FRACTION.value > 0:
            raise ValueError(f"--flops_fraction must be > 0 (0.5 is half the largest network), got {_FLOPS_FRACTION.value}")
        if _TIME_BUDGET.value is not None and _NATS_DIR.value is None:
            raise ValueError("--time_budget needs --nats_dir: the CSV table carries no training times")
        print(f"loading {_TABLE.value or _NATS_DIR.value} ({_DATASET.value})", flush=True)
        benchmark = tables.open_benchmark(_BENCHMARK.value, dataset=_DATASET.value, table=_TABLE.value,
                                          nats_dir=_NATS_DIR.value)
        space = benchmark.space
        largest = space.cost(space.dearest())
        limit = _FLOPS_FRACTION.value * largest
        cheapest = space.cost(space.cheapest())
        if cheapest > limit:
            raise ValueError(
                f"--flops_fraction={_FLOPS_FRACTION.value} (limit {limit:,.0f} MAdds) leaves no feasible network: "
                f"the cheapest costs {cheapest:,} MAdds, fraction {cheapest / largest:.4f} of the largest"
            )
        missing = benchmark.missing()
        if missing:
            raise ValueError(
                f"NATS-Bench release {_NATS_DIR.value!r} holds {space.size - len(missing)} of {space.size} networks "
                f"(no record of network {missing[0]}, ...); the exhaustive oracle needs the full release"
            )
        output_dir = _OUTPUT_DIR.value or os.path.join("runs", _BENCHMARK.value)
        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create --output_dir {output_dir!r}: {e.strerror}") from None
        if not os.access(output_dir, os.W_OK):
            raise ValueError(f"--output_dir {output_dir!r} is not writable")

    print(f"MAdds limit {limit:,.0f} ({_FLOPS_FRACTION.value} of {largest:,}); {_RUNS.value} runs per algorithm",
          flush=True)
    summary, curves = compare(
        benchmark, limit=limit, names=_ALGORITHMS.value, runs=_RUNS.value,
        max_trials=_MAX_TRIALS.value, seed=_SEED.value, time_budget=_TIME_BUDGET.value,
        buckets=_BUCKETS.value, per_bucket=_PER_BUCKET.value, controller_batch=_CONTROLLER_BATCH.value,
    )
    reports.write_json(os.path.join(output_dir, "summary.json"), summary)
    reports.write_atomic(os.path.join(output_dir, "summary.md"), summary_markdown(summary))
    reports.plot_curves(
        os.path.join(output_dir, "curves.png"), curves,
        title=f"{TITLES[_BENCHMARK.value]}, {summary['dataset']}, MAdds <= {_FLOPS_FRACTION.value:g} x largest",
        ylabel="test accuracy of the answer (%)", reference=summary["oracle"]["test"],
    )
    print(summary_markdown(summary))
    print(f"wrote {output_dir}/summary.json, summary.md, curves.png")


if __name__ == "__main__":
    cli.run(main)
