#!/usr/bin/env bash
# Builds the Leasehold images from our Dockerfiles without a Docker daemon (buildah), saves each as an OCI
# archive and, when the harness's registry is serving, pushes them to it (the node's containerd pulls
# from there; nothing is side-loaded). Prints the image references on stdout, one a line.
#
# LEASEHOLD_IMAGE_REGISTRY  where the images are named and pushed (default <local registry>/leasehold)
# LEASEHOLD_IMAGE_OUT       directory for the OCI archives (default the cache's images/)
# LEASEHOLD_IMAGE_PUSH      1: fail if the registry is not serving; 0: never push; unset: push if serving
#
# Base images cannot be pulled on this machine: when they are missing from buildah's store, local
# stand-ins with the same names are built from the Node 24 binary the repository installs (the npm
# "node" package) and the host's shared libraries. The Dockerfiles are unchanged and build with
# `docker build` where the real bases are reachable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
ROOT="${LEASEHOLD_NODE_ROOT:-$CACHE/run/node-cluster}"
STORE="$CACHE/containers"
ARCHIVES="${LEASEHOLD_IMAGE_OUT:-$CACHE/images}"
VERSION=$(sed -n 's/^  "version": "\(.*\)",/\1/p' "$repo/sidecar/package.json")
REVISION=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
REGISTRY="${LEASEHOLD_IMAGE_REGISTRY:-$(bash "$here/../registry/registry.sh" address)/leasehold}"
PUSH="${LEASEHOLD_IMAGE_PUSH:-}"
log() { printf '[images] %s\n' "$*" >&2; }
bh() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver overlay "$@"; }
exists() { bh inspect --type image "$1" >/dev/null 2>&1; }

bash "$here/build-node.sh" >/dev/null
mkdir -p "$STORE" "$ARCHIVES"
exec 9>"$STORE/.lock"; flock 9
# Leave nothing mounted: working containers (build stages, interrupted runs) and the storage driver's
# own bind mount go when the script ends, however it ends.
release() {
  bh rm --all >/dev/null 2>&1 || true
  umount "$STORE/storage/overlay" 2>/dev/null || true
}
trap release EXIT
release

node_bin="$repo/node_modules/node/bin/node"
[[ -x $node_bin ]] || { log "run npm install first ($node_bin is missing)"; exit 1; }
node_version=$("$node_bin" --version)

# libs DIR BINARY...: the shared libraries the binaries need, at the paths the loader looks for them.
libs() {
  local dir=$1 binary lib; shift
  mkdir -p "$dir/lib/x86_64-linux-gnu" "$dir/lib64"
  for binary in "$@"; do
    for lib in $(ldd "$binary" | awk '/=>/ {print $3}'); do cp -L "$lib" "$dir/lib/x86_64-linux-gnu/"; done
  done
  cp -L /lib64/ld-linux-x86-64.so.2 "$dir/lib64/"
}

# Stand-in for gcr.io/distroless/nodejs24-debian12:nonroot: node at /nodejs/bin/node, CA bundle, user 65532.
runtime_base=gcr.io/distroless/nodejs24-debian12:nonroot
if ! exists "$runtime_base"; then
  log "building a local stand-in for $runtime_base (node $node_version)"
  dir=$(mktemp -d); trap 'rm -rf "$dir"; release' EXIT
  mkdir -p "$dir/nodejs/bin" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/home/nonroot"
  cp "$node_bin" "$dir/nodejs/bin/node"; libs "$dir" "$node_bin"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"; chown 65532:65532 "$dir/home/nonroot"
  c=$(bh from scratch); bh copy "$c" "$dir/" / >/dev/null
  bh config --user 65532:65532 --workingdir /home/nonroot --entrypoint '["/nodejs/bin/node"]' \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$c"
  bh commit -q --rm "$c" "$runtime_base" >/dev/null
  rm -rf "$dir"; trap release EXIT
fi

