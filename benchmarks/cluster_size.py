"""A generated cluster's size as the runners take it on the command line: HOSTSxVMS, e.g. 1000x20000."""

from __future__ import annotations

import argparse


def is_size(text: str) -> bool:
    """Whether `text` is HOSTSxVMS with both counts positive whole numbers."""
    parts = text.split("x")
    return len(parts) == 2 and all(part.isdigit() and int(part) > 0 for part in parts)


def hosts_and_vms(size: str) -> tuple[int, int]:
    """The two counts of a size is_size accepts."""
    hosts, vms = size.split("x")
    return int(hosts), int(vms)


def size_list(text: str) -> list[str]:
    """An argparse type: comma-separated sizes, each one is_size accepts."""
    sizes = text.split(",")
    for size in sizes:
        if not is_size(size):
            raise argparse.ArgumentTypeError(f"{size!r}: expected HOSTSxVMS, e.g. 1000x20000")
    return sizes
