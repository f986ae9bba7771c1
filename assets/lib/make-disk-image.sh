#!/bin/bash
# make-disk-image.sh - build a bootable GPT disk image from two directories, without loop devices
# or mounts (works as root on any Linux host, also where the kernel cannot mount vfat).
#
# Usage: make-disk-image.sh --root DIR --esp DIR --out FILE [--size 2G] [--format qcow2|raw]
#                           [--root-label vms-root] [--root-uuid UUID] [--esp-size 300M]
#                           [--esp-uuid XXXX-XXXX]
#
#   --root DIR        tree for the root filesystem (ext4, built with mkfs.ext4 -d; owners and
#                     modes are taken from the tree, so build it as root)
#   --esp DIR         tree for the EFI system partition (FAT32, built with mkfs.fat + mcopy)
#   --out FILE        image to write; replaced atomically, never left half-written
#   --size SIZE       whole disk size, sparse (default 2G; K/M/G/T are powers of 1024)
#   --format F        qcow2 (default) or raw
#   --root-label L    ext4 label (default vms-root)
#   --root-uuid UUID  ext4 UUID (default: random)
#   --esp-size SIZE   ESP partition size (default 300M)
#   --esp-uuid ID     FAT volume id of the ESP, XXXX-XXXX in hex as fstab's UUID= shows it
#                     (default: random)
#
# Layout: GPT; partition 1 = ESP (type ef00, from sector 2048); partition 2 = root (type 8304,
# "Linux x86-64 root" of the Discoverable Partitions Specification), the rest of the disk.
# The sparse raw disk is made once and both filesystems are built in place at their partition
# offsets (mkfs.fat --offset + mcopy -i disk@@offset, mkfs.ext4 -E offset), so the time does not
# grow with the disk size.
# On success prints to stdout, for fstab and kernel command lines:
#   ROOT_UUID=…  ESP_UUID=XXXX-XXXX  ROOT_PARTUUID=…  ESP_PARTUUID=…   (one per line)
# Needs: sgdisk (gdisk), mkfs.fat (dosfstools), mcopy (mtools), mkfs.ext4 (e2fsprogs >= 1.43),
# truncate, numfmt (coreutils), qemu-img (for qcow2).
set -euo pipefail

die() { echo "make-disk-image: $*" >&2; exit 1; }
usage() { sed -n '4,7s/^# \{0,1\}//p' "$0" >&2; echo "Run with --help for details." >&2; exit 2; }
help() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }

root='' esp='' out='' size=2G format=qcow2 root_label=vms-root root_uuid='' esp_size=300M esp_uuid=''
while [ $# -gt 0 ]; do
  case $1 in
    --root|--esp|--out|--size|--format|--root-label|--root-uuid|--esp-size|--esp-uuid)
      [ $# -ge 2 ] || die "$1 needs a value" ;;&
    --root) root=$2; shift 2 ;;
    --esp) esp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    --root-label) root_label=$2; shift 2 ;;
    --root-uuid) root_uuid=$2; shift 2 ;;
    --esp-size) esp_size=$2; shift 2 ;;
    --esp-uuid) esp_uuid=$2; shift 2 ;;
    -h|--help) help ;;
    *) echo "make-disk-image: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$root" ] && [ -n "$esp" ] && [ -n "$out" ] || usage

