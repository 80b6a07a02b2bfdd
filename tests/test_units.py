"""Budgets as people write them: parsed exactly, refused with the argument's name, shown as written."""

import pytest

from layernas_tf.core.units import human, label, parse_count, parse_latency, show


def test_counts_parse_with_units_and_refuse_what_is_not_a_finite_positive_count():
    assert parse_count("madds", "220M") == 220_000_000
    assert parse_count("madds", "0.22G") == 220_000_000
    assert parse_count("madds", "220000000") == 220_000_000
    assert parse_count("params", "2.5m") == 2_500_000
    assert parse_count("madds", 2.1e6) == 2_100_000
    for bad in ("abc", "220MB", "-5M", "0", "", "1e309", float("inf"), float("nan"), True, -3):
        with pytest.raises(ValueError, match="madds"):
            parse_count("madds", bad)


def test_latencies_parse_in_milliseconds():
    assert parse_latency("12ms") == 12 and parse_latency("0.012s") == 12 and parse_latency(12) == 12
    assert parse_latency("500us") == pytest.approx(0.5)
    for bad in ("fast", "0ms", "-1", float("inf"), "1e400"):
        with pytest.raises(ValueError, match="latency="):
            parse_latency(bad)


def test_costs_are_shown_as_budgets_are_written():
    assert human(2_090_000) == "2.09M" and human(220e6) == "220M" and human(1.2e9) == "1.2G" and human(512) == "512"
    assert show("latency", 12.5) == "12.5ms" and show("madds", 1.2e6) == "1.2M"
    assert label("params", 449_522) == "parameters 449.5K" and label("madds", 1.454e6) == "MAdds 1.454M"
