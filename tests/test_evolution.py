"""Regularized evolution: random population, then one-layer mutants of tournament winners."""

from layernas_tf.algorithms import RegularizedEvolution


def test_population_first_then_one_layer_mutations(nats_table_cifar10):
    space = nats_table_cifar10.space
    limit = 0.5 * space.cost(space.dearest())
    algo = RegularizedEvolution(space, limit, population_size=10, tournament_size=3, seed=0, max_trials=60)
    first = algo.suggest(20)
    assert len(first) == 10  # the rest waits until the population has rewards
    for trial in first:
        algo.report(trial.id, nats_table_cifar10.reward(trial.arch))
    while not algo.done:
        members = [algo.trials[i].arch for i in algo.population]
        for trial in algo.suggest(1):
            distances = [sum(a != b for a, b in zip(trial.arch, m)) for m in members]
            assert min(distances) == 1  # a one-layer mutant of a member of the current population
            assert trial.cost <= limit
            algo.report(trial.id, nats_table_cifar10.reward(trial.arch))
            assert len(algo.population) == 10
            assert algo.population[-1] == trial.id  # the newest joins, the oldest leaves
    mutants = 0
    for trial in algo.trials[10:]:
        earlier = [t.arch for t in algo.trials[: trial.id]]
        mutants += any(sum(a != b for a, b in zip(trial.arch, e)) == 1 for e in earlier)
    assert mutants == len(algo.trials) - 10


def test_failed_members_never_join_the_population(additive_space):
    algo = RegularizedEvolution(additive_space, 25, population_size=4, seed=2, max_trials=30)
    while not algo.done:
        for trial in algo.suggest(2):
            if trial.id % 3 == 0:
                algo.report_failure(trial.id, "OOM")
            else:
                algo.report(trial.id, float(trial.cost))
    assert algo.population and all(algo.trials[i].status == "COMPLETE" for i in algo.population)


def test_beats_its_random_start_on_nats_bench(nats_table_cifar10):
    space = nats_table_cifar10.space
    limit = 0.5 * space.cost(space.dearest())
    gains = []
    for seed in range(10):
        algo = RegularizedEvolution(space, limit, seed=seed, max_trials=200)
        while not algo.done:
            for trial in algo.suggest(1):
                algo.report(trial.id, nats_table_cifar10.reward(trial.arch))
        initial = max(t.reward for t in algo.trials[:10])
        gains.append(algo.best().reward - initial)
    assert min(gains) >= 0 and sum(gains) > 0