[ -d "$root" ] || die "root directory not found: $root"
[ -d "$esp" ] || die "ESP directory not found: $esp"
case $format in qcow2|raw) ;; *) die "--format must be qcow2 or raw, not: $format" ;; esac
[ ${#root_label} -le 16 ] || die "--root-label is longer than 16 characters: $root_label"
if [ -n "$root_uuid" ]; then
  [[ $root_uuid =~ ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$ ]] || die "not a UUID: $root_uuid"
else
  root_uuid=$(cat /proc/sys/kernel/random/uuid)
fi
root_uuid=${root_uuid,,}
if [ -n "$esp_uuid" ]; then
  [[ $esp_uuid =~ ^[0-9a-fA-F]{4}-[0-9a-fA-F]{4}$ ]] || die "--esp-uuid must be XXXX-XXXX (hex), not: $esp_uuid"
  volid=${esp_uuid/-/}
else
  volid=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
fi
volid=${volid^^}
tools=(sgdisk mkfs.fat mcopy mkfs.ext4 truncate numfmt)
[ "$format" = raw ] || tools+=(qemu-img)
for t in "${tools[@]}"; do command -v "$t" >/dev/null || die "missing tool: $t"; done

to_bytes() {  # 2G -> 2147483648 (K/M/G/T are powers of 1024)
  local s=${1%B} v
  s=${s%i}
  v=$(numfmt --from=iec "$s" 2>/dev/null) && [ "$v" -gt 0 ] 2>/dev/null || die "bad size: $1"
  echo "$v"
}
mib=$((1024 * 1024))
disk_bytes=$(( ($(to_bytes "$size") + mib - 1) / mib * mib ))
esp_mib=$(( ($(to_bytes "$esp_size") + mib - 1) / mib ))
[ "$esp_mib" -ge 40 ] || die "--esp-size must be at least 40M (FAT32 minimum)"
[ "$disk_bytes" -ge $(( (esp_mib + 66) * mib )) ] || die "--size $size leaves no room for a root partition"

out_dir=$(dirname -- "$out")
[ -d "$out_dir" ] && [ -w "$out_dir" ] || die "output directory missing or not writable: $out_dir"
# Work next to the output: same filesystem (atomic rename) and not a small tmpfs /tmp.
tmp=$(mktemp -d "$out_dir/.make-disk-image.XXXXXX") || die "cannot create a work directory in $out_dir"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export MTOOLS_SKIP_CHECK=1

# Partition table. Never pass -q: here `sgdisk -q` exits 0 and writes nothing.
disk=$tmp/disk.raw
truncate -s "$disk_bytes" "$disk"
sgdisk -o -n "1:2048:+${esp_mib}M" -t 1:ef00 -c 1:ESP -n 2:0:0 -t 2:8304 -c 2:root "$disk" \
  >"$tmp/sgdisk.log" 2>&1 || die "sgdisk failed: $(tail -n1 "$tmp/sgdisk.log")"

part_field() {  # part_field N 'First sector' -> value read back from the written table
  sgdisk -i "$1" "$disk" 2>/dev/null | sed -n "s/^$2: *\([^ ]*\).*/\1/p"
}
esp_first=$(part_field 1 'First sector'); esp_last=$(part_field 1 'Last sector')
root_first=$(part_field 2 'First sector'); root_last=$(part_field 2 'Last sector')
esp_partuuid=$(part_field 1 'Partition unique GUID'); root_partuuid=$(part_field 2 'Partition unique GUID')
for v in "$esp_first" "$esp_last" "$root_first" "$root_last"; do
  [[ $v =~ ^[0-9]+$ ]] || die "could not read the partition table back from $disk (sgdisk wrote nothing?)"
done
esp_bytes=$(( (esp_last - esp_first + 1) * 512 ))
root_bytes=$(( (root_last - root_first + 1) * 512 ))

# ESP: FAT32 made in place at its partition offset, filled with mcopy.
esp_kib=$(du -sk "$esp" | cut -f1)
[ "$esp_kib" -lt $((esp_bytes / 1024 - 1024)) ] || die "ESP content ($((esp_kib / 1024)) MiB) does not fit in the ${esp_mib} MiB ESP (use --esp-size)"
# mkfs.fat picks the cluster size from the whole file, not from the size given, so give it the
# one it picks for a device of the ESP's size (its FAT32 table; too large and FAT32 is invalid).
esp_spc=$(( esp_mib > 32768 ? 64 : esp_mib > 16384 ? 32 : esp_mib > 8192 ? 16 : esp_mib > 260 ? 8 : 1 ))
mkfs.fat -F 32 -s "$esp_spc" -n ESP -i "$volid" --offset="$esp_first" "$disk" $((esp_bytes / 1024)) \
  >"$tmp/mkfs.fat.log" 2>&1 \
  || die "mkfs.fat failed: $(tail -n1 "$tmp/mkfs.fat.log")"
shopt -s nullglob dotglob
esp_entries=("$esp"/*)
shopt -u nullglob dotglob
if [ ${#esp_entries[@]} -gt 0 ]; then
  mcopy -s -p -m -Q -i "$disk@@$((esp_first * 512))" "${esp_entries[@]}" ::/ >"$tmp/mcopy.log" 2>&1 \
    || die "mcopy to the ESP failed: $(grep -v 'geometry' "$tmp/mcopy.log" | tail -n1)"
fi

# Root: ext4 made in place at its partition offset, populated from the tree. The size is given
# with a k suffix (without one mke2fs reads it as blocks); nodiscard: punching holes in a fresh
# sparse file gains nothing.
root_kib=$(du -sk "$root" | cut -f1)
[ "$root_kib" -lt $((root_bytes / 1024)) ] || die "root tree ($((root_kib / 1024)) MiB) does not fit in the $((root_bytes / mib)) MiB root partition (use --size)"
mkfs.ext4 -q -F -L "$root_label" -U "$root_uuid" -E "offset=$((root_first * 512)),nodiscard" -d "$root" \
  "$disk" "$((root_bytes / 1024))k" >"$tmp/mkfs.ext4.log" 2>&1 \
  || die "mkfs.ext4 -d failed (root tree too big for the partition?): $(tail -n1 "$tmp/mkfs.ext4.log")"
[ "$(stat -c %s "$disk")" -eq "$disk_bytes" ] || die "the disk image changed size while building the filesystems"

if [ "$format" = qcow2 ]; then
  qemu-img convert -f raw -O qcow2 "$disk" "$tmp/disk.qcow2" >"$tmp/qemu-img.log" 2>&1 \
    || die "qemu-img convert failed: $(tail -n1 "$tmp/qemu-img.log")"
  result=$tmp/disk.qcow2
else
  result=$disk
fi
mv -f "$result" "$out"

echo "ROOT_UUID=$root_uuid"
echo "ESP_UUID=${volid:0:4}-${volid:4:4}"
echo "ROOT_PARTUUID=${root_partuuid,,}"
echo "ESP_PARTUUID=${esp_partuuid,,}"
