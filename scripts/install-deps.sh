#!/usr/bin/env bash
# Installs the Debian packages WaveMesh's tests and main job need, skipping those already present.
set -euo pipefail
PACKAGES=(dataset-fashion-mnist fonts-dejavu-core redis-server rabbitmq-server chromium python3-torch)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; }
