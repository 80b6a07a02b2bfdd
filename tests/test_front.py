"""The front: every budget's best network, cheapest first."""

from hypothesis import given, strategies as st

from layernas_tf.core.front import pareto_front


def test_front_keeps_only_networks_nothing_beats():
    points = [(0, 10, 0.5), (1, 5, 0.6), (2, 7, 0.6), (3, 3, 0.2), (4, 12, 0.9), (5, 12, 0.8), (6, 3, 0.2)]
    assert pareto_front(points) == [3, 1, 4]  # 0, 2, 5 are beaten; 6 ties 3 exactly and comes later


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_no_front_member_is_dominated_and_every_other_point_is(pairs):
    points = [(i, cost, reward) for i, (cost, reward) in enumerate(pairs)]
    front = pareto_front(points)
    costs = [pairs[i][0] for i in front]
    assert costs == sorted(costs)

    def beats(a, b):
        return a[1] <= b[1] and a[2] >= b[2] and (a[1], a[2]) != (b[1], b[2])

    for p in points:
        dominated = any(beats(q, p) for q in points)
        duplicate_of_earlier = any((q[1], q[2]) == (p[1], p[2]) and q[0] < p[0] for q in points)
        assert (p[0] in front) == (not dominated and not duplicate_of_earlier)
