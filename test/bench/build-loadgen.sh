#!/usr/bin/env bash
# Builds (once) the bench's load generator (Go, standard library only) into the cache, keyed by a hash of
# its sources, and prints the binary's path. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")/loadgen" && pwd)"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
hash=$(cat "$here"/go.mod "$here"/*.go | sha256sum | cut -c1-16)
out="$CACHE/bench-loadgen-$hash/loadgen"
if [[ ! -x "$out" ]]; then
  command -v go >/dev/null || { echo "[loadgen] Go >= 1.24 is needed to build the load generator" >&2; exit 1; }
  echo "[loadgen] building the load generator" >&2
  mkdir -p "$(dirname "$out")"
  (cd "$here" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
fi
echo "$out"
