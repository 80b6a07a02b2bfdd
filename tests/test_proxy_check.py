"""The proxy check: a few networks trained with the proxy's settings and longer ones, and their rank correlation."""

import json

import numpy as np
import pytest

import layernas_tf
from conftest import AdditiveSpace, command_in_process
from layernas_tf import proxy_check


def test_the_networks_checked_span_the_budget_and_are_feasible_and_distinct():
    space = AdditiveSpace()
    feasible = space.feasible_architectures(0, 20)
    chosen = proxy_check.networks_to_check(space, (0, 20), 6, seed=1)
    assert len(chosen) == len(set(chosen)) == 6 and set(chosen) <= set(feasible)
    assert space.cheapest() in chosen and max(feasible, key=space.cost) in chosen
    assert proxy_check.networks_to_check(space, (0, 20), 6, seed=1) == chosen
    large = AdditiveSpace(options=[(1, 2, 3)] * 12)  # too large to list: random feasible draws
    chosen = proxy_check.networks_to_check(large, (0, 24), 5)
    assert len(set(chosen)) == 5 and all(large.cost(a) <= 24 for a in chosen)


@pytest.mark.parametrize("args, message", [
    (["--networks=2"], "--networks=2: a rank correlation needs at least 3 networks"),
    (["--reference_epochs=1"], "is no longer training than the proxy"),
    (["--reference_epochs=0"], "--reference_epochs=0 is not a positive"),
    (["--inherit", "--proxy_epochs=4"], "--inherit=True: the proxy check trains each network from scratch"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    status, lines = command_in_process(proxy_check, capsys, "--space=nats_sss", "--params=600K", "--proxy_epochs=1",
                                       *args, f"--study_dir={tmp_path / 'check'}")
    assert status == 2 and len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "check").exists()


def _ranks(values):
    """Ranks from 1, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def test_ranks_average_ties():
    assert _ranks([0.5, 0.2, 0.5, 0.9]) == [2.5, 1.0, 2.5, 4.0]


@pytest.mark.slow
def test_a_proxy_is_checked_against_longer_training_by_local_workers_and_resumes(tmp_path):
    from test_keras_space import small_cnn  # pylint: disable=import-outside-toplevel

    space = layernas_tf.KerasSpace(small_cnn, input_shape=(16, 16, 3), num_classes=10)
    arguments = dict(space=space, madds=space.cost(space.dearest()), image_size=16, proxy_epochs=1, batch_size=64,
                     verbose=0, executor="local", parallel_trials=2, networks=4, reference_epochs=2,
                     study_dir=str(tmp_path / "check"))
    report = proxy_check.proxy_check(**arguments, log=lambda line: None)
    assert len(report["networks"]) == 4 and report["reference"] == {"epochs": 2, "image_size": 16}
    # The correlations are those of the rewards it lists (ranks computed here, ties averaged), and the cost ratio
    # is that of the seconds it lists. (Not that 1 epoch takes less than 2: on networks this small a training's
    # fixed start-up is most of it, and a loaded machine made the ratio 1.06 once; benchmarks measure costs.)
    proxy = [n["proxy"] for n in report["networks"]]
    reference = [n["reference"] for n in report["networks"]]
    if len(set(proxy)) > 1 and len(set(reference)) > 1:
        expected = np.corrcoef(_ranks(proxy), _ranks(reference))[0, 1]
        assert report["spearman"] == pytest.approx(expected, abs=1e-9)
    assert report["proxy_cost_ratio"] > 0 and all(n["proxy_seconds"] > 0 for n in report["networks"])
    assert report["proxy_cost_ratio"] == pytest.approx(
        sum(n["proxy_seconds"] for n in report["networks"]) / sum(n["reference_seconds"] for n in report["networks"]))
    assert json.loads((tmp_path / "check" / "proxy_check.json").read_text()) == report
    assert (tmp_path / "check" / "proxy_check.png").stat().st_size > 0
    lines = []
    again = proxy_check.proxy_check(**arguments, log=lines.append)
    assert again == report and not [line for line in lines if line.startswith("trial ")]


def _a_check(tmp_path):
    """A proxy check's settings over 4 networks of the additive space, for `_report` on rows the test makes."""
    from layernas_tf.config import SearchConfig  # pylint: disable=import-outside-toplevel

    space = AdditiveSpace()
    archs = [space.parse(a) for a in ("0:0:0:0", "1:1:1:1", "2:2:1:2", "0:3:0:2")]
    cfg = SearchConfig(space="additive", cost="madds", target=(0, 40), proxy_epochs=1, image_size=16,
                       study_dir=str(tmp_path / "check" / "proxy"))
    reference = SearchConfig(space="additive", cost="madds", target=(0, 40), proxy_epochs=4, image_size=16)
    return space, archs, cfg, reference


def row(reward):
    return {"status": "COMPLETE", "reward": reward, "metrics": {"train_seconds": 1.0}}


def test_a_proxy_that_scores_every_network_alike_is_explained_not_a_bare_nan(tmp_path, recwarn):
    space, archs, cfg, reference = _a_check(tmp_path)
    rows = {"proxy": {str(a): row(0.0972) for a in archs},
            "reference": {str(a): row(0.5 + 0.1 * i) for i, a in enumerate(archs)}}
    (tmp_path / "check").mkdir()
    lines = []
    report = proxy_check._report(cfg, reference, space, archs, rows, lines.append)  # pylint: disable=protected-access
    assert np.isnan(report["spearman"]) and np.isnan(report["kendall"])
    assert any("undefined: every network scored 0.0972 with the proxy training, so it ranks nothing" in line
               for line in lines)
    assert not [w for w in recwarn if "ConstantInput" in type(w.message).__name__]


@pytest.mark.parametrize("jitter, words", [(0.002, "the proxy ranks networks; seeds change little"),
                                           (0.03, "the proxy ranks roughly; differences under about"),
                                           (0.2, "the proxy does not rank: the seed moves a reward as much")])
def test_the_reward_variance_over_seeds_gets_a_verdict_in_words(tmp_path, jitter, words):
    space, archs, cfg, reference = _a_check(tmp_path)
    means = {str(a): 0.5 + 0.05 * i for i, a in enumerate(archs)}  # sd between networks 0.0645
    rows = {"proxy": {a: row(m - jitter) for a, m in means.items()},
            "reference": {a: row(m) for a, m in means.items()},
            "repeats": [{a: row(m + jitter) for a, m in means.items()}]}
    (tmp_path / "check").mkdir()
    lines = []
    report = proxy_check._report(cfg, reference, space, archs, rows, lines.append)  # pylint: disable=protected-access
    variance = report["variance"]
    assert variance["seeds"] == 2 and variance["noise_sd"] == pytest.approx(jitter * 2 ** 0.5)
    assert variance["between_sd"] == pytest.approx(np.std(list(means.values()), ddof=1))
    assert words in variance["verdict"] and any(words in line for line in lines)
    assert [e["proxy_seeds"] for e in report["networks"]] == [[m - jitter, m + jitter] for m in means.values()]


def test_the_proxy_search_picks_the_cheapest_candidate_that_ranks_as_the_reference_and_trains_no_dearer_one():
    """A fake objective whose ranking blurs as epochs fall: noise of sd 0.4/epochs on a quality spread over [0, 1]."""
    rng = np.random.default_rng(0)
    quality = {f"net{i}": q for i, q in enumerate(rng.uniform(0, 1, 12))}
    noise = {net: rng.normal(0, 1) for net in quality}  # each network's own error, shrinking with epochs
    candidates = [proxy_check.Proxy(e, 16) for e in (8, 1, 4, 2, 16)] + [proxy_check.Proxy(8, 16, 250)]
    trained = []

    def train(proxy):
        trained.append(proxy)
        return {net: q + 0.4 / proxy.epochs * noise[net] * (1000 / (proxy.train_examples or 1000))
                for net, q in quality.items()}

    chosen, tried = proxy_check.choose_proxy(candidates, quality, train, all_examples=1000, threshold=0.8)
    by_cost = sorted(candidates, key=lambda p: p.work(1000))
    assert [t["proxy"] for t in tried] == trained == by_cost[:len(trained)]  # cheapest first, stopped at the pass
    rhos = {p: proxy_check.spearman(train(p), quality) for p in by_cost}
    expected = next(p for p in by_cost if rhos[p] >= 0.8)
    assert chosen == expected and tried[-1] == {"proxy": expected, "spearman": rhos[expected], "passed": True}
    assert all(rhos[t["proxy"]] < 0.8 and not t["passed"] for t in tried[:-1]) and len(tried) > 1  # it had to search
    assert proxy_check.choose_proxy(candidates, quality, train, 1000, threshold=1.01)[0] is None


@pytest.mark.parametrize("args, message", [
    (["--proxies=3x16"], "'3x16' is not EPOCHS@SIZE or EPOCHS@SIZE/EXAMPLES"),
    (["--proxies=0@16"], "'0@16' needs positive epochs, size and examples"),
    (["--proxies=4@16", "--reference_epochs=4", "--reference_image_size=16"], "4@16 is no cheaper than the reference"),
    (["--proxies=1@16/99999"], "asks for 99999 training examples; the training split has 1293"),
    (["--proxies=1@16", "--min_spearman=1.5"], "min_spearman=1.5: give a rank correlation in (0, 1]"),
    (["--proxies=1@16", "--train_examples=500"], "a proxy search gives each candidate's examples in proxies"),
])
def test_a_bad_proxy_search_exits_2_with_one_line_before_anything_trains(tmp_path, capsys, args, message):
    status, lines = command_in_process(proxy_check, capsys, "--space=tiny_cnn", "--madds=300K", "--dataset=digits",
                                       "--image_size=16", "--reference_epochs=4", *args,  # --proxy_epochs: its default
                                       f"--study_dir={tmp_path / 'check'}")
    assert status == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "check").exists()


@pytest.mark.slow
def test_a_proxy_search_trains_the_reference_and_candidates_cheapest_first_and_resumes(tmp_path):
    from test_keras_space import small_cnn  # pylint: disable=import-outside-toplevel

    space = layernas_tf.KerasSpace(small_cnn, input_shape=(16, 16, 3), num_classes=10)
    arguments = dict(space=space, madds=space.cost(space.dearest()), batch_size=64, verbose=0, networks=4,
                     reference_epochs=3, image_size=16, proxies="1@16,1@8,2@16/600", min_spearman=0.01,
                     study_dir=str(tmp_path / "check"))
    report = proxy_check.proxy_search(**arguments, log=lambda line: None)
    tried = [t["proxy"] for t in report["tried"]]
    assert tried[0] == "1@8" and report["reference"] == {"epochs": 3, "image_size": 16}
    chosen = report["chosen"]
    assert chosen is None or (chosen["proxy"] == tried[-1] and report["tried"][-1]["passed"])
    assert all(t["cost_ratio"] > 0 for t in report["tried"])  # measured (how much cheaper is timing: benchmarks)
    assert set(tried) | set(report["untried"]) == {"1@16", "1@8", "2@16/600"}
    assert json.loads((tmp_path / "check" / "proxy_search.json").read_text()) == json.loads(json.dumps(report))
    lines = []
    again = proxy_check.proxy_search(**arguments, log=lines.append)
    assert not [line for line in lines if line.startswith("trial ")]  # nothing trained again
    assert json.dumps(again, sort_keys=True) == json.dumps(report, sort_keys=True)
