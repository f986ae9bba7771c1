#!/bin/sh
# /usr/bin/vms-tray: the vms tray app on the system's Electron (Arch's electron package, which reads
# ~/.config/electron-flags.conf), with the app in ../lib/vms next to this launcher.
# ELECTRON_RUN_AS_NODE, inherited from another Electron app's terminal (VS Code's, for one), would make
# electron run the app as plain Node and exit at once; it is never meant for the tray.
unset ELECTRON_RUN_AS_NODE
app=$(readlink -f -- "$(dirname -- "$(readlink -f -- "$0")")/../lib/vms")
exec electron "$app" "$@"
