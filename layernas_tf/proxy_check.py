r"""Does the proxy rank networks as longer training does? Check it before a long search.

    python -m layernas_tf.proxy_check --space=mbv3_small --madds=2.1M --decisions=skip --dataset=digits \
        --image_size=32 --proxy_epochs=1 --networks=8 --reference_epochs=5 [--reference_image_size=N] \
        [--proxy_seeds=2]

Every search flag of `main` means what it means there (the proxy is `--proxy_epochs`
at `--image_size`, on `--train_examples` if given). A handful of networks of the
space within the budget (`--networks`: the default when feasible, the cheapest and
the dearest feasible, then random feasible ones) train twice, with the proxy settings
and with the reference's (`--reference_epochs`, default four times the proxy's, at
`--reference_image_size`, default the proxy's). The proxy trains under `--proxy_seeds`
seeds (2): each network's spread over them against the spread between networks is its
reward variance, judged in words (Vertex AI NAS asks for both checks before a search).
It prints each network's rewards, Spearman's and Kendall's rank correlation between
proxy and reference, the variance's verdict and what a proxy trial costs against a
reference one, and writes `proxy_check.json` and `proxy_check.png` into
`--study_dir`. Each side is a study of its own (`STUDY_DIR/proxy`,
`STUDY_DIR/reference`) run by the search's runner, so any executor trains it, a
stopped check resumes without retraining, and Google's advice for Vertex AI NAS
(check the proxy task against full training before searching) costs one command.

With `--proxies=EPOCHS@SIZE[/EXAMPLES],...` it searches for the proxy, as Vertex AI
NAS's proxy-task search does: the candidates train the same networks cheapest first
(by epochs x pixels x examples), each in a study of its own, until one ranks them as
the reference does, Spearman >= `--min_spearman` (0.8: the agreement between two
seeds of the same full training that our real-training table meets, 0.875-0.890; a
proxy that ranks worse than a second seed loses order the seed does not). It reports
every candidate tried, with its Spearman and its measured cost against the reference,
and the cheapest that passed (`proxy_search.json`); a rerun trains nothing already
trained.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from typing import Any, Callable, Optional, Sequence

import layernas_tf.quiet  # pylint: disable=unused-import,ungrouped-imports  (first: TensorFlow starts quietly)

import numpy as np  # pylint: disable=wrong-import-order
from absl import flags, logging  # pylint: disable=wrong-import-order
from scipy import stats  # pylint: disable=wrong-import-order

from layernas_tf import api, cli, main
from layernas_tf.algorithms import Listed, RandomSearch
from layernas_tf.config import check_positive, check_study_dir
from layernas_tf.core.space import Architecture, SearchSpace
from layernas_tf.core.noise import reward_variance
from layernas_tf.core.status import COMPLETE
from layernas_tf.core.units import label
from layernas_tf.reports import _pyplot, _save_figure, write_json
from layernas_tf.trials import executors, stopping
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.study import Study, StudyLocked, StudyMismatch

REPORT, PLOT, SEARCH_REPORT = "proxy_check.json", "proxy_check.png", "proxy_search.json"
# The least Spearman between a proxy and the reference a proxy search accepts (see the module's docstring).
MIN_SPEARMAN = 0.8


@dataclasses.dataclass(frozen=True)
class Proxy:
    """A proxy setting: `epochs` at `image_size`, on `train_examples` training examples (None: all)."""

    epochs: int
    image_size: int
    train_examples: Optional[int] = None

    def work(self, all_examples: int) -> float:
        """Its training work relative to one epoch of one pixel over the whole split: what "cheapest" orders by."""
        return self.epochs * self.image_size ** 2 * (self.train_examples or all_examples)

    def __str__(self) -> str:
        return f"{self.epochs}@{self.image_size}" + (f"/{self.train_examples}" if self.train_examples else "")


def parse_proxies(text: str) -> list[Proxy]:
    """`EPOCHS@SIZE[/EXAMPLES],...` as proxies; ValueError naming the bad one."""
    proxies = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            head, _, examples = part.partition("/")
            epochs, size = head.split("@")
            proxy = Proxy(int(epochs), int(size), int(examples) if examples else None)
        except ValueError:
            raise ValueError(f"proxies={text}: {part!r} is not EPOCHS@SIZE or EPOCHS@SIZE/EXAMPLES (as 3@16 or "
                             "2@12/500)") from None
        if min(proxy.epochs, proxy.image_size, proxy.train_examples or 1) < 1:
            raise ValueError(f"proxies={text}: {part!r} needs positive epochs, size and examples")
        proxies.append(proxy)
    if not proxies:
        raise ValueError(f"proxies={text!r}: give at least one EPOCHS@SIZE")
    return proxies


def rank_correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman and Kendall between paired rewards; nan when either side is constant or fewer than 3 pairs (SciPy
    would warn and answer nan for a constant: the callers say why instead)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan"), float("nan")
    return float(stats.spearmanr(x, y).statistic), float(stats.kendalltau(x, y).statistic)


def spearman(proxy: dict[str, float], reference: dict[str, float]) -> float:
    """Spearman between two sides' rewards over the networks both have (`rank_correlations`)."""
    shared = [a for a in reference if a in proxy]
    return rank_correlations([proxy[a] for a in shared], [reference[a] for a in shared])[0]


