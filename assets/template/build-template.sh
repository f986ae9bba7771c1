#!/usr/bin/env bash
# build-template.sh - build a vms template (an Arch Linux disk image) from scratch, on an Arch host.
#
# Usage: build-template.sh --name NAME --out FILE.qcow2 [--profile minimal|gui] [--disk-size 20G]
#                          [--packages a,b,...] [--pacman-conf FILE] [--shared-cache DIR]
#                          [--user NAME] [--password PW] [--hostname H] [--esp-size 1G]
#
#   --name NAME         template name (letters, digits, . _ -)
#   --out FILE          image to write (qcow2); replaced only when the build succeeds
#   --profile P         minimal (default): base linux mkinitcpio systemd networkmanager
#                       qemu-guest-agent sudo; gui: minimal + X11, i3, spice-vdagent, qxl, pipewire,
#                       xclip, xdg-utils, and an automatic login on tty1 that starts i3
#   --disk-size SIZE    virtual disk size, sparse (default 20G)
#   --packages LIST     extra packages, comma-separated
#   --pacman-conf FILE  pacman.conf for pacstrap (default /etc/pacman.conf)
#   --shared-cache DIR  the package cache shared read-only with every VM
#                       (default /var/lib/libvirt/filesystems/pkg/shared; created if missing)
#   --user NAME         the user, member of wheel, may use sudo (default arch)
#   --password PW       its password (default: the environment variable VMS_TEMPLATE_PASSWORD,
#                       else the user name); prefer the variable: arguments are visible in ps
#   --hostname H        a fixed hostname for every VM made from it (default: none, so each VM is
#                       named by vms at boot: the SMBIOS credential system.hostname)
#   --esp-size SIZE     EFI system partition, mounted at /boot (default 1G)
#
# Runs as root. Progress goes to stderr as "==> step"; on success stdout gets KEY=value lines
# (IMAGE, ROOT_UUID, ESP_UUID, PROFILE, USER). After any failure nothing is left behind: no mount
# (the build runs in its own mount namespace), no staging directory, no partial image, no process
# started by the build (gpg-agent and the like are killed by pid).
#
# Guest layout (what the vms engine relies on):
#   disk      GPT: ESP (FAT32, /boot, holds systemd-boot, kernel, initramfs) + ext4 root
#             (Discoverable Partitions root type); fstab by UUID
#   /home     the VM's private disk, LABEL=vms-private (nofail); vms-home-seed.service copies the
#             template's /home (kept in /usr/share/vms/home-skel) into it when entries are missing
#   pacman    9p tag pkg-vm  -> /var/cache/pacman/pkg     (per VM, writable, nofail)
#             9p tag pkg-shared -> /var/cache/pacman/shared (shared, read-only in QEMU, mounted ro, nofail)
#             both are CacheDir lines of /etc/pacman.conf; the keyring is made on first boot
#   console   systemd-boot entry with console=tty0 console=ttyS0,115200; serial-getty@ttyS0
#   services  NetworkManager, qemu-guest-agent (started by udev when the channel exists)
set -euo pipefail
export LC_ALL=C
umask 022

PROG=build-template
SHARE_DIR=/usr/share/vms
MINIMAL_PACKAGES=(base linux mkinitcpio systemd networkmanager qemu-guest-agent sudo)
# xdg-utils: xdg-open, the opener of vms-open-in-dvm and vms-open-in-vm (assets/guest-rpc).
GUI_PACKAGES=(xorg-server xorg-xinit xf86-video-qxl xf86-input-libinput xorg-xrandr i3-wm i3status dmenu xterm
  ttf-dejavu spice-vdagent pipewire pipewire-pulse wireplumber xclip xdg-utils)

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
step() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
usage() { sed -n '4,6s/^# \{0,1\}//p' "$0" >&2; echo "Run with --help for details." >&2; exit 2; }
help() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }

