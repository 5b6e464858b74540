import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { buildBrokerConfig, connectMessaging } from '@sentryhub/messaging';
import { createLogger, parseConfig } from '@sentryhub/service-runtime';
import { createTestVhost, TEST_RABBITMQ_HOST, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCaBundle } from './ca-bundle';
import { ConsumerConfig } from './config';
import { ensureExternalQueue, externalIntakeTopology } from './external-intake';

/*
 * RABBITMQ_CA_FILE against the real local RabbitMQ: a TLS terminator (as stunnel or a load
 * balancer would be) with a certificate from a private CA sits in front of its plain AMQP
 * port, so amqps:// works only when the broker connection is given that CA.
 */

const run = promisify(execFile);

let dir: string;
let caFile: string;
let otherCaFile: string;
const logger = createLogger('rabbit-consumer-test', 'silent');
let vhost: TestVhost;
let proxy: tls.Server;
let amqpsUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rabbit-consumer-ca-'));
  caFile = join(dir, 'ca.pem');
  otherCaFile = join(dir, 'other-ca.pem');
  const keyFile = join(dir, 'key.pem');
  const selfSigned = (key: string, cert: string) =>
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
  await Promise.all([selfSigned(keyFile, caFile), selfSigned(join(dir, 'other-key.pem'), otherCaFile)]);
  vhost = await createTestVhost('rabbit-consumer-tls');
  proxy = tls.createServer({ key: await readFile(keyFile), cert: await readFile(caFile) }, (client) => {
    const upstream = net.connect(5672, TEST_RABBITMQ_HOST);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;
  // The certificate names "localhost"; amqplib checks it against the URL's host name.
  amqpsUrl = `amqps://guest:guest@localhost:${port}/${encodeURIComponent(vhost.vhost)}`;
});

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await vhost?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('readCaBundle', () => {
  it('returns every certificate of a bundle', async () => {
    const pem = await readFile(caFile, 'utf8');
    const bundle = join(dir, 'bundle.pem');
    await writeFile(bundle, `# two CAs\n${pem}\n${pem}`);
    expect(readCaBundle(bundle)).toEqual([pem.trim(), pem.trim()]);
  });

  it('fails with a reason when the file is missing, empty of certificates, or garbled', async () => {
    expect(() => readCaBundle(join(dir, 'missing.pem'))).toThrow(/^cannot read CA bundle .*missing\.pem: ENOENT/);
    const notPem = join(dir, 'not.pem');
    await writeFile(notPem, 'hello');
    expect(() => readCaBundle(notPem)).toThrow(/no PEM certificate/);
    const garbled = join(dir, 'garbled.pem');
    await writeFile(garbled, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    expect(() => readCaBundle(garbled)).toThrow(/certificate 1 of .*garbled\.pem does not parse/);
    expect(parseConfig(ConsumerConfig, { RABBITMQ_CA_FILE: garbled })).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^RABBITMQ_CA_FILE: certificate 1 of .* does not parse/)],
    });
    expect(parseConfig(ConsumerConfig, { RABBITMQ_CA_FILE: caFile })).toMatchObject({ ok: true, config: { RABBITMQ_CA_FILE: caFile } });
  });
});

describe('amqps:// with RABBITMQ_CA_FILE', () => {
  const topology = (caFile?: string) =>
    externalIntakeTopology({ RABBITMQ_EXTERNAL_QUEUE: 'tls_external', RABBITMQ_PREFETCH: 1, ...(caFile ? { RABBITMQ_CA_FILE: caFile } : {}) });
  const connect = (caFile?: string) => connectMessaging(buildBrokerConfig({ url: amqpsUrl, ...topology(caFile) }), { logger });

  it('is refused without the bundle, and with a bundle of another CA', async () => {
    await expect(connect()).rejects.toThrow(/self[- ]signed certificate/);
    await expect(connect(otherCaFile)).rejects.toThrow(/self[- ]signed certificate/);
    await expect(ensureExternalQueue({ url: amqpsUrl, socketOptions: topology(otherCaFile).socketOptions }, 'tls_external')).rejects.toThrow(
      /self[- ]signed certificate/,
    );
  });

  it('connects through rascal, topology and all, and declares the external queue over TLS', async () => {
    const { socketOptions } = topology(caFile);
    expect(socketOptions.ca).toEqual(readCaBundle(caFile));
    const messaging = await connect(caFile);
    try {
      expect(messaging.isConnected()).toBe(true);
      expect(await ensureExternalQueue({ url: amqpsUrl, socketOptions }, 'tls_external')).toBe('declared');
      const plain = await amqp.connect(vhost.url);
      const channel = await plain.createChannel();
      // Declared over the TLS connections: proof that they reached this vhost.
      expect(await channel.checkQueue('tls_external.dead')).toMatchObject({ queue: 'tls_external.dead' });
      expect(await channel.checkQueue('tls_external')).toMatchObject({ queue: 'tls_external' });
      await plain.close();
    } finally {
      await messaging.shutdown();
    }
  });

  it('trusts the bundle for the broker connection only, never process-wide', async () => {
    // Node re-encodes the certificates it is given, so compare them by fingerprint.
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    const trusted = new Set(tls.getCACertificates('default').map(fingerprint));
    expect(trusted.has(fingerprint(readCaBundle(caFile)[0] ?? ''))).toBe(false);
    // Any other TLS connection of the process still refuses the private CA.
    await expect(amqp.connect(amqpsUrl)).rejects.toThrow(/self[- ]signed certificate/);
  });
});
