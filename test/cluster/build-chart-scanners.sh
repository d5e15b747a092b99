#!/usr/bin/env bash
# Builds (once) the pinned chart scanners the chart README answers to: kube-score from the Go module proxy
# and checkov from PyPI in a virtualenv, both cached outside the repo. Prints the cache directory
# (bin/kube-score, venv/bin/checkov) on stdout.
set -euo pipefail

KUBE_SCORE_VERSION="${LEASEHOLD_KUBE_SCORE_VERSION:-v1.20.0}"
CHECKOV_VERSION="${LEASEHOLD_CHECKOV_VERSION:-3.3.30}"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
out="$CACHE/chart-scanners-$KUBE_SCORE_VERSION-$CHECKOV_VERSION"

log() { printf '[chart-scanners] %s\n' "$*" >&2; }

# As for chart-testing: no toolchain downloads, static, sums from the proxy, built from a temporary module
# because the proxy will not list the module's versions for `go install pkg@version`.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB_OVERRIDE:-off}"

if [[ ! -x "$out/bin/kube-score" ]]; then
  log "building kube-score $KUBE_SCORE_VERSION (cold: about a minute)"
  dir="$CACHE/build/kube-score-$KUBE_SCORE_VERSION"
  rm -rf "$dir"; mkdir -p "$dir" "$out/bin"
  (
    cd "$dir"
    go mod init leasehold.local/build/kube-score >/dev/null 2>&1
    go get "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" >&2
    go build -trimpath -ldflags "-s -w" -o "$out/bin/kube-score.tmp" github.com/zegl/kube-score/cmd/kube-score
  )
  mv "$out/bin/kube-score.tmp" "$out/bin/kube-score"
fi

if [[ ! -x "$out/venv/bin/checkov" ]]; then
  log "installing checkov $CHECKOV_VERSION (cold: 1-2 minutes)"
  rm -rf "$out/venv"
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi

echo "$out"
