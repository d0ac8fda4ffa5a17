#!/bin/bash
# The project's libvirt lab: three libvirt "hosts" (lab-a, lab-b, lab-c) on one Linux machine.
#
# Each host = its own network namespace (10.77.0.x on a private bridge) + its own mount, UTS and
# (when cgroup v1 cpu/cpuacct are mounted) cgroup namespace + its own libvirtd with its own
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /etc/hosts and host_uuid. Derived from
# /work/shared/reference/libvirt-lab.md, where every pitfall handled below is described.
#
# NETWORK RULE: never talk to 10.77.0.x from the root namespace (that traffic leaves the machine).
# Control connections use the per-host unix sockets, qemu+unix:///system?socket=$LAB/hosts/X/run/libvirt-sock;
# peer-to-peer migration still works, because the SOURCE daemon opens qemu+tcp://lab-Y/system from
# inside its own namespace, where its /etc/hosts resolves lab-Y.
#
# TLS=1 builds the secure variant instead: no TCP listener, libvirtd on TLS port 16514 accepting only
# the lab's client certificates, and QEMU migration streams encrypted when a migration asks for
# VIR_MIGRATE_TLS. A CA and per-host certificates are made at `up` with GnuTLS certtool; each host
# sees its own files at /etc/pki (libvirt's and QEMU's default paths) and nobody else's.
#
# Usage: lab.sh up | down | start H | stop H | kill H | status | exec H CMD... | pids | uri H
#              | client-pki DIR CN [lab|self]   (TLS lab: a client certificate, for negative tests)
#              | metrics-up | metrics-down      (opt-in exporters + Prometheus on 127.0.0.1: lab/metrics.sh)
# Env:   LAB=dir (required: all state lives there)   NS=netns prefix (default rblab)
#        HOSTS="a b c"   CGROUPS=auto|1|0   TLS=0|1 (read by `up`; later starts reuse the config)
set -euo pipefail
: "${LAB:?set LAB to the lab state directory}"
LAB=$(readlink -m "$LAB")
NS=${NS:-rblab}
HOSTS=${HOSTS:-"a b c"}
TLS=${TLS:-0}
CG_CTLS="cpu cpuacct"          # cgroup v1 controllers given to libvirt (memory left alone)
CGROUPS=${CGROUPS:-auto}       # auto -> 1 when the v1 cpu+cpuacct hierarchies are mounted, else 0
if [ "$CGROUPS" = auto ]; then
  CGROUPS=1; for c in $CG_CTLS; do mountpoint -q /sys/fs/cgroup/$c || CGROUPS=0; done
fi
SELF=$(readlink -f "$0")
idx() { case $1 in a) echo 1;; b) echo 2;; c) echo 3;; *) echo "unknown host $1" >&2; exit 2;; esac; }
sock() { echo "$LAB/hosts/$1/run/libvirt-sock"; }
uri() { echo "qemu+unix:///system?socket=$(sock "$1")"; }

preflight() {
  for tool in libvirtd virsh qemu-system-x86_64 ip unshare nsenter; do
    command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] || { echo "lab: $tool is missing; run scripts/install-test-deps.sh" >&2; exit 1; }
  done
  # Debian's libvirtd resolves its compiled-in qemu user BEFORE reading qemu.conf; only
  # libvirt-daemon-system would create it, and we install libvirt-daemon alone.
  getent passwd libvirt-qemu >/dev/null || useradd --system --user-group --no-create-home \
      --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
  mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt  # bind-mount targets
  if [ "$TLS" = 1 ]; then
    command -v certtool >/dev/null || { echo "lab: certtool is missing (gnutls-bin); run scripts/install-test-deps.sh" >&2; exit 1; }
    mkdir -p /etc/pki
  fi
  mkdir -p "$LAB/shared/instances"   # the "shared storage": one directory every host sees
}

