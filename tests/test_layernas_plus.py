"""LayerNAS+ (the default search) and its reward model.

The ask/tell contract (restores, failures, no network twice, no stall) is checked
for every algorithm, this one included, in test_algorithms_base.py.
"""

import random

import numpy as np
import pytest

from layernas_tf import algorithms
from layernas_tf.algorithms import COMPLETE, LayerNAS, LayerNASPlus
from layernas_tf.algorithms.surrogate import AdditiveModel
from layernas_tf.core.space import ENUMERABLE
from conftest import AdditiveSpace, toy_reward


def run(algo, reward, batch=1):
    while not algo.done:
        for trial in algo.suggest(batch):
            algo.report(trial.id, reward(trial.arch))
    return algo


def pairwise_reward(arch):
    """Exactly what the model can express: an effect per option and per adjacent pair of options."""
    return sum((i + 1) * 0.3 * o - 0.1 * o * o for i, o in enumerate(arch)) + sum(
        0.05 * a * b for a, b in zip(arch, arch[1:]))


def test_the_model_recovers_a_reward_of_its_own_form_and_ranks_unseen_networks():
    space = AdditiveSpace()
    archs = list(space.all_architectures())
    rng = random.Random(0)
    seen = rng.sample(archs, 60)
    model = AdditiveModel([len(p) for p in space.decision_points], ridge=1e-6)
    for arch in seen:
        model.add(arch, pairwise_reward(arch))
    predicted = model.predict(model.columns(archs))
    truth = np.array([pairwise_reward(a) for a in archs])
    assert np.abs(predicted - truth).max() < 1e-3
    assert archs[int(np.argmax(predicted))] == max(archs, key=pairwise_reward)


def test_an_empty_model_predicts_zero_and_a_ridge_shrinks_towards_the_mean():
    model = AdditiveModel([2, 3])
    assert model.predict(model.columns([(0, 0), (1, 2)])).tolist() == [0.0, 0.0]
    model.add((1, 2), 10.0)
    model.add((0, 0), 0.0)
    low, high = model.predict(model.columns([(0, 0), (1, 2)]))
    assert 0.0 < low < 5.0 < high < 10.0


def _noisy_pairwise(arch):
    return pairwise_reward(arch) + (hash(tuple(arch)) % 97) / 970


@pytest.mark.parametrize("options, limit", [(((1, 2, 3), (0, 5, 10, 20), (1, 2), (0, 3, 6)), 20),
                                            ([(1, 2, 3)] * 7, 14), ([(1, 2, 3, 4)] * 6, 15)])
def test_without_max_trials_the_model_takes_the_place_of_layernas_children_never_adds_to_them(options, limit):
    space = AdditiveSpace(options=options)
    default = run(LayerNASPlus(space, limit), _noisy_pairwise)
    paper = run(LayerNAS(space, limit), _noisy_pairwise)
    assert len(default.trials) <= len(paper.trials) <= LayerNASPlus.trial_bound(space) == default.natural_bound
    assert default.best().reward >= paper.best().reward
    assert default.replaced == default._sources.count("m") and "r" not in default._sources  # no warm-up on top


def test_without_max_trials_the_search_is_the_same_whatever_order_results_come_back_in():
    """What it proposes depends on which trials are complete at a layer's end, not on when each came back:
    one worker or several, the same trials with the same rewards."""
    space = AdditiveSpace(options=[(1, 2, 3, 4)] * 6)
    one = run(LayerNASPlus(space, 15), _noisy_pairwise)
    assert one.replaced > 0
    algo, rng = LayerNASPlus(space, 15), random.Random(1)
    out = []
    while not algo.done:
        out += algo.suggest(rng.randint(1, 4))  # several workers, each asking when it is free
        rng.shuffle(out)
        for trial in out[: rng.randint(1, len(out))]:  # and results coming back in any order
            algo.report(trial.id, _noisy_pairwise(trial.arch))
            out.remove(trial)
    assert [(t.arch, t.reward) for t in algo.trials] == [(t.arch, t.reward) for t in one.trials]


def test_random_networks_come_first_then_the_model_and_layernas_share_the_trials():
    space = AdditiveSpace()
    limit = 15  # the default network (the dearest, 32) is over it
    algo = run(LayerNASPlus(space, limit, max_trials=40), toy_reward)
    assert space.cost(space.default()) > limit and algo.warmup == 5 and algo.lead == 3 * len(space)
    assert all(t.cost <= limit for t in algo.trials[:5]) and algo._sources[:5] == "rrrrr"
    assert algo.trials[algo._sources.index("l")].arch == space.default()
    assert abs(algo._from_model - algo.warmup - algo._from_layernas) <= algo.lead + 1
    assert len(algo.trials) <= algo.natural_bound
    paper = run(LayerNAS(space, limit), toy_reward)
    assert algo.best().reward >= paper.best().reward


