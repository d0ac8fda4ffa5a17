"""How much memory a guest itself says it uses, from libvirt's balloon statistics.

`getAllDomainStats` reports `balloon.current`/`balloon.maximum` (the allocation) for every guest;
`balloon.available` (memory the guest can use) and `balloon.unused` (what it leaves free) only
when the guest runs a virtio-balloon driver that reports statistics. Without one (a SeaBIOS lab
guest, a guest without the driver, statistics polling off) the used memory is unknown, and
planning counts the allocation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

KIB_PER_MIB = 1024


def used_memory_mib(stats: Mapping[str, Any]) -> int | None:
    """`balloon.available` − `balloon.unused` in MiB (rounded up), or None when not reported."""
    if "balloon.available" not in stats or "balloon.unused" not in stats:
        return None
    used_kib = int(stats["balloon.available"]) - int(stats["balloon.unused"])
    return math.ceil(used_kib / KIB_PER_MIB) if used_kib > 0 else None
