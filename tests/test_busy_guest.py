"""The lab's boot sectors (lab/busy_guest.py): their bytes, and what they do when run.

The lab tests check the sectors on real TCG guests, which takes minutes; here a tiny interpreter
of the dozen 16-bit instructions the assembler emits runs each sector against a simulated BIOS
tick counter and records, tick by tick, whether the vCPU halted or spun, so a wrong jump offset,
tick count or phase order fails in milliseconds.
"""

from __future__ import annotations

import struct

import pytest

from lab.busy_guest import IMAGE_BYTES, SECTOR, SIGNATURE, boot_sector, ticks, write_disk

CYCLES_PER_TICK = 40  # instructions a spinning vCPU runs per BIOS tick in the simulation


def _run(sector: bytes, ticks_to_run: int, first_tick: int = 0xFFF0) -> list[str]:
    """The kind of each tick since the program started: "idle" if it halted in it, else "full".
    The counter starts just below a 16-bit wrap, which the program must handle."""
    tick, cycles, ip = first_tick, 0, 0
    ax = bx = 0
    carry = zero = False
    halted: set[int] = set()

    def rel8() -> int:
        return ip + 2 + struct.unpack("<b", sector[ip + 1:ip + 2])[0]

    while tick - first_tick < ticks_to_run:
        op = sector[ip]
        if sector[ip:ip + 2] in (b"\x31\xc0", b"\x8e\xd8"):  # xor ax, ax / mov ds, ax
            ax, ip = 0, ip + 2
        elif op == 0xFB:  # sti
            ip += 1
        elif sector[ip:ip + 4] == b"\x8b\x1e\x6c\x04":  # mov bx, [046Ch]
            bx, ip = tick & 0xFFFF, ip + 4
        elif sector[ip:ip + 3] == b"\xa1\x6c\x04":  # mov ax, [046Ch]
            ax, ip = tick & 0xFFFF, ip + 3
        elif sector[ip:ip + 2] == b"\x29\xd8":  # sub ax, bx
            ax, ip = (ax - bx) & 0xFFFF, ip + 2
        elif op == 0x3D:  # cmp ax, imm16
            carry, ip = ax < struct.unpack("<H", sector[ip + 1:ip + 3])[0], ip + 3
        elif op == 0xA8:  # test al, imm8
            zero, ip = (ax & 0xFF & sector[ip + 1]) == 0, ip + 2
        elif op in (0x72, 0x75, 0xEB):  # jb / jnz / jmp rel8
            taken = {0x72: carry, 0x75: not zero, 0xEB: True}[op]
            ip = rel8() if taken else ip + 2
        elif op == 0xF4:  # hlt: sleep to the next tick
            halted.add(tick - first_tick)
            tick, cycles, ip = tick + 1, 0, ip + 1
            continue
        else:
            raise AssertionError(f"unexpected opcode {op:#04x} at {ip:#x}")
        cycles += 1
        if cycles == CYCLES_PER_TICK:
            tick, cycles = tick + 1, 0
    return ["idle" if t in halted else "full" for t in range(ticks_to_run)]


def _expected(phases: list[tuple[str, float]], then: str, total: int) -> list[str]:
    kinds: list[str] = []
    for kind, seconds in phases:
        for _ in range(ticks(seconds)):
            t = len(kinds)
            kinds.append(("full" if t % 2 else "idle") if kind == "half" else kind)
    return (kinds + [then] * total)[:total]


@pytest.mark.parametrize(("phases", "then"), [
    ([("full", 1.0)], "idle"),  # busy, then idle (tests/lab/test_lab_demand.py)
    ([("idle", 2.0), ("full", 0.3)], "idle"),  # a short spike
    ([("full", 1.0), ("half", 1.5)], "idle"),  # a core, half a core, idle (test_lab_prometheus)
    ([], "full"),  # the spinner
    ([("half", 1.0), ("idle", 0.5), ("full", 0.5)], "full"),
])
def test_each_tick_runs_the_phase_it_falls_in(phases: list[tuple[str, float]], then: str) -> None:
    sector = boot_sector(*phases, then=then)
    total = sum(ticks(s) for _, s in phases) + 30
    assert _run(sector, total) == _expected(phases, then, total)


def test_the_sector_is_512_bytes_signed_with_each_phase_end_patched_in() -> None:
    sector = boot_sector(("idle", 20), ("full", 2))
    assert len(sector) == SECTOR == 512
    assert sector[-2:] == SIGNATURE == b"\x55\xaa"
    assert ticks(20) == 364 and ticks(2) == 36  # ~18.2 ticks a second
    assert b"\x3d" + struct.pack("<H", 364) in sector  # cmp ax, end of the idle phase
    assert b"\x3d" + struct.pack("<H", 364 + 36) in sector  # cmp ax, end of the spike


def test_the_disk_is_the_sector_then_zeros(tmp_path) -> None:
    sector = boot_sector(then="full")
    image = write_disk(tmp_path / "spin.img", sector).read_bytes()
    assert len(image) == IMAGE_BYTES and image[:SECTOR] == sector and not image[SECTOR:].strip(b"\0")


@pytest.mark.parametrize(("phases", "then", "message"), [
    ([("busy", 1.0)], "idle", "kind must be one of idle, full, half"),
    ([], "half", "last kind must be one of idle, full"),
    ([("full", 0.0)], "idle", "a phase lasts"),
    ([("full", 3000.0), ("idle", 1000.0)], "idle", "must end within 3600 s"),
    ([("full", 1.0)] * 13, "idle", "at most 12 phases"),
])
def test_bad_phases_are_refused(phases: list[tuple[str, float]], then: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        boot_sector(*phases, then=then)