net_up() {
  ip netns add $NS-ctl                                   # holds the bridge; nothing runs here
  ip -n $NS-ctl link set lo up
  ip -n $NS-ctl link add br0 type bridge
  ip -n $NS-ctl link set br0 up
  ip -n $NS-ctl addr add 10.77.0.254/24 dev br0
  for h in $HOSTS; do
    i=$(idx $h)
    ip netns add $NS-$h
    ip -n $NS-$h link set lo up
    ip -n $NS-ctl link add v-$h type veth peer name eth0 netns $NS-$h
    ip -n $NS-ctl link set v-$h master br0 up
    ip -n $NS-$h addr add 10.77.0.$i/24 dev eth0
    ip -n $NS-$h link set eth0 up
  done
}

config() {
  h=$1; i=$(idx $h); D=$LAB/hosts/$h
  mkdir -p $D/etc $D/run $D/lib $D/log $D/cache
  # Per-host /etc/hosts and an empty resolv.conf: peers resolve by name without any DNS (which
  # would time out inside the namespace and slow every migration by seconds).
  printf '127.0.0.1 localhost\n10.77.0.1 lab-a\n10.77.0.2 lab-b\n10.77.0.3 lab-c\n10.77.0.254 lab-ctl\n' > $D/hosts
  : > $D/resolv.conf
  if [ "$TLS" = 1 ]; then listeners=$(tls_listener $i); else listeners=$(tcp_listener $i); fi
  cat > $D/etc/libvirtd.conf <<EOC
$listeners
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
host_uuid = "7ab00000-0000-4000-8000-00000000000$i"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOC
  if [ "$CGROUPS" = 1 ]; then ctl='[ "cpu", "cpuacct" ]'; else ctl='[ ]'; fi
  cat > $D/etc/qemu.conf <<EOC
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = $ctl
namespaces = [ ]
stdio_handler = "file"
migration_address = "10.77.0.$i"
migration_host = "10.77.0.$i"
EOC
  rm -rf $D/pki
  if [ "$TLS" = 1 ]; then
    host_pki $h
    # QEMU's side of VIR_MIGRATE_TLS: the incoming QEMU demands a client certificate of the CA.
    printf 'migrate_tls_x509_cert_dir = "/etc/pki/qemu"\nmigrate_tls_x509_verify = 1\n' >> $D/etc/qemu.conf
  fi
}

# auth_tcp = "none": anyone reaching 10.77.0.x:16509 controls this daemon. Acceptable only
# because the address lives inside a private namespace; `rebalance doctor` warns about it.
tcp_listener() {
  cat <<EOC
listen_tls = 0
listen_tcp = 1
listen_addr = "10.77.0.$1"
tcp_port = "16509"
auth_tcp = "none"
EOC
}

# TLS only. auth_tls = "none" means no SASL step on top of TLS (there is no SASL here): the
# client certificate is the authentication. It must be signed by the lab CA
# (tls_no_verify_certificate = 0) and its DN must be one of the lab's daemons (tls_allowed_dn_list);
# any other client is refused during the handshake.
tls_listener() {
  cat <<EOC
listen_tls = 1
listen_tcp = 0
listen_addr = "10.77.0.$1"
tls_port = "16514"
auth_tls = "none"
tls_no_verify_certificate = 0
tls_allowed_dn_list = [ $(allowed_dns) ]
ca_file = "/etc/pki/CA/cacert.pem"
cert_file = "/etc/pki/libvirt/servercert.pem"
key_file = "/etc/pki/libvirt/private/serverkey.pem"
EOC
}

# -- TLS: the lab CA and per-host certificates (GnuTLS certtool) --------------------------------
PKI_ORG="rebalance lab"
client_dn() { echo "O=$PKI_ORG,OU=daemons,CN=lab-$1"; }   # as GnuTLS prints it, which libvirt compares
allowed_dns() { sep=""; for x in a b c; do printf '%s"%s"' "$sep" "$(client_dn $x)"; sep=", "; done; }

# The CA: its key never leaves $LAB/ca, which no host's mount namespace can read (see inner).
make_ca() {
  C=$LAB/ca; rm -rf $C; mkdir -p -m 0700 $C
  printf 'cn = "rebalance lab CA"\norganization = "%s"\nca\ncert_signing_key\nexpiration_days = 30\n' \
      "$PKI_ORG" > $C/ca.info
  (umask 077; certtool --generate-privkey --key-type=rsa --bits=2048 --outfile $C/ca-key.pem 2>/dev/null)
  certtool --generate-self-signed --load-privkey $C/ca-key.pem --template $C/ca.info \
      --outfile $C/ca-cert.pem >/dev/null 2>&1
}

