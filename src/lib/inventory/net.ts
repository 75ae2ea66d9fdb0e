/**
 * IPv4 arithmetic for the inventory: dotted quads, CIDR blocks, overlap tests and the radio addressing
 * derived from a base station's radioSubnet. Addresses are handled as unsigned 32-bit integers.
 */

/** An IPv4 block: network address (host bits all zero) and prefix length. */
export interface Ipv4Cidr {
  /** The network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
}

/** The addresses edgectl uses on a base station's radio side (see Basestation.radio). */
export interface RadioAddressing {
  /** The radioSubnet as written, normalised: "198.18.11.0/24". */
  cidr: string;
  network: string;
  prefix: number;
  netmask: string;
  broadcast: string;
  /** The access point's address on the radio side: the first host address ("198.18.11.1"). */
  apAddress: string;
  /** The mobile-user host's address on this base station's radio side: the second ("198.18.11.2"). */
  userAddress: string;
  /** apAddress with the prefix, ready for `ip addr add`: "198.18.11.1/24". */
  apCidr: string;
  /** userAddress with the prefix: "198.18.11.2/24". */
  userCidr: string;
}

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses a dotted-quad IPv4 address into an unsigned 32-bit integer. Leading zeros are refused
 * ("010" is octal to some tools and decimal to others), as are octets above 255.
 */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

export function formatIpv4(value: number): string {
  const v = value >>> 0;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** The netmask of a prefix length as an unsigned 32-bit integer (prefix 0 gives 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "a.b.c.d/n" without judging host bits: returns the address as written and the prefix.
 * Use parseCidr for a network block.
 */
export function parseCidrParts(text: string): { address: number; prefix: number } | undefined {
  const match = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1] ?? '');
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  return { address, prefix };
}

/** Parses an IPv4 network block; undefined when malformed or when host bits are set. */
export function parseCidr(text: string): Ipv4Cidr | undefined {
  const parts = parseCidrParts(text);
  if (!parts) return undefined;
  if ((parts.address & ~prefixMask(parts.prefix)) >>> 0 !== 0) return undefined;
  return { network: parts.address, prefix: parts.prefix };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** First and last address of a block (network and broadcast addresses included). */
export function cidrBounds(cidr: Ipv4Cidr): [first: number, last: number] {
  const size = 2 ** (32 - cidr.prefix);
  return [cidr.network, cidr.network + size - 1];
}

export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  const [first, last] = cidrBounds(cidr);
  return address >= first && address <= last;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const [aFirst, aLast] = cidrBounds(a);
  const [bFirst, bLast] = cidrBounds(b);
  return aFirst <= bLast && bFirst <= aLast;
}

/** Longest prefix that still leaves two usable host addresses (network and broadcast excluded). */
export const MAX_RADIO_PREFIX = 30;

/**
 * The radio addressing of a base station: the AP takes the first host address of its radioSubnet and
 * the mobile-user host the second. Throws on a subnet that is malformed or too small (the schema
 * refuses those before this is ever called on an inventory).
 */
export function radioAddressing(radioSubnet: string): RadioAddressing {
  const cidr = parseCidr(radioSubnet);
  if (!cidr || cidr.prefix > MAX_RADIO_PREFIX) {
    throw new RangeError(`not a radio subnet with two host addresses: ${JSON.stringify(radioSubnet)}`);
  }
  const [, last] = cidrBounds(cidr);
  const ap = cidr.network + 1;
  const user = cidr.network + 2;
  return {
    cidr: formatCidr(cidr),
    network: formatIpv4(cidr.network),
    prefix: cidr.prefix,
    netmask: formatIpv4(prefixMask(cidr.prefix)),
    broadcast: formatIpv4(last),
    apAddress: formatIpv4(ap),
    userAddress: formatIpv4(user),
    apCidr: `${formatIpv4(ap)}/${cidr.prefix}`,
    userCidr: `${formatIpv4(user)}/${cidr.prefix}`,
  };
}

/** User k's own address unless hosts.yml says otherwise: userSubnet's address 10 + k. */
export function defaultUserAddress(userSubnet: string, k: number): string {
  return formatIpv4((parseCidr(userSubnet)?.network ?? 0) + 10 + k);
}
