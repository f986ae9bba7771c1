import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { CLI, makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';
import { fixtureRepository } from '../helpers/arch-repo.js';

/**
 * The README's quick start, run exactly as written (its `vms` lines are read from README.md, so the first
 * page cannot rot), on real libvirt with a template built by the real script from the local pacman
 * repository fixture. One boot serves every check that needs a running guest: the login the README
 * promises, the hostname (the VM's name, given over SMBIOS) in the console's login prompt, acceleration
 * chosen by the KVM probe (TCG here), refusals of destructive verbs, and `vms set` on a running VM.
 *
 * Two substitutions, and only these: libvirt domain names are global on the shared libvirtd, so the VMs
 * `arch` and `mail` are called `cliarch` and `climail`; and the template is installed from the fixture
 * repository through VMS_PACMAN_CONF (Arch's mirrors are not reachable here).
 * Building the template is the one root step (pacstrap); every other command runs as the unprivileged
 * user `vmstest`, as on a desktop.
 */
const REPO = new URL('../../../', import.meta.url).pathname;
const RENAME: Record<string, string> = { arch: 'cliarch', mail: 'climail' };

/** The `vms …` lines of the README's quick start block, without their comments. */
export function quickStartCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line !== '');
}

let t: TestEngine;
let baseEnv: NodeJS.ProcessEnv;
const measured: Record<string, number> = {};

/** The unprivileged desktop user (groups libvirt and kvm) that CI prepares. */
const USER = 'vmstest';

