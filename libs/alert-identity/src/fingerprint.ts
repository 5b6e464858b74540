import type { LabelSet } from '@sentryhub/contracts';

/**
 * FNV-1a 64 in four 16-bit limbs, lowest first: small-integer arithmetic only. BigInt was 8 %
 * of the gateway's CPU; two 32-bit halves with floating-point products and a division still
 * were 10 % with 10-alert webhooks.
 */
const OFFSET = [0x2325, 0x8422, 0x9ce4, 0xcbf2] as const;
/** The 64-bit FNV prime is 2^40 + 0x1b3: multiply by 0x1b3, and add the value shifted left by 40 bits. */
const PRIME_LOW_PART = 0x1b3;
const SEPARATOR = 0xff;
const utf8 = new TextEncoder();

/** The running hash; `fingerprint` is synchronous, so one state serves every call. */
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

/** h = (h ^ byte) · (2^40 + 0x1b3) mod 2^64, limb by limb; every intermediate stays below 2^31. */
function addByte(byte: number): void {
  v0 ^= byte;
  const t0 = v0 * PRIME_LOW_PART;
  const t1 = v1 * PRIME_LOW_PART + (t0 >>> 16);
  const t2 = v2 * PRIME_LOW_PART + (v0 << 8) + (t1 >>> 16);
  const t3 = v3 * PRIME_LOW_PART + (v1 << 8) + (t2 >>> 16);
  v0 = t0 & 0xffff;
  v1 = t1 & 0xffff;
  v2 = t2 & 0xffff;
  v3 = t3 & 0xffff;
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

/** The label names in ascending order; Prometheus sends them so, and then they are not sorted again. */
function sortedNames(labels: LabelSet): string[] {
  const names = Object.keys(labels);
  for (let index = 1; index < names.length; index++) if ((names[index - 1] as string) > (names[index] as string)) return names.sort();
  return names;
}

const hex4 = (limb: number) => limb.toString(16).padStart(4, '0');

/**
 * The fingerprint Alertmanager gives a label set (prometheus/common model.LabelSet.Fingerprint):
 * FNV-1a 64 over the UTF-8 bytes of the label names sorted ascending, each name and value
 * followed by 0xFF, printed as 16 lower-case hex digits.
 */
export function fingerprint(labels: LabelSet): string {
  [v0, v1, v2, v3] = OFFSET;
  for (const name of sortedNames(labels)) {
    addText(name);
    addText(labels[name] ?? '');
  }
  return hex4(v3) + hex4(v2) + hex4(v1) + hex4(v0);
}
