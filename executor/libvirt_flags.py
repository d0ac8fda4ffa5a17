"""libvirt's migration flag and parameter names with their values, usable without libvirt installed.

The values are libvirt's stable ABI (virDomainMigrateFlags in libvirt-domain.h); the driver still
prefers the installed module's constants when it has them.
"""

from __future__ import annotations

MIGRATE_FLAGS: dict[str, int] = {
    "VIR_MIGRATE_LIVE": 1 << 0,
    "VIR_MIGRATE_PEER2PEER": 1 << 1,
    "VIR_MIGRATE_TUNNELLED": 1 << 2,
    "VIR_MIGRATE_PERSIST_DEST": 1 << 3,
    "VIR_MIGRATE_UNDEFINE_SOURCE": 1 << 4,
    "VIR_MIGRATE_PAUSED": 1 << 5,
    "VIR_MIGRATE_NON_SHARED_DISK": 1 << 6,
    "VIR_MIGRATE_NON_SHARED_INC": 1 << 7,
    "VIR_MIGRATE_CHANGE_PROTECTION": 1 << 8,
    "VIR_MIGRATE_UNSAFE": 1 << 9,
    "VIR_MIGRATE_OFFLINE": 1 << 10,
    "VIR_MIGRATE_COMPRESSED": 1 << 11,
    "VIR_MIGRATE_ABORT_ON_ERROR": 1 << 12,
    "VIR_MIGRATE_AUTO_CONVERGE": 1 << 13,
    "VIR_MIGRATE_RDMA_PIN_ALL": 1 << 14,
    "VIR_MIGRATE_POSTCOPY": 1 << 15,
    "VIR_MIGRATE_TLS": 1 << 16,
}

# The seed's live_migration_flag, plus LIVE and PERSIST_DEST as Nova later made mandatory.
DEFAULT_MIGRATE_FLAGS: tuple[str, ...] = (
    "VIR_MIGRATE_UNDEFINE_SOURCE", "VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST",
)

PARAM_BANDWIDTH = "bandwidth"  # VIR_MIGRATE_PARAM_BANDWIDTH, MiB/s
PARAM_DEST_NAME = "destination_name"  # VIR_MIGRATE_PARAM_DEST_NAME
