// Issue 3: an Arch template built from scratch by one bash script, tested for real.
//
// Arch's mirrors are out of reach here, so test/fixtures/arch-repo/build-repo.sh makes a local pacman
// repository of Debian binaries with Arch's package names (base, linux, systemd, networkmanager, ...). The
// real assets/template/build-template.sh runs against it with the real pacstrap, and the image it writes
// boots under libvirt (TCG, q35, OVMF without Secure Boot): OVMF -> systemd-boot -> EFI-stub kernel ->
// initramfs -> systemd -> serial getty. The created user logs in on the serial console, and the guest side
// of the vms layout is checked from inside: fstab by UUID, /home on the private disk seeded from the
// template, the two pacman caches over 9p, enabled services, sudo.
//
// Measured numbers go to the test's diagnostics and to test-output/bench-template.json (for npm run bench).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SerialConsole } from '../helpers/serial-console.js';
import { fixtureRepository } from '../helpers/arch-repo.js';

const URI = 'qemu:///system';
const REPO = new URL('../../../', import.meta.url).pathname;
const SCRIPT = join(REPO, 'assets', 'template', 'build-template.sh');
const ID = randomBytes(3).toString('hex');
/** qemu runs as libvirt-qemu: everything it opens lives under libvirt's images folder. */
const WORK = `/var/lib/libvirt/images/tpl-test-${ID}`;
const DOMAIN = `tpl-test-${ID}`;
const USER = 'tester';
const PASSWORD = `pw-${ID}`;
const HOSTNAME = `tpl-${ID}`;

