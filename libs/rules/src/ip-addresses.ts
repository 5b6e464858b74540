/**
 * IP addresses in message text, for rules that must not post them to Slack (the source
 * system replaced them always; here it is a per-rule option).
 */

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const HEX = '[0-9A-Fa-f]{1,4}';

/**
 * Every IPv6 text form (RFC 4291 section 2.2): full, compressed with `::` anywhere, and with
 * an IPv4 tail. A bare `::` is left alone: in prose it is far more often punctuation.
 */
const IPV6_FORMS = [
  `(?:${HEX}:){6}${IPV4}`,
  `(?:${HEX}:){1,5}:${IPV4}`,
  `::(?:${HEX}:){0,5}${IPV4}`,
  `(?:${HEX}:){7}${HEX}`,
  `(?:${HEX}:){1,7}:`,
  `(?:${HEX}:){1,6}:${HEX}`,
  `(?:${HEX}:){1,5}(?::${HEX}){1,2}`,
  `(?:${HEX}:){1,4}(?::${HEX}){1,3}`,
  `(?:${HEX}:){1,3}(?::${HEX}){1,4}`,
  `(?:${HEX}:){1,2}(?::${HEX}){1,5}`,
  `${HEX}:(?::${HEX}){1,6}`,
  `:(?::${HEX}){1,7}`,
];
/** A link-local address may carry a zone: fe80::1%eth0. */
const ZONE = '(?:%[0-9A-Za-z._-]+)?';

/*
 * The boundaries keep an address from being cut out of something larger: a version string
 * (v1.2.3.4, 1.2.3.4.5), a longer colon-separated run (1:2:3:4:5:6:7:8:9) or a word. A colon
 * after a word is fine (`addr:2001:db8::1`), one after a hex digit is not.
 */
const IPV6_MATCH = `(?<![0-9A-Za-z_.]|[0-9A-Fa-f]:)(?:${IPV6_FORMS.join('|')})${ZONE}(?![0-9A-Za-z_:]|\\.\\d)`;
const IPV4_MATCH = `(?<![0-9A-Za-z.])${IPV4}(?![0-9A-Za-z]|\\.\\d)`;

/** IPv6 first, so that ::ffff:10.0.0.1 becomes one `IP`, not `::ffff:IP`. */
const IP_ADDRESS = new RegExp(`${IPV6_MATCH}|${IPV4_MATCH}`, 'g');

/** The text with every IPv4 and IPv6 address replaced by `replacement` (ports and prefixes stay). */
export function replaceIpAddresses(text: string, replacement = 'IP'): string {
  return text.replace(IP_ADDRESS, replacement);
}
