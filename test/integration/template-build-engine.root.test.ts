import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { makeTestEngine } from '../helpers/engine-fixture.js';
import { fixtureRepository } from '../helpers/arch-repo.js';

/**
 * The template build's root check, for real: the CLI and the engine path the tray uses run as the
 * unprivileged desktop user vmstest (groups libvirt and kvm, no sudo rights), with no polkit agent. Both
 * must refuse before writing anything, in one line that names the command to run instead.
 */

const REPO = new URL('../../../', import.meta.url).pathname;
const CLI = join(REPO, 'dist', 'cli', 'vms.mjs');
const USER = process.env.VMS_TEST_USER ?? 'vmstest';
const NAME = `tb${randomBytes(2).toString('hex')}`;

/** Every path below `dir`, for a before/after comparison. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('building a template needs root, and says what to run', { timeout: 420_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  /** Runs a command as the test user, with a desktop user's environment. */
  const asUser = (command: string, args: string[]) => execa('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', command, ...args],
    { reject: false, stdin: 'ignore', env, extendEnv: false, cwd: dir });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vms-template-root-'));
    for (const sub of ['images', 'config', 'pkg']) await mkdir(join(dir, sub));
    const { stdout } = await execa('id', ['-u', USER]);
    for (const sub of ['', 'images', 'config', 'pkg']) await chown(join(dir, sub), Number(stdout), Number(stdout));
    env = {
      PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, LC_ALL: 'C', VMS_URI: 'qemu:///system',
      VMS_IMAGES_DIR: join(dir, 'images'), VMS_CONFIG_DIR: join(dir, 'config'), VMS_PKG_CACHE_DIR: join(dir, 'pkg'),
    };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('vms template build as a user without sudo: one line, non-zero, nothing written', async () => {
    const before = await tree(dir);
    const result = await asUser(process.execPath, [CLI, 'template', 'build', NAME, '--profile', 'gui']);
    const lines = result.stderr.trim().split('\n');
    assert.equal(result.exitCode, 1, result.stderr);
    assert.equal(lines.length, 1, `one line: ${result.stderr}`);
    assert.match(lines[0], /^vms: Building a template needs root \(pacstrap\) and sudo cannot ask for a password here: run /);
    // The exact command: the same builder and arguments the engine would run (the shared cache too), then the import.
    assert.ok(lines[0].includes(`sudo ${join(REPO, 'assets', 'template', 'build-template.sh')} --name ${NAME} --out ${`/var/tmp/vms-build-${NAME}/${NAME}.qcow2`} --shared-cache ${join(dir, 'pkg', 'shared')} --profile gui`), lines[0]);
    assert.ok(lines[0].includes(`&& vms template import ${NAME} ${`/var/tmp/vms-build-${NAME}/${NAME}.qcow2`}`), lines[0]);
    assert.deepEqual(await tree(dir), before, 'nothing was written');
    const domain = await execa('virsh', ['-c', 'qemu:///system', 'dominfo', NAME], { reject: false, env: { ...process.env, LC_ALL: 'C' } });
    assert.notEqual(domain.exitCode, 0, 'no domain was defined');
  });

  it('the tray\'s path (pkexec) and the CLI\'s (sudo) refuse the same way when they cannot become root', async () => {
    const before = await tree(dir);
    const script = `
      const { Engine } = await import(${JSON.stringify(join(REPO, 'dist', 'main', 'engine', 'index.js'))});
      const { resolveConfig } = await import(${JSON.stringify(join(REPO, 'dist', 'main', 'engine', 'config.js'))});
      const { NeedsRootError } = await import(${JSON.stringify(join(REPO, 'dist', 'main', 'engine', 'template-build.js'))});
      const engine = new Engine(resolveConfig({}, process.env));
      for (const elevate of ['pkexec', 'sudo']) {
        try {
          await engine.buildTemplate(${JSON.stringify(NAME)}, { profile: 'minimal', elevate });
          console.log('built');
        } catch (error) {
          console.log(JSON.stringify({ elevate, typed: error instanceof NeedsRootError, message: error.message }));
        }
      }`;
    const result = await asUser(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(result.exitCode, 0, result.stderr);
    const answers = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { elevate: string; typed: boolean; message: string });
    assert.equal(answers.length, 2);
    for (const answer of answers) {
      assert.ok(answer.typed, `${answer.elevate}: a NeedsRootError`);
      assert.ok(!answer.message.includes('\n'), 'one line');
      assert.match(answer.message, /^Building a template needs root \(pacstrap\) and (pkexec \(polkit\) is not installed|no polkit agent could ask for the password|sudo is not installed): run mkdir -p .* && sudo .*build-template\.sh --name /);
    }
    assert.deepEqual(await tree(dir), before, 'nothing was written');
  });

  it('as root, vms template build runs the builder with the shared cache and imports the template (the tray\'s path too)', async () => {
    const pacmanConf = await fixtureRepository();
    const t = await makeTestEngine('tbroot');
    try {
      const name = `${NAME}-root`;
      const started = performance.now();
      const built = await t.vms(['template', 'build', name, '--pacman-conf', pacmanConf, '--disk-size', '2G'], { asRoot: true });
      assert.equal(built.exitCode, 0, built.stderr);
      process.stdout.write(`# vms template build as root: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      assert.match(built.stdout, new RegExp(`^Built and imported template "${name}"`));
      // The builder's own progress reaches the terminal through the engine.
      assert.match(built.stderr, /^==> /m);
      const template = await t.engine.info(name);
      assert.equal(template.meta.kind, 'template');
      assert.equal(template.meta.imageVersion, 1);
      assert.deepEqual((await readdir('/var/tmp')).filter((e) => e.startsWith(`vms-build-${name}`)), [], 'the built image was imported and removed');
      // --shared-cache reached the builder: it made the shared pacman cache where the engine keeps it.
      assert.ok((await readdir(t.config.pkgCacheDir)).includes('shared'));
    } finally {
      await t.cleanup();
    }
  });
});
