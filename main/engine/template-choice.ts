import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { listVms } from './inventory.js';

/**
 * The template a new VM or disposable starts from: the one asked for, else the default template setting,
 * else the only template there is. With several and no default, the error names them and the setting.
 */
export async function chooseTemplate(ctx: EngineContext, requested: string | undefined): Promise<string> {
  const named = requested ?? ctx.config.defaultTemplate;
  if (named) return named;
  const templates = (await listVms(ctx)).filter((vm) => vm.meta.kind === 'template').map((vm) => vm.name).sort();
  return onlyTemplate(templates);
}

/** Pure: the only template, or an error that says what to do. */
export function onlyTemplate(templates: readonly string[]): string {
  if (templates.length === 1) return templates[0];
  if (templates.length === 0) throw new VmsError('There is no template yet: build one (vms template build arch) or import one (vms template import NAME IMAGE).');
  throw new VmsError(`Say which template to use: --template ${templates.join('|')}, or set a default once: vms config set default-template ${templates[0]}.`);
}
