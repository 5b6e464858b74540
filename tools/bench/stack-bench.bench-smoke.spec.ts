import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, createTestVhost, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { startStack, type RunningService } from '../e2e/services';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'stack-bench-'));
const profileRoot = mkdtempSync(join(tmpdir(), 'stack-bench-profiles-'));
// A directory that does not exist yet: the bench makes it.
const profiles = join(profileRoot, 'resend');
const scenarioProfiles = join(profileRoot, 'scenarios');

interface QuickReport {
  benchmark: string;
  quick: boolean;
  runningStack?: { gateway: string; processor: string; notifier: string };
  limits: { bareFastify: { requestsPerSecond: number }; amqplibQuorumConfirmed: { messagesPerSecond: number }; unnestUpsert: { insertRowsPerSecond: number } };
  scenarios: {
    name: string;
    acceptedAlerts: number;
    storedAlerts: number;
    acceptedAlertsPerSecond: number;
    load: { requests: number; sent: number; latencyMs: { p50: number; p99: number; p99_9: number }; statuses: Record<string, number> };
    connections: number;
    services: Record<string, { peakRssMiB: number; peakHeapUsedMiB: number; peakExternalMiB: number; cpuSeconds: number }>;
    ratios: { requestsToBareFastify: number; publishesToRawAmqp: number; storedToRawUnnest: number | null };
    receiptToStoreMs: { alerts: number; p50: number } | null;
    receiptToSlackMs: { alerts: number; p50: number; p99: number; sent: number; expected: number } | null;
    fingerprints: 'new' | number;
    peer?: { alertsPerSecond: number; cpuSeconds: number; peakRssMiB: number; load: { requests: number; statuses: Record<string, number> } };
    stored?: { groups: number; instances: number; groupsNotOnce: number; once: boolean };
    cpuMicrosPerAlert?: Record<string, number> | null;
  }[];
  peakRssMiBOverall: Record<string, number | null>;
  memoryLimitsMiB?: Record<string, { base: number | null; production: number | null }>;
  peer: { binary: string; version: string } | null;
  headline: { row: string; alertmanager: string; sentryhub: string; ratio: number | null; target: string; met: boolean }[];
  timeline: { t: number }[];
  resend: {
    plan: { alerts: number; perRequest: number; intervalS: number; cycles: number; validForS: number };
    stack: ResendLeg & { stored: { groups: number; instances: number; groupsNotOnce: number; once: boolean }; drained: boolean };
    alertmanager: ResendLeg | null;
    resolved: { statuses: Record<string, number>; drained: boolean };
  } | null;
}

interface ResendLeg {
  statuses: Record<string, number>;
  requests: number;
  cycleSendSeconds: number[];
  idle: { seconds: number; totalCores: number };
  window: { seconds: number; cpuSeconds: Record<string, number>; cores: Record<string, number>; totalCores: number; counts: Record<string, number> };
}