def choose_proxy(candidates: list[Proxy], reference: dict[str, float], train: Callable[[Proxy], dict[str, float]],
                 all_examples: int, threshold: float = MIN_SPEARMAN) -> tuple[Optional[Proxy], list[dict[str, Any]]]:
    """The cheapest candidate whose rewards rank the networks as `reference` does (Spearman >= `threshold`).

    Candidates train cheapest first (`Proxy.work`), `train(proxy)` giving each network's reward, and the search
    stops at the first that passes, so none dearer is trained. Returns it (None when none passes) and what was
    tried, in order, each with its Spearman.
    """
    tried = []
    for proxy in sorted(candidates, key=lambda p: (p.work(all_examples), p.epochs)):
        rho = spearman(train(proxy), reference)
        tried.append({"proxy": proxy, "spearman": rho, "passed": bool(rho >= threshold)})
        if rho >= threshold:
            return proxy, tried
    return None, tried
_DRAWS = 2000  # random feasible draws in a space too large to list, for the dearest feasible network


def networks_to_check(space: SearchSpace, target: tuple[float, float], count: int, seed: int = 0) -> list[Architecture]:
    """The default (when feasible), the cheapest and the dearest feasible network, then random feasible ones."""
    sampler = RandomSearch(space, target, seed=seed)
    chosen: dict[Architecture, None] = {}
    listing = space.feasible_architectures(*target)
    if listing is not None:
        feasible = list(listing)
    else:
        feasible = []
        for _ in range(_DRAWS):
            arch = space.random(sampler.rng)
            if sampler.feasible(arch):
                feasible.append(space.canonical(arch))
    if not feasible:
        raise ValueError(f"no network of {space.name} within the budget was found to check")
    for arch in (space.default(), space.cheapest()):
        if sampler.feasible(arch):
            chosen.setdefault(space.canonical(arch), None)
    chosen.setdefault(max(feasible, key=space.cost), None)
    rng = random.Random(seed)
    rest = [a for a in dict.fromkeys(feasible) if a not in chosen]
    rng.shuffle(rest)
    for arch in rest[: max(0, count - len(chosen))]:
        chosen[arch] = None
    return list(chosen)[:count]


