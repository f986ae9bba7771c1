import { spawn } from 'node:child_process';
import type { Command } from '../command.js';

/**
 * Starts a detached `vms __watch-disposable NAME`, so the disposable's files go as soon as it shuts
 * down even though this command has returned. If the watcher dies, the next command's repair reaps them.
 */
export function spawnDisposableWatcher(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const child = spawn(process.execPath, [process.argv[1], '__watch-disposable', name], { detached: true, stdio: 'ignore', env });
  child.unref();
}

/**
 * Starts a detached `vms __fill-disposable-pool TEMPLATE`, which boots and pauses disposables until the
 * template's pool is full (a second one for the same template returns at once).
 */
export function spawnPoolFiller(template: string, env: NodeJS.ProcessEnv = process.env, delaySeconds = 5): void {
  const child = spawn(process.execPath, [process.argv[1], '__fill-disposable-pool', template, '--delay', String(delaySeconds)], { detached: true, stdio: 'ignore', env });
  child.unref();
}

export const disposable: Command = {
  name: 'disposable',
  summary: 'Start a new disposable VM; it is gone, with its disk, when it shuts down',
  usage: '[--template T] [--domain D]',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  options: {
    template: { type: 'string', short: 't', valueName: 'T', description: 'Template (default: the default template)' },
    domain: { type: 'string', short: 'd', valueName: 'D', description: 'Domain (default: disposable)' },
  },
  async run({ engine, json, io }, { values }) {
    const vm = await engine.disposable({ template: values.template as string | undefined, label: values.domain as string | undefined });
    spawnDisposableWatcher(vm.name);
    // The pool (preloaded disposables, booted and paused) gets a replacement in the background.
    if (engine.config.disposablePoolSize > 0 && vm.meta.template) spawnPoolFiller(vm.meta.template);
    io.out(json ? JSON.stringify(vm, null, 2) : `Started disposable "${vm.name}" from ${vm.meta.template}. Open it with: vms view ${vm.name}`);
  },
};

export const watchDisposable: Command = {
  name: '__watch-disposable',
  summary: 'Internal: reap a disposable when it stops',
  usage: 'NAME',
  hidden: true,
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine }, { positionals: [name] }) {
    await engine.watchDisposable(name);
  },
};

export const fillDisposablePool: Command = {
  name: '__fill-disposable-pool',
  summary: 'Internal: boot and pause disposables until the template’s pool is full',
  usage: 'TEMPLATE [--delay SECONDS]',
  hidden: true,
  positionals: { min: 1, max: 1, names: ['TEMPLATE'] },
  options: { delay: { type: 'string', valueName: 'SECONDS', description: 'Wait first (the disposable just handed out gets the CPU)' } },
  async run({ engine }, { positionals: [template], values }) {
    const delay = Number(values.delay ?? 0);
    await engine.fillDisposablePool(template, { delayMs: Number.isFinite(delay) && delay > 0 ? Math.min(delay, 60) * 1000 : 0 });
  },
};
