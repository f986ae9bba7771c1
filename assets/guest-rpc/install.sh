#!/bin/sh
# install.sh --root DIR [--systemd --user NAME]: installs the guest side of vms rpc into a root
# filesystem: vms-rpc, vms-copy, vms-move, vms-open-in-dvm, vms-open-in-vm and vms-rpc-agent in
# /usr/bin, the services in /etc/vms/rpc.d and what they share in /usr/lib/vms/rpc-lib.sh.
# --systemd also enables vms-rpc-agent.service, keeps gettys off the rpc consoles, lets group wheel
# use the call console, and makes NAME the user whose ~/Incoming receives files. The busybox test
# guest starts the agent from its own init script instead.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root='' systemd='' user=''
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --systemd) systemd=1; shift ;;
    --user) user=$2; shift 2 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$root" ] && [ -d "$root" ] || { echo "install.sh: --root DIR is required" >&2; exit 2; }
mkdir -p "$root/usr/bin" "$root/etc/vms/rpc.d"
for f in vms-rpc vms-copy vms-open-in-dvm vms-open-in-vm vms-rpc-agent vms-clipboard; do cp "$here/$f" "$root/usr/bin/$f"; chmod 755 "$root/usr/bin/$f"; done
ln -sf vms-copy "$root/usr/bin/vms-move"
mkdir -p "$root/usr/lib/vms"
cp "$here/rpc-lib.sh" "$root/usr/lib/vms/rpc-lib.sh"; chmod 644 "$root/usr/lib/vms/rpc-lib.sh"
for f in "$here"/rpc.d/*; do cp "$f" "$root/etc/vms/rpc.d/"; chmod 755 "$root/etc/vms/rpc.d/${f##*/}"; done
[ -z "$user" ] || echo "$user" >"$root/etc/vms/rpc-user"
if [ -n "$systemd" ]; then
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants" "$root/etc/udev/rules.d"
  cp "$here/vms-rpc-agent.service" "$root/etc/systemd/system/"
  ln -sf ../vms-rpc-agent.service "$root/etc/systemd/system/multi-user.target.wants/vms-rpc-agent.service"
  # systemd starts a getty on hvc0 in a VM; the rpc consoles are not terminals for people.
  ln -sf /dev/null "$root/etc/systemd/system/serial-getty@hvc0.service"
  ln -sf /dev/null "$root/etc/systemd/system/serial-getty@hvc1.service"
  echo 'KERNEL=="hvc0", GROUP="wheel", MODE="0660"' >"$root/etc/udev/rules.d/70-vms-rpc.rules"
fi
