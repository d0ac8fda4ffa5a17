"""Reading a Prometheus textfile in tests, with prometheus_client's own parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def prometheus_samples(path: Path) -> dict[tuple[str, tuple[str, ...]], float]:
    """(metric name, label values in label-name order) → value; fails on a file the parser refuses
    or on a series that appears twice."""
    found: dict[tuple[str, tuple[str, ...]], float] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            key = (sample.name, tuple(value for _, value in sorted(sample.labels.items())))
            assert key not in found, f"{key} twice in {path}"
            found[key] = sample.value
    return found