// Not a timed test: it checks that `npm run bench -- --quick` completes and writes a well-formed
// report, never how fast anything was. Not part of `npm test` (minutes of load): `npm run test:bench`.
describe('npm run bench -- --quick', () => {
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
    rmSync(profileRoot, { recursive: true, force: true });
  });

  it('runs the whole stack beside Alertmanager and writes JSON, Markdown and SVG with every figure, ratio and target', async () => {
    const built = ['webhook-gateway', 'alert-processor', 'slack-notifier'].every((app) => existsSync(join(ROOT, `dist/apps/${app}/main.js`)));
    const args = [
      '--import',
      'tsx',
      'tools/bench/stack-bench.ts',
      '--quick',
      '--out',
      out,
      '--profile-resend',
      profiles,
      '--profile-scenarios',
      scenarioProfiles,
      ...(built ? ['--skip-build'] : []),
    ];
    await promisify(execFile)(process.execPath, args, { cwd: ROOT, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 });

    const files = readdirSync(out);
    const json = files.find((file) => file.endsWith('.json'));
    expect(json).toBeDefined();
    const base = (json ?? '').replace(/\.json$/, '');
    expect(files.sort()).toEqual([`${base}.json`, `${base}.md`, `${base}.svg`]);

    const report = JSON.parse(readFileSync(join(out, `${base}.json`), 'utf8')) as QuickReport;
    expect(report.benchmark).toBe('stack');
    expect(report.quick).toBe(true);
    for (const limit of [
      report.limits.bareFastify.requestsPerSecond,
      report.limits.amqplibQuorumConfirmed.messagesPerSecond,
      report.limits.unnestUpsert.insertRowsPerSecond,
    ]) {
      expect(limit).toBeGreaterThan(0);
    }
    expect(report.scenarios.map((scenario) => scenario.name)).toEqual([
      'paced-2000',
      'api-1',
      'api-10',
      'gateway-alone',
      'single',
      'webhook10',
      'api-batch',
      'storm',
      'repeat-storm',
    ]);
    expect(report.peer?.version).toMatch(/^\d+\.\d+/);
    // The peer got the same requests with the same client: every one answered 200, and the stack
    // stored each of its new alerts exactly once (the run counted the rows).
    for (const name of ['paced-2000', 'api-1', 'api-10']) {
      const scenario = report.scenarios.find((s) => s.name === name);
      expect(scenario?.fingerprints).toBe('new');
      expect(scenario?.peer?.load.requests).toBeGreaterThan(0);
      expect(scenario?.peer?.load.statuses['200']).toBe(scenario?.peer?.load.requests);
      expect(scenario?.peer?.alertsPerSecond).toBeGreaterThan(0);
      expect(scenario?.stored).toEqual({ groups: scenario?.acceptedAlerts, instances: scenario?.acceptedAlerts, groupsNotOnce: 0, once: true });
      expect(scenario?.cpuMicrosPerAlert?.['webhook-gateway']).toBeGreaterThan(0);
      expect(scenario?.cpuMicrosPerAlert?.['alert-processor']).toBeGreaterThan(0);
    }
    expect(report.peakRssMiBOverall['alertmanager']).toBeGreaterThan(0);
    expect(report.peakRssMiBOverall['webhook-gateway (alone)']).toBeGreaterThan(0);
    // The headline: every target, as a ratio to Alertmanager where it has one, met or missed.
    expect(report.headline.map((row) => row.target)).toEqual([
      '≥ 2x Alertmanager',
      '≥ 4x Alertmanager',
      '≥ 20,000 requests/s',
      '≤ 100 ms',
      '< 0.1 core',
      '≤ 200 MB each',
      '≤ its limit',
    ]);
    // Each app's peak is set against its Deployment's memory limit, base and production.
    for (const app of ['webhook-gateway', 'alert-processor', 'slack-notifier']) {
      expect(report.memoryLimitsMiB?.[app]?.base, `${app} base limit`).toBeGreaterThan(100);
      expect(report.memoryLimitsMiB?.[app]?.production, `${app} production limit`).toBeGreaterThan(100);
    }
    for (const app of ['webhook-gateway', 'alert-processor', 'slack-notifier'])
      expect(report.headline.at(-1)?.sentryhub).toMatch(new RegExp(`(^|, )${app} [\\d,.]+ of \\d+ / \\d+(,| MiB$)`));
    for (const row of report.headline.slice(0, 2)) expect(Number.isFinite(row.ratio)).toBe(true);
    // Re-sent alerts: the same 1,000 alerts posted every cycle in Prometheus's batches of 64, to
    // Alertmanager and to the stack; the CPU of every part over the cycles, as cores.
    const resend = report.resend;
    expect(resend?.plan).toEqual({ alerts: 1_000, perRequest: 64, intervalS: 2, cycles: 2, validForS: 8 });
    const requestsPerCycle = Math.ceil(1_000 / 64);
    expect(resend?.stack.requests).toBe(2 * requestsPerCycle);
    expect(resend?.stack.statuses).toEqual({ '202': 2 * requestsPerCycle });
    expect(resend?.alertmanager?.statuses).toEqual({ '200': 2 * requestsPerCycle });
    expect(resend?.stack.window.counts['accepted']).toBe(2 * 1_000);
    expect(resend?.stack.window.counts['processed']).toBeGreaterThan(0);
    expect(Object.keys(resend?.stack.window.cores ?? {}).sort()).toEqual(['PostgreSQL', 'RabbitMQ', 'alert-processor', 'slack-notifier', 'webhook-gateway']);
    expect(Object.keys(resend?.alertmanager?.window.cores ?? {})).toEqual(['alertmanager']);
    for (const leg of [resend?.stack, resend?.alertmanager]) {
      expect(leg?.window.seconds).toBeGreaterThanOrEqual(2 * 2);
      expect(leg?.cycleSendSeconds).toHaveLength(2);
      expect(leg?.idle.seconds).toBeGreaterThan(0);
      expect(Number.isFinite(leg?.idle.totalCores)).toBe(true);
      // Cores = the sum of the parts' CPU seconds over the window's wall seconds.
      const sum = Object.values(leg?.window.cpuSeconds ?? {}).reduce((a, b) => a + b, 0);
      expect(leg?.window.totalCores).toBeCloseTo(sum / (leg?.window.seconds ?? 1), 6);
    }
    expect(resend?.stack.window.cpuSeconds['webhook-gateway']).toBeGreaterThan(0);
    expect(resend?.stack.window.cpuSeconds['alert-processor']).toBeGreaterThan(0);
    // A re-send renews an alert: one group and one episode each after every cycle.
    expect(resend?.stack.stored).toEqual({ groups: 1_000, instances: 1_000, groupsNotOnce: 0, once: true });
    expect(resend?.resolved.statuses).toEqual({ '202': requestsPerCycle });
    // --profile-resend: a V8 profile of each service over the measured re-sends, each with
    // samples, the processor's with its own code in them.
    const profileFiles = readdirSync(profiles).sort();
    expect(profileFiles).toEqual(['alert-processor-resend.cpuprofile', 'slack-notifier-resend.cpuprofile', 'webhook-gateway-resend.cpuprofile']);
    for (const file of profileFiles) {
      const profile = JSON.parse(readFileSync(join(profiles, file), 'utf8')) as { nodes: { callFrame: { url: string } }[]; samples: number[] };
      expect(profile.samples.length, file).toBeGreaterThan(0);
      if (file.startsWith('alert-processor')) expect(profile.nodes.some((node) => node.callFrame.url.endsWith('apps/alert-processor/main.js'))).toBe(true);
    }
    // --profile-scenarios: per scenario, each service's CPU profile and its allocations, the
    // collected ones included (the processor's own code allocates in the storm).
    // Every scenario but the gateway alone (not the stack's services) has both files of each service.
    const profiled = report.scenarios.map((scenario) => scenario.name).filter((name) => name !== 'gateway-alone');
    expect(profiled).toContain('storm');
    expect(readdirSync(scenarioProfiles).sort()).toEqual(
      ['alert-processor', 'slack-notifier', 'webhook-gateway']
        .flatMap((service) => profiled.flatMap((name) => [`${service}-${name}.cpuprofile`, `${service}-${name}.heapprofile`]))
        .sort(),
    );
    type AllocationNode = { callFrame: { url: string }; selfSize: number; children: AllocationNode[] };
    const allocations = JSON.parse(readFileSync(join(scenarioProfiles, 'alert-processor-storm.heapprofile'), 'utf8')) as { head: AllocationNode };
    const nodes = (node: AllocationNode): AllocationNode[] => [node, ...node.children.flatMap(nodes)];
    const own = nodes(allocations.head).filter((node) => node.callFrame.url.endsWith('apps/alert-processor/main.js'));
    expect(own.reduce((bytes, node) => bytes + node.selfSize, 0)).toBeGreaterThan(0);
    const resendRow = report.headline.find((row) => row.target === '< 0.1 core');
    expect(resendRow?.row).toContain('re-sending 1,000 active alerts every 2 s');
    expect(Number.isFinite(resendRow?.ratio)).toBe(true);
    const gatewayAlone = report.scenarios.find((s) => s.name === 'gateway-alone');
    expect(gatewayAlone?.load.statuses['202']).toBeGreaterThan(0);
    expect(Object.keys(gatewayAlone?.services ?? {})).toEqual(['webhook-gateway']);
    expect(gatewayAlone?.storedAlerts).toBe(0);
    for (const scenario of report.scenarios.filter((s) => s.name !== 'gateway-alone')) {
      expect(scenario.load.requests).toBeGreaterThan(0);
      expect(Object.keys(scenario.load.statuses).every((code) => /^\d{3}$/.test(code))).toBe(true);
      // The gateway's count: at least the 202s the client saw, at most every request it sent
      // (some were still in flight when a timed run stopped).
      const perRequest = scenario.name === 'single' || scenario.name === 'api-1' ? 1 : ['webhook10', 'paced-2000', 'api-10'].includes(scenario.name) ? 10 : 100;
      const answered = scenario.load.statuses['202'] ?? 0;
      expect(scenario.acceptedAlerts).toBeGreaterThanOrEqual(answered * perRequest);
      expect(scenario.load.sent).toBeGreaterThanOrEqual(scenario.load.requests);
      expect(scenario.acceptedAlerts).toBeLessThanOrEqual(scenario.load.sent * perRequest);
      // Every accepted alert was stored (the run waits for it), and nothing that was not sent.
      // (The counters are read one after the other, so a request confirmed in between may be
      // counted as stored before it is counted as accepted.)
      expect(scenario.storedAlerts).toBeGreaterThanOrEqual(scenario.acceptedAlerts);
      expect(scenario.storedAlerts).toBeLessThanOrEqual(scenario.load.sent * perRequest);
      for (const value of [
        scenario.load.latencyMs.p50,
        scenario.load.latencyMs.p99,
        scenario.load.latencyMs.p99_9,
        scenario.ratios.requestsToBareFastify,
        scenario.ratios.publishesToRawAmqp,
      ]) {
        expect(Number.isFinite(value)).toBe(true);
      }
      expect(scenario.ratios.storedToRawUnnest).not.toBeNull();
      expect(Object.keys(scenario.services).sort()).toEqual(['alert-processor', 'slack-notifier', 'webhook-gateway']);
      for (const service of Object.values(scenario.services)) {
        expect(service.peakRssMiB).toBeGreaterThan(0);
        // Where the RSS goes: V8's heap and the Buffers outside it, each a part of the whole (in MiB too).
        for (const part of [service.peakHeapUsedMiB, service.peakExternalMiB]) {
          expect(part).toBeGreaterThan(0);
          expect(part).toBeLessThan(service.peakRssMiB);
        }
      }
    }
    // Receipt -> store and -> Slack for the storm's unique fingerprints: every firing notification sent.
    const storm = report.scenarios.find((scenario) => scenario.name === 'storm');
    expect(storm?.receiptToStoreMs?.alerts).toBeGreaterThan(0);
    expect(storm?.receiptToSlackMs).toMatchObject({
      sent: storm?.receiptToStoreMs?.alerts,
      expected: storm?.receiptToStoreMs?.alerts,
      alerts: storm?.receiptToStoreMs?.alerts,
    });
    expect(Number.isFinite(storm?.receiptToSlackMs?.p99)).toBe(true);
    expect(report.timeline.length).toBeGreaterThan(0);

    const markdown = readFileSync(join(out, `${base}.md`), 'utf8');
    expect(markdown).toContain('bare fastify');
    expect(markdown).toContain('## Headline: SentryHub beside Alertmanager');
    expect(markdown).toContain('Re-sent alerts (`resend`)');
    expect(markdown).toMatch(/\*\*(met|missed)\*\*/);
    expect(markdown).toContain('single-alert webhooks');
    expect(markdown).toContain('receipt -> Slack p50 / p99 ms');
    expect(markdown).toContain(`${base}.svg`);
    const svg = readFileSync(join(out, `${base}.svg`), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<polyline');
  }, 300_000);
});

