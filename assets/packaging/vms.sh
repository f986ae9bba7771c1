#!/bin/sh
# /usr/bin/vms: the vms command line (one bundled file) on the system's Node.js, from ../lib/vms.
unset ELECTRON_RUN_AS_NODE
cli=$(readlink -f -- "$(dirname -- "$(readlink -f -- "$0")")/../lib/vms/dist/cli/vms.mjs")
exec node "$cli" "$@"
