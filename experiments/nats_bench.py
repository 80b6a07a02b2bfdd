r"""The paper's NATS-Bench size-space comparison: `experiments.benchmark` with --benchmark=nats_sss.

    python -m experiments.nats_bench --table=../shared/data/nats_sss/nats_sss_cifar.csv \
        --dataset=cifar10 --output_dir=runs/nats_bench_cifar10

Takes every flag of `python -m experiments.benchmark` and writes the same
`summary.json`, `summary.md` and `curves.png`.
"""

from __future__ import annotations

from experiments.benchmark import main
from layernas_tf import cli

if __name__ == "__main__":
    cli.run(main)
