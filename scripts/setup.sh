#!/usr/bin/env bash
# Sets vms up on an Arch Linux (or Omarchy) host and starts the tray app.
#   ./scripts/setup.sh            install host packages, enable libvirt, build, link `vms`, start the app
#   ./scripts/setup.sh --no-start do everything but start the app
set -euo pipefail
cd "$(dirname "$0")/.."

start=1
[ "${1:-}" = --no-start ] && start=0

die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# Arch (and its derivatives) say so in os-release; a pacman binary alone proves nothing (Debian packages it).
is_arch() {
  [ -r /etc/os-release ] || return 1
  # shellcheck disable=SC1091
  . /etc/os-release
  case " ${ID:-} ${ID_LIKE:-} " in *" arch "*) return 0 ;; *) return 1 ;; esac
}

if ! is_arch; then
  cat >&2 <<MSG
setup: this script sets up an Arch Linux host, and this is ${PRETTY_NAME:-not Arch}.
Elsewhere, install libvirt, QEMU, OVMF, virt-viewer and dnsmasq with your package manager, then:
  npm ci && npm run build
  sudo ln -sf "$PWD/dist/cli/vms.mjs" /usr/local/bin/vms     # puts \`vms\` on your PATH
  vms --help
MSG
  exit 1
fi

# As root, run commands directly; otherwise through sudo, which must then exist.
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null; then
  as_root() { sudo "$@"; }
else
  die "sudo is not installed: run this script as root, or install sudo (pacman -S sudo as root) and try again"
fi

echo "==> host packages"
as_root pacman -S --needed --noconfirm libvirt qemu-base edk2-ovmf virt-viewer dnsmasq iptables-nft \
  arch-install-scripts dosfstools mtools gptfdisk e2fsprogs nodejs npm xorg-xprop libnotify

echo "==> libvirt"
as_root systemctl enable --now libvirtd.service virtlogd.socket
if [ "$(id -u)" -ne 0 ]; then
  as_root usermod -aG libvirt "$USER" || true
fi

echo "==> storage pools (sudo)"
sudo ./assets/packaging/setup-host.sh

echo "==> build"
npm ci --no-audit --no-fund
npm run build
as_root ln -sf "$PWD/dist/cli/vms.mjs" /usr/local/bin/vms
echo "vms is on your PATH: $(command -v vms || echo /usr/local/bin/vms). Next: vms template build arch"

if [ "$start" = 1 ]; then
  echo "==> starting the tray app"
  npm start
fi
