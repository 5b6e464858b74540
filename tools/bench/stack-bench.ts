/**
 * `npm run bench [-- --quick --duration 10 --connections 100 --skip-build --no-write --out DIR]`
 *
 * A benchmark (not a test) of the BUILT stack: webhook-gateway, alert-processor and
 * slack-notifier as real processes against a throwaway PostgreSQL database and RabbitMQ vhost,
 * the Slack stand-in of @sentryhub/testing, and autocannon driving the gateway. Beside it, the
 * peer: Debian's Alertmanager, given the same requests by the same client, so that every
 * headline figure is a ratio to Alertmanager from the same run. In the same run it also measures
 * the machine's own limits (a bare fastify route, raw amqplib confirmed publishing to a quorum
 * queue, raw `INSERT ... SELECT FROM unnest ... ON CONFLICT`). Results:
 * `bench/results/stack-<time>.{json,md,svg}`. See tools/bench/README.md.
 *
 * The run, here; its parts: stack-bench-options (options), -services (processes), -scenarios
 * (what is sent), -load (load generators), -limits, -metrics (what is read back), -report.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createTestDatabase, createTestVhost, startSlackMock, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { sql } from 'kysely';
import { deployedMemoryLimits, deployedNodeOptions } from '../deploy/node-options';
import { renderChart, type TimelineSample } from './stack-bench-chart';
import { measureAmqp, measureBareFastify, measureUnnest, type Limits } from './stack-bench-limits';
import { drive, windowLatencies } from './stack-bench-load';
import {
  confirmFigures,
  counters,
  cpuFigures,
  cpuSecondsOf,
  receiptToSlack,
  receiptToStore,
  rssMiB,
  scrape,
  storedRows,
  total,
  waitNotificationsSent,
  waitQueueEmpty,
} from './stack-bench-metrics';
import { APPS, ROOT, USAGE, fmt, parseOptions, sleep } from './stack-bench-options';
import { headline, markdown, type PeerLeg, type Report, type ResendResult, type ScenarioResult, type ServiceFigures } from './stack-bench-report';
import { RESEND_PREFIX, resendPlan, resolveAll, runResendLeg, type CpuProbe } from './stack-bench-resend';
import { bodies, scenarios, STARTS_AT } from './stack-bench-scenarios';
import { profileWindow } from './window-profile';
import { appOf, keepServiceLogs, runningStackFromEnv, startAlertmanager, startApp, waitHttp, type Service } from './stack-bench-services';
import {
  cleanUp,
  cleanups,
  cpuSecondsBetween,
  cpuUtilisation,
  isPostgresFor,
  isRabbitmqServer,
  machineFacts,
  quantile,
  statusKiB,
  systemCpu,
  ticksWhere,
  withTimeout,
  CLOCK_TICKS,
} from './system-stats';

/** The notifier's queue of alert.processed events. */
const NOTIFIER_QUEUE = 'slack-notifier.alerts-processed';

// Whatever happens, processes stop and the database and vhosts go (as processor-bench.ts).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the services and dropping the bench database and vhost...`);
    void cleanUp().then(() => process.exit(130));
  });
}

