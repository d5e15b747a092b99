#!/usr/bin/env bash
# Builds (once) the node's binaries for the local single-node cluster and installs its Debian packages:
# kubelet, kube-controller-manager, kube-scheduler, kube-proxy at the pinned Kubernetes version (the same
# wrapper module as kube-apiserver, from the Go module proxy), a pause binary for the pod sandbox image,
# and containerd + runc + CNI plugins + buildah + nftables from Debian.
# Prints one JSON object with the paths on stdout; progress on stderr. Cached outside the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KUBERNETES_VERSION="${LEASEHOLD_KUBERNETES_VERSION:-v1.36.3}"
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
out="$CACHE/kubernetes-$KUBERNETES_VERSION/bin"
components=(kubelet kube-controller-manager kube-scheduler kube-proxy)
log() { printf '[node] %s\n' "$*" >&2; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB_OVERRIDE:-off}"

bash "$here/../ensure-packages.sh" containerd runc containernetworking-plugins buildah nftables iptables openssl busybox

# The control plane's build directory holds the wrapper module (staging modules replaced by releases).
bash "$here/../build-control-plane.sh" >/dev/null
missing=()
for c in "${components[@]}"; do [[ -x "$out/$c" ]] || missing+=("$c"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  exec 9>"$CACHE/.build.lock"; flock 9
  dir="$CACHE/build/kubernetes-$KUBERNETES_VERSION"
  [[ -f "$dir/go.mod" ]] || { log "no wrapper module in $dir; remove $CACHE/kubernetes-$KUBERNETES_VERSION and rerun"; exit 1; }
  cd "$dir"
  log "building ${missing[*]} $KUBERNETES_VERSION (warm Go cache: ~1-2 minutes; cold: 10-20)"
  go get $(for c in "${missing[@]}"; do printf 'k8s.io/kubernetes/cmd/%s@%s ' "$c" "$KUBERNETES_VERSION"; done) >&2
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for c in "${missing[@]}"; do
    log "compiling $c"
    go build -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$out/$c.tmp" "$out/$c"
  done
fi

pause="$CACHE/pause/pause"
if [[ ! -x "$pause" ]]; then
  log "compiling the pause binary"
  mkdir -p "$CACHE/pause"
  (cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$pause.tmp" . && mv "$pause.tmp" "$pause")
fi

printf '{"kubelet":"%s","kubeControllerManager":"%s","kubeScheduler":"%s","kubeProxy":"%s","pause":"%s"}\n' \
  "$out/kubelet" "$out/kube-controller-manager" "$out/kube-scheduler" "$out/kube-proxy" "$pause"
