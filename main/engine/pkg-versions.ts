/**
 * Pacman package files and versions, for pruning the shared package caches like paccache. Pure.
 */

/** `name-[epoch:]pkgver-pkgrel-arch.pkg.tar.zst`, split up. */
export interface PackageFile {
  file: string;
  name: string;
  /** `[epoch:]pkgver-pkgrel`, as vercmp takes it. */
  version: string;
  arch: string;
}

const PACKAGE_FILE = /^(.+)-([^-/]+)-([^-/]+)-([^-/]+)\.pkg\.tar(?:\.(?:zst|xz|gz|bz2|lz4|lzo|lrz|Z))?$/;

/** Parses a package file name; undefined for anything else (signatures, partial downloads, other files). */
export function parsePackageFileName(file: string): PackageFile | undefined {
  const match = PACKAGE_FILE.exec(file);
  if (!match) return undefined;
  const [, name, pkgver, pkgrel, arch] = match;
  if (!/^[a-zA-Z0-9@._+-]+$/.test(name) || name.startsWith('-') || name.startsWith('.')) return undefined;
  return { file, name, version: `${pkgver}-${pkgrel}`, arch };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined) => c !== undefined && /[A-Za-z]/.test(c);
const isAlnum = (c: string | undefined) => isDigit(c) || isAlpha(c);

/** rpmvercmp as pacman's libalpm has it: compares one version part (no epoch, no release). */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let one = 0;
  let two = 0;
  let ptr1 = 0;
  let ptr2 = 0;
  while (one < a.length && two < b.length) {
    while (one < a.length && !isAlnum(a[one])) one++;
    while (two < b.length && !isAlnum(b[two])) two++;
    if (!(one < a.length && two < b.length)) break;
    // Separators of different lengths decide.
    if (one - ptr1 !== two - ptr2) return one - ptr1 < two - ptr2 ? -1 : 1;
    ptr1 = one;
    ptr2 = two;
    let isNum: boolean;
    if (isDigit(a[ptr1])) {
      while (ptr1 < a.length && isDigit(a[ptr1])) ptr1++;
      while (ptr2 < b.length && isDigit(b[ptr2])) ptr2++;
      isNum = true;
    } else {
      while (ptr1 < a.length && isAlpha(a[ptr1])) ptr1++;
      while (ptr2 < b.length && isAlpha(b[ptr2])) ptr2++;
      isNum = false;
    }
    let seg1 = a.slice(one, ptr1);
    let seg2 = b.slice(two, ptr2);
    if (seg1 === '') return -1; // cannot happen: the first string has a segment here
    // A numeric segment is newer than an alpha one.
    if (seg2 === '') return isNum ? 1 : -1;
    if (isNum) {
      seg1 = seg1.replace(/^0+/, '');
      seg2 = seg2.replace(/^0+/, '');
      if (seg1.length !== seg2.length) return seg1.length > seg2.length ? 1 : -1;
    }
    if (seg1 !== seg2) return seg1 < seg2 ? -1 : 1;
    one = ptr1;
    two = ptr2;
  }
  if (one >= a.length && two >= b.length) return 0;
  // A remaining alpha part never beats an empty string: 1.0a < 1.0 < 1.0.1.
  return (one >= a.length && !isAlpha(b[two])) || isAlpha(a[one]) ? -1 : 1;
}

function parseEvr(version: string): { epoch: string; ver: string; rel?: string } {
  let rest = version;
  let epoch = '0';
  const colon = /^(\d*):/.exec(rest);
  if (colon) {
    epoch = colon[1] === '' ? '0' : colon[1];
    rest = rest.slice(colon[0].length);
  }
  const dash = rest.lastIndexOf('-');
  return dash >= 0 ? { epoch, ver: rest.slice(0, dash), rel: rest.slice(dash + 1) } : { epoch, ver: rest };
}

/** pacman's vercmp: <0, 0 or >0 as `a` is older than, the same as, or newer than `b`. */
export function vercmp(a: string, b: string): number {
  if (a === b) return 0;
  const x = parseEvr(a);
  const y = parseEvr(b);
  let result = rpmvercmp(x.epoch, y.epoch);
  if (result === 0) {
    result = rpmvercmp(x.ver, y.ver);
    if (result === 0 && x.rel !== undefined && y.rel !== undefined) result = rpmvercmp(x.rel, y.rel);
  }
  return result;
}

export interface PrunePlan {
  keep: string[];
  /** Files to delete: old packages and their `.sig` files. */
  remove: string[];
}

/**
 * Which files of one cache folder to delete so that only the newest `keep` versions of each package
 * (per architecture) stay, like `paccache -rk N`. Other files are left alone; a signature goes with its
 * package.
 */
export function planPrune(files: readonly string[], keep: number): PrunePlan {
  if (!Number.isInteger(keep) || keep < 0) throw new Error(`keep must be a whole number (got ${keep})`);
  const present = new Set(files);
  const groups = new Map<string, PackageFile[]>();
  for (const file of files) {
    const pkg = parsePackageFileName(file);
    if (!pkg) continue;
    const key = `${pkg.name}\0${pkg.arch}`;
    groups.set(key, [...(groups.get(key) ?? []), pkg]);
  }
  const keepFiles: string[] = [];
  const remove: string[] = [];
  for (const group of groups.values()) {
    // Newest first; the same version twice (.zst and .xz) sorts by file name so the plan is stable.
    group.sort((a, b) => vercmp(b.version, a.version) || a.file.localeCompare(b.file));
    const versions: string[] = [];
    for (const pkg of group) {
      const rank = versions.findIndex((v) => vercmp(v, pkg.version) === 0);
      const index = rank >= 0 ? rank : versions.push(pkg.version) - 1;
      const target = index < keep ? keepFiles : remove;
      target.push(pkg.file);
      if (present.has(`${pkg.file}.sig`)) target.push(`${pkg.file}.sig`);
    }
  }
  return { keep: keepFiles.sort(), remove: remove.sort() };
}