/** Runs the real CLI as the unprivileged user through runuser, or (`asRoot`) as root. */
async function vms(args: string[], options: { input?: string; asRoot?: boolean; extraEnv?: NodeJS.ProcessEnv } = {}) {
  const started = performance.now();
  const env = { ...baseEnv, ...options.extraEnv };
  const result = !options.asRoot
    ? await execa('runuser', ['-u', USER, '--', 'env', ...Object.entries(env).filter(([key]) => /^(VMS_|LC_ALL$|PATH$)/.test(key)).map(([key, value]) => `${key}=${value}`), `HOME=/home/${USER}`, process.execPath, CLI, ...args], { reject: false, input: options.input ?? '' })
    : await execa(process.execPath, [CLI, ...args], { env, extendEnv: false, reject: false, input: options.input ?? '' });
  measured[`vms ${args.slice(0, 2).join(' ')}`] = Math.round(performance.now() - started);
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** `vms console NAME` from a script: stdin and stdout are the console; Ctrl+] leaves. */
function attachConsole(name: string) {
  const child = spawn('runuser', ['-u', USER, '--', process.execPath, CLI, 'console', name], { env: baseEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let seen = '';
  child.stdout.on('data', (chunk: Buffer) => { seen += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { seen += chunk.toString('utf8'); });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  let from = 0;
  return {
    write: (text: string) => child.stdin.write(text),
    /** Waits for a pattern after the last match; pokes the getty with Enter while waiting, if asked. */
    async waitFor(pattern: RegExp, ms: number, poke = false): Promise<string> {
      const deadline = Date.now() + ms;
      for (let tick = 0; ; tick++) {
        const match = pattern.exec(seen.slice(from));
        if (match) {
          from += match.index + match[0].length;
          return match[0];
        }
        if (Date.now() > deadline) throw new Error(`console: no ${pattern} within ${ms} ms; last output:\n${seen.slice(-1500)}`);
        if (poke && tick % 20 === 19) child.stdin.write('\r');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    async detach(): Promise<number> {
      child.stdin.write('\x1d');
      return exited;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe('the README quick start, as written, and the CLI around one booted VM', { timeout: 1_500_000 }, () => {
  before(async () => {
    const pacmanConf = await fixtureRepository();
    t = await makeTestEngine('cliqs');
    baseEnv = { ...t.env, LC_ALL: 'C', VMS_PACMAN_CONF: pacmanConf, VMS_CACHE_DIR: join(t.scratch, '.cache') };
    // No VMS_ACCEL: every start must choose by itself (the probe finds that KVM cannot run guests here).
    delete baseEnv.VMS_ACCEL;
    // A small VM for a 2-core CI machine; everything else is the defaults a user gets.
    for (const [key, value] of [['default-memory', '1G'], ['default-cpus', '1'], ['default-disk-size', '1G']]) {
      assert.equal((await vms(['config', 'set', key, value])).exitCode, 0, key);
    }
  });
  after(async () => {
    await t?.cleanup();
    process.stderr.write(`# measured (ms): ${JSON.stringify(measured)}\n`);
  });

  test('setup.sh off Arch says what to install and how to put vms on PATH', async () => {
    const commands = quickStartCommands(await readFile(join(REPO, 'README.md'), 'utf8'));
    const setup = commands.find((c) => c.startsWith('./scripts/setup.sh'));
    assert.ok(setup, 'the quick start begins with setup.sh');
    const run = await execa('bash', ['-c', setup], { cwd: REPO, reject: false, env: { ...process.env, LC_ALL: 'C' } });
    assert.equal(run.exitCode, 1);
    assert.match(String(run.stderr), /this script sets up an Arch Linux host, and this is Debian/);
    assert.match(String(run.stderr), /ln -sf "[^"]+\/dist\/cli\/vms\.mjs" \/usr\/local\/bin\/vms {5}# puts `vms` on your PATH/);
  });

  test('the quick start: build, create, start, console with the login it shows; the prompt names the VM', async () => {
    const commands = quickStartCommands(await readFile(join(REPO, 'README.md'), 'utf8')).filter((c) => c.startsWith('vms '));
    assert.deepEqual(commands.map((c) => c.split(' ')[1]), ['template', 'create', 'start', 'console'], 'the steps this test knows how to check');
    const readmeLogin = /log in as (\w+) \/ (\w+)/.exec(await readFile(join(REPO, 'README.md'), 'utf8'));
    assert.ok(readmeLogin, 'the README shows the login');
    const [, user, password] = readmeLogin;
    const argv = (command: string) => command.split(/\s+/).slice(1).map((word) => RENAME[word] ?? word);

    // The one root step: the README says `sudo vms template build`.
    const built = await vms(argv(commands[0]).filter((w) => w !== 'sudo'), { asRoot: true });
    assert.equal(built.exitCode, 0, built.stderr.slice(-3000));
    assert.match(built.stdout, /^Built and imported template "cliarch" \(now the default template\)\.$/m);
    assert.match(built.stdout, new RegExp(`^Its VMs log in as ${user}, password ${password} `, 'm'), 'the build prints the login the README shows');
    assert.match(built.stdout, /^Next: vms create mail && vms start mail && vms console mail$/m);

    const created = await vms(argv(commands[1]));
    assert.equal(created.exitCode, 0, created.stderr);
    assert.match(created.stdout, /Created appvm "climail" in personal from cliarch/);

    const started = await vms(argv(commands[2]));
    assert.equal(started.exitCode, 0, started.stderr);
    // Attach at once: output while nobody holds the console is only in its log.
    const console = attachConsole('climail');
    try {
      const bootStarted = performance.now();
      await console.waitFor(/climail login: ?$/m, 600_000, true);
      measured['start to "climail login:"'] = Math.round(performance.now() - bootStarted);
      console.write(`${user}\r`);
      await console.waitFor(/Password: ?$/m, 60_000);
      console.write(`${password}\r`);
      await console.waitFor(new RegExp(`${user}@climail[^\\n]*\\$ ?$`, 'm'), 120_000);
      console.write('echo "host=$(hostname)"\r');
      assert.equal(await console.waitFor(/host=\w+/, 30_000), 'host=climail');
      assert.equal(await console.detach(), 0, 'Ctrl+] leaves the console');
    } finally {
      console.kill();
    }
  });

  test('acceleration was chosen by the probe at start (TCG here) and vms info says so', async () => {
    const info = await vms(['info', 'climail']);
    assert.equal(info.exitCode, 0, info.stderr);
    assert.match(info.stdout, /^acceleration: +tcg \(chosen at its last start\)$/m);
    if (!existsSync('/dev/kvm')) {
      // Machines of this kind come with or without /dev/kvm: without it, TCG at once, nothing probed or cached.
      assert.equal(existsSync(join(baseEnv.VMS_CACHE_DIR!, 'kvm-probe.json')), false, 'no probe without /dev/kvm');
      return;
    }
    const probe = JSON.parse(await readFile(join(baseEnv.VMS_CACHE_DIR!, 'kvm-probe.json'), 'utf8')) as { probe: { works: boolean } };
    assert.equal(probe.probe.works, false, 'KVM cannot run guests on this machine');
  });

  test('a running VM, handled by the unprivileged user: delete needs --yes and --force, start says it runs, set waits for the next start', async () => {
    const user = {};
    const refused = await vms(['delete', 'climail'], user);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /^vms: "climail" is running: stop it first \(vms stop climail\), or add --force to force it off and delete it\.$/);
    assert.match((await vms(['delete', 'climail', '--yes'], user)).stderr, /is running/);
    assert.match((await vms(['delete', 'climial', '--yes'], user)).stderr, /There is no VM named "climial": see `vms list`\. Did you mean "climail"\?/);
    assert.equal((await vms(['start', 'climail'], user)).stdout.trim(), '"climail" is already running.');

    const set = await vms(['set', 'climail', 'memory=1536M', 'domain=work'], user);
    assert.equal(set.exitCode, 0, set.stderr);
    assert.match(set.stdout, /applies at its next start/);
    const info = await vms(['info', 'climail'], user);
    assert.match(info.stdout, /^memory: +1024 MiB \(1536 MiB from its next start\)$/m);
    assert.match(info.stdout, /^domain: +personal \(work from its next start\)$/m);
    assert.match((await vms(['set', 'climail', 'memory=100000G'], user)).stderr, /^vms: Memory 100000G is more than this computer has \(\d+ GiB\): give at most \d+G\.$/m);

    assert.equal((await vms(['firewall', 'climail', 'add', 'deny proto=tcp port=25'], user)).exitCode, 0);
    const deleted = await vms(['firewall', 'climail', 'del', 'deny proto=tcp port=25'], user);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    assert.match(deleted.stdout, /\(no rules\) anything else: allow/);

    // TCG guests on a loaded 2-core runner may need more than the default 90 s to power off.
    const stopped = await vms(['stop', 'climail', '--timeout', '300'], user);
    assert.equal(stopped.stdout.trim(), '"climail" is shut off.', stopped.stderr);
    assert.equal((await vms(['kill', 'climail'], user)).stdout.trim(), '"climail" is already off.');
    // Forcing KVM where KVM cannot run guests: one line that says what to do instead of QEMU's assertion.
    const kvm = await vms(['start', 'climail'], { extraEnv: { VMS_ACCEL: 'kvm' } });
    assert.equal(kvm.exitCode, 1);
    assert.match(kvm.stderr, /^vms: "climail" could not start with KVM \(VMS_ACCEL\): start it under TCG with `VMS_ACCEL=tcg vms start climail`, or make TCG the default with `vms config set accel tcg`/);
    const after = await vms(['info', 'climail'], user);
    assert.match(after.stdout, /^memory: +1536 MiB$/m);
    assert.match(after.stdout, /^domain: +work$/m);
  });

  test('a clone gets its own hostname; bad sizes and images are refused with nothing written', async () => {
    assert.equal((await vms(['clone', 'climail', 'climail2'])).exitCode, 0);
    const xml = await execa('virsh', ['-c', t.config.uri, 'dumpxml', '--inactive', 'climail2'], { env: { LC_ALL: 'C' } });
    assert.match(String(xml.stdout), /io\.systemd\.credential:system\.hostname=climail2</);

    const before = await t.volumes();
    const bare = await vms(['create', 'cliextra', '--disk-size', '10']);
    assert.equal(bare.stderr, 'vms: The disk size: "10" has no unit: add one, such as 10G or 10M.');
    assert.match((await vms(['create', 'cliextra', '--memory', '2048'])).stderr, /--memory: "2048" has no unit/);
    const text = join(t.scratch, 'notes.txt');
    await writeFile(text, 'hello\n');
    assert.match((await vms(['template', 'import', 'clinotes', text])).stderr, /cannot be a template: its disk is .*too small for a system/);
    assert.deepEqual(await t.volumes(), before, 'nothing written');

    const gone = await vms(['delete', 'climail2', '--yes']);
    assert.equal(gone.exitCode, 0, gone.stderr);
  });
});