describe('npm run bench -- --quick against a stack it did not start (BENCH_*_URL)', () => {
  const own = mkdtempSync(join(tmpdir(), 'stack-bench-running-'));
  let database: TestDatabase;
  let vhost: TestVhost;
  let services: RunningService[] = [];
  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await database?.destroy();
    await vhost?.destroy();
    rmSync(own, { recursive: true, force: true });
  });

  it('drives that stack, reads its figures from its /metrics and stores in its database, starting nothing of its own', async () => {
    [database, vhost] = await Promise.all([createTestDatabase('bench_running'), createTestVhost('bench-running')]);
    const stack = await startStack(['alert-processor', 'slack-notifier'], {
      DATABASE_URL: database.url,
      RABBITMQ_URL: vhost.url,
      WEBHOOK_ALLOW_ANONYMOUS: 'true',
    });
    services = stack.services;
    const urlOf = (name: string) => `http://127.0.0.1:${services.find((service) => service.name === name)?.port ?? 0}`;
    const args = ['--import', 'tsx', 'tools/bench/stack-bench.ts', '--quick', '--skip-build', '--only', 'paced-2000,single', '--out', own];
    const env = {
      ...process.env,
      BENCH_GATEWAY_URL: stack.gatewayUrl,
      BENCH_PROCESSOR_URL: urlOf('alert-processor'),
      BENCH_NOTIFIER_URL: urlOf('slack-notifier'),
      BENCH_DATABASE_URL: database.url,
    };
    await promisify(execFile)(process.execPath, args, { cwd: ROOT, env, timeout: 200_000, maxBuffer: 16 * 1024 * 1024 });

    const json = readdirSync(own).find((file) => file.endsWith('.json'));
    const report = JSON.parse(readFileSync(join(own, json ?? 'missing.json'), 'utf8')) as QuickReport;
    expect(report.runningStack).toEqual({ gateway: stack.gatewayUrl, processor: urlOf('alert-processor'), notifier: urlOf('slack-notifier') });
    expect(report.scenarios.map((scenario) => scenario.name)).toEqual(['paced-2000', 'single']);
    expect(report.resend).toBeNull();
    for (const scenario of report.scenarios) {
      expect(scenario.acceptedAlerts).toBeGreaterThan(0);
      expect(scenario.storedAlerts).toBeGreaterThanOrEqual(scenario.acceptedAlerts);
      // No Slack stand-in and no rule of the bench's: no receipt -> Slack.
      expect(scenario.receiptToSlackMs).toBeNull();
      expect(Object.keys(scenario.services).sort()).toEqual(['alert-processor', 'slack-notifier', 'webhook-gateway']);
      // From prom-client's process metrics, as no pid is the bench's.
      for (const service of Object.values(scenario.services)) expect(service.peakRssMiB).toBeGreaterThan(0);
      expect(scenario.services['webhook-gateway']?.cpuSeconds).toBeGreaterThan(0);
    }
    // The alerts went to the running stack's own database.
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from alert_groups where name like 'Paced%'`.execute(database.db);
    expect(rows[0]?.n).toBeGreaterThan(0);
    // ...and the bench added no Slack rule there.
    expect(await database.db.selectFrom('slack_rules').select('id').execute()).toEqual([]);
  }, 240_000);
});
