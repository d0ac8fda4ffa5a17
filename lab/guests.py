"""Guest XML for the lab: diskless TCG guests of 32–64 MiB that sit in SeaBIOS.

`type='qemu'` (TCG) so nothing depends on /dev/kvm. An idle SeaBIOS guest's RAM is almost all
zero pages and migrates in well under a second; a "fat" guest gets random data loaded into its
RAM (QEMU's generic loader device) so a bandwidth-limited migration takes long enough to watch,
time out or interrupt. Guests have ACPI, as real ones do: `virsh shutdown` presses their power
button (lab/busy_guest.py's acpi_guest_sector answers it; the others ignore it).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

LOADER_ADDRESS = 0x800000  # 8 MiB in: above SeaBIOS and the low memory it uses


def guest_xml(name: str, memory_mib: int = 32, vcpus: int = 1, loader: Path | None = None,
              disk: Path | None = None, metadata: str = "") -> str:
    """`metadata`: elements for the domain's <metadata> (each with its own namespace), e.g. the
    <nova:instance> block Nova writes."""
    qemu_ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" if loader else ""
    extra = ""
    if loader:
        extra = (f"<qemu:commandline><qemu:arg value='-device'/>"
                 f"<qemu:arg value='loader,file={loader},addr={LOADER_ADDRESS:#x},force-raw=on'/>"
                 f"</qemu:commandline>")
    disk_xml = ""
    if disk:
        disk_xml = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                    f"<source file={quoteattr(str(disk))}/><target dev='hda' bus='ide'/></disk>")
    return f"""<domain type='qemu'{qemu_ns}>
  <name>{name}</name>
  {f"<metadata>{metadata}</metadata>" if metadata else ""}
  <memory unit='MiB'>{memory_mib}</memory>
  <currentMemory unit='MiB'>{memory_mib}</currentMemory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {disk_xml}
    <memballoon model='virtio'/>
  </devices>
  {extra}
</domain>
"""
