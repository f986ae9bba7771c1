import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

const REPO = new URL('../../../', import.meta.url).pathname;

/**
 * The local Arch package repository every template build in the tests and benchmarks uses
 * (test/fixtures/arch-repo/build-repo.sh, as root): one folder, up to date at once when its inputs did not
 * change. VMS_TEST_ARCH_REPO gives a worktree its own, so two checkouts whose fixtures differ do not
 * rebuild each other's. Returns the pacman.conf to build with.
 */
export async function fixtureRepository(): Promise<string> {
  const out = process.env.VMS_TEST_ARCH_REPO || '/var/cache/vms-test/arch-repo-fixture';
  const fixture = await execa(join(REPO, 'test', 'fixtures', 'arch-repo', 'build-repo.sh'), [out], { stderr: 'inherit', env: { LC_ALL: 'C' } });
  const pacmanConf = fixture.stdout.trim().split('\n').pop() ?? '';
  if (!existsSync(pacmanConf)) throw new Error(`build-repo.sh gave no pacman.conf (${pacmanConf || 'nothing'})`);
  return pacmanConf;
}
