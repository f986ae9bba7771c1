#!/bin/bash
# stage-systemd-boot.sh - fill a directory with a systemd-boot ESP layout (no bootctl, no mounts).
#
# Usage: stage-systemd-boot.sh --esp DIR --kernel FILE --initrd FILE [--initrd FILE…]
#                              --cmdline "OPTIONS" [--title TITLE] [--entry NAME] [--efi FILE]
#
#   --esp DIR       directory to fill (created if missing; other files in it are left alone)
#   --kernel FILE   kernel image (EFI stub); copied to DIR/ under its own file name
#   --initrd FILE   initramfs (repeatable, in load order, e.g. microcode first); copied likewise
#   --cmdline S     kernel command line for the entry, e.g. "root=LABEL=vms-root rw quiet"
#   --title T       entry title (default: "vms")
#   --entry NAME    entry file loader/entries/NAME.conf, also the default entry (default: arch)
#   --efi FILE      systemd-boot EFI binary
#                   (default: /usr/lib/systemd/boot/efi/systemd-bootx64.efi, or $SYSTEMD_BOOT_EFI)
#
# Result (then copy DIR onto a FAT ESP, e.g. with make-disk-image.sh --esp DIR):
#   EFI/BOOT/BOOTX64.EFI, EFI/systemd/systemd-bootx64.efi    systemd-boot (removable-media path
#                                                          first, so no NVRAM entry is needed)
#   loader/loader.conf                                     default NAME.conf, timeout 0, editor no
#   loader/entries/NAME.conf                               title, linux, initrd…, options
#   KERNEL, INITRD…                                        at the top of the ESP
set -euo pipefail

die() { echo "stage-systemd-boot: $*" >&2; exit 1; }
usage() { sed -n '4,5s/^# \{0,1\}//p' "$0" >&2; echo "Run with --help for details." >&2; exit 2; }
help() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0; }

esp='' kernel='' cmdline='' cmdline_set='' title=vms entry=arch
efi=${SYSTEMD_BOOT_EFI:-/usr/lib/systemd/boot/efi/systemd-bootx64.efi}
initrds=()
while [ $# -gt 0 ]; do
  case $1 in
    --esp|--kernel|--initrd|--cmdline|--title|--entry|--efi)
      [ $# -ge 2 ] || die "$1 needs a value" ;;&
    --esp) esp=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --initrd) initrds+=("$2"); shift 2 ;;
    --cmdline) cmdline=$2; cmdline_set=1; shift 2 ;;
    --title) title=$2; shift 2 ;;
    --entry) entry=$2; shift 2 ;;
    --efi) efi=$2; shift 2 ;;
    -h|--help) help ;;
    *) echo "stage-systemd-boot: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$esp" ] && [ -n "$kernel" ] && [ ${#initrds[@]} -gt 0 ] && [ -n "$cmdline_set" ] || usage

[ -f "$efi" ] || die "systemd-boot EFI binary not found: $efi (install systemd on Arch, systemd-boot-efi on Debian)"
[ -f "$kernel" ] || die "kernel not found: $kernel"
case $entry in ''|*[!A-Za-z0-9._-]*) die "--entry must be a plain name (letters, digits, . _ -): $entry" ;; esac
case $cmdline$title in *$'\n'*) die "--cmdline and --title must be single lines" ;; esac

kernel_name=${kernel##*/}
names=" $kernel_name "
for f in "${initrds[@]}"; do
  [ -f "$f" ] || die "initrd not found: $f"
  case $names in *" ${f##*/} "*) die "two boot files share the name ${f##*/}" ;; esac
  names="$names${f##*/} "
done

mkdir -p "$esp/EFI/BOOT" "$esp/EFI/systemd" "$esp/loader/entries" || die "cannot create $esp"
cp "$efi" "$esp/EFI/BOOT/BOOTX64.EFI"
cp "$efi" "$esp/EFI/systemd/systemd-bootx64.efi"
cp "$kernel" "$esp/$kernel_name"
for f in "${initrds[@]}"; do cp "$f" "$esp/${f##*/}"; done

{
  echo "default $entry.conf"
  echo "timeout 0"
  echo "editor no"
} >"$esp/loader/loader.conf"
{
  echo "title $title"
  echo "linux /$kernel_name"
  for f in "${initrds[@]}"; do echo "initrd /${f##*/}"; done
  echo "options $cmdline"
} >"$esp/loader/entries/$entry.conf"