/** CPU µs per accepted alert of each app, PostgreSQL and RabbitMQ over a scenario; null without accepted alerts. */
function perAlert(accepted: number, figures: Record<string, ServiceFigures>, postgres: number, rabbitmq: number): Record<string, number> | null {
  if (accepted <= 0) return null;
  const micros = (seconds: number) => (seconds / accepted) * 1e6;
  const out: Record<string, number> = {};
  for (const [app, figure] of Object.entries(figures)) out[app] = micros(figure.cpuSeconds);
  out['PostgreSQL'] = micros(postgres);
  out['RabbitMQ'] = micros(rabbitmq);
  return out;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const startedAt = new Date().toISOString();
  const running = runningStackFromEnv(process.env);
  if (
    running &&
    (options.gateways > 1 ||
      options.processors > 1 ||
      options.nodeOptions.length ||
      options.profileDir ||
      options.profileResendDir ||
      options.profileScenariosDir ||
      options.serviceLogDir)
  )
    throw new Error(
      `--gateways, --processors, --node-options, --profile, --profile-resend, --profile-scenarios and --service-logs start services: not with a running stack\n${USAGE}`,
    );
  if (options.serviceLogDir) keepServiceLogs(options.serviceLogDir);
  if (running && options.ruleRepeat !== null) throw new Error(`--rule-repeat sets the bench's own Slack rule: a running stack gets none\n${USAGE}`);
  if (options.build && !running) {
    process.stdout.write(`building ${APPS.join(', ')}... `);
    await promisify(execFile)(process.execPath, ['tools/build/build-app.mjs', ...APPS], { cwd: ROOT, timeout: 180_000 });
    console.log('done');
  }
  // A throwaway database: the bench's own stack stores there, and with a running stack the
  // unnest limit writes its scratch table there, not in the stack's database.
  const database: TestDatabase = await withTimeout(createTestDatabase('stackbench'), 60_000, 'the bench database');
  cleanups.push({ what: 'dropping the bench database', run: () => database.destroy() });
  const vhost: TestVhost = await withTimeout(createTestVhost('stackbench'), 60_000, 'the bench vhost');
  cleanups.push({ what: 'deleting the bench vhost', run: () => vhost.destroy() });
  const stackDatabaseUrl = running?.databaseUrl ?? database.url;
  // A running stack keeps its own Slack rules and endpoint: no stand-in, no rule added.
  let slack: SlackMock | null = null;
  if (!running) {
    const mock = await startSlackMock();
    slack = mock;
    cleanups.push({ what: 'closing the Slack stand-in', run: () => mock.close() });
    // One catch-all Slack rule, so that the notifier has work (digests at the per-channel rate);
    // with --rule-repeat it also repeats, so that each firing schedules a repeat timer.
    await sql`insert into slack_rules (name, slack_channel, message_template, repeat_interval) values ('bench', '#bench', 'bench alert', ${options.ruleRepeat})`.execute(
      database.db,
    );
  }
  const databaseName = new URL(stackDatabaseUrl).pathname.slice(1);
  const machine = await machineFacts(stackDatabaseUrl);

  const all = scenarios(options);
  const unknown = options.only.filter((name) => name !== 'resend' && !all.some((scenario) => scenario.name === name));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
  const plan = options.only.length ? all.filter((scenario) => options.only.includes(scenario.name)) : all;
  const resendPlanned = !options.only.length || options.only.includes('resend');
  const oneAlert = all.find((scenario) => scenario.name === 'api-1')?.body ?? bodies('api', 'Limit', 1);

  // 1. The machine's limits, before the services start.
  console.log('limits: bare fastify...');
  const bareFastify = await measureBareFastify(options, oneAlert);
  console.log('limits: raw amqplib confirmed publishing to a quorum queue...');
  const singleMessage = Buffer.from(
    JSON.stringify({ id: 'x'.repeat(36), receivedAt: STARTS_AT, source: 'api', meta: {}, alerts: JSON.parse(oneAlert(0)) as unknown }),
  );
  const amqpLimit = await measureAmqp(vhost.url, options, singleMessage);
  console.log('limits: raw unnest upsert...');
  const unnest = await measureUnnest(database.url, options);
  // The limits wrote ~100,000 rows: a checkpoint now, so that the first scenario does not meet
  // the one they would cause (skipped where the role may not: a running stack's database).
  await sql`checkpoint`.execute(database.db).catch(() => undefined);
  const limits: Limits = { bareFastify, amqplibQuorumConfirmed: amqpLimit, unnestUpsert: unnest };

  // 2. The stack: the processor first (it declares the topology), then the gateway and the
  //    notifier; or the running one, once each service answers /readyz.
  const processors: Service[] = [];
  const gateways: Service[] = [];
  let notifier: Service;
  if (running) {
    const named = (name: string, url: string): Service => ({ name, url, output: [], stop: () => Promise.resolve() });
    processors.push(named('alert-processor', running.processor));
    gateways.push(named('webhook-gateway', running.gateway));
    notifier = named('slack-notifier', running.notifier);
    for (const service of [...processors, ...gateways, notifier]) await waitHttp(service, '/readyz');
  } else {
    // The load is sent without a token: open intake, as a decision (the gateway refuses to start otherwise).
    const env = { RABBITMQ_URL: vhost.url, DATABASE_URL: database.url, WEBHOOK_ALLOW_ANONYMOUS: 'true' };
    //  With replicas, the first of each starts alone (the first processor declares the topology).
    const inspected = options.profileResendDir || options.profileScenariosDir;
    const extra = [...options.nodeOptions, ...(inspected ? ['--inspect=127.0.0.1:0'] : [])];
    for (let n = 1; n <= options.processors; n++) processors.push(await startApp('alert-processor', env, options.dist, extra, n));
    for (let n = 1; n <= options.gateways; n++) {
      gateways.push(
        await startApp(
          'webhook-gateway',
          env,
          options.dist,
          [...extra, ...(options.profileDir && n === 1 ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [])],
          n,
        ),
      );
    }
    notifier = await startApp('slack-notifier', { ...env, SLACK_INTERNAL_ENDPOINT: slack?.url ?? '' }, options.dist, extra);
  }
  const stackServices = [...gateways, ...processors, notifier];
  const stackGateways = gateways;
  const stackProcessors = processors;
  const gatewayUrls = gateways.map((gateway) => gateway.url);
  const replicated = options.gateways > 1 || options.processors > 1;
  const storedOnceFailures: string[] = [];

  // 3. The peer: Alertmanager, given the same requests by the same client (scenarios marked peer).
  let alertmanager: Service | null = null;
  let peer: Report['peer'] = null;
  if (options.alertmanager && (resendPlanned || plan.some((scenario) => scenario.peer))) {
    alertmanager = await startAlertmanager(options.alertmanager);
    const { stdout } = await promisify(execFile)(options.alertmanager, ['--version'], { timeout: 10_000 });
    peer = { binary: options.alertmanager, version: /version (\S+)/.exec(stdout)?.[1] ?? 'unknown' };
  }
  // The gateway alone: one more gateway on a vhost of its own, nobody consuming (started for its scenario only).
  const aloneEnv = async (): Promise<Record<string, string>> => {
    const own: TestVhost = await withTimeout(createTestVhost('stackbench-alone'), 60_000, 'the gateway-alone vhost');
    cleanups.push({ what: 'deleting the gateway-alone vhost', run: () => own.destroy() });
    return { RABBITMQ_URL: own.url, WEBHOOK_ALLOW_ANONYMOUS: 'true' };
  };
  const peakRssMiBOverall: Record<string, number | null> = {};
  const vmHwmMiB = (service: Service) => {
    const kib = service.pid === undefined ? null : statusKiB(service.pid, 'VmHWM');
    return kib === null ? null : kib / 1024;
  };

  // 4. Re-sent alerts, first, before any other scenario's alerts are in the stack (their leases
  //    would run out during it) and without the timeline's scrapes every 500 ms (a Prometheus
  //    scrapes every 15-60 s): Alertmanager, then the stack, the same cycles.
  let resend: ResendResult | null = null;
  if (resendPlanned) {
    const resendSettings = resendPlan(options);
    const postgresBase = ticksWhere(isPostgresFor(databaseName));
    const rabbitBase = ticksWhere(isRabbitmqServer);
    const stackProbe: CpuProbe = {
      read: async () => {
        const parts: Record<string, number> = {};
        for (const service of stackServices) parts[appOf(service)] = (parts[appOf(service)] ?? 0) + (await cpuSecondsOf(service));
        parts['PostgreSQL'] = cpuSecondsBetween(postgresBase, ticksWhere(isPostgresFor(databaseName)));
        parts['RabbitMQ'] = cpuSecondsBetween(rabbitBase, ticksWhere(isRabbitmqServer));
        const now = await counters(gateways, processors);
        const client = process.cpuUsage();
        return {
          parts,
          busy: systemCpu().busy / CLOCK_TICKS,
          client: (client.user + client.system) / 1e6,
          counts: { accepted: now.accepted, processed: now.processed },
        };
      },
    };
    /**
     * Until the processor has processed every accepted alert and the notifier has sent what it
     * made of them (with the bench's own stack: its queue empty and no notification pending), at
     * most `timeoutMs`: the re-send cycles measure what re-sending costs, not the tail of the
     * first send's digests.
     */
    const settleStack = async (timeoutMs: number): Promise<boolean> => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const now = await counters(gateways, processors);
        if (now.processed >= now.accepted) break;
        if (performance.now() > deadline) return false;
        await sleep(100);
      }
      if (running) return true;
      if ((await waitQueueEmpty(vhost.url, NOTIFIER_QUEUE, Math.max(0, deadline - performance.now()))) > 0) return false;
      return (await waitNotificationsSent(stackDatabaseUrl, Math.max(0, deadline - performance.now()))) === 0;
    };
    let peerLeg: ResendResult['alertmanager'] = null;
    if (alertmanager) {
      const peerService = alertmanager;
      console.log(`scenario resend: ${fmt(resendSettings.alerts)} alerts re-sent every ${resendSettings.intervalS} s, Alertmanager...`);
      peerLeg = await runResendLeg(
        'Alertmanager',
        {
          urls: [peerService.url],
          probe: {
            read: async () => ({
              parts: { alertmanager: await cpuSecondsOf(peerService) },
              busy: systemCpu().busy / CLOCK_TICKS,
              client: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
            }),
          },
          settle: () => Promise.resolve(true),
        },
        resendSettings,
      );
      await resolveAll([peerService.url], resendSettings);
    }
    console.log(`scenario resend: ${fmt(resendSettings.alerts)} alerts re-sent every ${resendSettings.intervalS} s...`);
    const profileDir = options.profileResendDir;
    const profile = profileDir ? () => profileWindow(stackServices, profileDir, 'resend') : undefined;
    const stackLeg = await runResendLeg(
      'SentryHub',
      { urls: gatewayUrls, probe: stackProbe, settle: settleStack, ...(profile ? { profile } : {}) },
      resendSettings,
    );
    const drained = (stackLeg.window.counts['processed'] ?? 0) >= (stackLeg.window.counts['accepted'] ?? 0);
    await settleStack(options.drainTimeoutS * 1000);
    const rows = await storedRows(stackDatabaseUrl, RESEND_PREFIX);
    const stored = { ...rows, once: rows.groups === resendSettings.alerts && rows.instances === resendSettings.alerts && rows.groupsNotOnce === 0 };
    if (!stored.once)
      storedOnceFailures.push(
        `resend: ${rows.groups} groups, ${rows.instances} episodes, ${rows.groupsNotOnce} groups without exactly one episode, for ${resendSettings.alerts} alerts re-sent`,
      );
    // Resolved, as Prometheus sends them when they end: nothing of theirs is left to expire later.
    const resolvedStatuses = await resolveAll(gatewayUrls, resendSettings);
    const resolvedDrained = await settleStack(options.drainTimeoutS * 1000);
    resend = {
      plan: resendSettings,
      stack: { ...stackLeg, stored, drained },
      alertmanager: peerLeg,
      resolved: { statuses: resolvedStatuses, drained: resolvedDrained },
    };
    await sleep(options.quick ? 200 : 2_000);
  }

  // The timeline: every 500 ms, accepted and stored alerts/s, response latency of the window, RSS.
  const timeline: TimelineSample[] = [];
  const clockStart = performance.now();
  let scenarioName = '';
  let previous = await counters(gateways, processors);
  let previousAt = clockStart;
  let sampling = true;
  /** The services sampled: the stack's, and the gateway alone while it runs. */
  let watched = stackServices;
  const rssPeak = new Map<string, number>();
  const heapPeak = new Map<string, number>();
  const externalPeak = new Map<string, number>();
  /** One point of the timeline, and the scenario's RSS, heap and external-memory peaks. */
  async function sample(): Promise<void> {
    const now = performance.now();
    const current = await counters(gateways, processors);
    const seconds = (now - previousAt) / 1000;
    const latencies = Float64Array.from(windowLatencies.splice(0)).sort();
    // One scrape per service: its heap, and its RSS where /proc does not have it.
    const sampled = await Promise.all(
      watched.map(async (service) => {
        const samples = await scrape(service.url);
        return {
          service,
          rss: await rssMiB(service, samples),
          heap: total(samples, 'nodejs_heap_size_used_bytes') / 2 ** 20,
          external: total(samples, 'nodejs_external_memory_bytes') / 2 ** 20,
        };
      }),
    );
    const rss: Record<string, number> = {};
    for (const { service, rss: mib, heap, external } of sampled) {
      rss[service.name] = mib;
      rssPeak.set(service.name, Math.max(rssPeak.get(service.name) ?? 0, mib));
      heapPeak.set(service.name, Math.max(heapPeak.get(service.name) ?? 0, heap));
      externalPeak.set(service.name, Math.max(externalPeak.get(service.name) ?? 0, external));
    }
    timeline.push({
      t: (now - clockStart) / 1000,
      scenario: scenarioName,
      acceptedPerSecond: (current.accepted - previous.accepted) / seconds,
      storedPerSecond: (current.processed - previous.processed) / seconds,
      p50Ms: latencies.length ? quantile(latencies, 0.5) : null,
      p99Ms: latencies.length ? quantile(latencies, 0.99) : null,
      rssMiB: rss,
    });
    previous = current;
    previousAt = now;
  }
  const sampler = (async () => {
    while (sampling) {
      await sleep(500);
      try {
        await sample();
      } catch (error) {
        // A sample is a point of the chart: one missed (a service too busy to answer) is left out.
        console.error(`timeline: a sample left out (${(error as Error).message})`);
      }
    }
  })();

  const results: ScenarioResult[] = [];
  for (const scenario of plan) {
    if (scenario.gatewayAlone && running) {
      console.log(`scenario ${scenario.name}: skipped (it starts a gateway of its own: not with a running stack)`);
      continue;
    }
    const run = {
      ...(scenario.amount ? { amount: scenario.amount } : { durationS: scenario.durationS ?? options.durationS }),
      ...(scenario.rate ? { rate: scenario.rate } : {}),
    };
    // Alertmanager first, the same requests (request n: body n) with the same client.
    let peerLeg: PeerLeg | undefined;
    if (scenario.peer && alertmanager) {
      console.log(`scenario ${scenario.name}: ${scenario.title}, Alertmanager...`);
      scenarioName = `${scenario.name} (Alertmanager)`;
      const cpu = await cpuSecondsOf(alertmanager);
      const load = await drive(alertmanager.url, scenario.path, scenario.body, options, run);
      const cpuSeconds = (await cpuSecondsOf(alertmanager)) - cpu;
      const ok = (load.statuses['200'] ?? 0) * scenario.alertsPerRequest;
      peerLeg = {
        load,
        alertsPerSecond: ok / load.seconds,
        cpuSeconds,
        cpuMicrosPerAlert: ok ? (cpuSeconds / ok) * 1e6 : null,
        peakRssMiB: vmHwmMiB(alertmanager) ?? 0,
      };
      await sleep(options.quick ? 200 : 2_000);
    }
    const alone = scenario.gatewayAlone
      ? await startApp('webhook-gateway', await aloneEnv(), options.dist, options.nodeOptions, 1, 'webhook-gateway (alone)')
      : null;
    const gateways = alone ? [alone] : stackGateways;
    const processors = alone ? [] : stackProcessors;
    const services = alone ? [alone] : stackServices;
    if (alone) watched = [...stackServices, alone];
    console.log(`scenario ${scenario.name}: ${scenario.title}...`);
    scenarioName = scenario.name;
    // Receipt -> Slack is that of this scenario's alerts: the notifier first works off what the
    // scenarios before it left in its queue (before this scenario's figures start).
    if (scenario.slack && slack) {
      const left = await waitQueueEmpty(vhost.url, NOTIFIER_QUEUE, options.drainTimeoutS * 1000);
      if (left) console.log(`scenario ${scenario.name}: the notifier still had ${left} events queued from earlier scenarios`);
    }
    for (const service of services) {
      rssPeak.set(service.name, await rssMiB(service));
      heapPeak.set(service.name, 0);
      externalPeak.set(service.name, 0);
    }
    const before = await counters(gateways, processors);
    const cpuBefore = new Map(await Promise.all(services.map(async (service) => [service.name, await cpuSecondsOf(service)] as const)));
    const pgBefore = ticksWhere(isPostgresFor(databaseName));
    const rabbitBefore = ticksWhere(isRabbitmqServer);
    const clientBefore = process.cpuUsage();
    const systemBefore = systemCpu();
    const slackBefore = slack?.requests.length ?? 0;
    const profileDir = options.profileScenariosDir;
    const stopProfiles = profileDir && !alone ? await profileWindow(stackServices, profileDir, scenario.name, { allocations: true }) : null;
    const started = performance.now();
    const load = await drive(alone ? [alone.url] : gatewayUrls, scenario.path, scenario.body, options, run);
    const afterLoad = await counters(gateways, processors);
    // Requests still in flight when the load stopped may be accepted a moment later: the
    // gateway's count is read again while waiting, so it includes them.
    let accepted = afterLoad.accepted - before.accepted;
    // Wait for the processor to store what was accepted. A request the client gave up on when a
    // timed load stopped may still be confirmed and accepted a moment later: drained is when the
    // processor had caught up with an accepted count that then stayed the same for a second (half
    // a second with --quick).
    let drainedAt: number | null = null;
    let stored = afterLoad.processed - before.processed;
    const deadline = performance.now() + options.drainTimeoutS * 1000;
    let caughtUp = null as { at: number; accepted: number } | null;
    while (!alone && performance.now() < deadline) {
      const now = await counters(gateways, processors);
      accepted = now.accepted - before.accepted;
      stored = now.processed - before.processed;
      if (stored < accepted) caughtUp = null;
      else if (caughtUp?.accepted !== accepted) caughtUp = { at: performance.now(), accepted };
      else if (performance.now() - caughtUp.at >= (options.quick ? 500 : 1_000)) break;
      await sleep(100);
    }
    if (caughtUp && stored >= accepted) drainedAt = caughtUp.at;
    if (stopProfiles) console.log(`scenario ${scenario.name}: profiles ${(await stopProfiles()).join(', ')}`);
    // Receipt -> store, per alert, where every fingerprint was sent once (no body repeated).
    let receiptToStoreMs: ScenarioResult['receiptToStoreMs'] = null;
    let storedOnce: ScenarioResult['stored'];
    if (drainedAt !== null && scenario.fingerprints === 'new') {
      receiptToStoreMs = await receiptToStore(stackDatabaseUrl, scenario.prefix);
      // Every accepted alert stored exactly once: one group and one episode each, nothing more.
      const rows = await storedRows(stackDatabaseUrl, scenario.prefix);
      storedOnce = { ...rows, once: rows.groups === accepted && rows.instances === accepted && rows.groupsNotOnce === 0 };
      if (!storedOnce.once)
        storedOnceFailures.push(
          `${scenario.name}: ${rows.groups} groups, ${rows.instances} episodes, ${rows.groupsNotOnce} groups without exactly one episode, for ${accepted} accepted alerts`,
        );
    }
    const clientAfter = process.cpuUsage(clientBefore);
    const cpuSecondsPg = cpuSecondsBetween(pgBefore, ticksWhere(isPostgresFor(databaseName)));
    const cpuSecondsRabbit = cpuSecondsBetween(rabbitBefore, ticksWhere(isRabbitmqServer));
    const systemAfter = systemCpu();
    const perProcess: Record<string, ServiceFigures> = {};
    for (const service of services) {
      perProcess[service.name] = {
        peakRssMiB: rssPeak.get(service.name) ?? 0,
        peakHeapUsedMiB: heapPeak.get(service.name) ?? 0,
        peakExternalMiB: externalPeak.get(service.name) ?? 0,
        cpuSeconds: (await cpuSecondsOf(service)) - (cpuBefore.get(service.name) ?? 0),
      };
    }
    // Per app: the largest RSS and heap of its replicas, the sum of their CPU.
    const figures: Record<string, ServiceFigures> = {};
    for (const service of services) {
      const own = perProcess[service.name];
      if (!own) continue;
      const app = service === alone ? 'webhook-gateway' : appOf(service);
      const sofar = figures[app];
      figures[app] = sofar
        ? {
            peakRssMiB: Math.max(sofar.peakRssMiB, own.peakRssMiB),
            peakHeapUsedMiB: Math.max(sofar.peakHeapUsedMiB, own.peakHeapUsedMiB),
            peakExternalMiB: Math.max(sofar.peakExternalMiB, own.peakExternalMiB),
            cpuSeconds: sofar.cpuSeconds + own.cpuSeconds,
          }
        : { ...own };
    }
    const publishes = afterLoad.publishes - before.publishes;
    const acceptedPerSecond = accepted / load.seconds;
    const endToEnd = drainedAt === null ? null : accepted / ((drainedAt - started) / 1000);
    const requests2xx = Object.entries(load.statuses).reduce((sum, [code, count]) => sum + (code.startsWith('2') ? count : 0), 0);
    // Receipt -> Slack where receipt -> store is measured, once the notifier sent them all (one
    // message per channel per second, digests folding the rest): after the CPU figures above,
    // so that this wait is not counted in them.
    // With a running stack only where its own rules route the bench's alerts: not waited for.
    const receiptToSlackMs =
      receiptToStoreMs && slack && scenario.slack
        ? await receiptToSlack(stackDatabaseUrl, scenario.prefix, receiptToStoreMs.alerts, options.quick ? 60_000 : 120_000)
        : null;
    results.push({
      name: scenario.name,
      title: scenario.title,
      path: scenario.path,
      alertsPerRequest: scenario.alertsPerRequest,
      connections: options.connections,
      fingerprints: scenario.fingerprints,
      load,
      acceptedAlerts: accepted,
      acceptedAlertsPerSecond: acceptedPerSecond,
      gatewayPublishes: publishes,
      gatewayPublishesPerSecond: publishes / load.seconds,
      requestsPerPublish: publishes ? requests2xx / publishes : 0,
      gatewayConfirm: confirmFigures(before, afterLoad),
      storedAlerts: stored,
      endToEndAlertsPerSecond: endToEnd,
      drainSeconds: drainedAt === null ? null : (drainedAt - started) / 1000,
      receiptToStoreMs,
      receiptToSlackMs,
      services: figures,
      ...(replicated ? { replicas: perProcess } : {}),
      cpuSeconds: cpuFigures({
        postgres: cpuSecondsPg,
        rabbitmq: cpuSecondsRabbit,
        benchClient: (clientAfter.user + clientAfter.system) / 1e6,
        machineBusyShare: cpuUtilisation(systemBefore, systemAfter),
        busySeconds: (systemAfter.busy - systemBefore.busy) / CLOCK_TICKS,
        services: Object.values(figures).reduce((sum, figure) => sum + figure.cpuSeconds, 0),
      }),
      slackRequests: (slack?.requests.length ?? 0) - slackBefore,
      ...(peerLeg ? { peer: peerLeg } : {}),
      ...(storedOnce ? { stored: storedOnce } : {}),
      ...(scenario.peer ? { cpuMicrosPerAlert: perAlert(accepted, figures, cpuSecondsPg, cpuSecondsRabbit) } : {}),
      ratios: {
        requestsToBareFastify: load.requestsPerSecond / limits.bareFastify.requestsPerSecond,
        publishesToRawAmqp: publishes / load.seconds / limits.amqplibQuorumConfirmed.messagesPerSecond,
        storedToRawUnnest: endToEnd === null ? null : endToEnd / limits.unnestUpsert.insertRowsPerSecond,
      },
    });
    if (alone) {
      peakRssMiBOverall[alone.name] = vmHwmMiB(alone);
      watched = stackServices;
      await alone.stop();
    }
    await sleep(options.quick ? 200 : 2_000);
  }
  sampling = false;
  await sampler;
  for (const service of [...stackServices, ...(alertmanager ? [alertmanager] : [])]) {
    // A running stack's services: the largest RSS sampled (no /proc of theirs).
    peakRssMiBOverall[service.name] =
      service.pid === undefined ? Math.max(0, ...timeline.map((sample) => sample.rssMiB[service.name] ?? 0)) : vmHwmMiB(service);
  }

  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && /^(GATEWAY_COALESCE_|PROCESSOR_|DATABASE_POOL_SIZE|NOTIFIER_|SLACK_MAX)/.test(key)) settings[key] = value;
  const report: Report = {
    benchmark: 'stack',
    startedAt,
    quick: options.quick,
    machine,
    settings,
    replicas: { gateways: options.gateways, processors: options.processors, notifiers: 1 },
    nodeOptions: options.nodeOptions,
    ...(running ? { runningStack: { gateway: running.gateway, processor: running.processor, notifier: running.notifier } } : {}),
    method: [
      ...(running
        ? [
            `a running stack (BENCH_GATEWAY_URL ${running.gateway}, BENCH_PROCESSOR_URL ${running.processor}, BENCH_NOTIFIER_URL ${running.notifier}, BENCH_DATABASE_URL): the bench started no service, added no Slack rule and has no Slack stand-in (no receipt -> Slack, no Slack requests); RSS and CPU of the services are their process_resident_memory_bytes and process_cpu_seconds_total (prom-client), PostgreSQL CPU counts the backends of the stack's database when it runs on this machine. The limits are measured on this machine, in a throwaway database and vhost.`,
          ]
        : []),
      'npm run bench (tools/bench/stack-bench.ts): the built webhook-gateway, alert-processor and slack-notifier run as their own processes (NODE_ENV=production, LOG_LEVEL=warn) against a throwaway vhost and database on the same machine as RabbitMQ, PostgreSQL and the load generator; the Slack stand-in is startSlackMock of @sentryhub/testing.',
      `autocannon (in the bench process) with ${options.connections} connections; request n of a scenario gets body n, made when it is sent (a template filled in, no pool): every alert of a scenario marked "new" has a fingerprint never sent before (alertname <prefix><n / 100>, instance host-<n % 100>); the repeat storm cycles through its fingerprints.`,
      `the peer: ${peer ? `${peer.binary} (Alertmanager ${peer.version})` : 'none (--no-peer)'}, a temporary configuration whose one route (group_by alertname) ends in a receiver with no integration, --storage.path in a temporary directory, --cluster.listen-address= (no gossip), on 127.0.0.1; it keeps alerts in memory only. Scenarios marked peer (paced-2000, api-1, api-10) send the same requests with the same client to Alertmanager first, then to the stack; its alerts/s = alerts in 200 answers / load time, its CPU from /proc, its RSS its VmHWM.`,
      "headline: whole-stack rows are stored alerts/s (accepted alerts ÷ time until the processor had committed them all), checked by counting alert_groups and alert_instances of the scenario's alerts after the drain (one group and one episode per accepted alert); the gateway alone is one more webhook-gateway on a vhost of its own with no consumer (RabbitMQ confirms, nobody processes); receipt -> commit is the paced scenario's p99; RSS is each process's VmHWM at the end of the run (MB = 10^6 bytes).",
      ...(resend
        ? [
            `resend (first, before the timeline's scrapes start): ${fmt(resend.plan.alerts)} alerts with fixed labels and startsAt posted to POST /api/v2/alerts every ${resend.plan.intervalS} s, ${resend.plan.perRequest} per request one after the other (the notifier batch of Prometheus 2), endsAt = send + ${resend.plan.validForS} s (Prometheus's ValidUntil, 4 × the interval); the first send makes them active and is waited for (processed, the notifier's queue empty and no notification of theirs still pending: its digests go at one message a second per channel; at most two intervals), one re-send not measured (warm-up: the notifier collects the garbage of the first send's digests), then ${resend.plan.cycles} cycles at a fixed cadence; cores = CPU seconds over those cycles (/proc: each service, PostgreSQL server processes and the bench database's backends, the whole RabbitMQ broker) ÷ their wall seconds; idle = the same over one interval before the first send; Alertmanager gets the same cycles first. Afterwards every alert is resolved (endsAt now) and that is processed before the next scenario.`,
          ]
        : []),
      "accepted alerts/s = the gateway's sentryhub_gateway_alerts_accepted_total over the load time; every accepted alert was confirmed by RabbitMQ before its 202 (the gateway coalesces concurrent requests into one confirmed publish per source).",
      'gateway publish -> confirm = its sentryhub_gateway_publish_seconds over the load (from handing a coalesced publish to the broker until its confirm): the mean, and the upper bound of the histogram bucket that holds the p99; mean in flight = its sentryhub_gateway_publishes_in_flight (unconfirmed publishes of the source when one started, itself included).',
      "end-to-end stored alerts/s = accepted alerts / (moment the processor's sentryhub_processor_alerts_total, counted after each commit, reached them - scenario start), once the accepted count stayed the same for a second (a request given up by the client when a timed load stopped may be accepted after it).",
      "receipt -> Slack (paced-2000 and storm only: the notifier folds a storm into digests at one message a second, so waiting for every scenario would only measure that pace) = notifications.sent_at (Slack's ok; for a digest, that of the one message folding them) - alert_groups.last_occurrence, over the firing notifications of the same alerts as receipt -> store, once all were sent (at most 120 s after the drain, 60 s with --quick; otherwise the column says how many were); before such a scenario starts, the run waits until the notifier's queue holds nothing from the scenarios before it. All alerts of a scenario go to one channel: the notifier sends at most SLACK_MAX_PER_SECOND (1) message a second there and folds the rest into digests, so this is the digest pace, not a delivery cost.",
      "receipt -> store = alert_instances.created_at (now() of the transaction that stored the alert, just before its commit) - alert_groups.last_occurrence (the gateway's receivedAt; for a coalesced message the earliest of its requests); only where every fingerprint is new. The paced scenario offers 2,000 alerts/s: loadtest sends a 10-alert POST /api/v2/alerts request every 5 ms whatever the responses (open loop); autocannon's overallRate would send each connection's quota at the start of every second, a burst rather than a pace.",
      `Slack requests = requests the Slack stand-in received during the scenario (one catch-all rule${options.ruleRepeat === null ? ', no repeat' : `, repeating every ${options.ruleRepeat} (--rule-repeat: each firing also schedules a repeat timer)`}; the notifier sends at most 1 message per channel per second and folds the rest into digests, so this is not a throughput figure).`,
      'anything else = CPU seconds the whole machine was busy (/proc/stat) minus those of the services, PostgreSQL, RabbitMQ and the bench: other work on a shared machine; where it is large, that scenario was held back by it.',
      "peak RSS per scenario = the largest VmRSS sampled every 500 ms (heap: the largest nodejs_heap_size_used_bytes of the service's /metrics, sampled with it, garbage not yet collected included; external: the largest nodejs_external_memory_bytes, the Buffers outside the heap such as delivered and unconfirmed messages); CPU seconds = utime + stime of /proc/<pid>/stat over the scenario, load and drain included.",
      'limits: the bare fastify route runs in its own process and gets the same single-alert POST /api/v2/alerts bodies; raw amqplib publishes a message of the size of one single-alert AlertReceived, persistent, to a quorum queue, 500 unconfirmed at most; the raw upsert inserts rows of 3 columns plus jsonb labels, 1,000 per statement, into an empty table (new) and again (conflicting).',
      ...(replicated
        ? [
            `replicas: ${options.gateways} webhook-gateway and ${options.processors} alert-processor processes (the processors compete for one queue and share the database; one autocannon instance per gateway, started together, with the connections, a fixed number of requests and an offered rate split evenly; requests and statuses summed, latency percentiles over every response of all instances, each instance also on its own in load.perGateway). Peak RSS and heap per app = the largest of its replicas; CPU = their sum; each process is in the scenario's replicas.`,
          ]
        : []),
      `node options of the services, as deployed (each app's Deployment's NODE_OPTIONS in deploy/k8s/base, else the image's): ${APPS.map((app) => `${app} ${deployedNodeOptions(app).join(' ')}`).join('; ')}${options.nodeOptions.length ? `; then --node-options ${options.nodeOptions.join(' ')}` : ''} (not for the bench, the peer or the limits).`,
      "ratios: requests/s ÷ bare fastify requests/s; the gateway's confirmed publishes/s ÷ raw amqplib confirmed publishes/s; end-to-end stored alerts/s ÷ raw unnest rows/s.",
    ],
    limits,
    scenarios: results,
    peakRssMiBOverall,
    memoryLimitsMiB: Object.fromEntries(
      APPS.map((app) => {
        const bytes = deployedMemoryLimits(app);
        const mib = (value: number | null) => (value === null ? null : value / 2 ** 20);
        return [app, { base: mib(bytes.base), production: mib(bytes.production) }];
      }),
    ),
    peer,
    headline: [],
    timeline,
    resend,
  };
  report.headline = headline(report);

  const table = markdown(report);
  console.log(`\n${table}`);
  if (options.write) {
    mkdirSync(options.outDir, { recursive: true });
    const base = join(options.outDir, `stack-${startedAt.replace(/[:.]/g, '-')}${options.quick ? '-quick' : ''}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.svg`, renderChart(timeline, `SentryHub stack benchmark ${startedAt}`));
    writeFileSync(`${base}.md`, `${table}\n![throughput and latency over time](./${base.split('/').at(-1) ?? 'stack'}.svg)\n`);
    console.log(`wrote ${base}.json, .md and .svg`);
  }
  if (storedOnceFailures.length) throw new Error(`not every accepted alert was stored exactly once:\n${storedOnceFailures.join('\n')}`);
}

try {
  await main();
  await cleanUp();
  process.exit(0);
} catch (error) {
  console.error(`stack benchmark failed: ${(error as Error).stack ?? String(error)}`);
  await cleanUp();
  process.exit(1);
}
