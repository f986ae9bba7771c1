import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAppArgs, secondInstanceRequest } from '../../main/app/args.js';
import { autostartPath, desktopEntry, quoteExecArg, setAutostart } from '../../main/app/desktop-entry.js';

describe('desktopEntry', () => {
  it('builds an XDG autostart entry', () => {
    const text = desktopEntry({ exec: ['/usr/bin/vms-tray', '--hidden'], icon: 'vms' });
    const lines = text.split('\n');
    assert.equal(lines[0], '[Desktop Entry]');
    assert.ok(lines.includes('Type=Application'));
    assert.ok(lines.includes('Exec=/usr/bin/vms-tray --hidden'));
    assert.ok(lines.includes('Icon=vms'));
    assert.ok(lines.includes('Terminal=false'));
    assert.ok(text.endsWith('\n'));
    assert.equal(desktopEntry({ exec: ['/a'] }).includes('Icon='), false);
  });

  it('quotes Exec arguments as the specification says', () => {
    assert.equal(quoteExecArg('/usr/bin/vms-tray'), '/usr/bin/vms-tray');
    assert.equal(quoteExecArg('/home/me/My Apps/vms.AppImage'), '"/home/me/My Apps/vms.AppImage"');
    assert.equal(quoteExecArg('100%'), '100%%');
    assert.equal(quoteExecArg('a$b'), '"a\\\\$b"');
    assert.equal(quoteExecArg('say "hi"'), '"say \\\\"hi\\\\""');
    assert.equal(quoteExecArg('back\\slash'), '"back\\\\\\\\slash"');
    assert.equal(quoteExecArg(''), '""');
    assert.throws(() => quoteExecArg('a\nb'));
  });

  it('writes and removes the entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vms-autostart-'));
    try {
      const path = autostartPath({ XDG_CONFIG_HOME: dir });
      assert.equal(path, join(dir, 'autostart', 'vms.desktop'));
      await setAutostart(true, 'entry\n', path);
      assert.equal(await readFile(path, 'utf8'), 'entry\n');
      assert.equal((await stat(path)).mode & 0o777, 0o644);
      await setAutostart(false, '', path);
      await assert.rejects(stat(path), { code: 'ENOENT' });
      await setAutostart(false, '', path); // removing twice is fine
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('app arguments', () => {
  it('reads --new-disposable and --hidden wherever Electron puts them', () => {
    assert.deepEqual(parseAppArgs(['/usr/bin/electron', '.', '--new-disposable']), { newDisposable: true, hidden: false });
    assert.deepEqual(parseAppArgs(['/opt/vms/vms-tray', '--no-sandbox', '--hidden']), { newDisposable: false, hidden: true });
    assert.deepEqual(parseAppArgs(['/opt/vms/vms-tray']), { newDisposable: false, hidden: false });
  });

  it('takes a second launch’s request from its additional data, else its argv', () => {
    assert.deepEqual(secondInstanceRequest(['/opt/vms/vms-tray'], { newDisposable: true, hidden: false }), { newDisposable: true, hidden: false });
    assert.deepEqual(secondInstanceRequest(['/opt/vms/vms-tray', '--new-disposable'], undefined), { newDisposable: true, hidden: false });
    assert.deepEqual(secondInstanceRequest(['/opt/vms/vms-tray'], { other: 1 }), { newDisposable: false, hidden: false });
  });
});
