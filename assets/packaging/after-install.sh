#!/bin/sh
# pacman post-install: put vms-tray and the vms command line on PATH.
ln -sf '/opt/vms/vms-tray' '/usr/bin/vms-tray'
cat > /usr/bin/vms <<'SH'
#!/bin/sh
# The vms command line, run by the app's own Electron as plain Node.
ELECTRON_RUN_AS_NODE=1 exec /opt/vms/vms-tray /opt/vms/resources/app.asar/dist/cli/vms.mjs "$@"
SH
chmod 755 /usr/bin/vms