def test_a_budget_is_spent_not_returned_and_ends_when_no_feasible_network_is_left():
    space = AdditiveSpace()
    limit = 20
    feasible = space.feasible_architectures(0, limit)
    alone = run(LayerNASPlus(space, limit), toy_reward)
    algo = run(LayerNASPlus(space, limit, max_trials=len(alone.trials) + 10), toy_reward)
    assert len(algo.trials) == len(alone.trials) + 10
    everything = run(LayerNASPlus(space, limit, max_trials=10_000), toy_reward)
    trained = {space.canonical(t.arch) for t in everything.trials if t.cost <= limit}
    assert trained == set(feasible)
    assert everything.best().reward == max(toy_reward(a) for a in feasible)


def test_the_model_finds_the_best_network_of_its_kind_of_reward_before_random_search_would():
    space = AdditiveSpace(options=[(1, 2, 3)] * 7)  # 2,187 networks
    limit = 14
    feasible = space.feasible_architectures(0, limit)
    best = max(feasible, key=pairwise_reward)
    algo = run(LayerNASPlus(space, limit, max_trials=40), pairwise_reward)
    assert algo.best().arch == best
    assert len(feasible) > 5 * 40


def test_in_a_space_too_large_to_list_proposals_are_new_feasible_networks_near_the_best():
    space = AdditiveSpace(options=[(1, 2, 3)] * 12)  # 531,441 networks
    assert space.size > ENUMERABLE and space.feasible_architectures(0, 24) is None
    limit = 24
    algo = run(LayerNASPlus(space, limit, max_trials=80), pairwise_reward)
    networks = [t.arch for t in algo.trials]
    assert len(set(networks)) == len(networks) == 80
    modelled = [t for t in algo.trials if algo._sources[t.id] == "m"]  # the model's own picks
    assert modelled and all(t.cost <= limit for t in modelled)
    randomly = run(algorithms.RandomSearch(space, limit, max_trials=80), pairwise_reward)
    assert algo.best().reward > randomly.best().reward


@pytest.mark.parametrize("favoured", ["m", "l"])
def test_the_source_that_found_the_best_network_runs_up_to_lead_trials_ahead_of_its_share(favoured):
    space = AdditiveSpace(options=[(1, 2, 3)] * 7)
    algo = LayerNASPlus(space, space.cost(space.dearest()), max_trials=40, lead=6)
    while not algo.done:  # every network of the favoured source beats every other one
        for trial in algo.suggest(1):
            algo.report(trial.id, 1.0 + trial.id if algo._sources[trial.id] == favoured else 0.0)
    after = algo._sources[algo.warmup:]
    other = "l" if favoured == "m" else "m"
    assert 5 <= after.count(favoured) - after.count(other) <= 7
    assert favoured * 6 in after and favoured * 8 not in after and other * 2 not in after


def test_settings_are_checked_and_recorded(additive_space):
    with pytest.raises(ValueError, match="0 < model_share < 1"):
        LayerNASPlus(additive_space, 20, model_share=1.0)
    with pytest.raises(ValueError, match="lead >= 0"):
        LayerNASPlus(additive_space, 20, lead=-1)
    algo = LayerNASPlus(additive_space, 20, model_share=1 / 3, warmup=2, lead=0, ridge=0.5, samples=8)
    assert {"model_share": 1 / 3, "warmup": 2, "lead": 0, "ridge": 0.5, "samples": 8}.items() <= algo.config().items()
    run(algo, toy_reward)
    assert (algo._from_model - 2) * 2 <= algo._from_layernas + 2
    assert all(t.status == COMPLETE for t in algo.trials)


def test_with_a_budget_no_larger_than_its_warmup_it_is_random_search(additive_space):
    for budget in (1, 3, 5):
        plus = run(LayerNASPlus(additive_space, 20, max_trials=budget, seed=7), toy_reward)
        randomly = run(algorithms.RandomSearch(additive_space, 20, max_trials=budget, seed=7), toy_reward)
        assert [t.arch for t in plus.trials] == [t.arch for t in randomly.trials]


def test_it_is_the_default_and_layerwise():
    assert algorithms.DEFAULT == "layernas_plus"
    assert algorithms.layerwise("layernas_plus") and algorithms.layerwise("layernas")
    assert not algorithms.layerwise("random")


def test_layernas_keeps_closing_layers_while_the_models_trials_are_always_out(additive_space):
    """Two workers, results back oldest first, so some trial is always training: LayerNAS must still move on."""
    algo = LayerNASPlus(additive_space, 20, max_trials=40)
    out = list(algo.suggest(2))
    while out:
        trial = out.pop(0)
        algo.report(trial.id, toy_reward(trial.arch))
        out += algo.suggest(2 - len(out))
    assert len(algo.layer_log) >= 3 and algo._from_layernas >= 10
