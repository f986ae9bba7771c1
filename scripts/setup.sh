#!/usr/bin/env bash
# Sets vms up on an Arch Linux (or Omarchy) host and starts the tray app.
#   ./scripts/setup.sh            install host packages, enable libvirt, build, link `vms`, start the app
#   ./scripts/setup.sh --no-start do everything but start the app
set -euo pipefail
cd "$(dirname "$0")/.."

start=1
[ "${1:-}" = --no-start ] && start=0

if ! command -v pacman >/dev/null; then
  echo "setup: this script sets up an Arch Linux host (pacman not found); on other systems install libvirt, QEMU, OVMF, virt-viewer and dnsmasq yourself, then run npm ci && npm run build" >&2
  exit 1
fi

echo "==> host packages (sudo)"
sudo pacman -S --needed --noconfirm libvirt qemu-base edk2-ovmf virt-viewer dnsmasq iptables-nft \
  arch-install-scripts dosfstools mtools gptfdisk e2fsprogs nodejs npm

echo "==> libvirt"
sudo systemctl enable --now libvirtd.service virtlogd.socket
sudo usermod -aG libvirt "$USER" || true

echo "==> storage pools (sudo)"
sudo ./assets/packaging/setup-host.sh

echo "==> build"
npm ci --no-audit --no-fund
npm run build
sudo ln -sf "$PWD/dist/cli/vms.mjs" /usr/local/bin/vms

if [ "$start" = 1 ]; then
  echo "==> starting the tray app"
  npm start
fi
