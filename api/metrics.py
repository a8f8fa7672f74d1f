"""Prometheus ``/metrics``: the API's own request counters, and the numeric counters every part in
this process reports through ``stats()`` (collectors, analyzer, notifier outbox, live hub, store).

Each app has its own registry, so several apps in one process (tests, ``serve`` beside ``run``)
never collide on metric names. Part statistics are read at scrape time, never copied on a timer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_]+")


def numeric_leaves(stats: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(dotted.path, value)`` for every int, float or bool in a nested ``stats()`` dict; text,
    lists and None (addresses, URLs, payloads) are left out, which is what keeps them off
    unauthenticated endpoints."""
    for key, value in stats.items():
        path = f"{prefix}{key}"
        if isinstance(value, bool | int | float):
            yield path, float(value)
        elif isinstance(value, Mapping):
            yield from numeric_leaves(value, f"{path}.")


def metric_name(*parts: str) -> str:
    return _NAME_UNSAFE.sub("_", "_".join(("minewatch", *parts))).strip("_").lower()


class PartsCollector(Collector):
    """One gauge per numeric statistic of each part: ``minewatch_<part>_<stat>``."""

    def __init__(self, parts: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self._parts = parts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        seen: set[str] = set()
        for part, stats in self._parts().items():
            for path, value in numeric_leaves(stats):
                name = metric_name(part, path)
                if name in seen:
                    continue
                seen.add(name)
                yield GaugeMetricFamily(name, f"{part} stats(): {path}", value=value)


class ApiMetrics:
    """The registry one app exposes, with the request counters its middleware updates."""

    def __init__(self, parts: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "minewatch_api_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "minewatch_api_request_seconds",
            "Time to answer an HTTP request (until the response starts)",
            ["route"],
            registry=self.registry,
        )
        self.registry.register(PartsCollector(parts))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(route).observe(seconds)
