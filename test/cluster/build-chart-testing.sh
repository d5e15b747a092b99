#!/usr/bin/env bash
# Builds (once) the pinned chart-testing (`ct`) from the Go module proxy, with the yamllint and yamale it
# calls installed from PyPI into a virtualenv beside it, all cached outside the repo. Prints the cache
# directory (bin/ct, venv/bin, etc/ with ct's chart schema and lint config) on stdout.
set -euo pipefail

CT_VERSION="${LEASEHOLD_CT_VERSION:-v3.13.0}"
YAMLLINT_VERSION=1.37.1
YAMALE_VERSION=6.0.0
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
out="$CACHE/ct-$CT_VERSION"

log() { printf '[chart-testing] %s\n' "$*" >&2; }

# Same build environment as the control plane (build-control-plane.sh): no toolchain downloads, static,
# module sums from the proxy. `go install pkg@version` is not used: it asks the proxy for the module's
# version list, which the proxy refuses for this module.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB_OVERRIDE:-off}"

if [[ ! -x "$out/bin/ct" || ! -f "$out/etc/lintconf.yaml" ]]; then
  log "building ct $CT_VERSION (cold: 1-3 minutes)"
  dir="$CACHE/build/ct-$CT_VERSION"
  rm -rf "$dir"; mkdir -p "$dir" "$out/bin" "$out/etc"
  (
    cd "$dir"
    go mod init leasehold.local/build/ct >/dev/null 2>&1
    go get "github.com/helm/chart-testing/v3@$CT_VERSION" >&2
    go build -trimpath -ldflags "-s -w" -o "$out/bin/ct.tmp" github.com/helm/chart-testing/v3/ct
    cp "$(go list -m -f '{{.Dir}}' github.com/helm/chart-testing/v3)"/etc/{chart_schema.yaml,lintconf.yaml} "$out/etc/"
  )
  mv "$out/bin/ct.tmp" "$out/bin/ct"
fi

if [[ ! -x "$out/venv/bin/yamllint" || ! -x "$out/venv/bin/yamale" ]]; then
  log "installing yamllint $YAMLLINT_VERSION and yamale $YAMALE_VERSION"
  rm -rf "$out/venv"
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install --quiet --disable-pip-version-check \
    "yamllint==$YAMLLINT_VERSION" "yamale==$YAMALE_VERSION" >&2
fi

echo "$out"
