import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';

/**
 * The completion scripts as each shell runs them: `vms completion SHELL` from the real CLI bundle, then
 * bash's completion function and fish's `complete -C` asked what they offer. zsh is checked for syntax
 * and content (its completion system needs an interactive line editor).
 */

const CLI = new URL('../../cli/vms.mjs', import.meta.url).pathname;
const env = { PATH: process.env.PATH, LC_ALL: 'C', HOME: tmpdir() };

describe('shell completions come from the command table', { timeout: 60_000 }, () => {
  let dir: string;
  const scripts: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vms-completions-'));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const result = await execa(process.execPath, [CLI, 'completion', shell], { env, extendEnv: false });
      scripts[shell] = join(dir, shell);
      await writeFile(scripts[shell], result.stdout);
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** What bash completes for the words of a command line (the last one being completed). */
  async function bashOffers(...words: string[]): Promise<string[]> {
    const line = ['vms', ...words].map((w) => `'${w}'`).join(' ');
    const { stdout } = await execa('bash', ['--norc', '-c', `source ${scripts.bash}; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; _vms; printf '%s\\n' "\${COMPREPLY[@]}"`], { env, extendEnv: false, cwd: dir });
    return stdout.split('\n').filter(Boolean);
  }

  it('bash: verbs, a group\'s members, a verb\'s options, and files where a path goes', async () => {
    assert.deepEqual(await bashOffers('tem'), ['template']);
    assert.ok((await bashOffers('')).includes('disposable'));
    assert.deepEqual(await bashOffers('template', ''), ['build', 'import']);
    assert.deepEqual(await bashOffers('template', 'build', '--p'), ['--profile', '--packages', '--pacman-conf', '--password']);
    assert.deepEqual(await bashOffers('cache', 'p'), ['prune']);
    assert.ok((await bashOffers('cache', 'prune', '--')).includes('--keep'));
    assert.deepEqual(await bashOffers('list', '--j'), ['--json']);
    await writeFile(join(dir, 'arch.qcow2'), '');
    assert.deepEqual(await bashOffers('template', 'import', 'arch', 'arch.'), ['arch.qcow2']);
    assert.deepEqual(await bashOffers('template', 'build', 'arch', '--pacman-conf', 'arch.'), ['arch.qcow2']);
    assert.deepEqual(await bashOffers('template', 'build', 'arch', '--profile', 'x'), [], 'a free-text value is not a file');
  });

  it('fish: the same, through fish\'s own completion engine', async () => {
    const offers = async (line: string) => (await execa('fish', ['--no-config', '-c', `source ${scripts.fish}; complete -C ${JSON.stringify(line)}`], { env, extendEnv: false, cwd: dir }))
      .stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    assert.deepEqual(await offers('vms tem'), ['template']);
    assert.deepEqual((await offers('vms template ')).sort(), ['build', 'import']);
    assert.ok((await offers('vms template build --p')).includes('--profile'));
    assert.ok(!(await offers('vms network list --')).includes('--all'), 'the options of `vms list` stay with it');
    assert.ok((await offers('vms cache prune --')).includes('--keep'));
  });

  it('zsh: valid, and it knows every verb with its summary', async () => {
    await execa('zsh', ['-n', scripts.zsh], { env, extendEnv: false });
    const { stdout } = await execa(process.execPath, [CLI, 'completion', 'zsh'], { env, extendEnv: false });
    assert.match(stdout, /^#compdef vms/);
    assert.ok(stdout.includes(`'template:build, import'`) && stdout.includes(`'--profile:minimal (default) or gui`));
  });

  it('refuses an unknown shell in one line', async () => {
    const result = await execa(process.execPath, [CLI, 'completion', 'tcsh'], { env, extendEnv: false, reject: false });
    assert.equal(result.exitCode, 1);
    assert.equal(result.stderr.trim(), 'vms: There is no completion for "tcsh": choose bash, zsh, fish.');
  });
});