# Stand-in for docker.io/library/node:24-slim: a busybox shell, node and npm (the host's npm 11).
build_base=docker.io/library/node:24-slim
if ! exists "$build_base"; then
  log "building a local stand-in for $build_base"
  dir=$(mktemp -d); trap 'rm -rf "$dir"; release' EXIT
  mkdir -p "$dir/bin" "$dir/usr/bin" "$dir/usr/local/bin" "$dir/usr/local/lib/node_modules" "$dir/etc/ssl/certs" "$dir/tmp" "$dir/root"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do [[ $applet == busybox ]] || ln -sf /bin/busybox "$dir/bin/$applet"; done
  ln -sf /bin/env "$dir/usr/bin/env"
  cp "$node_bin" "$dir/usr/local/bin/node"; libs "$dir" "$node_bin" /bin/busybox
  # npm's own package directory (not `npm root -g`: with the repository's Node 24 first on PATH that
  # names a global prefix inside node_modules/node, where no npm is installed).
  npm_cli=$(readlink -f "${npm_execpath:-$(command -v npm)}")
  cp -a "$(dirname "$(dirname "$npm_cli")")" "$dir/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"; printf 'root:x:0:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  c=$(bh from scratch); bh copy "$c" "$dir/" / >/dev/null
  # This machine's registry traffic is signed by the host's CA bundle; npm in the stage needs it too.
  bh config --env PATH=/usr/local/bin:/usr/bin:/bin --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --cmd '["node"]' "$c"
  bh commit -q --rm "$c" "$build_base" >/dev/null
  rm -rf "$dir"; trap release EXIT
fi

# The pod sandbox image the node's containerd is configured with.
pause_bin=$(bash "$here/build-node.sh" | sed -n 's/.*"pause":"\([^"]*\)".*/\1/p')
c=$(bh from scratch); bh copy "$c" "$pause_bin" /pause >/dev/null
bh config --entrypoint '["/pause"]' --user 65535:65535 "$c"
pause_ref="$REGISTRY/pause:3.10"
bh commit -q --rm "$c" "$pause_ref" >/dev/null

# build NAME DOCKERFILE: our image, tagged REGISTRY/NAME:VERSION, labelled with this version and commit.
build() {
  local ref="$REGISTRY/$1:$VERSION"
  log "building $ref from $2"
  bh bud --quiet --pull=never --isolation chroot --network host --layers -f "$repo/$2" -t "$ref" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" "$repo" >/dev/null
  # buildah's layer cache can hand back a LABEL step built for another commit: set this build's labels last.
  local c; c=$(bh from --pull=never "$ref")
  bh config --label "org.opencontainers.image.version=$VERSION" --label "org.opencontainers.image.revision=$REVISION" "$c"
  bh commit -q --rm "$c" "$ref" >/dev/null
  echo "$ref"
}
sidecar_ref=$(build sidecar sidecar/Dockerfile)
controller_ref=$(build example-controller controller/Dockerfile)
refs=("$sidecar_ref" "$controller_ref" "$pause_ref")

registry_host=${REGISTRY%%/*}
if [[ $PUSH != 0 ]] && curl -sf -o /dev/null --max-time 2 "http://$registry_host/v2/"; then PUSH=1
elif [[ $PUSH == 1 ]]; then log "the registry $registry_host is not serving (npm run cluster -- up starts it)"; exit 1
else PUSH=0; fi
mkdir -p "$ARCHIVES"
for ref in "${refs[@]}"; do
  name=${ref##*/}; name=${name%%:*}
  rm -f "$ARCHIVES/$name.tar"
  bh push -q "$ref" "oci-archive:$ARCHIVES/$name.tar:$ref" >/dev/null
  if [[ $PUSH == 1 ]]; then
    bh push -q --tls-verify=false "$ref" "docker://$ref" >/dev/null ||
      { log "pushing $ref to $registry_host was refused"; exit 1; }
  fi
  echo "$ref"
done
[[ $PUSH == 1 ]] && log "pushed to $registry_host" || log "not pushed: the registry $registry_host is not serving"
