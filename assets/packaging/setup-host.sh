#!/bin/sh
# setup-host.sh - prepares the host for vms, as root: the libvirt storage pools vms keeps its disks in
# (vms) and the pacman cache every VM shares (vms-pkg-shared), both dir pools, started and autostarted.
# Run by the Arch package's install hook (packaging/arch/vms.install) and by scripts/setup.sh; safe to
# run again. Environment (for tests and unusual hosts): VMS_SETUP_URI (default qemu:///system),
# VMS_POOL_DIR, VMS_SHARED_POOL_DIR, VMS_POOL_NAME, VMS_SHARED_POOL_NAME.
set -eu
export LC_ALL=C
uri=${VMS_SETUP_URI:-qemu:///system}
self=$(readlink -f -- "$0")

if [ "$(id -u)" != 0 ]; then
  echo "setup-host: this defines libvirt storage pools and needs root: run sudo $self" >&2
  exit 1
fi
# A daemon that is just starting (socket activation at install time) gets a few seconds to answer.
tries=0
until virsh -c "$uri" version >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 5 ] && { sleep 1; continue; }
  echo "setup-host: libvirt is not running at $uri: run sudo systemctl enable --now libvirtd.socket, then sudo $self" >&2
  exit 75
done

# pool NAME DIR: a dir pool at DIR, defined, built, started and autostarted (each step only when missing).
pool() {
  name=$1 dir=$2
  if ! virsh -c "$uri" pool-info "$name" >/dev/null 2>&1; then
    virsh -c "$uri" pool-define-as "$name" dir --target "$dir" >/dev/null
  fi
  # pool-build makes the folder (with the pool's permissions) and leaves an existing one alone.
  [ -d "$dir" ] || virsh -c "$uri" pool-build "$name" >/dev/null
  if ! virsh -c "$uri" pool-info "$name" | grep -q '^State: *running'; then
    virsh -c "$uri" pool-start "$name" >/dev/null
  fi
  if ! virsh -c "$uri" pool-info "$name" | grep -q '^Autostart: *yes'; then
    virsh -c "$uri" pool-autostart "$name" >/dev/null
  fi
  echo "setup-host: pool $name at $dir is running and starts with libvirt"
}

pool "${VMS_POOL_NAME:-vms}" "${VMS_POOL_DIR:-/var/lib/libvirt/images/vms}"
pool "${VMS_SHARED_POOL_NAME:-vms-pkg-shared}" "${VMS_SHARED_POOL_DIR:-/var/lib/libvirt/filesystems/pkg/shared}"
