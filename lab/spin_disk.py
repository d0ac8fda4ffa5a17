"""Boot disks that make a lab guest load its CPU in a known way, for the demand tests.

A lab guest (lab/guests.py) is a SeaBIOS TCG guest; given a disk, SeaBIOS loads its first sector
(ending in 55 AA) at 0000:7C00 and jumps there. Under TCG a vCPU that loops burns one host core;
one that halts (`hlt`, woken by the BIOS timer ~18.2 times a second) burns almost nothing.

- `spinner()`: `jmp $` forever, one core busy until the guest is destroyed.
- `phases(full_s, half_s)`: one core busy for `full_s`, then half a core for `half_s` (busy on odd
  BIOS ticks, halted on even ones), then idle: three load levels, so a percentile or an average
  over the window depends on how the samples fall, not only on "busy or not".

The code is assembled here (16-bit real mode, hand-encoded, jumps resolved by `_assemble`), so the
lab needs no assembler. Durations count from when the boot sector starts, a second or two after
the guest does.
"""

from __future__ import annotations

import struct
from pathlib import Path

SECTOR = 512
SIGNATURE = b"\x55\xaa"
TICKS_PER_S = 1_193_182 / 65_536  # the PIT's rate over the BIOS's divisor: ~18.2 Hz
MAX_TICKS = 0xFFFF  # the program compares the low word of the tick count: under an hour
IMAGE_BYTES = 32 * 1024  # whole sectors, a few more than SeaBIOS reads


def spinner() -> bytes:
    return _sector(b"\xeb\xfe")  # jmp $


def phases(full_s: float, half_s: float) -> bytes:
    full_end = _ticks(full_s)
    half_end = full_end + _ticks(half_s)
    if half_end > MAX_TICKS:
        raise ValueError(f"full_s + half_s must stay under {MAX_TICKS / TICKS_PER_S:.0f} s")
    return _sector(_assemble([
        b"\x31\xc0",                         # xor ax, ax
        b"\x8e\xd8",                         # mov ds, ax          ; the BIOS data area at 0040:006C
        b"\xfb",                             # sti                 ; the timer must tick
        b"\x8b\x1e\x6c\x04",                 # mov bx, [046Ch]     ; the tick at start
        "loop",
        b"\xa1\x6c\x04",                     # mov ax, [046Ch]
        b"\x29\xd8",                         # sub ax, bx          ; ticks since start
        b"\x3d" + struct.pack("<H", full_end),  # cmp ax, full_end
        (b"\x72", "loop"),                   # jb loop             ; full phase: spin
        b"\x3d" + struct.pack("<H", half_end),  # cmp ax, half_end
        (b"\x73", "idle"),                   # jae idle
        b"\xa8\x01",                         # test al, 1
        (b"\x75", "loop"),                   # jnz loop            ; half phase, odd tick: spin
        b"\xf4",                             # hlt                 ; even tick: sleep to the next
        (b"\xeb", "loop"),                   # jmp loop
        "idle",
        b"\xf4",                             # hlt
        (b"\xeb", "idle"),                   # jmp idle
    ]))


def write_disk(path: Path, sector: bytes) -> Path:
    """A raw image booting `sector` (one image per guest: QEMU locks it)."""
    path.write_bytes(sector.ljust(IMAGE_BYTES, b"\0"))
    return path


def _ticks(seconds: float) -> int:
    if not 0 < seconds * TICKS_PER_S <= MAX_TICKS:
        raise ValueError(f"duration must be within 0..{MAX_TICKS / TICKS_PER_S:.0f} s, got {seconds!r}")
    return round(seconds * TICKS_PER_S)


def _assemble(items: list[bytes | str | tuple[bytes, str]]) -> bytes:
    """Bytes, labels (str) and short jumps (opcode, label): two passes, rel8 offsets."""
    labels, offset = {}, 0
    for item in items:
        if isinstance(item, str):
            labels[item] = offset
        else:
            offset += len(item) if isinstance(item, bytes) else 2
    code = b""
    for item in items:
        if isinstance(item, bytes):
            code += item
        elif isinstance(item, tuple):
            relative = labels[item[1]] - (len(code) + 2)
            code += item[0] + struct.pack("<b", relative)
    return code


def _sector(code: bytes) -> bytes:
    if len(code) > SECTOR - len(SIGNATURE):
        raise ValueError("boot code longer than a sector")
    return code.ljust(SECTOR - len(SIGNATURE), b"\0") + SIGNATURE
