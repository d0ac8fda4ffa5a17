#!/bin/bash
# The lab's metrics, opt-in: one prometheus-libvirt-exporter per lab host and one Prometheus that
# scrapes them every second. Called through lab.sh (metrics-up, metrics-down; `down` and `pids`
# include them), with the same LAB, NS and HOSTS.
#
# NETWORK RULE: everything listens on 127.0.0.1 in the root network namespace, on a port the kernel
# picks (":0", read back from `ss` by PID), so concurrent labs never clash and nothing is reachable
# from another machine. The exporters reach their host's libvirtd over its unix socket only;
# Prometheus scrapes nothing but those exporters. Every process is stopped by its PID.
#
# State: $LAB/metrics/{exporter-X,prometheus}.{pid,port,log}, prometheus.yml, tsdb/.
set -euo pipefail
: "${LAB:?set LAB to the lab state directory}"
LAB=$(readlink -m "$LAB")
HOSTS=${HOSTS:-"a b c"}
M=$LAB/metrics
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1s}
EXPORTER=prometheus-libvirt-exporter
PROMETHEUS=prometheus

uri() { echo "qemu+unix:///system?socket=$LAB/hosts/$1/run/libvirt-sock"; }

# The port `pid` listens on, once it does (empty after 10 s). Only 127.0.0.1 listeners count.
port_of() {
  pid=$1
  for _ in $(seq 1 100); do
    port=$(ss -Htlnp 2>/dev/null | awk -v p="pid=$pid," 'index($0, p) && $4 ~ /^127\.0\.0\.1:/ {sub(/.*:/, "", $4); print $4; exit}')
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

# start NAME PROGRAM ARGS...: in the background, in a session of its own, PID and port recorded.
start() {
  name=$1; shift
  setsid "$@" > "$M/$name.log" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$M/$name.pid"
  port=$(port_of "$pid")
  [ -n "$port" ] || { echo "lab metrics: $name did not come up" >&2; tail -5 "$M/$name.log" >&2; exit 1; }
  echo "$port" > "$M/$name.port"
  echo "$name: pid $pid listening on 127.0.0.1:$port"
}

up() {
  for tool in $EXPORTER $PROMETHEUS ss; do
    command -v $tool >/dev/null || { echo "lab metrics: $tool is missing; run scripts/install-test-deps.sh" >&2; exit 1; }
  done
  down >/dev/null 2>&1 || true
  mkdir -p "$M/tsdb"
  targets=""
  for h in $HOSTS; do
    [ -S "$LAB/hosts/$h/run/libvirt-sock" ] || { echo "lab metrics: host $h is not up (lab.sh up first)" >&2; exit 1; }
    start exporter-$h $EXPORTER --web.listen-address=127.0.0.1:0 --libvirt.uri="$(uri $h)"
    targets="$targets      - targets: [\"127.0.0.1:$(cat "$M/exporter-$h.port")\"]
        labels: {lab_host: lab-$h}
"
  done
  cat > "$M/prometheus.yml" <<EOC
global:
  scrape_interval: $SCRAPE_INTERVAL
  scrape_timeout: $SCRAPE_INTERVAL
scrape_configs:
  - job_name: libvirt
    static_configs:
$targets
EOC
  start prometheus $PROMETHEUS --config.file="$M/prometheus.yml" --storage.tsdb.path="$M/tsdb" \
      --storage.tsdb.retention.time=1d --web.listen-address=127.0.0.1:0 --web.external-url=http://127.0.0.1/
}

# stop NAME: by the recorded PID, and only if that PID still runs the program we started.
stop() {
  name=$1; program=$2; pidfile=$M/$name.pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ "$(readlink -f /proc/$pid/exe 2>/dev/null)" = "$(readlink -f "$(command -v $program)")" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    echo "$name: pid $pid stopped"
  fi
  rm -f "$pidfile" "$M/$name.port"
}

down() {
  [ -d "$M" ] || return 0
  stop prometheus $PROMETHEUS || true
  for h in $HOSTS; do stop exporter-$h $EXPORTER || true; done
}

pids() {
  [ -d "$M" ] || return 0
  for f in "$M"/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; done
  return 0
}

case "${1:-}" in
  up) up;;  down) down;;  pids) pids;;
  *) echo "usage: $0 up|down|pids (through lab.sh metrics-up|metrics-down)" >&2; exit 2;;
esac
