/**
 * IPv4 addresses and prefixes, and the deterministic choice of a label network's /24. Pure.
 * Addresses are kept as unsigned 32-bit numbers.
 */

export interface Cidr {
  /** The address as written (host bits may be set, e.g. a host address 192.0.2.2/24). */
  address: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** `a.b.c.d/n`, or a bare address (/32); undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, prefixText, ...rest] = text.split('/');
  if (rest.length > 0) return undefined;
  const address = parseIpv4(addr);
  if (address === undefined) return undefined;
  if (prefixText === undefined) return { address, prefix: 32 };
  if (!/^(3[0-2]|[12]?\d)$/.test(prefixText)) return undefined;
  return { address, prefix: Number(prefixText) };
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (2 ** 32 - 2 ** (32 - prefix));
}

/** The first address of the prefix. */
export function networkAddress(cidr: Cidr): number {
  // >>> 0 keeps the result unsigned.
  return (cidr.address & maskOf(cidr.prefix)) >>> 0;
}

/** True when the address has no host bits set (10.0.0.0/8, not 10.1.2.3/8). */
export function isNetworkAddress(cidr: Cidr): boolean {
  return networkAddress(cidr) === cidr.address;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.address)}/${cidr.prefix}`;
}

/** Two prefixes overlap when the shorter one contains the other's network address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return networkAddress({ address: a.address, prefix }) === networkAddress({ address: b.address, prefix });
}

export function netmaskOf(prefix: number): string {
  return formatIpv4(maskOf(prefix));
}

/** `255.255.255.0` → 24; undefined for a mask with holes. */
export function prefixOfNetmask(mask: string): number | undefined {
  const n = parseIpv4(mask);
  if (n === undefined) return undefined;
  for (let prefix = 0; prefix <= 32; prefix++) if (maskOf(prefix) === n) return prefix;
  return undefined;
}

/**
 * Where label networks take their /24 from, in order: 256 subnets each. 10.231/16 first; the others are
 * used only when every /24 there collides with something on the host.
 */
export const SUBNET_POOLS: readonly string[] = ['10.231.0.0', '10.232.0.0', '172.29.0.0', '192.168.0.0'];

/** FNV-1a: a small, stable hash, so a label gets the same subnet on every machine where it is free. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * Picks the label's /24: the label's hash chooses where to start in the first pool, then the next free
 * /24 is taken (wrapping around, then the next pools). `taken` holds every prefix already in use on the
 * host: its routes, its addresses and other libvirt networks. Default routes (/0) never count.
 */
export function pickSubnet(label: string, taken: readonly Cidr[]): Cidr | undefined {
  const inUse = taken.filter((c) => c.prefix > 0);
  const start = stableHash(label) % 256;
  for (const pool of SUBNET_POOLS) {
    const base = parseIpv4(pool)!;
    for (let i = 0; i < 256; i++) {
      const candidate: Cidr = { address: base + ((start + i) % 256) * 256, prefix: 24 };
      if (!inUse.some((c) => overlaps(c, candidate))) return candidate;
    }
  }
  return undefined;
}
