"""Boot disks for lab guests that load their CPU in a known way, phase by phase, by the BIOS clock.

A lab guest (lab/guests.py) is a SeaBIOS TCG guest; given a disk, SeaBIOS loads its first sector
(ending in 55 AA) at 0000:7C00 and jumps there. Under TCG a vCPU that loops burns one host core;
one that halts (`hlt`, woken by the BIOS timer ~18.2 times a second) burns almost nothing.

A guest's load is a list of phases, each a kind for some seconds, then a kind forever:

- "idle": halted; "full": spinning, one host core busy; "half": spinning on odd BIOS ticks and
  halted on even ones, about half a core.
- `boot_sector(("full", 12))`: busy for 12 s, then idle; `boot_sector(("idle", 20), ("full", 2))`:
  a short spike after 20 s; `boot_sector(("full", 30), ("half", 30))`: three load levels, so a
  statistic over the window depends on how the samples fall, not only on "busy or not";
  `boot_sector(then="full")`: a core busy until the guest is destroyed.

The program reads the BIOS tick counter (0040:006C) at start, and in its loop compares the ticks
since then with each phase's end (patched in as 16-bit immediates) to pick the phase's code. The
final kind's code never returns to the loop, so "forever" survives the counter's wrap after an
hour. The bytes are assembled here (16-bit real mode, hand-encoded, short jumps resolved by
`_assemble`), so the lab needs no assembler. Durations count from when the boot sector starts, a
second or two after the guest does (SeaBIOS under TCG).
"""

from __future__ import annotations

import struct
from pathlib import Path

SECTOR = 512
SIGNATURE = b"\x55\xaa"
TICKS_PER_S = 1_193_182 / 65_536  # the PIT's rate over the BIOS's divisor: ~18.2 Hz
MAX_TICKS = 0xFFFF  # the loop compares the low word of the ticks since start: under an hour
IMAGE_BYTES = 64 * 1024  # whole sectors, a few more than the one we need: firmware reads ahead
KINDS = ("idle", "full", "half")
FOREVER = ("idle", "full")  # kinds that need no clock, so they can last forever
MAX_PHASES = 12  # each phase is 5 bytes of dispatch: the short jumps must reach

Phase = tuple[str, float]  # (kind, seconds)
Item = bytes | str | tuple[bytes, str]  # code, a label, or a short jump (opcode, label)


def boot_sector(*phases: Phase, then: str = "idle") -> bytes:
    """The 512-byte boot sector running `phases` one after the other, then `then` forever."""
    if then not in FOREVER:
        raise ValueError(f"the last kind must be one of {', '.join(FOREVER)}, got {then!r}")
    if len(phases) > MAX_PHASES:
        raise ValueError(f"at most {MAX_PHASES} phases, got {len(phases)}")
    dispatch: list[Item] = []
    end = 0
    for kind, seconds in phases:
        if kind not in KINDS:
            raise ValueError(f"a phase's kind must be one of {', '.join(KINDS)}, got {kind!r}")
        end += ticks(seconds)
        if end > MAX_TICKS:
            raise ValueError(f"the phases must end within {MAX_TICKS / TICKS_PER_S:.0f} s")
        dispatch += [b"\x3d" + struct.pack("<H", end),  # cmp ax, end     ; ticks since start < end:
                     (b"\x72", kind)]                   # jb <kind>       ; this phase
    return _sector(_assemble([
        b"\x31\xc0",                # xor ax, ax
        b"\x8e\xd8",                # mov ds, ax          ; the BIOS data area at 0040:006C
        b"\xfb",                    # sti                 ; the timer must tick
        b"\x8b\x1e\x6c\x04",        # mov bx, [046Ch]     ; the tick at start
        "loop",
        b"\xa1\x6c\x04",            # mov ax, [046Ch]
        b"\x29\xd8",                # sub ax, bx          ; ticks since start
        *dispatch,
        (b"\xeb", f"{then} forever"),  # jmp              ; every phase is over
        "full",
        (b"\xeb", "loop"),          # jmp loop            ; spin
        "half",
        b"\xa8\x01",                # test al, 1
        (b"\x75", "loop"),          # jnz loop            ; odd tick: spin
        "idle",
        b"\xf4",                    # hlt                 ; sleep to the next tick
        (b"\xeb", "loop"),          # jmp loop
        "idle forever",
        b"\xf4",                    # hlt
        (b"\xeb", "idle forever"),  # jmp idle forever
        "full forever",
        (b"\xeb", "full forever"),  # jmp $
    ]))


def acpi_guest_sector() -> bytes:
    """A guest that idles until the ACPI power button (virDomainShutdown), then powers off, as an
    operating system would. It finds the PIIX4 power-management I/O base in the PCI config space
    of 00:01.3 (register 40h, set by SeaBIOS), enables the power-button event in PM1_EN, polls
    PM1_STS on each timer tick, and on the button writes SLP_EN (sleep type 0: soft off) to PM1_CNT."""
    return _sector(_assemble([
        b"\x66\xb8\x40\x0b\x00\x80",  # mov eax, 80000B40h  ; config address: bus 0, dev 1, fn 3, reg 40h
        b"\xba\xf8\x0c",              # mov dx, 0CF8h
        b"\x66\xef",                  # out dx, eax
        b"\xba\xfc\x0c",              # mov dx, 0CFCh
        b"\x66\xed",                  # in eax, dx
        b"\x25\xc0\xff",              # and ax, 0FFC0h      ; the PM I/O base
        b"\x89\xc6",                  # mov si, ax
        b"\x8d\x54\x02",              # lea dx, [si+2]      ; PM1_EN
        b"\xb8\x00\x01",              # mov ax, 0100h       ; PWRBTN_EN
        b"\xef",                      # out dx, ax
        b"\xfb",                      # sti                 ; the timer wakes the hlt
        "wait",
        b"\xf4",                      # hlt
        b"\x89\xf2",                  # mov dx, si          ; PM1_STS
        b"\xed",                      # in ax, dx
        b"\xf6\xc4\x01",              # test ah, 1          ; PWRBTN_STS (bit 8)
        (b"\x74", "wait"),            # jz wait
        b"\x8d\x54\x04",              # lea dx, [si+4]      ; PM1_CNT
        b"\xb8\x00\x20",              # mov ax, 2000h       ; SLP_EN, SLP_TYP 0
        b"\xef",                      # out dx, ax          ; QEMU powers the guest off
        "off",
        (b"\xeb", "off"),             # jmp $
    ]))


def write_disk(path: Path, sector: bytes) -> Path:
    """A raw image booting `sector` (one image per guest: QEMU locks it)."""
    path.write_bytes(sector.ljust(IMAGE_BYTES, b"\0"))
    return path


def ticks(seconds: float) -> int:
    """A phase's length in BIOS ticks: at least one, so a phase asked for is never skipped."""
    if not 0 < seconds * TICKS_PER_S <= MAX_TICKS:
        raise ValueError(f"a phase lasts 0..{MAX_TICKS / TICKS_PER_S:.0f} s, got {seconds!r}")
    return max(1, round(seconds * TICKS_PER_S))


def _assemble(items: list[Item]) -> bytes:
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
            if not -128 <= relative <= 127:
                raise ValueError(f"a short jump to {item[1]!r} cannot reach it ({relative} bytes)")
            code += item[0] + struct.pack("<b", relative)
    return code


def _sector(code: bytes) -> bytes:
    if len(code) > SECTOR - len(SIGNATURE):
        raise ValueError("boot code longer than a sector")
    return code.ljust(SECTOR - len(SIGNATURE), b"\0") + SIGNATURE
