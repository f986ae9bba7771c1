import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One line of `~/.local/state/vms/rpc.log` (JSON lines): every call, allowed or not. */
export interface RpcLogEntry {
  time: string;
  id: string;
  service: string;
  source: string;
  /** As the caller asked, and where it went. */
  target: string;
  ranIn?: string;
  /** `host`: a call the host made (`vms copy-to`, `vms run`), which no policy decides. */
  decision: 'allow' | 'deny' | 'ask' | 'refused' | 'host';
  /** `FILE:LINE` of the deciding policy line. */
  rule?: string;
  exitCode?: number;
  error?: string;
  bytesIn: number;
  bytesOut: number;
  ms: number;
}

export function rpcLogPath(stateDir: string): string {
  return join(stateDir, 'rpc.log');
}

export async function appendRpcLog(stateDir: string, entry: RpcLogEntry): Promise<void> {
  await appendFile(rpcLogPath(stateDir), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}

export async function readRpcLog(stateDir: string): Promise<RpcLogEntry[]> {
  const text = await readFile(rpcLogPath(stateDir), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).flatMap((line) => {
    try { return [JSON.parse(line) as RpcLogEntry]; } catch { return []; }
  });
}

/** One readable line per call. Pure. */
export function formatRpcLogEntry(e: RpcLogEntry): string {
  const where = e.ranIn && e.ranIn !== e.target ? `${e.target}→${e.ranIn}` : e.target;
  const outcome = e.error ? `failed: ${e.error}` : e.exitCode !== undefined ? `exit ${e.exitCode}` : '';
  return `${e.time}  ${e.service}  ${e.source} → ${where}  ${e.decision}${e.rule ? ` (${e.rule})` : ''}  ${outcome}  in ${e.bytesIn} B, out ${e.bytesOut} B, ${e.ms} ms`.replace(/ {3,}/g, '  ');
}