# sign NAME TEMPLATE-LINES: a fresh key and a certificate of the lab CA, in $LAB/ca/NAME-{key,cert}.pem.
sign() {
  C=$LAB/ca; printf '%b' "$2" > $C/$1.info
  (umask 077; certtool --generate-privkey --key-type=rsa --bits=2048 --outfile $C/$1-key.pem 2>/dev/null)
  certtool --generate-certificate --load-privkey $C/$1-key.pem --load-ca-certificate $C/ca-cert.pem \
      --load-ca-privkey $C/ca-key.pem --template $C/$1.info --outfile $C/$1-cert.pem >/dev/null 2>&1
}

# A client's pkipath directory (cacert.pem, clientcert.pem, clientkey.pem) for CN=NAME, signed by
# the lab CA, or with ISSUER=self by a CA of its own that no lab host trusts: negative controls.
client_pki() {
  dir=$1; name=$2; issuer=${3:-lab}; C=$LAB/ca
  [ -f $C/ca-key.pem ] || { echo "lab: no CA here; this is not a TLS lab (TLS=1 lab.sh up)" >&2; exit 2; }
  mkdir -p -m 0700 "$dir"
  if [ "$issuer" = self ]; then
    C=$dir/ca; LAB=$dir make_ca; LAB=$dir sign client "organization = \"$PKI_ORG\"\nunit = \"daemons\"\ncn = \"$name\"\ntls_www_client\nsigning_key\nencryption_key\n"
  else
    sign "client-extra-$name" "organization = \"$PKI_ORG\"\nunit = \"daemons\"\ncn = \"$name\"\ntls_www_client\nsigning_key\nencryption_key\n"
    cp $C/client-extra-$name-cert.pem $C/client-cert.pem; cp $C/client-extra-$name-key.pem $C/client-key.pem
  fi
  # The client trusts the lab's servers either way; with its own CA listed too, libvirt's check of
  # the client's own certificate passes and the refusal must come from the server.
  cat $LAB/ca/ca-cert.pem > "$dir/cacert.pem"
  [ "$issuer" = self ] && cat $C/ca-cert.pem >> "$dir/cacert.pem"
  install -m 0644 $C/client-cert.pem "$dir/clientcert.pem"
  install -m 0600 $C/client-key.pem "$dir/clientkey.pem"
}

# Host H's files, laid out where libvirtd (server and, for peer-to-peer, client) and QEMU look by
# default under /etc/pki; inner bind-mounts $D/pki there. Keys 0600 in 0700 directories.
host_pki() {
  h=$1; i=$(idx $h); P=$LAB/hosts/$h/pki
  sign server-$h "organization = \"$PKI_ORG\"\ncn = \"lab-$h\"\ndns_name = \"lab-$h\"\nip_address = \"10.77.0.$i\"\ntls_www_server\nsigning_key\nencryption_key\nexpiration_days = 30\n"
  sign client-$h "organization = \"$PKI_ORG\"\nunit = \"daemons\"\ncn = \"lab-$h\"\ntls_www_client\nsigning_key\nencryption_key\nexpiration_days = 30\n"
  mkdir -p -m 0755 $P/CA $P/libvirt $P/qemu
  mkdir -p -m 0700 $P/libvirt/private
  chmod 0700 $P/qemu
  C=$LAB/ca
  install -m 0644 $C/ca-cert.pem $P/CA/cacert.pem
  install -m 0644 $C/server-$h-cert.pem $P/libvirt/servercert.pem
  install -m 0600 $C/server-$h-key.pem $P/libvirt/private/serverkey.pem
  install -m 0644 $C/client-$h-cert.pem $P/libvirt/clientcert.pem
  install -m 0600 $C/client-$h-key.pem $P/libvirt/private/clientkey.pem
  install -m 0644 $C/ca-cert.pem $P/qemu/ca-cert.pem
  install -m 0644 $C/server-$h-cert.pem $P/qemu/server-cert.pem
  install -m 0600 $C/server-$h-key.pem $P/qemu/server-key.pem
  install -m 0644 $C/client-$h-cert.pem $P/qemu/client-cert.pem
  install -m 0600 $C/client-$h-key.pem $P/qemu/client-key.pem
}

