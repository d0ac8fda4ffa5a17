"""Boot disks for lab guests that really load a CPU: idle, busy, then idle again, by the BIOS clock.

A lab guest is a SeaBIOS TCG guest (lab/guests.py). Given a disk whose first sector is the program
below, SeaBIOS loads it at 0000:7C00 and jumps to it. The program reads the BIOS tick counter at
0040:006C (incremented by the timer interrupt, ~18.2 times a second) and

- halts (`sti; hlt`: the vCPU sleeps until the next tick) for the first `idle_before_s`,
- spins (a tight loop, interrupts on) for the next `busy_s`: under TCG that is one host core, busy,
- then halts forever.

So "busy for a while, then idle" is `busy_boot_sector(busy_s=30)`, and "idle, a short spike, idle"
is `busy_boot_sector(busy_s=1, idle_before_s=20)`. The bytes are assembled here (16-bit real mode,
hand-encoded), so the lab needs no assembler. Durations count from when the boot sector starts,
a second or two after the guest does (SeaBIOS under TCG). Differences of the tick counter's low word
wrap correctly for anything under an hour.
"""

from __future__ import annotations

import struct
from pathlib import Path

TICKS_PER_S = 1_193_182 / 65_536  # the PIT's rate divided by the BIOS's 65536: ~18.2 Hz
MAX_TICKS = 0xFFFF  # tick differences are 16-bit: idle_before_s + busy_s stays under an hour
SECTOR = 512
IMAGE_BYTES = 64 * 1024  # a few sectors more than the one we need: some firmware reads ahead
BOOT_SIGNATURE = b"\x55\xaa"


def ticks(seconds: float) -> int:
    if not 0 <= seconds * TICKS_PER_S <= MAX_TICKS:
        raise ValueError(f"duration must be within 0..{MAX_TICKS / TICKS_PER_S:.0f} s, got {seconds!r}")
    return round(seconds * TICKS_PER_S)


def busy_boot_sector(busy_s: float, idle_before_s: float = 0.0) -> bytes:
    """The 512-byte boot sector (see the module docstring)."""
    busy_from = ticks(idle_before_s)
    busy_until = busy_from + max(1, ticks(busy_s))
    if busy_until > MAX_TICKS:
        raise ValueError(f"idle_before_s + busy_s must stay under {MAX_TICKS / TICKS_PER_S:.0f} s")
    code = b"".join([
        b"\x31\xc0",  # 7C00 xor ax, ax
        b"\x8e\xd8",  # 7C02 mov ds, ax
        b"\xfb",  # 7C04 sti
        b"\x8b\x1e\x6c\x04",  # 7C05 mov bx, [046Ch]   ; the tick at start
        # wait: (7C09)
        b"\xa1\x6c\x04",  # 7C09 mov ax, [046Ch]
        b"\x29\xd8",  # 7C0C sub ax, bx
        b"\x3d" + struct.pack("<H", busy_from),  # 7C0E cmp ax, busy_from
        b"\x73\x03",  # 7C11 jae busy (7C16)
        b"\xf4",  # 7C13 hlt                ; idle until the next tick
        b"\xeb\xf3",  # 7C14 jmp wait (7C09)
        # busy: (7C16)
        b"\xa1\x6c\x04",  # 7C16 mov ax, [046Ch]
        b"\x29\xd8",  # 7C19 sub ax, bx
        b"\x3d" + struct.pack("<H", busy_until),  # 7C1B cmp ax, busy_until
        b"\x73\x02",  # 7C1E jae idle (7C22)
        b"\xeb\xf4",  # 7C20 jmp busy (7C16)   ; spin: a host core busy under TCG
        # idle: (7C22)
        b"\xf4",  # 7C22 hlt
        b"\xeb\xfd",  # 7C23 jmp idle (7C22)
    ])
    return code.ljust(SECTOR - len(BOOT_SIGNATURE), b"\0") + BOOT_SIGNATURE


def write_busy_disk(path: Path, busy_s: float, idle_before_s: float = 0.0) -> Path:
    """A raw disk image that boots into `busy_boot_sector` (one image per guest: QEMU locks it)."""
    path.write_bytes(busy_boot_sector(busy_s, idle_before_s).ljust(IMAGE_BYTES, b"\0"))
    return path
