/**
 * The two consoles of every VM that vms rpc uses: virtio consoles (hvc1 and hvc2 in the guest, after
 * the serial console), because `virsh console --devname` reaches consoles and serial ports but not
 * virtio-serial channels (libvirt opens those only through virDomainOpenChannel, which virsh lacks).
 * Calls out of the VM (the `vms-rpc` client) and calls into it (the guest's `vms-rpc-agent`, always
 * open) each have their own, so neither waits for the other.
 */
export const RPC_CALL_CONSOLE = 'ua-vms-rpc-call';
export const RPC_SERVE_CONSOLE = 'ua-vms-rpc-serve';
export const RPC_CONSOLES = [RPC_CALL_CONSOLE, RPC_SERVE_CONSOLE] as const;
