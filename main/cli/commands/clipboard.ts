import { spawn } from 'node:child_process';
import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';

export const clipboard: Command = {
  name: 'clipboard',
  summary: 'Show, or turn on or off, SPICE copy and paste between the desktop and a VM (off by default)',
  usage: 'NAME [on|off]',
  positionals: { min: 1, max: 2, names: ['NAME', 'on|off'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name, value] }) {
    if (value === undefined) {
      const vm = await engine.info(name);
      const next = (await engine.pendingChanges(vm)).find((p) => p.setting === 'clipboard')?.next;
      io.out(json ? JSON.stringify({ name, clipboard: vm.clipboard, ...(next ? { nextStart: next === 'on' } : {}) }) : `Clipboard of "${name}": ${vm.clipboard ? 'on' : 'off'}${next ? ` (${next} from its next start)` : ''}.`);
      return;
    }
    if (value !== 'on' && value !== 'off') throw new VmsError(`Say on or off: vms clipboard ${name} on|off (got "${value}").`);
    const { vm, appliesNow } = await engine.setClipboard(name, value === 'on');
    if (json) {
      io.out(JSON.stringify({ name, clipboard: vm.clipboard, appliesNow }));
      return;
    }
    io.out(`Clipboard of "${name}" is ${value}${appliesNow ? '.' : ` from its next start (restart it: vms restart ${name}).`}`);
  },
};

/** Empties the host's clipboard buffer after its time, in a detached `vms clipboard clear --after S --if-copy ID`. */
function spawnClearTimer(id: string, seconds: number): void {
  const child = spawn(process.execPath, [process.argv[1], 'clipboard', 'clear', '--after', String(seconds), '--if-copy', id], { detached: true, stdio: 'ignore' });
  child.unref();
}

export const clipboardCopy: Command = {
  name: 'clipboard copy',
  summary: 'Copy the focused VM’s clipboard into the vms clipboard (bind it to Ctrl+Shift+C)',
  usage: '[NAME]',
  positionals: { min: 0, max: 1, names: ['NAME'] },
  json: true,
  // A hotkey: as quick as it can be, and the repair step reads nothing this needs.
  skipRepair: true,
  async run({ engine, json, io }, { positionals: [name] }) {
    const entry = await engine.clipboardCopy({ vm: name });
    spawnClearTimer(entry.id, engine.config.clipboardKeepSeconds);
    const bytes = Buffer.byteLength(entry.text);
    io.out(json ? JSON.stringify({ source: entry.source, bytes, expiresAt: new Date(entry.expiresAt).toISOString() })
      : `Copied ${bytes} bytes from "${entry.source}"; paste them into a VM within ${engine.config.clipboardKeepSeconds} s (vms clipboard paste).`);
  },
};

export const clipboardPaste: Command = {
  name: 'clipboard paste',
  summary: 'Paste the vms clipboard into the focused VM’s clipboard, then empty it (bind it to Ctrl+Shift+V)',
  usage: '[NAME]',
  positionals: { min: 0, max: 1, names: ['NAME'] },
  json: true,
  skipRepair: true,
  async run({ engine, json, io }, { positionals: [name] }) {
    const { entry, target } = await engine.clipboardPaste({ vm: name });
    const bytes = Buffer.byteLength(entry.text);
    io.out(json ? JSON.stringify({ source: entry.source, target, bytes }) : `Pasted ${bytes} bytes from "${entry.source}" into the clipboard of "${target}"; the vms clipboard is empty.`);
  },
};

export const clipboardClear: Command = {
  name: 'clipboard clear',
  summary: 'Empty the vms clipboard',
  usage: '',
  positionals: { min: 0, max: 0, names: [] },
  offline: true,
  options: {
    after: { type: 'string', valueName: 'SECONDS', description: 'Wait first (what a copy starts in the background)' },
    'if-copy': { type: 'string', valueName: 'ID', description: 'Only if the vms clipboard still holds that copy' },
  },
  async run({ engine, io }, { values }) {
    const after = values.after === undefined ? 0 : Number(values.after);
    if (!(Number.isInteger(after) && after >= 0 && after <= 86_400)) throw new VmsError('--after takes whole seconds, e.g. --after 60.');
    if (after > 0) await new Promise((resolve) => setTimeout(resolve, after * 1000));
    const cleared = await engine.clipboardClear({ id: values['if-copy'] as string | undefined });
    if (after === 0) io.out(cleared ? 'The vms clipboard is empty now.' : 'The vms clipboard was empty.');
  },
};
