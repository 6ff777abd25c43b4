#!/usr/bin/env bash
# Makes sure the Debian packages ndgrad builds and tests with are present.
# As root it installs what is missing; otherwise it prints the apt-get line and fails.
set -euo pipefail

packages=(cmake g++ make libgtest-dev libopenblas-dev zlib1g-dev ccache python3-numpy
          python3-dev pybind11-dev python3-pybind11 python3-pytest
          python3-venv python3-pip pkg-config libopenmpi-dev openmpi-bin openssh-client)
[ "${NDGRAD_EXTRA_PACKAGES:-}" ] && packages+=(${NDGRAD_EXTRA_PACKAGES})

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install_deps: not a Debian system; make sure these are installed: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install_deps: missing Debian packages. Run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