# Runs inside the host's namespaces (via _launch) and becomes libvirtd.
inner() {
  h=$1; D=$LAB/hosts/$h
  hostname lab-$h
  if [ "$CGROUPS" = 1 ]; then        # `ip netns exec` remounted /sys: mount our own cgroup root
    mount -t tmpfs cgroup_root /sys/fs/cgroup
    for c in $CG_CTLS; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done
  fi
  mount --bind $D/etc   /etc/libvirt
  mount --bind $D/run   /run/libvirt
  mount --bind $D/lib   /var/lib/libvirt
  mount --bind $D/log   /var/log/libvirt
  mount --bind $D/cache /var/cache/libvirt
  mount --bind $D/hosts /etc/hosts
  mount --bind $D/resolv.conf /etc/resolv.conf
  if [ -d $D/pki ]; then             # TLS lab: our certificates at /etc/pki, nobody else's keys
    mount --bind $D/pki /etc/pki
    [ -d $LAB/ca ] && mount -t tmpfs -o mode=0700 hidden $LAB/ca
    for o in a b c; do
      if [ $o != $h ] && [ -d $LAB/hosts/$o/pki ]; then mount -t tmpfs -o mode=0700 hidden $LAB/hosts/$o/pki; fi
    done
  fi
  exec /usr/sbin/libvirtd --listen --config /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid
}

launch() {   # in the root namespaces: join the per-host cgroups, then enter the host's namespaces
  h=$1
  if [ "$CGROUPS" = 1 ]; then
    for c in $CG_CTLS; do mkdir -p /sys/fs/cgroup/$c/$NS-$h; echo $$ > /sys/fs/cgroup/$c/$NS-$h/cgroup.procs; done
    exec ip netns exec $NS-$h unshare --cgroup --mount --uts --propagation private -- "$SELF" _inner $h
  else
    exec ip netns exec $NS-$h unshare --mount --uts --propagation private -- "$SELF" _inner $h
  fi
}

alive() { [ -f "$LAB/hosts/$1/run/libvirtd.pid" ] && kill -0 "$(cat "$LAB/hosts/$1/run/libvirtd.pid")" 2>/dev/null; }

start() {
  h=$1; D=$LAB/hosts/$h
  preflight
  [ -f $D/etc/libvirtd.conf ] || config $h
  if alive $h; then echo "host $h: already running"; return 0; fi
  rm -f $D/run/libvirt-sock $D/run/libvirt-sock-ro $D/run/libvirt-admin-sock $D/run/libvirtd.pid
  NS=$NS LAB=$LAB CGROUPS=$CGROUPS setsid "$SELF" _launch $h > $D/libvirtd.out 2>&1 < /dev/null &
  for _ in $(seq 1 150); do [ -S $D/run/libvirt-sock ] && [ -s $D/run/libvirtd.pid ] && break; sleep 0.1; done
  [ -S $D/run/libvirt-sock ] && alive $h || { echo "libvirtd $h did not come up" >&2; cat $D/libvirtd.out >&2; exit 1; }
  echo "host $h: libvirtd pid $(cat $D/run/libvirtd.pid) unix $(sock $h)"
}

# Stop one host cleanly: guests first (QEMU outlives libvirtd), then the daemon by its PID.
stop() {
  h=$1; D=$LAB/hosts/$h
  if alive $h; then
    pid=$(cat $D/run/libvirtd.pid)
    for dom in $(timeout 20 virsh -q -c "$(uri $h)" list --name 2>/dev/null); do
      timeout 20 virsh -q -c "$(uri $h)" destroy "$dom" >/dev/null 2>&1 || true
    done
    kill -TERM $pid 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill -0 $pid 2>/dev/null && kill -KILL $pid 2>/dev/null || true
    echo "host $h: libvirtd $pid stopped"
  fi
  rm -f $D/run/libvirtd.pid
  reap $h
}

