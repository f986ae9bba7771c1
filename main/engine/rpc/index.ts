/** vms rpc between VMs (docs/rpc.md): what the CLI and the tray app use. */
export { startRpcService, type AskQuestion, type HostCallIo, type HostCallRequest, type RpcService, type RpcServiceOptions } from './rpcd.js';
export { callFromHost } from './host-calls.js';
export { RPCD_LOCK, rpcdSocketPath, runRpcDaemon } from './rpcd-daemon.js';
export { decide, explainDecision, parsePolicy, PolicyError, type PolicyDecision, type PolicyRequest, type PolicyRule, type VmFacts } from './policy.js';
export { loadPolicy, policyFiles } from './policy-files.js';
export { formatRpcLogEntry, readRpcLog, type RpcLogEntry } from './rpc-log.js';
