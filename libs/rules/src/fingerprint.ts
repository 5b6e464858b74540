import type { LabelSet } from '@sentryhub/contracts';

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;
const SEPARATOR = 0xff;
const utf8 = new TextEncoder();

/**
 * The fingerprint Alertmanager gives a label set (prometheus/common model.LabelSet.Fingerprint):
 * FNV-1a 64 over the label names sorted ascending, each name and value followed by 0xFF,
 * printed as 16 lower-case hex digits.
 */
export function fingerprint(labels: LabelSet): string {
  let hash = FNV64_OFFSET;
  const add = (byte: number) => {
    hash ^= BigInt(byte);
    hash = (hash * FNV64_PRIME) & MASK64;
  };
  for (const name of Object.keys(labels).sort()) {
    for (const byte of utf8.encode(name)) add(byte);
    add(SEPARATOR);
    for (const byte of utf8.encode(labels[name] ?? '')) add(byte);
    add(SEPARATOR);
  }
  return hash.toString(16).padStart(16, '0');
}
