/** Further benchmark sections; each issue adds its own file and one entry here. */
import { dailyUseSections } from './daily-use.js';
import { rpcSections } from './rpc.js';
import { guiDesktopSection } from './gui-desktop.js';
import { templateBuildSection } from './template-build.js';

export interface BenchSection {
  title: string;
  /** For BENCH_SECTIONS=ID, which runs only this section. */
  id?: string;
  /** Runs the measurements and returns the printed table. */
  run(): Promise<string>;
}

export const extraSections: BenchSection[] = [
  templateBuildSection,
  ...dailyUseSections,
  ...rpcSections,
  guiDesktopSection,
];