# A crash, for tests: SIGKILL the daemon only; its guests (QEMU processes) keep running.
crash() {
  h=$1; D=$LAB/hosts/$h
  alive $h || { echo "host $h: not running"; return 0; }
  pid=$(cat $D/run/libvirtd.pid)
  kill -KILL $pid
  for _ in $(seq 1 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  echo "host $h: libvirtd $pid killed"
}

# Whatever still runs in the host's network namespace (orphaned QEMUs after a crash), by PID.
reap() {
  h=$1
  ip netns list | grep -qw "^$NS-$h" || return 0
  for pid in $(ip netns pids $NS-$h 2>/dev/null); do kill -KILL $pid 2>/dev/null || true; done
  for _ in $(seq 1 50); do [ -z "$(ip netns pids $NS-$h 2>/dev/null)" ] && break; sleep 0.1; done
}

uncgroup() {
  for h in $HOSTS; do for c in $CG_CTLS; do
    [ -d /sys/fs/cgroup/$c/$NS-$h ] && find /sys/fs/cgroup/$c/$NS-$h -depth -type d -exec rmdir {} \; 2>/dev/null
  done; done
  return 0
}

metrics() { LAB=$LAB HOSTS=$HOSTS "$(dirname "$SELF")/metrics.sh" "$@"; }

down() {
  metrics down || true           # the exporters first: they hold connections to the daemons
  for h in $HOSTS; do stop $h || true; done
  for h in $HOSTS; do reap $h || true; done
  uncgroup
  for h in $HOSTS ctl; do ip netns del $NS-$h 2>/dev/null || true; done
  echo "lab down"
}

# Every PID in the lab's namespaces (the daemons and their QEMUs) and of its metrics (for leak checks).
pids() { for h in $HOSTS ctl; do ip netns pids $NS-$h 2>/dev/null || true; done; metrics pids || true; }

# Run a command on a host as it sees the world: its network, mounts (/etc/hosts) and hostname.
run_on() {
  h=$1; shift
  alive $h || { echo "host $h: libvirtd not running" >&2; exit 1; }
  exec nsenter -t "$(cat $LAB/hosts/$h/run/libvirtd.pid)" -n -m -u -- "$@"
}

status() {
  for h in $HOSTS; do
    if alive $h; then echo "host $h: libvirtd $(cat $LAB/hosts/$h/run/libvirtd.pid) running;" \
        "domains: $(virsh -q -c "$(uri $h)" list --name | xargs)"
    else echo "host $h: down"; fi
  done
  ip netns list | grep "^$NS-" || true
}

up() {
  preflight
  # A leftover lab under the same prefix (a killed test run) would make `ip netns add` fail.
  down >/dev/null 2>&1 || true
  net_up
  if [ "$TLS" = 1 ]; then make_ca; else rm -rf $LAB/ca; fi
  for h in $HOSTS; do config $h; done
  for h in $HOSTS; do start $h; done
  # The first QEMU use on a host probes QEMU's capabilities (3-5 s); do it now, in parallel, and
  # wait on those PIDs only (a bare `wait` would wait for the daemons too).
  warm=""
  for h in $HOSTS; do virsh -q -c "$(uri $h)" domcapabilities --virttype qemu >/dev/null & warm="$warm $!"; done
  wait $warm
}

case "${1:-}" in
  up) up;;  down) down;;  status) status;;  pids) pids;;
  start) start $2;;  stop) stop $2;;  kill) crash $2;;  uri) uri $2;;
  exec) shift; run_on "$@";;
  client-pki) client_pki "$2" "$3" "${4:-lab}";;
  metrics-up) metrics up;;  metrics-down) metrics down;;
  _launch) launch $2;;  _inner) inner $2;;
  *) echo "usage: $0 up|down|start H|stop H|kill H|status|exec H CMD...|pids|uri H|client-pki DIR CN [lab|self]|metrics-up|metrics-down" >&2
     exit 2;;
esac
