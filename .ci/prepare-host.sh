#!/usr/bin/env bash
# Prepares this Debian machine the way an Arch desktop has it, before libvirtd starts:
# - /dev/kvm 0666 (Arch's udev rule; at 0600 libvirtd re-probes QEMU on every call, seconds each);
# - libvirtd's read-write socket open to group libvirt with no polkit (there is no system bus here;
#   on Arch the polkit rule for group libvirt has the same effect);
# - an unprivileged desktop user, vmstest, in groups libvirt and kvm, who runs every VM operation in the tests;
# - sshd on loopback with a key for vmstest, so tests can drive vms over qemu+ssh://vmstest@localhost/system;
# - the German locale, to prove vms reads libvirt's answers whatever the desktop's language.
set -euo pipefail
trap 'echo "prepare-host: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
TEST_USER=${VMS_TEST_USER:-vmstest}

[ -e /dev/kvm ] && chmod 0666 /dev/kvm

conf=/etc/libvirt/libvirtd.conf
set_conf() { # key value: replaces a commented or set line, or appends one
  if grep -qE "^#?\s*$1\s*=" "$conf"; then sed -i -E "s|^#?\s*$1\s*=.*|$1 = $2|" "$conf"; else echo "$1 = $2" >>"$conf"; fi
}
set_conf unix_sock_group '"libvirt"'
set_conf unix_sock_rw_perms '"0770"'
set_conf auth_unix_rw '"none"'

getent group libvirt >/dev/null || groupadd --system libvirt
getent group kvm >/dev/null || groupadd --system kvm
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --groups libvirt,kvm "$TEST_USER"
else
  usermod -aG libvirt,kvm "$TEST_USER"
fi
home=$(getent passwd "$TEST_USER" | cut -d: -f6)

# ssh to itself for the remote-URI test: a key, authorized, and localhost's host key known.
install -d -m 0700 -o "$TEST_USER" -g "$TEST_USER" "$home/.ssh"
[ -f "$home/.ssh/id_ed25519" ] || runuser -u "$TEST_USER" -- ssh-keygen -q -t ed25519 -N '' -f "$home/.ssh/id_ed25519"
install -m 0600 -o "$TEST_USER" -g "$TEST_USER" "$home/.ssh/id_ed25519.pub" "$home/.ssh/authorized_keys"
# Our own sshd on its own port, whatever sshd the machine itself runs (a CI machine may have one on :22
# that is not ours to configure).
SSH_PORT=${VMS_TEST_SSH_PORT:-2222}
mkdir -p /run/sshd
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A
pidfile=/run/vms-test-sshd.pid
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  /usr/sbin/sshd -o ListenAddress=127.0.0.1 -o Port="$SSH_PORT" -o PasswordAuthentication=no -o PidFile="$pidfile"
fi
for _ in $(seq 1 50); do ssh-keyscan -T 2 -p "$SSH_PORT" -t ed25519 localhost >/dev/null 2>&1 && break; sleep 0.2; done
ssh-keyscan -p "$SSH_PORT" -t ed25519 localhost 2>/dev/null >"$home/.ssh/known_hosts"
[ -s "$home/.ssh/known_hosts" ] || { echo "prepare-host: sshd on 127.0.0.1:$SSH_PORT does not answer" >&2; exit 1; }
chown "$TEST_USER:$TEST_USER" "$home/.ssh/known_hosts"

if ! locale -a 2>/dev/null | grep -qi '^de_DE.utf8$'; then
  sed -i -E 's/^#\s*(de_DE.UTF-8 UTF-8)/\1/' /etc/locale.gen
  locale-gen >/dev/null
fi
