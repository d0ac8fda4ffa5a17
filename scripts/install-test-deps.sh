#!/bin/bash
# Installs everything the test suite needs on a fresh Debian 12 machine (Python 3.11 or newer):
# the system packages of the libvirt lab (tests/lab runs three real libvirtd hosts), the
# libvirt-qemu user Debian's libvirtd insists on, and the package with its test and libvirt extras,
# editable, in ./.venv (scripts/setup-venv.sh; never the system Python, which PEP 668 protects).
# Then: .venv/bin/python -m pytest (the suite itself runs as root: the lab makes namespaces).
# Idempotent; safe to re-run (apt is skipped when the packages are already there). Not run as
# root, the apt and useradd steps go through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "install-test-deps: '$*' needs root: run this script as root or install sudo" >&2; exit 1
    fi
}

# --no-install-recommends and no libvirt-daemon-system: we need the daemon and QEMU, not polkit,
# dnsmasq or systemd units. libvirt-dev + pkg-config + gcc + python3-dev build libvirt-python.
# chromium renders the HTML report headless in tests/test_html_report.py; gnutls-bin (certtool)
# makes the TLS lab's CA and host certificates. prometheus and prometheus-libvirt-exporter are the
# metrics lab's (lab/metrics.sh runs them on 127.0.0.1 only).
PACKAGES="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 libvirt-dev pkg-config
          gcc python3-dev iproute2 util-linux gnutls-bin chromium prometheus prometheus-libvirt-exporter"
SERVICES="prometheus prometheus-libvirt-exporter"  # packages that would start a service of the same name
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
# Debian's prometheus packages start and enable services listening on every address (:9090, :9177).
# The lab must not open those: while we install them, a policy-rc.d (when the machine has none)
# keeps them from starting, and afterwards their units are disabled. Only services this run
# installed: an operator's own Prometheus is left alone.
new_services=""
for service in $SERVICES; do case " $missing " in *" $service "*) new_services="$new_services $service";; esac; done
unguard() { [ -z "${guarded:-}" ] || as_root rm -f /usr/sbin/policy-rc.d; }
if [ -n "$new_services" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    trap unguard EXIT
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
    guarded=1
fi
if [ -n "$missing" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
unguard; guarded=""
if [ -n "$new_services" ] && command -v systemctl >/dev/null; then
    # shellcheck disable=SC2086
    as_root systemctl disable $new_services >/dev/null 2>&1 || true
fi

# Debian's libvirtd looks up its compiled-in QEMU user before it reads qemu.conf; only
# libvirt-daemon-system would create it.
getent passwd libvirt-qemu >/dev/null || as_root useradd --system --user-group --no-create-home \
    --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu

# Each lab host bind-mounts its own hosts file over /etc/hosts, which a minimal root filesystem
# (debootstrap --variant=minbase) does not have.
[ -e /etc/hosts ] || as_root touch /etc/hosts

bash scripts/setup-venv.sh -e '.[test,libvirt]'
