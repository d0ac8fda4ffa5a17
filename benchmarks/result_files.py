"""Where a benchmark runner leaves its results: one CSV row per run, and the Markdown table the
docs copy, side by side under one name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any


def write_results(rows: Sequence[Any], out: Path, name: str, table: str) -> None:
    """`rows` (dataclass instances) as out/NAME.csv and `table` as out/NAME.md."""
    import pandas as pd  # the benchmark extra; importing the runner must not need it

    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([asdict(row) for row in rows]).to_csv(out / f"{name}.csv", index=False)
    (out / f"{name}.md").write_text(table)
    print(f"wrote {out / (name + '.csv')} and {name}.md")
