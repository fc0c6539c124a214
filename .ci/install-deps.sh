#!/usr/bin/env bash
# Installs every system package Latchkey needs to build, run and test on Debian/Ubuntu.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(
  libwebkit2gtk-4.1-dev build-essential pkg-config curl file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev
  xvfb xauth dbus dbus-x11 dbus-user-session webkit2gtk-driver xdg-utils desktop-file-utils
  gnome-keyring libsecret-tools chromium imagemagick xdotool
  postgresql-15  # latchkey-server's tests make throwaway clusters with its initdb/pg_ctl
  python3-venv  # `make api-fuzz` installs schemathesis (PyPI) into a venv
  iproute2 socat  # the sync partition tests: network namespaces, veth links, forwarders inside
)
# Node.js (with npm) runs the test OpenID Provider and the scripted browser; keep an existing install.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# tauri-driver (WebDriver for the app window, used by the end-to-end tests) comes from crates.io.
if ! command -v tauri-driver >/dev/null 2>&1 && ! [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver" ]; then
  echo "Installing tauri-driver"
  cargo install tauri-driver --locked --quiet
fi
