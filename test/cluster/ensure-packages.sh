#!/usr/bin/env bash
# Installs the Debian packages the harness needs (once; apt-get, as root) and says where they are.
# Usage: ensure-packages.sh PACKAGE...   — exits non-zero with a clear message if one cannot be installed.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "[packages] missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "[packages] installing ${missing[*]}" >&2
# One install at a time on this machine (dpkg's own lock fails fast instead of waiting).
exec 9>/tmp/leasehold-apt.lock; flock 9
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
  { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
