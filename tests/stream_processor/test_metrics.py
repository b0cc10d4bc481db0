"""Metrics: Prometheus series per view/store, and the periodic one-line summary."""

from __future__ import annotations

from stream_processor.metrics import ProcessorMetrics, percentile


def test_percentile_is_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile([], 50) is None


def test_summary_reports_the_interval_then_starts_a_new_one() -> None:
    now = [100.0]
    metrics = ProcessorMetrics(clock=lambda: now[0])
    metrics.observe_batch(10)
    metrics.observe_events("credit_history", 9)
    metrics.observe_invalid("credit_history")
    metrics.observe_dead_lettered("credit_history")
    metrics.observe_freshness([5.0] * 98 + [40.0, 90.0])
    now[0] = 110.0
    line = metrics.summary()
    assert line == (
        "9 events (1/s), invalid 1, dead-lettered 1, freshness p50 5 ms / p99 40 ms, batch p50 10"
    )
    assert metrics.summary() is None  # nothing since


def test_counters_are_exposed_per_view_and_store() -> None:
    metrics = ProcessorMetrics()
    metrics.observe_events("zipcode_features", 3)
    metrics.observe_write("online", 0.004)
    metrics.store_state("online")(False)
    value = metrics.registry.get_sample_value
    assert value("credit_stream_events_processed_total", {"view": "zipcode_features"}) == 3
    assert value("credit_stream_write_seconds_count", {"store": "online"}) == 1
    assert value("credit_stream_store_up", {"store": "online"}) == 0


def test_a_store_is_down_while_any_of_its_trackers_is() -> None:
    metrics = ProcessorMetrics()
    events, decisions = metrics.store_state("dead_letter"), metrics.store_state("dead_letter")

    def up() -> float | None:
        return metrics.registry.get_sample_value("credit_stream_store_up", {"store": "dead_letter"})

    assert up() == 1
    events(False)
    decisions(False)
    events(True)  # the other agent still cannot reach the topic
    assert up() == 0
    decisions(True)
    assert up() == 1