const bench: Record<string, number | string> = {};
let pacmanConf = '';

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function build(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number } = {}) {
  const argv = [SCRIPT, ...args];
  const [file, rest] = options.uid === undefined
    ? [argv[0], argv.slice(1)]
    : ['setpriv', [`--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', ...argv]];
  return execa(file, rest, { env: options.env, extendEnv: options.env === undefined, reject: false, all: false });
}

/** Whatever a failed build may have left in WORK: staging folders, partial images. */
function leftoversIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('.vms-template-') || f.startsWith('.make-disk-image') || f.includes('.partial'));
}

async function mountsUnder(dir: string): Promise<string[]> {
  const { stdout } = await execa('findmnt', ['-rn', '-o', 'TARGET']);
  return stdout.split('\n').filter((m) => m.startsWith(dir));
}

/** Processes (other than this test) whose command line mentions dir: a leaked gpg-agent, pacman, ... */
function processesMentioning(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir) && !cmd.includes('node')) found.push(`${pid}: ${cmd}`);
    } catch { /* gone */ }
  }
  return found;
}

async function removeDomain(name: string): Promise<void> {
  await execa('virsh', ['-c', URI, 'destroy', name], { reject: false });
  await execa('virsh', ['-c', URI, 'undefine', '--nvram', name], { reject: false });
}

function assertCleanFailure(result: { exitCode?: number; stderr: string }, out: string, pattern: RegExp): void {
  assert.notEqual(result.exitCode, 0, 'the build must fail');
  const lines = result.stderr.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0], pattern);
  assert.equal(existsSync(out), false, 'no output file is left');
  assert.deepEqual(leftoversIn(WORK), []);
}

before(async () => {
  mkdirSync(WORK, { recursive: true, mode: 0o755 });
  mkdirSync(join(WORK, 'shared'), { mode: 0o755 });
  mkdirSync(join(WORK, 'pkg-vm'), { mode: 0o755 });
  // QEMU (libvirt-qemu) writes the VM's own cache itself, as in a libvirt directory pool.
  await execa('chown', ['libvirt-qemu:libvirt-qemu', join(WORK, 'pkg-vm')]);
  const start = process.hrtime.bigint();
  pacmanConf = await fixtureRepository();
  bench.fixtureSeconds = Number(seconds(start).toFixed(1));
});

after(async () => {
  await removeDomain(DOMAIN);
  // Stale domains of an interrupted earlier run.
  const { stdout } = await execa('virsh', ['-q', '-c', URI, 'list', '--all', '--name'], { reject: false });
  for (const name of String(stdout).split('\n').map((n) => n.trim()).filter((n) => n.startsWith('tpl-test-'))) {
    const xml = await execa('virsh', ['-c', URI, 'dumpxml', name], { reject: false });
    if (!String(xml.stdout).includes('/var/lib/libvirt/images/tpl-test-')) continue;
    const dir = /\/var\/lib\/libvirt\/images\/tpl-test-[0-9a-f]+/.exec(String(xml.stdout))?.[0];
    if (dir && !existsSync(dir)) await removeDomain(name);
  }
  rmSync(WORK, { recursive: true, force: true });
  if (Object.keys(bench).length > 1) {
    mkdirSync(join(REPO, 'test-output'), { recursive: true });
    writeFileSync(join(REPO, 'test-output', 'bench-template.json'), `${JSON.stringify(bench, null, 2)}\n`);
  }
});

describe('build-template.sh: clear failures, nothing left behind', () => {
  test('not root: one line, non-zero exit, no output', async () => {
    const out = join(WORK, 'notroot.qcow2');
    const result = await build(['--name', 'notroot', '--out', out, '--pacman-conf', pacmanConf], { uid: 65534 });
    assertCleanFailure(result, out, /must run as root/);
  });

  test('no pacstrap on the PATH: one line, non-zero exit, no output', async () => {
    // A PATH holding every command of this host except pacstrap.
    const bin = join(WORK, 'bin-without-pacstrap');
    mkdirSync(bin);
    for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      if (!existsSync(dir) || statSync(dir).isSymbolicLink()) continue;
      for (const cmd of readdirSync(dir)) {
        if (cmd === 'pacstrap' || existsSync(join(bin, cmd))) continue;
        try { symlinkSync(join(dir, cmd), join(bin, cmd)); } catch { /* duplicate through /bin -> usr/bin */ }
      }
    }
    const out = join(WORK, 'nopacstrap.qcow2');
    const result = await build(['--name', 'nopacstrap', '--out', out, '--pacman-conf', pacmanConf],
      { env: { PATH: bin, HOME: '/root' } });
    rmSync(bin, { recursive: true, force: true });
    assertCleanFailure(result, out, /pacstrap/);
  });

  test('a package that does not exist: pacstrap fails, no image, staging, mount or process left', async () => {
    const out = join(WORK, 'nopkg.qcow2');
    const result = await build(['--name', 'nopkg', '--out', out, '--pacman-conf', pacmanConf,
      '--shared-cache', join(WORK, 'shared'), '--packages', 'no-such-package-vms']);
    assert.notEqual(result.exitCode, 0);
    assert.match(result.stderr, /no-such-package-vms/);
    assert.match(result.stderr, /build-template: error: pacstrap failed/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(leftoversIn(WORK), []);
    assert.deepEqual(await mountsUnder(WORK), []);
    assert.deepEqual(processesMentioning(WORK), []);
  });
});

/**
 * Reads files of the root filesystem (partition 2) of a qcow2 image, without mounting: debugfs at an offset.
 * `stat` gives debugfs's description instead (a symbolic link's "Fast link dest").
 */
async function readFromImage(image: string, paths: string[], request: 'cat' | 'stat' = 'cat'): Promise<Record<string, string>> {
  const raw = `${image}.raw`;
  try {
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, raw]);
    const info = (await execa('sgdisk', ['-i', '2', raw])).stdout;
    const first = Number(/^First sector: (\d+)/m.exec(info)?.[1]);
    assert.ok(first > 0, `partition 2 of ${image}: ${info}`);
    const files: Record<string, string> = {};
    for (const path of paths) {
      const r = await execa('debugfs', ['-R', `${request} ${path}`, `${raw}?offset=${first * 512}`], { reject: false });
      files[path] = String(r.stdout);
    }
    return files;
  } finally {
    rmSync(raw, { force: true });
  }
}

describe('build-template.sh: interrupted', () => {
  test('SIGTERM during pacstrap: exits 143, stops pacstrap, leaves nothing behind', { timeout: 120_000 }, async () => {
    const out = join(WORK, 'killed.qcow2');
    mkdirSync(join(WORK, 'shared-killed'));
    const child = execa(SCRIPT, ['--name', 'killed', '--out', out, '--pacman-conf', pacmanConf,
      '--shared-cache', join(WORK, 'shared-killed')], { reject: false });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pacstrap did not start:\n${stderr}`)), 60_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('Installing packages')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The script itself (exec'd into its mount namespace, same pid), not its process group.
    process.kill(child.pid!, 'SIGTERM');
    const result = await child;
    assert.equal(result.exitCode, 143, String(result.stderr));
    assert.match(String(result.stderr), /build of template killed failed \(exit 143\); nothing was left behind/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(leftoversIn(WORK), []);
    assert.deepEqual(await mountsUnder(WORK), []);
    assert.deepEqual(processesMentioning(WORK), []);
  });
});

