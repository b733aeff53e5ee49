#!/usr/bin/env bash
# Install the Debian packages gridledger needs, and only those that are missing.
# Does nothing (and needs no network) when everything is present.
#   scripts/deps.sh          build and test packages: the list below and
#                            scripts/deps.d/*.list (one package per line, # comments)
#   scripts/deps.sh --bench  also scripts/deps.d/*.bench (bench-only references)
set -euo pipefail
cd "$(dirname "$0")"
pkgs=(gcc make cmake pkg-config liblmdb-dev libsodium-dev libevent-dev libprotobuf-c-dev
      protobuf-c-compiler libmodbus-dev libcmocka-dev libjansson-dev
      glpk-utils)
lists=(deps.d/*.list)
[ "${1:-}" = "--bench" ] && lists+=(deps.d/*.bench)
for f in "${lists[@]}"; do
  [ -f "$f" ] || continue
  while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    pkgs+=("$p")
  done < "$f"
done
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "deps: missing packages ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