# --- arguments -----------------------------------------------------------------------------------------
ARGS=("$@")
NAME='' OUT='' PROFILE=minimal DISK_SIZE=20G EXTRA='' PACMAN_CONF=/etc/pacman.conf
SHARED_CACHE=/var/lib/libvirt/filesystems/pkg/shared USER_NAME=arch PASSWORD=${VMS_TEMPLATE_PASSWORD:-}
GUEST_HOSTNAME='' ESP_SIZE=1G
while (( $# )); do
  opt=$1 val=
  case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
    -h|--help) help ;;
    --*) case $opt in
           --name|--out|--profile|--disk-size|--packages|--pacman-conf|--shared-cache|--user|--password|--hostname|--esp-size)
             (( $# >= 2 )) || die "$opt needs a value"
             val=$2; shift 2 ;;
           *) die "unknown option: $opt (see --help)" ;;
         esac ;;
    *) die "unexpected argument: $opt (see --help)" ;;
  esac
  case $opt in
    --name) NAME=$val ;;
    --out) OUT=$val ;;
    --profile) PROFILE=$val ;;
    --disk-size) DISK_SIZE=$val ;;
    --packages) EXTRA=$val ;;
    --pacman-conf) PACMAN_CONF=$val ;;
    --shared-cache) SHARED_CACHE=$val ;;
    --user) USER_NAME=$val ;;
    --password) PASSWORD=$val ;;
    --hostname) GUEST_HOSTNAME=$val ;;
    --esp-size) ESP_SIZE=$val ;;
    *) die "unknown option: $opt (see --help)" ;;
  esac
done
[[ -n $NAME && -n $OUT ]] || { printf '%s: error: --name and --out are required\n' "$PROG" >&2; usage; }
[[ $NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] || die "bad --name '$NAME' (letters, digits, . _ -; at most 63)"
case $PROFILE in minimal|gui) ;; *) die "bad --profile '$PROFILE' (minimal or gui)" ;; esac
[[ $DISK_SIZE =~ ^[0-9]+[KMGT]?$ ]] || die "bad --disk-size '$DISK_SIZE' (e.g. 20G)"
[[ $ESP_SIZE =~ ^[0-9]+[KMGT]?$ ]] || die "bad --esp-size '$ESP_SIZE' (e.g. 1G)"
[[ $USER_NAME =~ ^[a-z_][a-z0-9_-]{0,31}$ && $USER_NAME != root ]] || die "bad --user '$USER_NAME'"
PASSWORD=${PASSWORD:-$USER_NAME}
[[ $PASSWORD != *$'\n'* && $PASSWORD != *:* ]] || die "the password may not contain a newline or ':'"
FIXED_HOSTNAME=$GUEST_HOSTNAME
if [[ -z $GUEST_HOSTNAME ]]; then
  GUEST_HOSTNAME=$(tr 'A-Z._' 'a-z--' <<<"$NAME")
