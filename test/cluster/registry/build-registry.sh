#!/usr/bin/env bash
# Builds (once) the pinned OCI registry the harness pushes images and charts to: CNCF distribution's
# `registry`, from the Go module proxy, cached outside the repo like the control plane.
#
# Usage: build-registry.sh           build it if missing; print its path on stdout
#        build-registry.sh --check   exit 0 only if it is already built
set -euo pipefail
DISTRIBUTION_VERSION="${LEASEHOLD_DISTRIBUTION_VERSION:-v3.1.2}"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
out="$CACHE/distribution-$DISTRIBUTION_VERSION/bin"
log() { printf '[registry] %s\n' "$*" >&2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB_OVERRIDE:-off}"

if [[ -x $out/registry ]]; then echo "$out/registry"; exit 0; fi
[[ ${1:-} == --check ]] && exit 1
command -v go >/dev/null || { log "Go >= 1.24 is needed to build the registry $DISTRIBUTION_VERSION"; exit 1; }
mkdir -p "$CACHE"; exec 9>"$CACHE/.distribution.lock"; flock 9
if [[ -x $out/registry ]]; then echo "$out/registry"; exit 0; fi
log "building distribution registry $DISTRIBUTION_VERSION (cold: 1-3 minutes)"
mkdir -p "$out"
GOBIN="$out.tmp" go install -trimpath \
  -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$DISTRIBUTION_VERSION" \
  "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION" >&2
mv "$out.tmp/registry" "$out/registry"; rm -rf "$out.tmp"
echo "$out/registry"
