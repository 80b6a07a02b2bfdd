"""The ask/tell contract, checked for every algorithm."""

import json
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from conftest import AdditiveSpace, toy_reward
from layernas_tf import algorithms
from layernas_tf.algorithms import COMPLETE, FAILED, PENDING, Target

LIMIT_FRACTION = 0.5


def _limit(space):
    return LIMIT_FRACTION * space.cost(space.dearest())


def _fails(arch):
    return zlib.crc32(str(arch).encode()) % 11 == 0


def drive(algo, reward, *, batch=3, max_steps=10_000, restore_at=None):
    """Runs a search with a deterministic driver; optionally swaps in a restored copy mid-way.

    The snapshot is taken right after a suggestion, so trials are out while it is saved.
    """
    log = []
    for step in range(max_steps):
        if algo.done:
            break
        log += [(t.id, str(t.arch)) for t in algo.suggest(batch)]
        if step == restore_at:
            state = json.loads(json.dumps(algo.state_dict()))
            algo = algorithms.create(algo.name, algo.space, algo.target, **_settings(algo))
            algo.load_state_dict(state)
        for trial in reversed(algo.pending()):
            if _fails(trial.arch):
                algo.report_failure(trial.id, "diverged")
            else:
                algo.report(trial.id, reward(trial.arch))
    return log, algo


def _settings(algo):
    return {"seed": algo.seed, "max_trials": algo.max_trials}


@pytest.mark.parametrize("name", algorithms.names())
@pytest.mark.parametrize("restore_at", [0, 7, 40])
def test_restored_search_continues_trial_for_trial(name, restore_at, nats_table_cifar10):
    space = nats_table_cifar10.space
    make = lambda: algorithms.create(name, space, _limit(space), seed=3, max_trials=150)
    straight_log, straight = drive(make(), nats_table_cifar10.reward)
    resumed_log, resumed = drive(make(), nats_table_cifar10.reward, restore_at=restore_at)
    assert resumed_log == straight_log
    assert len(straight_log) > restore_at * 3
    assert resumed.best().arch == straight.best().arch
    assert resumed.state_dict() == straight.state_dict()


@pytest.mark.parametrize("name", algorithms.names())
def test_failed_trials_never_stall_a_search(name, nats_table_cifar10):
    space = nats_table_cifar10.space
    algo = algorithms.create(name, space, _limit(space), seed=1, max_trials=40)
    while not algo.done:
        trials = algo.suggest(4)
        assert trials or algo.done
        for t in trials:
            algo.report_failure(t.id, "out of memory")
    assert algo.best() is None
    assert all(t.status == FAILED and t.error == "out of memory" for t in algo.trials)
    assert len({t.arch for t in algo.trials}) == len(algo.trials)


@pytest.mark.parametrize("name", algorithms.names())
def test_every_trial_trains_a_new_network_and_the_answer_is_feasible(name, nats_table_cifar10):
    space = nats_table_cifar10.space
    limit = _limit(space)
    log, algo = drive(algorithms.create(name, space, limit, seed=0, max_trials=120), nats_table_cifar10.reward)
    archs = [a for _, a in log]
    assert len(archs) == len(set(archs)) == len(algo.trials) <= 120
    best = algo.best()
    assert best.cost <= limit
    feasible = [t for t in algo.trials if t.status == COMPLETE and t.cost <= limit]
    assert best.reward == max(t.reward for t in feasible)
    if not name.startswith("layernas"):  # LayerNAS trains the (infeasible) default network first, by design
        assert all(t.cost <= limit for t in algo.trials)


@pytest.mark.parametrize("name", algorithms.names())
def test_misuse_is_refused_with_a_clear_error(name, additive_space):
    algo = algorithms.create(name, additive_space, 20, seed=0)
    with pytest.raises(ValueError, match="n >= 1"):
        algo.suggest(0)
    (trial,) = algo.suggest(1)
    assert trial.status == PENDING and algo.pending() == [trial]
    with pytest.raises(ValueError, match="unknown trial id 5"):
        algo.report(5, 1.0)
    with pytest.raises(ValueError, match="not finite"):
        algo.report(trial.id, float("nan"))
    algo.report(trial.id, 1.0)
    with pytest.raises(ValueError, match="already reported"):
        algo.report_failure(trial.id, "late")
    other = algorithms.create(name, additive_space, 30, seed=0)
    with pytest.raises(ValueError, match="settings"):
        other.load_state_dict(algo.state_dict())


def test_create_names_the_valid_algorithms(additive_space):
    assert algorithms.names() == ["layernas", "layernas_plus", "random", "evolution", "reinforce", "controller"]
    with pytest.raises(ValueError, match="layernas, layernas_plus, random, evolution, reinforce, controller"):
        algorithms.create("bayesian", additive_space, 10)


