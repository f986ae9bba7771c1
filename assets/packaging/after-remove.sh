#!/bin/sh
# pacman post-remove: the links from after-install.sh go with the package.
rm -f '/usr/bin/vms-tray' '/usr/bin/vms'
