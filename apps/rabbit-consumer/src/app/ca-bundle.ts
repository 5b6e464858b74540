import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The PEM certificates of a CA bundle file. Throws with a reason a person can act on when the
 * file is unreadable, holds no certificate, or holds one that does not parse.
 */
export function readCaBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read CA bundle ${path}: ${(error as Error).message}`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new Error(`no PEM certificate ("-----BEGIN CERTIFICATE-----") in ${path}`);
  certificates.forEach((pem, index) => {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new Error(`certificate ${index + 1} of ${path} does not parse: ${(error as Error).message}`);
    }
  });
  return certificates;
}

/**
 * Adds the certificates to the CAs that every TLS connection of this process trusts, so an
 * amqps:// broker signed by a private CA is accepted. The messaging lib builds the rascal
 * connection from a URL only and offers no socket options, and this process opens no other
 * TLS connection; the system CAs stay trusted too.
 */
export function trustCaCertificates(certificates: readonly string[]): void {
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...certificates]);
}
