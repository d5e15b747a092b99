#!/usr/bin/env bash
# The harness's OCI registry (CNCF distribution), plain HTTP on loopback: images and charts are pushed
# to it, and the node's containerd pulls from it.
#
#   registry.sh up      start it unless it is already serving; prints REGISTRY=<host:port>
#   registry.sh down    stop it and delete everything pushed to it
#   registry.sh address print <host:port>
#
# LEASEHOLD_REGISTRY (default 127.0.0.1:15000) moves it. Its storage lives under the run directory and
# goes with `down`, so every run starts from an empty registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
ADDRESS="${LEASEHOLD_REGISTRY:-127.0.0.1:15000}"
ROOT="$CACHE/run/registry-${ADDRESS//[:\/]/-}"
log() { printf '[registry] %s\n' "$*" >&2; }

serving() { curl -sf -o /dev/null --max-time 2 "http://$ADDRESS/v2/"; }

up() {
  if serving; then echo "REGISTRY=$ADDRESS"; return 0; fi
  local binary pid
  binary=$(bash "$here/build-registry.sh")
  mkdir -p "$ROOT/data"
  cat >"$ROOT/config.yml" <<Y
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $ROOT/data}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http:
  addr: $ADDRESS
  headers: {X-Content-Type-Options: [nosniff]}
Y
  OTEL_TRACES_EXPORTER=none setsid "$binary" serve "$ROOT/config.yml" >"$ROOT/registry.log" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$ROOT/pid"
  for _ in $(seq 100); do
    if serving; then log "serving on http://$ADDRESS (pid $pid)"; echo "REGISTRY=$ADDRESS"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "the registry did not start on $ADDRESS; its log:"; tail -20 "$ROOT/registry.log" >&2
  down; return 1
}

down() {
  if [[ -f $ROOT/pid ]]; then
    local pid; pid=$(cat "$ROOT/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$ROOT"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  address) echo "$ADDRESS" ;;
  *) echo "usage: registry.sh up | down | address" >&2; exit 2 ;;
esac