def train_networks(prepared: api.Prepared, archs: list[Architecture], log: Callable[[str], None]) -> dict[str, dict]:
    """Trains `archs` with `prepared`'s settings in its own study (resumed: a network trained is not trained again);
    returns each network's row by its string. The proxy check's sides; `benchmarks/inherit.py`'s from-scratch side."""
    cfg = prepared.config
    algorithm = Listed(prepared.space, cfg.target, archs, seed=cfg.seed)
    study = Study(cfg.study_dir, {**cfg.study_settings(), "algorithm": algorithm.config()})
    executor = None
    try:
        with stopping.sigterm_stops():
            executor = api.make_executor(prepared)
            at = f"at {cfg.size_label()}"
            Runner(study, algorithm, executor, retries=cfg.trial_retries, expected_trials=len(archs), log=log,
                   format_cost=lambda c: f"{label(cfg.cost, c)} {at}").run()
        return {row["arch"]: row for row in study.trials()}
    finally:
        if executor is not None:
            executor.close()
        study.close()


@dataclasses.dataclass
class Plan:
    """A checked proxy check: the proxy's and the reference's settings and the networks both train; `repeats`: the
    proxy again under further seeds (its reward variance)."""

    proxy: api.Prepared
    reference: api.Prepared
    networks: list[Architecture]
    repeats: list[api.Prepared] = dataclasses.field(default_factory=list)


def variance_verdict(noise: float, spread: float) -> str:
    """In words: whether a network's spread over seeds (`noise`, the mean of its sd) is small against the spread
    between the networks' means (`spread`, their sd): what Vertex AI NAS asks of a proxy before a search."""
    ratio = noise / spread if spread > 0 else float("inf")
    head = (f"a network's reward moves by {noise:.4f} (sd over seeds) against {spread:.4f} between networks "
            f"(sd of their means), ratio {ratio:.2f}: ")
    if ratio < 0.5:
        return head + "the proxy ranks networks; seeds change little"
    if ratio < 1:
        return head + (f"the proxy ranks roughly; differences under about {2 * noise:.4f} are noise (a longer proxy "
                       "or a larger validation split sharpens it)")
    return head + ("the proxy does not rank: the seed moves a reward as much as the network does; train longer, on "
                   "more validation data, or check another setting")


def proxy_check(*, log: Callable[[str], None] = print, **arguments: Any) -> dict[str, Any]:
    """Trains a few networks with the proxy settings and the reference's; returns the report it writes.

    Takes `plan()`'s arguments.
    """
    return run_plan(plan(log=log, **arguments), log=log)


def plan(*, networks: int = 8, reference_epochs: Optional[int] = None, reference_image_size: Optional[int] = None,
         proxy_seeds: int = 2, log: Callable[[str], None] = print, **arguments: Any) -> Plan:
    """Checks everything and picks the networks; nothing is trained or written.

    Takes `layernas_tf.search()`'s arguments for the proxy (space, budget, data, proxy_epochs, image_size,
    train_examples, executor, study_dir for the check's files, ...); the reference trains on the whole
    training split, `reference_epochs` (default 4x the proxy's) at `reference_image_size` (default the proxy's).
    The proxy trains under `proxy_seeds` seeds (the search's, then the next ones): each network's spread over
    them against the spread between networks is the proxy's reward variance (1: not checked).

    Raises:
      ValueError: a bad argument, or a reference no longer or larger than the proxy.
    """
    check_positive("networks", networks)
    check_positive("proxy_seeds", proxy_seeds)
    check_positive("reference_epochs", reference_epochs)
    check_positive("reference_image_size", reference_image_size)
    if networks < 3:
        raise ValueError(f"networks={networks}: a rank correlation needs at least 3 networks")
    if arguments.get("inherit"):
        raise ValueError("inherit=True: the proxy check trains each network from scratch, so it would not measure "
                         "inherited training (benchmarks/inherit.py ranks that against the real table)")
    prepared = api.prepare(log=log, **arguments)
    cfg = prepared.config
    root = cfg.study_dir if arguments.get("study_dir") else f"{cfg.study_dir}_proxy_check"
    reference = dataclasses.replace(cfg, proxy_epochs=reference_epochs or 4 * cfg.proxy_epochs,
                                    image_size=reference_image_size or cfg.image_size,
                                    study_dir=os.path.join(root, "reference"), train_examples=None)
    if reference.proxy_epochs <= cfg.proxy_epochs and reference.image_size <= cfg.image_size and (
            cfg.train_examples is None):
        raise ValueError(f"reference_epochs={reference.proxy_epochs} at reference_image_size={reference.image_size} "
                         f"is no longer training than the proxy (proxy_epochs={cfg.proxy_epochs} at "
                         f"image_size={cfg.image_size}): give a longer or larger reference")
    proxy = dataclasses.replace(cfg, study_dir=os.path.join(root, "proxy"))
    for side in (proxy, reference):
        check_study_dir(side.study_dir)
    repeats = [dataclasses.replace(proxy, seed=cfg.seed + k, study_dir=os.path.join(root, f"proxy_seed{k}"))
               for k in range(1, proxy_seeds)]
    for side in repeats:
        check_study_dir(side.study_dir)
    archs = networks_to_check(prepared.space, cfg.target, networks, cfg.seed)
    return Plan(dataclasses.replace(prepared, config=proxy), dataclasses.replace(prepared, config=reference), archs,
                [dataclasses.replace(prepared, config=c) for c in repeats])


