import type { Libvirt } from './connection.js';

/** The user aliases (`ua-…`) of a running domain's consoles, which `virsh console --devname` reaches. */
export async function consoleAliases(lv: Libvirt, name: string): Promise<string[]> {
  const xml = await lv.run(['dumpxml', name]);
  const aliases: string[] = [];
  for (const match of xml.matchAll(/<console\b[\s\S]*?<\/console>/g)) {
    const alias = /<alias name='([^']+)'/.exec(match[0])?.[1];
    if (alias) aliases.push(alias);
  }
  return aliases;
}
