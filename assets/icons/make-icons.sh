#!/bin/sh
# Regenerates the icons in this folder with ImageMagick (the PNGs are committed; run this after a change).
#   icon.png             the app icon, 512 px: four domain-colored tiles on slate
#   tray.png, tray@2x.png  the tray icon, 22 and 44 px
#   dot-RRGGBB.png (+@2x)  menu icons for the default domain colors (work, personal, hobby, disposable,
#                          vault) and the neutral gray; other colors are drawn at run time (color-dot.ts)
set -eu
cd "$(dirname "$0")"

tiles() { # SIZE OUT
  s=$1
  r=$((s * 22 / 100)); m=$((s * 16 / 100)); g=$((s * 6 / 100)); t=$(((s - 2 * m - g) / 2)); tr=$((t * 22 / 100))
  a=$m; b=$((m + t)); c=$((m + t + g)); d=$((m + 2 * t + g))
  convert -size "${s}x${s}" xc:none \
    -fill '#1f2937' -draw "roundrectangle 0,0 $((s - 1)),$((s - 1)) $r,$r" \
    -fill '#2563eb' -draw "roundrectangle $a,$a $b,$b $tr,$tr" \
    -fill '#16a34a' -draw "roundrectangle $c,$a $d,$b $tr,$tr" \
    -fill '#d97706' -draw "roundrectangle $a,$c $b,$d $tr,$tr" \
    -fill '#dc2626' -draw "roundrectangle $c,$c $d,$d $tr,$tr" \
    -strip "PNG32:$2"
}

tiles 512 icon.png
# Small sizes are drawn large and scaled down, so the edges stay smooth.
tiles 352 /tmp/vms-tray-big.png
convert /tmp/vms-tray-big.png -resize 22x22 -strip PNG32:tray.png
convert /tmp/vms-tray-big.png -resize 44x44 -strip PNG32:tray@2x.png
rm -f /tmp/vms-tray-big.png

for color in 2563eb 16a34a d97706 dc2626 111827 6b7280; do
  convert -size 256x256 xc:none -fill "#$color" -draw 'circle 128,128 128,41' /tmp/vms-dot.png
  convert /tmp/vms-dot.png -resize 16x16 -strip "PNG32:dot-$color.png"
  convert /tmp/vms-dot.png -resize 32x32 -strip "PNG32:dot-$color@2x.png"
done
rm -f /tmp/vms-dot.png