fi
[[ $GUEST_HOSTNAME =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "bad --hostname '$GUEST_HOSTNAME'"
PACKAGES=("${MINIMAL_PACKAGES[@]}")
[[ $PROFILE == gui ]] && PACKAGES+=("${GUI_PACKAGES[@]}")
if [[ -n $EXTRA ]]; then
  IFS=, read -r -a extra_list <<<"$EXTRA"
  for p in "${extra_list[@]}"; do
    [[ -z $p ]] && continue
    [[ $p =~ ^[A-Za-z0-9@._+-]+$ ]] || die "bad package name in --packages: '$p'"
    PACKAGES+=("$p")
  done
fi

# --- host checks (one clear line, before anything is created) ----------------------------------------
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIB=$(cd "$HERE/../lib" 2>/dev/null && pwd) || die "missing $HERE/../lib (broken installation of vms)"
STAGE_BOOT=$LIB/stage-systemd-boot.sh
MAKE_DISK=$LIB/make-disk-image.sh
[[ -x $STAGE_BOOT && -x $MAKE_DISK ]] || die "missing $STAGE_BOOT or $MAKE_DISK (broken installation of vms)"

(( EUID == 0 )) || die "must run as root (pacstrap installs files owned by root); try: sudo $0 ..."
declare -A HINT=([pacstrap]=arch-install-scripts [arch-chroot]=arch-install-scripts [pacman]=pacman
  [pacman-conf]=pacman [mkfs.ext4]=e2fsprogs [mkfs.fat]=dosfstools [mcopy]=mtools [sgdisk]=gptfdisk
  [qemu-img]=qemu-img [unshare]=util-linux [findmnt]=util-linux [numfmt]=coreutils)
missing=()
for c in pacstrap arch-chroot pacman pacman-conf mkfs.ext4 mkfs.fat mcopy sgdisk qemu-img unshare findmnt numfmt; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c (${HINT[$c]})")
done
(( ${#missing[@]} == 0 )) || die "missing on this host: ${missing[*]}; install them (pacman -S ...) and retry"
[[ -r $PACMAN_CONF ]] || die "pacman config not found: $PACMAN_CONF"
repos=$(pacman-conf --config "$PACMAN_CONF" --repo-list 2>/dev/null) || die "pacman-conf cannot read $PACMAN_CONF"
[[ -n $repos ]] || die "no package repository in $PACMAN_CONF: is this an Arch Linux host? (or pass --pacman-conf)"
OUT_DIR=$(dirname -- "$OUT")
[[ -d $OUT_DIR && -w $OUT_DIR ]] || die "output directory missing or not writable: $OUT_DIR"
OUT=$(cd "$OUT_DIR" && pwd)/$(basename -- "$OUT")
OUT_DIR=$(dirname -- "$OUT")
[[ ! -d $OUT ]] || die "--out is a directory: $OUT"

# --- own mount namespace -------------------------------------------------------------------------------
# Every mount made by the build (pacstrap's and arch-chroot's /proc, /dev, ... in the staging root) lives
# in a private mount namespace and disappears with it, even if the build is killed with SIGKILL.
# exec keeps the pid, so signals sent to this script reach the bash that cleans up.
if [[ ${_VMS_TEMPLATE_NS:-} != "$$" ]]; then
  _VMS_TEMPLATE_NS=$$ exec unshare --mount --propagation private -- "$BASH" "$0" "${ARGS[@]}"
fi

# VMS_TEMPLATE_TRACE=1: a timestamped shell trace on stderr, to see where the time goes.
if [[ ${VMS_TEMPLATE_TRACE:-} == 1 ]]; then PS4='+ $EPOCHREALTIME '; set -x; fi

# --- staging and cleanup ---------------------------------------------------------------------------------
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
STAGE=
# kill_leftovers DIR: kill (by pid) every process chrooted into DIR/root or whose command line names a path
# inside DIR, such as a gpg-agent started for DIR/root/etc/pacman.d/gnupg. Never touches anything else.
kill_leftovers() {
  local dir=$1 sig pid found argv
  for sig in TERM KILL; do
    found=0
    for pid in /proc/[0-9]*; do
      pid=${pid#/proc/}
      [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
      argv=()
      mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || continue
      # Builtins only: a fork per process costs more than the whole scan.
      if [[ /proc/$pid/root -ef $dir/root || " ${argv[*]} " == *"$dir/"* ]]; then
        kill "-$sig" "$pid" 2>/dev/null && found=1
      fi
    done
    (( found )) || return 0
    sleep 0.2
  done
}
# descendants PID: every descendant of PID, children before their own children.
descendants() {
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [[ $c == "$BASHPID" ]] && continue  # the subshell running this function
    echo "$c"
    descendants "$c"
  done
}
# run_child CMD...: runs CMD in the background and waits for it, so that a signal sent to this script is
# handled at once (bash runs traps only between foreground commands), and the cleanup can stop CMD.
run_child() {
  "$@" &
  wait "$!"
}
cleanup() {
  local rc=$? m pids alive=
  trap - EXIT INT TERM HUP
  set +e  # the cleanup must run to its end
  # Interrupted: stop what the build started (pacstrap, pacman, mkfs, ...), by pid.
  pids=$(descendants $$)
  if [[ -n $pids ]]; then
    kill -TERM $pids 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      alive=
      for m in $pids; do kill -0 "$m" 2>/dev/null && alive=1; done
      [[ -n $alive ]] || break
      sleep 0.2
    done
    [[ -z $alive ]] || kill -KILL $pids 2>/dev/null
  fi
  if [[ -n $STAGE && -d $STAGE ]]; then
    kill_leftovers "$STAGE"
    # Mounts vanish with the namespace, but unmount what is left before deleting anything.
    while read -r m; do
      [[ $m == "$STAGE"/* ]] && umount -l "$m" 2>/dev/null
    done < <(findmnt -rn -o TARGET | sort -r)
    rm -rf --one-file-system -- "$STAGE"
    [[ ! -e $STAGE ]] || printf '%s: could not remove %s\n' "$PROG" "$STAGE" >&2
  fi
  if (( rc != 0 )); then
    printf '%s: build of template %s failed (exit %s); nothing was left behind\n' "$PROG" "$NAME" "$rc" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

STAGE=$(mktemp -d "$OUT_DIR/.vms-template-$NAME.XXXXXX")
chmod 0755 "$STAGE"
ROOT=$STAGE/root ESP=$STAGE/esp
mkdir -m 0755 "$ROOT" "$ESP"
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
ESP_VOLID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n' | tr a-f A-F)
ESP_UUID=${ESP_VOLID:0:4}-${ESP_VOLID:4:4}
# /boot is named by the FAT volume id chosen here, so make-disk-image.sh must be able to set it.
if "$MAKE_DISK" --help 2>/dev/null | grep -q -- '--esp-uuid'; then
  ESP_FSTAB=UUID=$ESP_UUID ESP_UUID_ARGS=(--esp-uuid "$ESP_UUID")
else
  warn "make-disk-image.sh has no --esp-uuid: /boot is named LABEL=ESP in fstab instead of by UUID"
  ESP_FSTAB=LABEL=ESP ESP_UUID_ARGS=()
fi

# --- 1. pacstrap -----------------------------------------------------------------------------------------
step "template $NAME ($PROFILE): pacstrap ${PACKAGES[*]}"
mkdir -p "$SHARED_CACHE"
# Cache directories: the shared folder first (packages the build downloads land where every VM can
# read them), then the host's own caches (anything the host already has is not downloaded again).
CACHE_ARGS=(--cachedir "$SHARED_CACHE")
while IFS= read -r d; do
  [[ -n $d && ${d%/} != "${SHARED_CACHE%/}" ]] && CACHE_ARGS+=(--cachedir "$d")
done < <(pacman-conf --config "$PACMAN_CONF" CacheDir)
# Written before pacstrap so the initramfs that mkinitcpio builds during the install can boot a VM
# (autodetect inside the chroot only sees the host's hardware).
mkdir -p "$ROOT/etc/mkinitcpio.conf.d"
cat >"$ROOT/etc/mkinitcpio.conf.d/10-vms.conf" <<'EOF'
# vms: drivers a libvirt/QEMU guest needs, whatever hardware the template was built on.
# 9p, 9pnet, 9pnet_virtio: the package caches the host shares by mount tag (fstab).
MODULES+=(virtio_pci virtio_blk virtio_scsi virtio_net virtio_console 9p 9pnet 9pnet_virtio ext4 vfat)
EOF
echo 'KEYMAP=us' >"$ROOT/etc/vconsole.conf"
# -c: the caches above, not the target's; -G: never copy the host's keyring (it holds the host's own
# secret key) into a template. The host's mirrorlist is copied (pacstrap's default).
do_pacstrap() {
  pacstrap -C "$PACMAN_CONF" -c -G "$ROOT" "${PACKAGES[@]}" "${CACHE_ARGS[@]}" </dev/null 2>&1 | sed -u 's/^/    /' >&2
}
if ! run_child do_pacstrap; then
  die "pacstrap failed (packages: ${PACKAGES[*]})"
fi
step "pacstrap done (at $(elapsed) s)"

# --- 2. configuration ------------------------------------------------------------------------------------
step "configuring: fstab, pacman caches, hostname, user $USER_NAME, services"
KERNEL=$(ls "$ROOT"/boot/vmlinuz-* 2>/dev/null | head -n1) || true
[[ -n $KERNEL ]] || die "no kernel in the new root's /boot (is the linux package installed?)"
KSUFFIX=${KERNEL##*/vmlinuz-}
INITRD=$ROOT/boot/initramfs-$KSUFFIX.img
[[ -f $INITRD ]] || die "no initramfs $INITRD (mkinitcpio failed?)"

cat >"$ROOT/etc/fstab" <<EOF
# /etc/fstab of vms template $NAME (built $(date -u +%Y-%m-%dT%H:%M:%SZ))
# <file system>  <dir>  <type>  <options>  <dump>  <pass>
UUID=$ROOT_UUID  /  ext4  rw,relatime  0 1
$ESP_FSTAB  /boot  vfat  rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro  0 2
# The VM's private disk. Absent (e.g. when the template itself boots): /home stays the template's own.
LABEL=vms-private  /home  ext4  rw,relatime,nofail,x-systemd.device-timeout=20s  0 2
# Package caches shared by the host over virtio-9p (see /etc/pacman.conf); QEMU refuses writes to pkg-shared.
pkg-vm  /var/cache/pacman/pkg  9p  trans=virtio,version=9p2000.L,rw,nofail  0 0
pkg-shared  /var/cache/pacman/shared  9p  trans=virtio,version=9p2000.L,ro,nofail  0 0
EOF

mkdir -p "$ROOT/var/cache/pacman/pkg" "$ROOT/var/cache/pacman/shared"
if [[ -f $ROOT/etc/pacman.conf ]]; then
  # Replace the (usually commented) CacheDir line by the two caches; pacman downloads into the first
  # writable one and reads both.
  awk '
    /^[[:space:]]*#?[[:space:]]*CacheDir[[:space:]]*=/ { if (!done) { print "CacheDir    = /var/cache/pacman/pkg/"; print "CacheDir    = /var/cache/pacman/shared/"; done = 1 } next }
    { print }
    /^\[options\]/ && !seen { seen = 1 }
    END { if (!done) exit 3 }' "$ROOT/etc/pacman.conf" >"$STAGE/pacman.conf" \
    || sed '/^\[options\]/a CacheDir    = /var/cache/pacman/pkg/\nCacheDir    = /var/cache/pacman/shared/' \
         "$ROOT/etc/pacman.conf" >"$STAGE/pacman.conf"
  cat "$STAGE/pacman.conf" >"$ROOT/etc/pacman.conf"
  grep -q '^CacheDir *= */var/cache/pacman/shared/' "$ROOT/etc/pacman.conf" || die "could not set CacheDir in the guest's pacman.conf"
else
  warn "no /etc/pacman.conf in the new root (pacman not installed?): cache directories not configured"
fi

# No /etc/hostname: it would win over the hostname vms gives each VM at boot (its name, in the systemd
# credential system.hostname of an SMBIOS OEM string). Only a hostname asked for with --hostname is fixed.
rm -f "$ROOT/etc/hostname"
[[ -z $FIXED_HOSTNAME ]] || echo "$FIXED_HOSTNAME" >"$ROOT/etc/hostname"
cat >"$ROOT/etc/hosts" <<EOF
127.0.0.1  localhost
::1        localhost
EOF
# A fixed hostname resolves to itself (sudo asks); otherwise vms-hostname.service names the VM at boot.
[[ -z $FIXED_HOSTNAME ]] || echo "127.0.1.1  $FIXED_HOSTNAME" >>"$ROOT/etc/hosts"
[[ -e $ROOT/etc/locale.conf ]] || echo 'LANG=C.UTF-8' >"$ROOT/etc/locale.conf"
ln -sf /usr/share/zoneinfo/UTC "$ROOT/etc/localtime"

mkdir -p "$ROOT/etc/sudoers.d"
echo '%wheel ALL=(ALL:ALL) ALL' >"$ROOT/etc/sudoers.d/10-vms-wheel"
chmod 0440 "$ROOT/etc/sudoers.d/10-vms-wheel"

# Units of the guest side of vms.
mkdir -p "$ROOT/usr/lib/vms" "$ROOT/etc/systemd/system"
cat >"$ROOT/usr/lib/vms/seed-home" <<'EOF'
#!/bin/sh
# vms: copy every top-level entry of the template's /home that is missing from /home (the VM's private
# disk is empty on first boot). Existing entries are never touched.
skel=/usr/share/vms/home-skel
[ -d "$skel" ] || exit 0
for entry in "$skel"/* "$skel"/.[!.]*; do
  [ -e "$entry" ] || continue
  name=${entry##*/}
  if [ ! -e "/home/$name" ]; then
    cp -a "$entry" "/home/$name" && echo "vms-home-seed: /home/$name seeded from the template"
  fi
done
EOF
chmod 0755 "$ROOT/usr/lib/vms/seed-home"
cat >"$ROOT/etc/systemd/system/vms-home-seed.service" <<'EOF'
[Unit]
Description=vms: seed /home from the template
After=local-fs.target home.mount
Before=systemd-user-sessions.service
ConditionPathIsDirectory=/usr/share/vms/home-skel

# Not RemainAfterExit: if the private disk shows up only after its device timeout, home.mount starts
# late and pulls this unit in once more.
[Service]
Type=oneshot
ExecStart=/usr/lib/vms/seed-home

[Install]
WantedBy=multi-user.target home.mount
EOF
# Each VM gets its own pacman keyring (and its own secret key) on first boot, not a copy of the template's.
cat >"$ROOT/etc/systemd/system/vms-pacman-init.service" <<'EOF'
[Unit]
Description=vms: initialise the pacman keyring
ConditionPathExists=/usr/bin/pacman-key
ConditionPathExists=!/etc/pacman.d/gnupg/trustdb.gpg
After=time-sync.target
Before=systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/usr/bin/pacman-key --init
ExecStart=/usr/bin/pacman-key --populate
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF

# systemd 254 and later set the hostname from the credential system.hostname themselves; 252 and 253
# import the credential into /run/credentials/@system but do not use it, so this unit does (a no-op
# when the hostname already is the credential's). It also names the VM in /etc/hosts (one line, marked,
# replaced at every boot), so sudo resolves its own host where nss-myhostname is not configured.
cat >"$ROOT/etc/systemd/system/vms-hostname.service" <<'EOF'
[Unit]
Description=vms: hostname from the system.hostname credential (systemd before 254)
DefaultDependencies=no
ConditionPathExists=/run/credentials/@system/system.hostname
ConditionPathExists=!/etc/hostname
After=systemd-remount-fs.service
Before=sysinit.target systemd-hostnamed.service network-pre.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'cat /run/credentials/@system/system.hostname >/proc/sys/kernel/hostname'
ExecStart=/bin/sh -c 'sed -i "/# vms-hostname$$/d" /etc/hosts; echo "127.0.1.1 $$(cat /proc/sys/kernel/hostname) # vms-hostname" >>/etc/hosts'
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
EOF

# vms rpc between VMs (docs/rpc.md): vms-rpc, vms-copy, the agent that serves calls, its unit.
"$HERE/../guest-rpc/install.sh" --root "$ROOT" --systemd --user "$USER_NAME"

# Units to enable; "optional:" ones only if installed, "global:" ones for every user.
UNITS=(NetworkManager.service serial-getty@ttyS0.service qemu-guest-agent.service vms-home-seed.service
  vms-pacman-init.service vms-hostname.service)
if [[ $PROFILE == gui ]]; then
  UNITS+=(optional:spice-vdagentd.socket global:pipewire.socket global:pipewire-pulse.socket
    global:wireplumber.service)
  # Automatic login on tty1; the user's ~/.bash_profile starts X with i3 there.
  mkdir -p "$ROOT/etc/systemd/system/getty@tty1.service.d"
  cat >"$ROOT/etc/systemd/system/getty@tty1.service.d/vms-autologin.conf" <<EOF
[Service]
ExecStart=
ExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear --autologin $USER_NAME %I \$TERM
EOF
fi

# Everything that must run inside the new root, in one arch-chroot (its mounts die with our namespace).
# The password travels on stdin, never on a command line.
chroot_script=$(cat <<'EOS'
set -e
user=$1; shift
getent group wheel >/dev/null || groupadd -r wheel
useradd -m -U -G wheel -s /bin/bash "$user"
chmod 0700 "/home/$user"   # Arch's HOME_MODE; the seeding keeps it on the private disk
chpasswd
passwd -l root >/dev/null
installed() {
  for d in /etc/systemd /usr/lib/systemd /lib/systemd; do
    [ -e "$d/$1/$2" ] || [ -e "$d/$1/${2%%@*}@.${2##*.}" ] && return 0
  done
  return 1
}
for unit in "$@"; do
  case $unit in
    optional:*) unit=${unit#optional:}
                if installed system "$unit"; then systemctl enable "$unit"
                else echo "note: $unit is not installed, not enabled"; fi ;;
    global:*) unit=${unit#global:}
              if installed user "$unit"; then systemctl --global enable "$unit"
              else echo "note: user unit $unit is not installed, not enabled"; fi ;;
    # A unit without an [Install] section (qemu-guest-agent, started by udev when its channel
    # appears) makes systemctl print a note and succeed; a unit that does not exist fails.
    *) systemctl enable "$unit" || { echo "error: cannot enable $unit"; exit 1; } ;;
  esac
done
EOS
)
chroot_log=$STAGE/chroot.log
if ! printf '%s:%s\n' "$USER_NAME" "$PASSWORD" \
    | arch-chroot "$ROOT" /bin/sh -c "$chroot_script" sh "$USER_NAME" "${UNITS[@]}" >"$chroot_log" 2>&1; then
  tail -n 8 "$chroot_log" | sed 's/^/    /' >&2
  die "configuring the new root failed (user, services)"
fi
grep -E '^(note|error|warning)' "$chroot_log" | sed 's/^/    /' >&2 || true

USER_HOME=$ROOT/home/$USER_NAME
if [[ $PROFILE == gui ]]; then
  cat >"$USER_HOME/.bash_profile" <<'EOF'
# vms: start X with i3 on the automatic login of tty1
[[ -f ~/.bashrc ]] && . ~/.bashrc
# -s 0 -dpms: no screen saver or power saving in a VM (the desktop it is shown on has its own).
if [[ -z $DISPLAY && $(tty) == /dev/tty1 ]]; then
  exec startx -- -keeptty -s 0 -dpms >~/.xsession.log 2>&1
fi
EOF
  cat >"$USER_HOME/.xinitrc" <<'EOF'
#!/bin/sh
# vms: SPICE clipboard, the display following the viewer window's size, then i3
# spice-vdagent in the foreground (-x), started again whenever it ends while X runs: 0.22 was seen to
# crash (a segfault) under TCG, and nothing else would restart it.
if [ -x /usr/bin/spice-vdagent ]; then
  ( while [ -e "/tmp/.X11-unix/X${DISPLAY#*:}" ]; do spice-vdagent -x; sleep 1; done ) &
fi
[ -x /usr/bin/vms-display-follow ] && vms-display-follow &
exec i3
EOF
  install -m 0755 "$HERE/vms-display-follow" "$ROOT/usr/bin/vms-display-follow"
  chmod 0755 "$USER_HOME/.xinitrc"
  # i3's own config as the user's, so the first start shows the desktop, not i3-config-wizard's question.
  if [[ -f $ROOT/etc/i3/config ]]; then
    mkdir -p "$USER_HOME/.config/i3"
    sed '/^exec i3-config-wizard/d' "$ROOT/etc/i3/config" >"$USER_HOME/.config/i3/config"
  fi
  uid_gid=$(stat -c %u:%g "$USER_HOME")
  chown "$uid_gid" "$USER_HOME/.bash_profile" "$USER_HOME/.xinitrc"
  [[ ! -d $USER_HOME/.config ]] || chown -R "$uid_gid" "$USER_HOME/.config"
fi

# The skeleton vms-home-seed.service copies into a VM's empty private disk.
mkdir -p "$ROOT$SHARE_DIR"
cp -a "$ROOT/home" "$ROOT$SHARE_DIR/home-skel"
cat >"$ROOT$SHARE_DIR/template.conf" <<EOF
NAME=$NAME
PROFILE=$PROFILE
USER=$USER_NAME
BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
PACKAGES=${PACKAGES[*]}
EOF

# Per-machine state: every VM made from the template gets its own.
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/systemd/random-seed" "$ROOT/var/lib/dbus/machine-id"
[[ -e $ROOT/var/lib/dbus ]] && ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
rm -rf "$ROOT/etc/pacman.d/gnupg"
kill_leftovers "$STAGE"
step "configured (at $(elapsed) s)"

# --- 3. boot: systemd-boot on the ESP --------------------------------------------------------------------
step "systemd-boot entry (kernel $(basename "$KERNEL"))"
EFI_BIN=$ROOT/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[[ -f $EFI_BIN ]] || EFI_BIN=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[[ -f $EFI_BIN ]] || die "systemd-bootx64.efi not found in the new root nor on the host (systemd package)"
CMDLINE="root=UUID=$ROOT_UUID rw console=tty0 console=ttyS0,115200"
initrds=()
for u in "$ROOT"/boot/*-ucode.img; do [[ -f $u ]] && initrds+=(--initrd "$u"); done
initrds+=(--initrd "$INITRD")
"$STAGE_BOOT" --esp "$ESP" --kernel "$KERNEL" "${initrds[@]}" --cmdline "$CMDLINE" \
  --title "Arch Linux (vms template $NAME)" --entry arch --efi "$EFI_BIN" >&2
# The ESP is /boot in the guest: whatever else the packages put in /boot (fallback initramfs, ...) goes
# there too, and the root's /boot stays an empty mount point.
for f in "$ROOT"/boot/* "$ROOT"/boot/.[!.]*; do
  [[ -e $f ]] || continue
  [[ -e $ESP/${f##*/} ]] || cp -a "$f" "$ESP/"
  rm -rf "$f"
done

# --- 4. disk image ---------------------------------------------------------------------------------------
step "disk image ($DISK_SIZE, ESP $ESP_SIZE)"
rm -f "$chroot_log" "$STAGE/pacman.conf"
disk_args=(--root "$ROOT" --esp "$ESP" --out "$STAGE/disk.qcow2" --size "$DISK_SIZE" --format qcow2
  --root-uuid "$ROOT_UUID" --esp-size "$ESP_SIZE" "${ESP_UUID_ARGS[@]}")
run_child "$MAKE_DISK" "${disk_args[@]}" >"$STAGE/disk.out" || die "building the disk image failed"
disk_out=$(<"$STAGE/disk.out")
got_root=$(sed -n 's/^ROOT_UUID=//p' <<<"$disk_out")
got_esp=$(sed -n 's/^ESP_UUID=//p' <<<"$disk_out")
[[ $got_root == "$ROOT_UUID" ]] || die "disk image has root UUID '$got_root', expected $ROOT_UUID"
if (( ${#ESP_UUID_ARGS[@]} )); then
  [[ $got_esp == "$ESP_UUID" ]] || die "disk image has ESP UUID '$got_esp', expected $ESP_UUID"
else
  ESP_UUID=$got_esp
fi
mv -f "$STAGE/disk.qcow2" "$OUT"
step "template $NAME ready: $OUT ($(du -h "$OUT" | cut -f1) allocated, built in $(elapsed) s)"
printf 'IMAGE=%s\nROOT_UUID=%s\nESP_UUID=%s\nPROFILE=%s\nUSER=%s\n' "$OUT" "$ROOT_UUID" "$ESP_UUID" "$PROFILE" "$USER_NAME"
