import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The PEM certificates of a CA bundle file. Throws with a reason a person can act on when the
 * file is unreadable, holds no certificate, or holds one that does not parse.
 *
 * They go to the broker connection's own `socketOptions.ca` (see externalIntakeTopology), never
 * to the process-wide trust store: like pika's `ca_certs` or curl's `--cacert`, they replace the
 * default CAs for the broker connection only.
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