def run_plan(checked: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains both sides (resuming what a stopped check kept) and writes the report."""
    cfg, reference, space = checked.proxy.config, checked.reference.config, checked.proxy.space
    part = f" on {checked.proxy.dataset.sizes['train']} training examples" if cfg.train_examples else ""
    log(f"proxy check of {len(checked.networks)} networks of {space.name}: proxy {cfg.proxy_epochs} epoch(s) at "
        f"{cfg.image_size}x{cfg.image_size}{part}, reference {reference.proxy_epochs} epoch(s) at "
        f"{reference.image_size}x{reference.image_size}; in {os.path.dirname(cfg.study_dir)}")
    rows: dict[str, Any] = {}
    for name, side in (("proxy", checked.proxy), ("reference", checked.reference)):
        log(f"\n-- {name}: {side.config.proxy_epochs} epoch(s) at {side.config.image_size}x{side.config.image_size}")
        rows[name] = train_networks(side, checked.networks, log)
    rows["repeats"] = []
    for side in checked.repeats:
        log(f"\n-- proxy again, seed {side.config.seed}: its reward variance")
        rows["repeats"].append(train_networks(side, checked.networks, log))
    return _report(cfg, reference, space, checked.networks, rows, log)


def proxy_search(*, log: Callable[[str], None] = print, **arguments: Any) -> dict[str, Any]:
    """Finds the cheapest of `proxies` that ranks the networks as the reference does; returns the report it writes.

    Takes `search_plan()`'s arguments.
    """
    return run_search(*search_plan(log=log, **arguments), log=log)


def search_plan(*, proxies: "str | list[Proxy]", min_spearman: float = MIN_SPEARMAN,
                log: Callable[[str], None] = print, **arguments: Any) -> tuple[Plan, list[Proxy], float]:
    """Checks a proxy search: `plan()`'s arguments (the reference, the networks, where it runs) and `proxies` as
    `parse_proxies` reads them, each giving its own epochs, image size and training examples. Trains nothing.

    Raises:
      ValueError: a bad argument.
    """
    candidates = parse_proxies(proxies) if isinstance(proxies, str) else list(proxies)
    if not 0 < min_spearman <= 1:
        raise ValueError(f"min_spearman={min_spearman}: give a rank correlation in (0, 1]")
    if arguments.get("train_examples") is not None:
        raise ValueError("train_examples: a proxy search gives each candidate's examples in proxies (EPOCHS@SIZE/N)")
    if not candidates:
        raise ValueError("proxies: give at least one EPOCHS@SIZE")
    # The flags' own proxy is not one of the candidates (each gives its epochs, size and examples): 1 epoch keeps
    # plan's check of it out of the way, the candidates are checked against the reference below. The reference
    # defaults to four times the longest candidate, as a proxy check's to four times its proxy.
    arguments["proxy_epochs"] = 1
    if arguments.get("reference_epochs") is None:
        arguments["reference_epochs"] = 4 * max(p.epochs for p in candidates)
    checked = plan(proxy_seeds=1, log=log, **arguments)
    reference, all_examples = checked.reference.config, checked.proxy.dataset.sizes["train"]
    full = Proxy(reference.proxy_epochs, reference.image_size)
    for proxy in candidates:
        if proxy.train_examples is not None and proxy.train_examples > all_examples:
            raise ValueError(f"proxies: {proxy} asks for {proxy.train_examples} training examples; the training split "
                             f"has {all_examples}")
        if proxy.work(all_examples) >= full.work(all_examples):
            raise ValueError(f"proxies: {proxy} is no cheaper than the reference ({full}): give shorter, smaller or "
                             "fewer-example proxies, or a longer reference (reference_epochs)")
    return checked, candidates, min_spearman


def run_search(checked: Plan, candidates: list[Proxy], threshold: float,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains the reference, then the candidates cheapest first until one passes; writes `proxy_search.json`."""
    cfg, reference, space = checked.proxy.config, checked.reference.config, checked.proxy.space
    root, all_examples = os.path.dirname(cfg.study_dir), checked.proxy.dataset.sizes["train"]
    log(f"proxy search over {len(candidates)} candidate(s) on {len(checked.networks)} networks of {space.name}: "
        f"the cheapest whose Spearman with the reference ({reference.proxy_epochs} epoch(s) at "
        f"{reference.image_size}x{reference.image_size}) is at least {threshold}; in {root}")
    log(f"\n-- reference: {reference.proxy_epochs} epoch(s) at {reference.image_size}x{reference.image_size}")
    reference_rows = train_networks(checked.reference, checked.networks, log)

    def completed(rows):
        return {a: r for a, r in rows.items() if r["status"] == COMPLETE}

    reference_done = completed(reference_rows)
    trained: dict[Proxy, dict[str, dict]] = {}

    def train(proxy: Proxy) -> dict[str, float]:
        side = dataclasses.replace(cfg, proxy_epochs=proxy.epochs, image_size=proxy.image_size,
                                   train_examples=proxy.train_examples,
                                   study_dir=os.path.join(root, f"proxy_{proxy.epochs}ep_{proxy.image_size}px_"
                                                                f"{proxy.train_examples or 'all'}"))
        check_study_dir(side.study_dir)
        log(f"\n-- candidate {proxy}: {proxy.epochs} epoch(s) at {proxy.image_size}x{proxy.image_size} on "
            f"{proxy.train_examples or all_examples} training examples")
        trained[proxy] = completed(train_networks(dataclasses.replace(checked.proxy, config=side), checked.networks,
                                                  log))
        return {a: r["reward"] for a, r in trained[proxy].items()}

    chosen, tried = choose_proxy(candidates, {a: r["reward"] for a, r in reference_done.items()}, train,
                                 all_examples, threshold)
    for entry in tried:
        rows = trained[entry["proxy"]]
        shared = [a for a in rows if a in reference_done]
        entry["cost_ratio"] = (sum(rows[a]["metrics"].get("train_seconds") or 0 for a in shared)
                               / max(1e-9, sum(reference_done[a]["metrics"].get("train_seconds") or 0 for a in shared)))
    log(f"\n{'proxy':<14} {'Spearman':>9} {'cost':>7}")
    for entry in tried:
        log(f"{str(entry['proxy']):<14} {entry['spearman']:>9.3f} {entry['cost_ratio']:>6.2f}x"
            + ("  <- chosen" if entry["proxy"] == chosen else ""))
    untried = [str(p) for p in candidates if p not in trained]
    if chosen is None:
        log(f"\nno candidate ranks the networks as the reference does (Spearman >= {threshold}): a longer proxy, a "
            "larger image or more examples may; or check the reference's own noise (--proxy_seeds)")
    else:
        entry = next(e for e in tried if e["proxy"] == chosen)
        log(f"\nchosen: {chosen} (--proxy_epochs={chosen.epochs} --image_size={chosen.image_size}"
            + (f" --train_examples={chosen.train_examples}" if chosen.train_examples else "")
            + f"): Spearman {entry['spearman']:.3f} with the reference, {entry['cost_ratio']:.2f}x its training time"
            + (f"; dearer candidates not trained: {', '.join(untried)}" if untried else ""))
    report = {
        "space": space.name, "target": list(cfg.target), "cost": cfg.cost, "threshold": threshold,
        "reference": {"epochs": reference.proxy_epochs, "image_size": reference.image_size},
        "networks": [str(a) for a in checked.networks],
        "tried": [{**dataclasses.asdict(e["proxy"]), "proxy": str(e["proxy"]), "spearman": e["spearman"],
                   "cost_ratio": e["cost_ratio"], "passed": e["passed"]} for e in tried],
        "untried": untried,
        "chosen": None if chosen is None else {**dataclasses.asdict(chosen), "proxy": str(chosen)},
    }
    write_json(os.path.join(root, SEARCH_REPORT), report)
    log(f"wrote {root}/{SEARCH_REPORT}")
    return report


def _report(cfg, reference, space, archs, rows, log) -> dict[str, Any]:
    directory = os.path.dirname(cfg.study_dir)
    entries = []
    for arch in archs:
        proxy_row, reference_row = rows["proxy"].get(str(arch)), rows["reference"].get(str(arch))
        if not (proxy_row and reference_row and proxy_row["status"] == reference_row["status"] == COMPLETE):
            continue
        repeated = [r.get(str(arch)) for r in rows.get("repeats", [])]
        if any(r is None or r["status"] != COMPLETE for r in repeated):
            continue
        entries.append({"arch": str(arch), "cost": space.cost(arch), "proxy": proxy_row["reward"],
                        "reference": reference_row["reward"],
                        "proxy_seconds": proxy_row["metrics"].get("train_seconds"),
                        "reference_seconds": reference_row["metrics"].get("train_seconds"),
                        **({"proxy_seeds": [proxy_row["reward"]] + [r["reward"] for r in repeated]}
                           if repeated else {})})
    if len(entries) < 3:
        raise ValueError(f"only {len(entries)} network(s) trained on both sides: a rank correlation needs 3")
    proxy_rewards, reference_rewards = [e["proxy"] for e in entries], [e["reference"] for e in entries]
    spearman, kendall = rank_correlations(proxy_rewards, reference_rewards)
    constant = [side for side, rewards in (("proxy", proxy_rewards), ("reference", reference_rewards))
                if len(set(rewards)) < 2]
    cost = (sum(e["proxy_seconds"] or 0 for e in entries) / max(1e-9, sum(e["reference_seconds"] or 0
                                                                            for e in entries)))
    report = {
        "space": space.name, "target": list(cfg.target), "cost": cfg.cost,
        "proxy": {"epochs": cfg.proxy_epochs, "image_size": cfg.image_size, "train_examples": cfg.train_examples},
        "reference": {"epochs": reference.proxy_epochs, "image_size": reference.image_size},
        "spearman": float(spearman), "kendall": float(kendall), "proxy_cost_ratio": cost, "networks": entries,
    }
    if rows.get("repeats"):
        by_seed = np.array([e["proxy_seeds"] for e in entries])  # networks x seeds
        noise, spread = reward_variance(by_seed)
        report["variance"] = {"seeds": by_seed.shape[1], "noise_sd": noise, "between_sd": spread,
                              "verdict": variance_verdict(noise, spread)}
    log(f"\n{'network':<24} {'cost':>12} {'proxy':>8} {'reference':>10}")
    for e in entries:
        log(f"{e['arch']:<24} {label(cfg.cost, e['cost']):>12} {e['proxy']:>8.4f} {e['reference']:>10.4f}")
    if constant:
        side = constant[0]
        value = (proxy_rewards if side == "proxy" else reference_rewards)[0]
        log(f"\nSpearman and Kendall undefined: every network scored {value:.4f} with the {side} training, so it "
            "ranks nothing (typically one class predicted for every image): train it longer, on more examples or "
            f"with another learning rate, and check again; a proxy trial costs {cost:.2f}x a reference one")
    else:
        log(f"\nSpearman {spearman:.3f}, Kendall {kendall:.3f} over {len(entries)} networks; a proxy trial costs "
            f"{cost:.2f}x a reference one in training time")
    if "variance" in report:
        log(f"reward variance over {report['variance']['seeds']} seeds: {report['variance']['verdict']}")
    write_json(os.path.join(directory, REPORT), report)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(proxy_rewards, reference_rewards, label=f"{len(entries)} networks")
    ax.set_xlabel(f"proxy reward ({cfg.proxy_epochs} epochs at {cfg.image_size}x{cfg.image_size})")
    ax.set_ylabel(f"reference reward ({reference.proxy_epochs} epochs at {reference.image_size}x{reference.image_size})")
    ax.set_title(f"{space.name}: Spearman {spearman:.2f}, Kendall {kendall:.2f}")
    _save_figure(plt, fig, ax, os.path.join(directory, PLOT))
    log(f"wrote {directory}/{REPORT} and {PLOT}")
    return report


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """`main`'s flags (the proxy and where it runs), and the reference's."""
    main.define_flags(values)
    flags.DEFINE_integer("networks", 8, "Networks to train with both settings (at least 3).", flag_values=values)
    flags.DEFINE_integer("reference_epochs", None, "Epochs of the reference training; default 4x --proxy_epochs (with "
                         "--proxies: 4x the longest candidate's).",
                         flag_values=values)
    flags.DEFINE_integer("reference_image_size", None, "Side the reference trains at; default --image_size.",
                         flag_values=values)
    flags.DEFINE_integer("proxy_seeds", 2, "Seeds the proxy trains under: each network's spread over them against "
                         "the spread between networks is the proxy's reward variance, with a verdict (1: none).",
                         flag_values=values)
    flags.DEFINE_string("proxies", None, "Search for the proxy: candidates EPOCHS@SIZE[/EXAMPLES],... trained "
                        "cheapest first until one's Spearman with the reference reaches --min_spearman.",
                        flag_values=values)
    flags.DEFINE_float("min_spearman", MIN_SPEARMAN, "The least Spearman with the reference a searched proxy needs "
                       "(0.8: as two seeds of the same training agree).", flag_values=values)


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    logging.set_verbosity(logging.WARNING)

    def log(line: str) -> None:
        print(cli.as_flags(line, values), flush=True)

    common = dict(networks=values.networks, reference_epochs=values.reference_epochs,
                  reference_image_size=values.reference_image_size, log=log, **main.arguments(values))
    try:
        if values.proxies is not None:
            with cli.bad_input():  # everything checked here, before the reference trains
                planned = search_plan(proxies=values.proxies, min_spearman=values.min_spearman, **common)
            run_search(*planned, log=log)
            return
        with cli.bad_input():
            checked = plan(proxy_seeds=values.proxy_seeds, **common)
        run_plan(checked, log=log)
    except KeyboardInterrupt as interrupt:
        log("\ninterrupted: the trials trained so far are kept; run the same command again to resume")
        sys.exit(stopping.exit_status(interrupt))
    except (StudyLocked, StudyMismatch) as e:
        cli.fail(e, values)
    except executors.WorkerSetupError as e:
        cli.fail(f"the trial workers could not start: {e}", values)


if __name__ == "__main__":
    cli.run(run, define_flags)
