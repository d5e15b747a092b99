#!/usr/bin/env bash
# Builds (once) and locates the pinned control-plane binaries Leasehold tests against:
# kube-apiserver + kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, helm.
# Everything comes from the Go module proxy and is cached outside the repo, keyed by version.
#
# Usage: build-control-plane.sh            build what is missing, print progress on stderr and
#                                          one JSON object with the binary paths on stdout
#        build-control-plane.sh --check    exit 0 only if every binary is already available
#
# Binaries are taken, in order, from: $KUBEBUILDER_ASSETS, PATH (only at the pinned version),
# the cache ($LEASEHOLD_CACHE, default ~/.cache/leasehold), and finally built into the cache.
set -euo pipefail

KUBERNETES_VERSION="${LEASEHOLD_KUBERNETES_VERSION:-v1.36.3}"
ETCD_VERSION="${LEASEHOLD_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${LEASEHOLD_HELM_VERSION:-v4.3.1}"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
MODE="${1:-build}"

log() { printf '[control-plane] %s\n' "$*" >&2; }

# The build environment: no toolchain downloads, static binaries. The checksum database is not
# reachable from every machine we run on, so module sums are taken from the proxy for this build only.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB_OVERRIDE:-off}"

k8s_minor="${KUBERNETES_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
k8s_patch="${KUBERNETES_VERSION##*.}"
staging_version="v0.${k8s_minor}.${k8s_patch}"

# --- locating -------------------------------------------------------------------------------------
# version_ok NAME PATH: does the binary at PATH report the pinned version?
version_ok() {
  local out
  case "$1" in
    kube-apiserver) out=$("$2" --version 2>/dev/null) || return 1; [[ "$out" == *"$KUBERNETES_VERSION"* ]] ;;
    kubectl) out=$("$2" version --client 2>/dev/null) || return 1; [[ "$out" == *"Client Version: $KUBERNETES_VERSION"* ]] ;;
    etcd) out=$("$2" --version 2>/dev/null) || return 1; [[ "$out" == *"etcd Version: ${ETCD_VERSION#v}"* ]] ;;
    helm) out=$("$2" version --short 2>/dev/null) || return 1; [[ "$out" == "$HELM_VERSION"* ]] ;;
  esac
}

cache_path() {
  case "$1" in
    kube-apiserver|kubectl) echo "$CACHE/kubernetes-$KUBERNETES_VERSION/bin/$1" ;;
    etcd) echo "$CACHE/etcd-$ETCD_VERSION/bin/etcd" ;;
    helm) echo "$CACHE/helm-$HELM_VERSION/bin/helm" ;;
  esac
}

# find_binary NAME: print a usable path or nothing.
find_binary() {
  local name="$1" candidate
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then
    # envtest assets are trusted as they are: users point at them on purpose.
    echo "$KUBEBUILDER_ASSETS/$name"; return
  fi
  candidate=$(command -v "$name" 2>/dev/null || true)
  if [[ -n "$candidate" ]] && version_ok "$name" "$candidate"; then echo "$candidate"; return; fi
  candidate=$(cache_path "$name")
  if [[ -x "$candidate" ]]; then echo "$candidate"; fi
}

# --- building -------------------------------------------------------------------------------------
build_kubernetes() {
  local dir="$CACHE/build/kubernetes-$KUBERNETES_VERSION" out="$CACHE/kubernetes-$KUBERNETES_VERSION/bin"
  log "building kube-apiserver and kubectl $KUBERNETES_VERSION (cold: 10-25 minutes on 2 cores)"
  rm -rf "$dir"; mkdir -p "$dir" "$out"
  cd "$dir"
  go mod init leasehold.local/build/kubernetes >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  [[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"; exit 1; }
  # Every staging module is required at v0.0.0 and replaced by ./staging/...; point each at its release.
  local modules
  modules=$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/.*#\1#p' "$gomod")
  log "replacing $(echo "$modules" | wc -l) staging modules with $staging_version"
  for m in $modules; do go mod edit -replace="$m=$m@$staging_version"; done
  # Only the main module's godebug settings count, so carry k/k's over.
  sed -n 's/^godebug[[:space:]]\{1,\}\([^(].*\)$/\1/p' "$gomod" | while read -r setting; do
    go mod edit -godebug="$setting"
  done
  go mod edit -go="$(sed -n 's/^go \(.*\)$/\1/p' "$gomod")"
  log "resolving modules"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION" >&2
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "compiling kube-apiserver"
  go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  log "compiling kubectl"
  go build -trimpath -ldflags "$ldflags" -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"; mv "$out/kubectl.tmp" "$out/kubectl"
}

build_etcd() {
  local dir="$CACHE/build/etcd-$ETCD_VERSION" out="$CACHE/etcd-$ETCD_VERSION/bin"
  log "building etcd $ETCD_VERSION (cold: 2-5 minutes)"
  rm -rf "$dir"; mkdir -p "$dir" "$out"
  cd "$dir"
  go mod init leasehold.local/build/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$out/etcd.tmp" "$out/etcd"
}

build_helm() {
  local out="$CACHE/helm-$HELM_VERSION/bin" major="${HELM_VERSION%%.*}"
  log "building helm $HELM_VERSION (cold: 2-5 minutes)"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
}

missing=()
for name in etcd kube-apiserver kubectl helm; do
  [[ -n "$(find_binary "$name")" ]] || missing+=("$name")
done

if [[ "$MODE" == "--check" ]]; then
  [[ ${#missing[@]} -eq 0 ]]; exit
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  command -v go >/dev/null || { log "Go >= 1.24 is needed to build: ${missing[*]} (or set KUBEBUILDER_ASSETS)"; exit 1; }
  log "missing: ${missing[*]}; building into $CACHE"
  mkdir -p "$CACHE"
  # One build at a time per cache, also across concurrent test runs.
  exec 9>"$CACHE/.build.lock"; flock 9
  start=$SECONDS
  [[ -n "$(find_binary etcd)" ]] || build_etcd
  [[ -n "$(find_binary helm)" ]] || build_helm
  [[ -n "$(find_binary kube-apiserver)" && -n "$(find_binary kubectl)" ]] || build_kubernetes
  log "built in $((SECONDS - start)) s"
fi

printf '{"kubeApiserver":"%s","etcd":"%s","kubectl":"%s","helm":"%s","kubernetesVersion":"%s"}\n' \
  "$(find_binary kube-apiserver)" "$(find_binary etcd)" "$(find_binary kubectl)" "$(find_binary helm)" \
  "$KUBERNETES_VERSION"