describe('a minimal template, built and booted', () => {
  const image = join(WORK, 'minimal.qcow2');
  let rootUuid = '';
  let espUuid = '';
  let guestFstab = '';

  test('builds with the real pacstrap; a second build downloads nothing', { timeout: 600_000 }, async (t) => {
    const args = ['--name', 'minimal', '--out', image, '--pacman-conf', pacmanConf, '--shared-cache', join(WORK, 'shared'),
      '--user', USER, '--hostname', HOSTNAME];
    // The password goes through the environment (arguments are visible in ps).
    const env = { ...process.env, VMS_TEMPLATE_PASSWORD: PASSWORD };
    // First build: the packages are fetched from the repository into the shared cache.
    let start = process.hrtime.bigint();
    const first = await build(args, { env });
    const firstSeconds = seconds(start);
    assert.equal(first.exitCode, 0, `first build failed:\n${first.stderr}`);
    assert.match(first.stderr, /Retrieving packages/, 'the first build downloads into the empty shared cache');
    const cached = readdirSync(join(WORK, 'shared')).filter((f) => f.endsWith('.pkg.tar.zst'));
    for (const pkg of ['base', 'linux', 'systemd', 'networkmanager', 'qemu-guest-agent', 'sudo']) {
      assert.ok(cached.some((f) => f.startsWith(`${pkg}-`)), `${pkg} is in the shared cache: ${cached.join(' ')}`);
    }
    // Second build, warm cache: nothing is downloaded, and it replaces the image atomically.
    start = process.hrtime.bigint();
    const second = await build(args, { env });
    const warmSeconds = seconds(start);
    assert.equal(second.exitCode, 0, `second build failed:\n${second.stderr}`);
    assert.doesNotMatch(second.stderr, /Retrieving packages|Total Download Size/, 'every package came from a cache');
    for (const step of ['pacstrap', 'configuring', 'systemd-boot', 'disk image', 'ready']) {
      assert.match(second.stderr, new RegExp(`^==> .*${step}`, 'm'), `progress line for ${step}`);
    }
    const info = Object.fromEntries(second.stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
    assert.equal(info.IMAGE, image);
    rootUuid = info.ROOT_UUID;
    espUuid = info.ESP_UUID;
    assert.match(rootUuid, /^[0-9a-f-]{36}$/);
    assert.match(espUuid, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    const qinfo = JSON.parse((await execa('qemu-img', ['info', '--output=json', image])).stdout);
    assert.equal(qinfo.format, 'qcow2');
    assert.equal(qinfo['virtual-size'], 20 * 1024 ** 3);
    assert.deepEqual(leftoversIn(WORK), []);
    assert.deepEqual(await mountsUnder(WORK), []);
    assert.deepEqual(processesMentioning(WORK), []);
    bench.templateBuildColdSeconds = Number(firstSeconds.toFixed(1));
    bench.templateBuildWarmSeconds = Number(warmSeconds.toFixed(1));
    bench.imageAllocatedMiB = Math.round(statSync(image).blocks * 512 / 2 ** 20);
    t.diagnostic(`template build: ${firstSeconds.toFixed(1)} s (cold shared cache), ${warmSeconds.toFixed(1)} s (warm), `
      + `image ${bench.imageAllocatedMiB} MiB allocated`);
  });

  test('boots through systemd-boot to login:, and the user logs in', { timeout: 600_000 }, async (t) => {
    assert.ok(rootUuid, 'the build test ran');
    const privateDisk = join(WORK, 'private.raw');
    const log = join(WORK, 'serial.log');
    // The VM's private disk as the engine makes it: empty ext4 labelled vms-private.
    await execa('truncate', ['-s', '256M', privateDisk]);
    await execa('mkfs.ext4', ['-q', '-F', '-L', 'vms-private', privateDisk]);
    writeFileSync(join(WORK, 'shared', 'marker-from-host'), 'shared cache\n');
    const xml = `<domain type='qemu'>
  <name>${DOMAIN}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <firmware><feature enabled='no' name='secure-boot'/></firmware>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${image}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${privateDisk}'/><target dev='vdb' bus='virtio'/></disk>
    <filesystem type='mount' accessmode='mapped'><source dir='${join(WORK, 'shared')}'/><target dir='pkg-shared'/><readonly/></filesystem>
    <filesystem type='mount' accessmode='mapped'><source dir='${join(WORK, 'pkg-vm')}'/><target dir='pkg-vm'/></filesystem>
    <serial type='pty'><log file='${log}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
  </devices>
</domain>`;
    writeFileSync(join(WORK, 'domain.xml'), xml);
    await execa('virsh', ['-c', URI, 'define', join(WORK, 'domain.xml')]);
    const start = process.hrtime.bigint();
    await execa('virsh', ['-c', URI, 'start', DOMAIN]);
    const console = await SerialConsole.forDomain(DOMAIN, URI);
    try {
      await console.waitFor(new RegExp(`${HOSTNAME} login:`), 240_000);
      const toLogin = seconds(start);
      bench.startToLoginSeconds = Number(toLogin.toFixed(1));
      t.diagnostic(`virsh start -> login: ${toLogin.toFixed(1)} s`);

      // The firmware handed over to the kernel's EFI stub, loaded by systemd-boot from the ESP.
      const serial = readFileSync(log, 'utf8');
      assert.match(serial, /EFI stub: /, 'the kernel was started through its EFI stub');

      console.write(`${USER}\n`);
      await console.waitFor(/Password:/, 30_000);
      console.write(`${PASSWORD}\n`);
      await console.waitFor(new RegExp(`${USER}@${HOSTNAME}[^\\n]*\\$ ?$`, 'm'), 60_000);
      const sh = async (cmd: string) => {
        const r = await console.run(cmd, 30_000);
        assert.equal(r.exitCode, 0, `${cmd} failed: ${r.output}`);
        // sudo leaves the tty's output processing doubled (\r\r\n): keep plain lines.
        return r.output.replace(/\r/g, '').trim();
      };
      /** As root, through sudo with the user's password (also proves sudo works). */
      const root = (cmd: string) => sh(`echo '${PASSWORD}' | sudo -S -p '' sh -c '${cmd.replace(/'/g, `'\\''`)}'`);

      // The console is a tty: keep systemctl and journalctl from starting a pager.
      await sh('export SYSTEMD_PAGER= PAGER=cat SYSTEMD_COLORS=0');
      assert.match(await sh('id'), new RegExp(`^uid=1000\\(${USER}\\) gid=1000\\(${USER}\\) groups=.*\\(wheel\\)`));
      // systemd-boot booted it: it records itself and the chosen entry in EFI variables.
      const loaderGuid = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
      assert.match(await sh(`cat /sys/firmware/efi/efivars/LoaderInfo-${loaderGuid} | tail -c +5 | tr -d '\\000'`), /^systemd-boot /);
      assert.equal(await sh(`cat /sys/firmware/efi/efivars/LoaderEntrySelected-${loaderGuid} | tail -c +5 | tr -d '\\000'`), 'arch.conf');
      const cmdline = await sh('cat /proc/cmdline');
      assert.match(cmdline, new RegExp(`root=UUID=${rootUuid} rw`));
      assert.match(cmdline, /console=tty0 console=ttyS0/);

      // fstab by UUID, and the mounts it describes.
      const fstab = await sh('grep -v "^#" /etc/fstab');
      assert.match(fstab, new RegExp(`^UUID=${rootUuid}\\s+/\\s+ext4`, 'm'));
      assert.match(fstab, /^\S+\s+\/boot\s+vfat\s/m);
      guestFstab = fstab;
      assert.match(fstab, /^LABEL=vms-private\s+\/home\s+ext4\s+\S*nofail/m);
      assert.equal(await sh('findmnt -n -o FSTYPE /'), 'ext4');
      assert.equal(await sh('findmnt -n -o FSTYPE /boot'), 'vfat');
      // The ESP (mode 0700 like genfstab's fmask/dmask=0077) holds Arch's /boot layout and the loader entry.
      assert.match(await root('ls /boot /boot/loader/entries'), /initramfs-linux\.img[\s\S]*vmlinuz-linux[\s\S]*arch\.conf/);
      assert.match(await root('cat /boot/loader/entries/arch.conf'),
        new RegExp(`^linux /vmlinuz-linux\ninitrd /initramfs-linux\.img\noptions root=UUID=${rootUuid} rw console=tty0 console=ttyS0,115200$`, 'm'));
      // /home is the private disk, seeded from the template's skeleton on this first boot.
      assert.equal(await sh('findmnt -n -o SOURCE /home'), '/dev/vdb');
      assert.equal(await sh(`stat -c %U:%a /home/${USER}`), `${USER}:700`);
      assert.equal(await sh('pwd'), `/home/${USER}`);
      // pacman's caches: the VM's own (writable) and the shared one (read-only), both over 9p.
      assert.match(await sh('grep "^CacheDir" /etc/pacman.conf'),
        /^CacheDir\s*=\s*\/var\/cache\/pacman\/pkg\/\nCacheDir\s*=\s*\/var\/cache\/pacman\/shared\/$/);
      assert.match(await sh('findmnt -n -o SOURCE,FSTYPE,OPTIONS /var/cache/pacman/shared'), /^pkg-shared\s+9p\s+ro[,\s]/);
      assert.match(await sh('findmnt -n -o SOURCE,FSTYPE,OPTIONS /var/cache/pacman/pkg'), /^pkg-vm\s+9p\s+rw[,\s]/);
      assert.equal(await sh('cat /var/cache/pacman/shared/marker-from-host'), 'shared cache');
      // Services, hostname, sudo.
      assert.equal(await sh('hostname'), HOSTNAME);
      assert.equal(await sh('systemctl is-enabled NetworkManager.service serial-getty@ttyS0.service vms-home-seed.service | sort -u'), 'enabled');
      assert.equal(await sh('systemctl is-active NetworkManager.service'), 'active');
      assert.equal(await sh('systemctl show -P Result vms-home-seed.service'), 'success');
      assert.match(await root('journalctl --no-pager -b -o cat -u vms-home-seed.service'),
        new RegExp(`/home/${USER} seeded from the template`));
      assert.match(await sh('cat /etc/machine-id'), /^[0-9a-f]{32}$/);
      assert.equal(await root('id -u'), '0');
      const failed = await sh('systemctl --no-pager --failed --no-legend --plain | cut -d" " -f1');
      t.diagnostic(`failed units: ${failed || 'none'}`);
      assert.doesNotMatch(failed, /vms-|NetworkManager|getty|home\.mount|boot\.mount|var-cache/);
      // Root writes into the VM's own cache land on the host; the shared cache refuses writes.
      await root('echo from-guest > /var/cache/pacman/pkg/written-by-guest');
      assert.equal(readFileSync(join(WORK, 'pkg-vm', 'written-by-guest'), 'utf8'), 'from-guest\n');
      const ro = await console.run(`echo '${PASSWORD}' | sudo -S -p '' touch /var/cache/pacman/shared/x`, 30_000);
      assert.notEqual(ro.exitCode, 0, 'the shared cache is read-only in the guest');

      // qemu-guest-agent answers on its virtio channel.
      const ping = await execa('virsh', ['-c', URI, 'qemu-agent-command', DOMAIN, '{"execute":"guest-ping"}', '--timeout', '20'], { reject: false });
      assert.equal(ping.exitCode, 0, `guest agent: ${ping.stderr}`);
      assert.match(String(ping.stdout), /"return"/);
    } finally {
      console.close();
      await removeDomain(DOMAIN);
    }
    assert.equal((await execa('virsh', ['-c', URI, 'dominfo', DOMAIN], { reject: false })).exitCode, 1, 'domain removed');
  });

  // Needs make-disk-image.sh --esp-uuid; without it the script warns and writes LABEL=ESP instead.
  test('fstab names the ESP (/boot) by its UUID', () => {
    assert.ok(guestFstab, 'the boot test read the guest fstab');
    assert.match(guestFstab, new RegExp(`^UUID=${espUuid}\\s+/boot\\s+vfat`, 'm'));
  });
});


// After the minimal build, which needs the shared cache empty at first.
describe('a gui template', () => {
  test('builds: X11 + i3 packages, automatic login on tty1 that starts i3', { timeout: 600_000 }, async () => {
    const image = join(WORK, 'gui.qcow2');
    const result = await build(['--name', 'gui', '--profile', 'gui', '--out', image, '--disk-size', '4G',
      '--pacman-conf', pacmanConf, '--shared-cache', join(WORK, 'shared'), '--packages', 'xterm,dmenu']);
    assert.equal(result.exitCode, 0, `gui build failed:\n${result.stderr}`);
    for (const pkg of ['xorg-server', 'xorg-xinit', 'i3-wm', 'spice-vdagent', 'xf86-video-qxl', 'pipewire', 'pipewire-pulse', 'xdg-utils']) {
      assert.match(result.stderr, new RegExp(`installing ${pkg}\\.\\.\\.`), `${pkg} installed`);
    }
    // The guest side of vms rpc, as assets/guest-rpc has it (docs/rpc.md).
    const rpcFiles = ['/usr/bin/vms-rpc', '/usr/bin/vms-copy', '/usr/bin/vms-open-in-dvm', '/usr/bin/vms-open-in-vm', '/usr/bin/vms-rpc-agent',
      '/usr/lib/vms/rpc-lib.sh', '/etc/vms/rpc.d/vms.FileCopy', '/etc/vms/rpc.d/vms.OpenInVM', '/etc/vms/rpc.d/vms.OpenURL', '/etc/vms/rpc.d/vms.Run',
      '/etc/systemd/system/vms-rpc-agent.service'];
    const files = await readFromImage(image, ['/etc/systemd/system/getty@tty1.service.d/vms-autologin.conf',
      '/home/arch/.bash_profile', '/home/arch/.xinitrc', '/usr/share/vms/home-skel/arch/.xinitrc', '/usr/share/vms/template.conf',
      '/etc/vms/rpc-user', ...rpcFiles]);
    // (execa drops the final newline of what debugfs printed.)
    const source = (path: string) => readFileSync(join(REPO, 'assets', 'guest-rpc', path.includes('/rpc.d/') ? 'rpc.d' : '', path.split('/').pop()!), 'utf8').replace(/\n$/, '');
    for (const path of rpcFiles) assert.equal(files[path], source(path), `${path} installed`);
    assert.equal(files['/etc/vms/rpc-user'], 'arch', 'files from other VMs go to the template\'s user');
    const links = await readFromImage(image, ['/usr/bin/vms-move', '/etc/systemd/system/multi-user.target.wants/vms-rpc-agent.service'], 'stat');
    assert.deepEqual(Object.values(links).map((text) => /Fast link dest: "([^"]*)"/.exec(text)?.[1]), ['vms-copy', '../vms-rpc-agent.service'], 'vms-move is vms-copy; the agent starts at boot');
    assert.match(files['/etc/systemd/system/getty@tty1.service.d/vms-autologin.conf'], /^ExecStart=-\/sbin\/agetty .*--autologin arch /m);
    assert.match(files['/home/arch/.bash_profile'], /exec startx/);
    assert.match(files['/home/arch/.xinitrc'], /spice-vdagent[\s\S]*exec i3/);
    assert.equal(files['/usr/share/vms/home-skel/arch/.xinitrc'], files['/home/arch/.xinitrc']);
    assert.match(files['/usr/share/vms/template.conf'], /^PROFILE=gui$/m);
    rmSync(image, { force: true });
  });
});
