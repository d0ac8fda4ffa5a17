#!/bin/bash
# Installs everything the test suite needs on a fresh Debian 12 machine (root, Python 3.11):
# the system packages of the libvirt lab (tests/lab runs three real libvirtd hosts), the
# libvirt-qemu user Debian's libvirtd insists on, and the package with its test and libvirt extras.
# Idempotent; safe to re-run (apt is skipped when the packages are already there).
set -euo pipefail
cd "$(dirname "$0")/.."

# --no-install-recommends and no libvirt-daemon-system: we need the daemon and QEMU, not polkit,
# dnsmasq or systemd units. libvirt-dev + pkg-config + gcc + python3-dev build libvirt-python.
# chromium renders the HTML report headless in tests/test_html_report.py; gnutls-bin (certtool)
# makes the TLS lab's CA and host certificates.
PACKAGES="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 libvirt-dev pkg-config
          gcc python3-dev iproute2 util-linux gnutls-bin chromium"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian's libvirtd looks up its compiled-in QEMU user before it reads qemu.conf; only
# libvirt-daemon-system would create it.
getent passwd libvirt-qemu >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu

python3 -m pip install --quiet --disable-pip-version-check -e '.[test,libvirt]'
