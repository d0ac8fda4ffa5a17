"""The executor's options that `drain` and `maintain` share with `apply`: limits, settings file,
and whether plain-tcp control is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from rebalance import option_types as types

F = TypeVar("F", bound=Callable[..., object])

_OPTIONS = (
    click.option("--max-parallel", type=types.PARALLEL_MIGRATIONS,
                 help="Migrations at once over the cluster (default 2)."),
    click.option("--per-host", type=types.PER_HOST_MIGRATIONS,
                 help="Migrations at once into, and out of, each host (default 1 each)."),
    click.option("--config", "config_path", metavar="FILE",
                 help="Executor settings (YAML): live_migration_* knobs and limits."),
    click.option("--allow-insecure", is_flag=True,
                 help="Accept plain qemu+tcp control connections (unauthenticated, unencrypted); refused otherwise."),
)


def executor_options(command: F) -> F:
    """--max-parallel, --per-host, --config and --allow-insecure, in that order in --help."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command