@pytest.mark.parametrize("name", algorithms.names())
def test_a_saved_search_resumes_with_the_tuned_settings_it_began_with(name, additive_space):
    """Settings no flag sets (`tuned`) are measured anew between versions: a saved search's values are taken over
    (a study begun under earlier defaults resumes as it began, trial for trial); a setting given now wins; another
    algorithm's settings are ignored."""
    cls = algorithms.ALGORITHMS[name]
    fresh = algorithms.create(name, additive_space, 30, seed=0)
    assert set(cls.tuned) <= set(fresh.config())  # every tuned setting is saved with the search
    if not cls.tuned:  # LayerNAS's settings are all flags (H, k, rungs, inheritance); random search has none
        assert algorithms.create(name, additive_space, 30, seed=0, saved=fresh.config()).config() == fresh.config()
        return
    key = cls.tuned[0]
    value = fresh.config()[key]

    def other(step):
        return value + step if isinstance(value, int) else value / (step + 1)

    earlier = algorithms.create(name, additive_space, 30, seed=0, **{key: other(1)})
    for trial in earlier.suggest(3):
        earlier.report(trial.id, toy_reward(trial.arch))
    resumed = algorithms.create(name, additive_space, 30, seed=0, saved=earlier.config())
    assert resumed.config() == earlier.config() != fresh.config()
    resumed.load_state_dict(earlier.state_dict())
    assert [t.arch for t in resumed.suggest(2)] == [t.arch for t in earlier.suggest(2)]
    elsewhere = {**earlier.config(), "algorithm": "other"}
    assert algorithms.create(name, additive_space, 30, seed=0, saved=elsewhere).config() == fresh.config()
    given = {key: other(2)}
    assert algorithms.create(name, additive_space, 30, seed=0, saved=earlier.config(), **given).config()[key] \
        == given[key]


def test_target_forms():
    assert Target.of(5) == Target(5.0, 0.0)
    assert Target.of((2, 5)) == Target(5.0, 2.0)
    assert Target.of((2, 5)).feasible(2) and not Target.of((2, 5)).feasible(5.5)
    with pytest.raises(ValueError, match="t_min <= t_max"):
        Target.of((6, 5))


def test_algorithms_import_no_tensorflow():
    import subprocess
    import sys

    code = "import sys, layernas_tf.algorithms, search_spaces; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", algorithms.names())
def test_every_budget_the_space_carries_holds_for_the_answer(name):
    from layernas_tf.core.space import WithCost  # pylint: disable=import-outside-toplevel

    base = AdditiveSpace()
    layer_zero = WithCost(base, lambda arch: base.values(arch)[0] + base.values(arch)[2], "second")
    space = WithCost(base, base.cost, "first", budgets=[(layer_zero, 0, 3)])
    algo = algorithms.create(name, space, 30, seed=0, max_trials=40)
    while not algo.done:
        for trial in algo.suggest(2):
            if name == "layernas" and trial.id > 0:  # each child after the default can meet both budgets
                assert base.values(trial.arch)[0] + min(base.decision_points[2].options) <= 3
            algo.report(trial.id, toy_reward(trial.arch) + 100 * base.values(trial.arch)[0])
    best = algo.best()
    assert best is not None and space.within_budgets(best.arch) and best.cost <= 30
    assert base.values(best.arch)[0] + base.values(best.arch)[2] <= 3  # though wider first layers pay more
    allowed = [a for a in space.all_architectures() if space.within_budgets(a) and space.cost(a) <= 30]
    assert best.arch in allowed


def _drive(algo, steps, fails, batch):
    """Runs `algo` for up to `steps` ask/tell rounds; returns the (id, arch) pairs it suggested."""
    seen = []
    for _ in range(steps):
        if algo.done:
            break
        out = algo.suggest(batch)
        if not out:
            assert algo.pending(), f"{algo.name} stalled: nothing suggested, nothing out, not done"
        for trial in out:
            seen.append((trial.id, str(trial.arch)))
        for trial in algo.pending():
            if zlib.crc32(str(trial.arch).encode()) % 7 in fails:
                algo.report_failure(trial.id, "injected")
            else:
                algo.report(trial.id, toy_reward(trial.arch))
    return seen


class _SameValueSpace(AdditiveSpace):
    """Options of a layer with equal values build the same network, as widths that round alike do."""

    def canonical(self, arch):
        return type(arch)(p.options.index(p.options[i]) for p, i in zip(self.decision_points, arch))


@settings(max_examples=150, deadline=None)
@given(
    options=st.lists(st.lists(st.integers(0, 5), min_size=2, max_size=3), min_size=1, max_size=4),
    bounds=st.tuples(st.integers(0, 25), st.integers(1, 25)),
    name=st.sampled_from(algorithms.names()),
    fails=st.sets(st.integers(0, 6), max_size=3),
    batch=st.integers(1, 3),
    pause=st.integers(0, 12),
    seed=st.integers(0, 3),
)
def test_the_ask_tell_contract_holds_for_every_algorithm_on_any_small_space(options, bounds, name, fails, batch,
                                                                           pause, seed):
    space = _SameValueSpace(tuple(tuple(o) for o in options))
    t_min, t_max = min(bounds), max(bounds)
    make = lambda: algorithms.create(name, space, (t_min, t_max), seed=seed)  # noqa: E731
    algo = make()
    first = _drive(algo, pause, fails, batch)
    restored = make()
    restored.load_state_dict(json.loads(json.dumps(algo.state_dict())))
    steps = 4 * space.size + 50  # more than any search of this space can need: running out means a stall
    rest, rest_again = _drive(algo, steps, fails, batch), _drive(restored, steps, fails, batch)
    assert rest == rest_again  # a restored search continues trial for trial
    assert algo.done, f"{name} did not finish within {steps} rounds"
    networks = [str(space.canonical(space.parse(arch))) for _, arch in first + rest]
    assert len(networks) == len(set(networks))  # never the same network twice, whichever string comes up
    feasible = {str(space.canonical(a)) for a in space.all_architectures() if t_min <= space.cost(a) <= t_max}
    if not name.startswith("layernas"):  # the baselines train only feasible networks, and every one of them in the end
        assert set(networks) == feasible
    best = algo.best()
    assert best is None or (str(space.canonical(best.arch)) in feasible and best.status == COMPLETE)
