#!/usr/bin/env bash
# Builds (once) the client-go interop peer from the Go module proxy into the cache, keyed by a hash of
# its sources, and prints the binary's path. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")/peer" && pwd)"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
hash=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go | sha256sum | cut -c1-16)
out="$CACHE/interop-peer-$hash/peer"
if [[ ! -x "$out" ]]; then
  command -v go >/dev/null || { echo "[interop-peer] Go >= 1.24 is needed to build the client-go peer" >&2; exit 1; }
  echo "[interop-peer] building the client-go peer (cold: 2-4 minutes)" >&2
  mkdir -p "$(dirname "$out")"
  (cd "$here" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB=off \
    go build -trimpath -ldflags "-s -w" -o "$out.tmp" . >&2)
  mv "$out.tmp" "$out"
fi
echo "$out"
