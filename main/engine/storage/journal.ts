import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { EngineContext } from '../context.js';
import type { JournalKind } from './layout.js';

/**
 * The journal of work under way, in the user's state folder: a create, clone, import or delete (`pending`),
 * a disposable whose files go when its domain does (`disposable`), a template whose shutdown publishes
 * a new version (`updating`). libvirt stays the source of truth; these entries only tell the next
 * command's repair where to look, so that repair costs nothing when there is nothing to finish.
 */

export async function addJournalEntry(ctx: EngineContext, kind: JournalKind, name: string, content = ''): Promise<void> {
  await mkdir(ctx.layout.journalDir(kind), { recursive: true, mode: 0o700 });
  await writeFile(ctx.layout.journalEntry(kind, name), content);
}

export async function removeJournalEntry(ctx: EngineContext, kind: JournalKind, name: string): Promise<void> {
  await rm(ctx.layout.journalEntry(kind, name), { force: true });
}

export async function journalEntries(ctx: EngineContext, kind: JournalKind): Promise<string[]> {
  try {
    return (await readdir(ctx.layout.journalDir(kind))).filter((entry) => !entry.startsWith('.'));
  } catch {
    return [];
  }
}

/** The entry's content, or undefined when there is none. */
export async function readJournalEntry(ctx: EngineContext, kind: JournalKind, name: string): Promise<string | undefined> {
  try {
    return await readFile(ctx.layout.journalEntry(kind, name), 'utf8');
  } catch {
    return undefined;
  }
}
