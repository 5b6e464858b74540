import type { LabelSet } from '@sentryhub/contracts';

/** FNV-1a 64 in two unsigned 32-bit halves: no BigInt (it was 8 % of the gateway's CPU). */
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** The 64-bit FNV prime is 2^40 + 0x1b3. */
const PRIME_LOW_PART = 0x1b3;
const TWO_POW_32 = 0x1_0000_0000;
const SEPARATOR = 0xff;
const utf8 = new TextEncoder();

/** The running hash; `fingerprint` is synchronous, so one pair serves every call. */
let hi = 0;
let lo = 0;

function addByte(byte: number): void {
  lo = (lo ^ byte) >>> 0;
  // (hi·2^32 + lo) · (2^40 + 0x1b3) mod 2^64; every product stays below 2^53, so it is exact.
  const low = lo * PRIME_LOW_PART;
  hi = (hi * PRIME_LOW_PART + Math.floor(low / TWO_POW_32) + lo * 256) >>> 0;
  lo = low >>> 0;
}

/** The UTF-8 bytes of `text`, then the separator. ASCII (nearly every label) is its own UTF-8. */
function addText(text: string): void {
  let index = 0;
  for (; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 0x80) break;
    addByte(code);
  }
  if (index < text.length) for (const byte of utf8.encode(text.slice(index))) addByte(byte);
  addByte(SEPARATOR);
}

/**
 * The fingerprint Alertmanager gives a label set (prometheus/common model.LabelSet.Fingerprint):
 * FNV-1a 64 over the UTF-8 bytes of the label names sorted ascending, each name and value
 * followed by 0xFF, printed as 16 lower-case hex digits.
 */
export function fingerprint(labels: LabelSet): string {
  hi = OFFSET_HI;
  lo = OFFSET_LO;
  for (const name of Object.keys(labels).sort()) {
    addText(name);
    addText(labels[name] ?? '');
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
