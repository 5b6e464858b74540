/**
 * What `npm run bench` reports: the result types, the headline (ratios to Alertmanager and the
 * targets, each met or missed) and the Markdown table.
 */
import { fmt } from './stack-bench-options';
import type { Limits } from './stack-bench-limits';
import type { LoadResult } from './stack-bench-load';
import type { LatencyMs } from './stack-bench-metrics';
import type { ResendLeg, ResendPlan } from './stack-bench-resend';
import type { TimelineSample } from './stack-bench-chart';
import type { MachineFacts } from './system-stats';

/** The receipt -> Slack cell: p50 / p99, or how many of the notifications were sent in time. */
export function slackLatency(latency: (LatencyMs & { sent: number; expected: number }) | null): string {
  if (!latency) return 'n/a';
  if (latency.sent === 0) return `none of ${latency.expected.toLocaleString('en-US')} sent in the wait`;
  const figures = `${Math.round(latency.p50).toLocaleString('en-US')} / ${Math.round(latency.p99).toLocaleString('en-US')}`;
  return latency.sent >= latency.expected
    ? figures
    : `${figures} (${latency.sent.toLocaleString('en-US')} of ${latency.expected.toLocaleString('en-US')} sent)`;
}

export interface ServiceFigures {
  /** With replicas: the largest of them (RSS, heap); CPU is their sum. */
  peakRssMiB: number;
  /** The largest V8 heap in use (nodejs_heap_size_used_bytes, garbage not yet collected included), sampled every 500 ms. */
  peakHeapUsedMiB: number;
  /** The largest memory outside V8's heap that V8 accounts for (nodejs_external_memory_bytes: Buffers such as delivered and unconfirmed messages), sampled with it. */
  peakExternalMiB: number;
  cpuSeconds: number;
}

export interface ScenarioResult {
  name: string;
  title: string;
  path: string;
  alertsPerRequest: number;
  connections: number;
  /** `new`: every alert a fingerprint never sent before; a number: that many fingerprints, sent again and again. */
  fingerprints: 'new' | number;
  load: LoadResult;
  acceptedAlerts: number;
  acceptedAlertsPerSecond: number;
  /** Confirmed `AlertReceived` publishes of the gateway, and how many requests shared one. */
  gatewayPublishes: number;
  gatewayPublishesPerSecond: number;
  requestsPerPublish: number;
  /** Gateway: publish -> confirm mean, and p50 / p99 as histogram bucket bounds (ms); unconfirmed publishes of the source when one started (mean). */
  gatewayConfirm: { meanMs: number; p50AtMostMs: number | null; p99AtMostMs: number | null; meanInFlight: number } | null;
  storedAlerts: number;
  /** Accepted alerts / (last alert processed - scenario start); null when the processor did not catch up in time. */
  endToEndAlertsPerSecond: number | null;
  drainSeconds: number | null;
  /** Gateway receivedAt -> start of the processor transaction that stored the alert; null where fingerprints repeat. */
  receiptToStoreMs: LatencyMs | null;
  /** From HTTP receipt to Slack's `ok` (the stand-in), where receiptToStoreMs is measured. */
  receiptToSlackMs: (LatencyMs & { sent: number; expected: number }) | null;
  services: Record<string, ServiceFigures>;
  /** With replicas: each process on its own (`alert-processor#2`...); absent with one of each. */
  replicas?: Record<string, ServiceFigures>;
  /** `others`: CPU seconds the machine was busy with anything else (other people's work skews the run). */
  cpuSeconds: { postgres: number; rabbitmq: number; benchClient: number; machineBusyShare: number; others: number };
  slackRequests: number;
  ratios: { requestsToBareFastify: number; publishesToRawAmqp: number; storedToRawUnnest: number | null };
  /** The same requests sent to Alertmanager with the same client just before (scenarios marked peer). */
  peer?: PeerLeg;
  /** Rows stored for the scenario's alerts once drained (new fingerprints only): every accepted alert once is groups = instances = accepted alerts. */
  stored?: { groups: number; instances: number; groupsNotOnce: number; once: boolean };
  /** CPU µs per accepted alert over load and drain, per process (and PostgreSQL, RabbitMQ); null without accepted alerts. */
  cpuMicrosPerAlert?: Record<string, number> | null;
}

/** Alertmanager's side of a scenario: what it answered, its CPU (/proc) and RSS over that load. */
export interface PeerLeg {
  load: LoadResult;
  /** Alerts in 200 answers per second. */
  alertsPerSecond: number;
  cpuSeconds: number;
  cpuMicrosPerAlert: number | null;
  peakRssMiB: number;
}

/** The `resend` scenario: the same active alerts posted again every interval, its CPU as cores, beside Alertmanager given the same. */
export interface ResendResult {
  plan: ResendPlan;
  /** Parts: each app (replicas summed), PostgreSQL, RabbitMQ; counts: accepted and processed alerts. */
  stack: ResendLeg & {
    /** After the re-sends: one group and one episode per alert (a re-send renews, it opens nothing). */
    stored: { groups: number; instances: number; groupsNotOnce: number; once: boolean };
    /** The processor had processed every accepted alert when the window closed. */
    drained: boolean;
  };
  /** Parts: alertmanager. Null without the peer. */
  alertmanager: ResendLeg | null;
  /** The alerts resolved at the end (endsAt now), and whether the stack had processed it before the next scenario. */
  resolved: { statuses: Record<string, number>; drained: boolean };
}

export interface HeadlineRow {
  row: string;
  alertmanager: string;
  sentryhub: string;
  /** SentryHub ÷ Alertmanager where both are measured. */
  ratio: number | null;
  target: string;
  met: boolean;
  /** Why a row is missed where the figure alone does not say (not drained, not stored once, no peer). */
  note?: string;
}

export interface Report {
  benchmark: 'stack';
  startedAt: string;
  quick: boolean;
  machine: MachineFacts;
  settings: Record<string, string>;
  /** Processes per app; extra node options of the services. */
  replicas: { gateways: number; processors: number; notifiers: number };
  nodeOptions: string[];
  /** Present when the bench measured a stack it did not start (BENCH_*_URL). */
  runningStack?: { gateway: string; processor: string; notifier: string };
  method: string[];
  limits: Limits;
  scenarios: ScenarioResult[];
  peakRssMiBOverall: Record<string, number | null>;
  /** Each app's memory limit in its Deployment, MiB, as deploy/k8s renders it (base, production overlay). */
  memoryLimitsMiB?: Record<string, { base: number | null; production: number | null }>;
  /** The peer: its binary and version, or null (--no-peer). */
  peer: { binary: string; version: string } | null;
  headline: HeadlineRow[];
  timeline: TimelineSample[];
  /** The resend scenario, or null when it did not run. */
  resend: ResendResult | null;
}

/** MB of 10^6 bytes, as the 200 MB target is written. */
const mb = (mib: number) => (mib * 2 ** 20) / 1e6;

const scenarioOf = (report: Report, name: string) => report.scenarios.find((s) => s.name === name);

/**
 * The headline: each target of the round as a ratio to Alertmanager from the same run, met or
 * missed. Whole-stack rows count stored alerts/s (accepted alerts ÷ time until the processor had
 * committed them all), and are missed when not every accepted alert was stored exactly once.
 */
export function headline(report: Report): HeadlineRow[] {
  const rows: HeadlineRow[] = [];
  const ratio = (ours: number | null | undefined, theirs: number | null | undefined) =>
    ours == null || theirs == null || !(theirs > 0) || !Number.isFinite(ours) ? null : ours / theirs;
  for (const [name, times] of [
    ['api-1', 2],
    ['api-10', 4],
  ] as const) {
    const s = scenarioOf(report, name);
    if (!s) continue;
    const stored = s.endToEndAlertsPerSecond;
    const r = ratio(stored, s.peer?.alertsPerSecond);
    const note =
      stored === null
        ? `not drained: ${fmt(s.storedAlerts)} of ${fmt(s.acceptedAlerts)} stored in time`
        : s.stored && !s.stored.once
          ? `NOT stored once: ${fmt(s.stored.groups)} groups, ${fmt(s.stored.instances)} episodes for ${fmt(s.acceptedAlerts)} accepted alerts`
          : s.peer
            ? undefined
            : 'no peer in this run';
    rows.push({
      row: `whole stack, POST /api/v2/alerts, ${s.alertsPerRequest} alert${s.alertsPerRequest > 1 ? 's' : ''} per request, new fingerprints: stored alerts/s`,
      alertmanager: s.peer ? fmt(s.peer.alertsPerSecond) : 'n/a',
      sentryhub: stored === null ? 'n/a' : `${fmt(stored)} (accepted ${fmt(s.acceptedAlertsPerSecond)}/s)`,
      ratio: r,
      target: `≥ ${times}x Alertmanager`,
      met: r !== null && r >= times && (s.stored?.once ?? false),
      ...(note ? { note } : {}),
    });
  }
  const alone = scenarioOf(report, 'gateway-alone');
  if (alone) {
    const perSecond = (alone.load.statuses['202'] ?? 0) / alone.load.seconds;
    const theirs = scenarioOf(report, 'api-1')?.peer?.load;
    const theirsPerSecond = theirs ? (theirs.statuses['200'] ?? 0) / theirs.seconds : null;
    rows.push({
      row: 'the gateway alone (no processor), POST /api/v2/alerts, 1 alert per request: 202 requests/s',
      alertmanager: theirsPerSecond === null ? 'n/a' : fmt(theirsPerSecond),
      sentryhub: fmt(perSecond),
      ratio: ratio(perSecond, theirsPerSecond),
      target: '≥ 20,000 requests/s',
      met: perSecond >= 20_000,
    });
  }
  const paced = scenarioOf(report, 'paced-2000');
  if (paced) {
    const p99 = paced.receiptToStoreMs?.p99 ?? null;
    rows.push({
      row: `p99 receipt -> commit at a steady 2,000 alerts/s (POST /api/v2/alerts, 10 per request; Alertmanager: its HTTP p99, it keeps alerts in memory)`,
      alertmanager: paced.peer ? `${fmt(paced.peer.load.latencyMs.p99, 1)} ms` : 'n/a',
      sentryhub: p99 === null ? 'n/a' : `${fmt(p99)} ms (accepted ${fmt(paced.acceptedAlertsPerSecond)} alerts/s)`,
      ratio: ratio(p99, paced.peer?.load.latencyMs.p99),
      target: '≤ 100 ms',
      met: p99 !== null && p99 <= 100,
    });
  }
  const resend = report.resend;
  if (resend) {
    const { plan, stack, alertmanager } = resend;
    const cores = stack.window.totalCores;
    const parts = Object.entries(stack.window.cores)
      .map(([part, value]) => `${part.replace('webhook-', '').replace('alert-', '').replace('slack-', '')} ${fmt(value, 3)}`)
      .join(', ');
    const ok = (stack.statuses['202'] ?? 0) === stack.requests;
    const note = !ok
      ? `not every request answered 202: ${JSON.stringify(stack.statuses)}`
      : !stack.drained
        ? 'the processor had not caught up when the window closed'
        : !stack.stored.once
          ? `NOT one episode per alert: ${fmt(stack.stored.groups)} groups, ${fmt(stack.stored.instances)} episodes`
          : undefined;
    rows.push({
      row: `a Prometheus re-sending ${fmt(plan.alerts)} active alerts every ${plan.intervalS} s (${plan.perRequest} per request, endsAt pushed forward): cores (CPU s ÷ wall s over ${plan.cycles} cycles; SentryHub: every service, PostgreSQL and RabbitMQ)`,
      alertmanager: alertmanager ? `${fmt(alertmanager.window.totalCores, 3)} core` : 'n/a',
      sentryhub: `${fmt(cores, 3)} core (${parts})`,
      ratio: ratio(cores, alertmanager?.window.totalCores),
      target: '< 0.1 core',
      met: cores < 0.1 && ok && stack.drained && stack.stored.once,
      ...(note ? { note } : {}),
    });
  }
  const rss = Object.entries(report.peakRssMiBOverall).filter(([name]) => name !== 'alertmanager');
  if (rss.length) {
    const worst = Math.max(...rss.map(([, mib]) => mib ?? Number.NaN));
    const theirs = report.peakRssMiBOverall['alertmanager'] ?? null;
    rows.push({
      row: 'max RSS through the whole run, per service (VmHWM)',
      alertmanager: theirs === null ? 'n/a' : `${fmt(mb(theirs))} MB`,
      sentryhub: rss.map(([name, mib]) => `${name} ${mib === null ? 'n/a' : fmt(mb(mib))}`).join(', ') + ' MB',
      ratio: ratio(worst, theirs),
      target: '≤ 200 MB each',
      met: rss.every(([, mib]) => mib !== null && mb(mib) <= 200),
    });
    const limits = report.memoryLimitsMiB;
    if (limits) {
      const checked = rss.map(([name, mib]) => {
        const own = limits[appOfProcess(name)];
        // The smaller of its limits; an app with none has nothing to be within (missed, not met).
        const set = own ? [own.base, own.production].filter((value): value is number => value !== null) : [];
        const limit = set.length ? Math.min(...set) : Number.NaN;
        return { name, mib, own, share: mib === null ? Number.NaN : mib / limit };
      });
      const shown = (value: number | null | undefined) => (value == null ? 'none' : fmt(value));
      rows.push({
        row: "max RSS through the whole run within the app's Kubernetes memory limit (its Deployment in deploy/k8s: base / production overlay)",
        alertmanager: 'n/a',
        sentryhub:
          checked.map(({ name, mib, own }) => `${name} ${mib === null ? 'n/a' : fmt(mib)} of ${shown(own?.base)} / ${shown(own?.production)}`).join(', ') +
          ' MiB',
        ratio: null,
        target: '≤ its limit',
        met: checked.every(({ share }) => share <= 1),
      });
    }
  }
  return rows;
}

/** The app a measured process runs: a replica (`alert-processor#2`) or the gateway alone counts as its app. */
export function appOfProcess(name: string): string {
  return name.replace(/ \(alone\)$/, '').replace(/#\d+$/, '');
}

function headlineMarkdown(report: Report): string[] {
  const lines = [
    `## Headline: SentryHub beside ${report.peer ? `Alertmanager ${report.peer.version}` : 'no Alertmanager (--no-peer)'}, same run, same client`,
    '',
    '| | Alertmanager | SentryHub | ratio | target | |',
    '|---|---|---|---|---|---|',
    ...report.headline.map(
      (h) =>
        `| ${h.row} | ${h.alertmanager} | ${h.sentryhub} | ${h.ratio === null ? 'n/a' : `${fmt(h.ratio, 2)}x`} | ${h.target} | **${h.met ? 'met' : 'missed'}**${h.note ? ` (${h.note})` : ''} |`,
    ),
    '',
  ];
  if (report.resend) lines.push(...resendMarkdown(report.resend));
  const peered = report.scenarios.filter((s) => s.cpuMicrosPerAlert);
  if (peered.length) {
    const names = [...new Set(peered.flatMap((s) => Object.keys(s.cpuMicrosPerAlert ?? {})))];
    lines.push(
      'CPU µs per accepted alert (load and drain; /proc of each process, PostgreSQL server and backends, the RabbitMQ server):',
      '',
      `| scenario | ${names.join(' | ')} | SentryHub total | Alertmanager |`,
      `|---|${names.map(() => '---|').join('')}---|---|`,
      ...peered.map((s) => {
        const own = s.cpuMicrosPerAlert ?? {};
        const sum = Object.values(own).reduce((a, b) => a + b, 0);
        return `| ${s.name} | ${names.map((name) => fmt(own[name] ?? Number.NaN)).join(' | ')} | ${fmt(sum)} | ${s.peer?.cpuMicrosPerAlert == null ? 'n/a' : fmt(s.peer.cpuMicrosPerAlert)} |`;
      }),
      '',
    );
  }
  return lines;
}

function resendMarkdown(resend: ResendResult): string[] {
  const { plan, stack, alertmanager } = resend;
  const parts = Object.keys(stack.window.cores);
  const perSecond = plan.alerts / plan.intervalS;
  const row = (what: string, leg: ResendLeg, names: string[]) => {
    const micros = (leg.window.totalCores / perSecond) * 1e6;
    return `| ${what} | ${names.map((name) => (name in leg.window.cores ? fmt(leg.window.cores[name] ?? Number.NaN, 3) : '')).join(' | ')} | **${fmt(leg.window.totalCores, 3)}** | ${fmt(leg.idle.totalCores, 3)} | ${fmt(micros, 1)} | ${fmt(leg.window.othersCores, 3)} | ${fmt(leg.latencyMs.p50, 1)} / ${fmt(leg.latencyMs.p99, 1)} | ${fmt(Math.max(...leg.cycleSendSeconds), 2)} |`;
  };
  const names = [...parts, ...(alertmanager ? ['alertmanager'] : [])];
  return [
    `Re-sent alerts (\`resend\`): ${fmt(plan.alerts)} active alerts posted again every ${plan.intervalS} s to \`POST /api/v2/alerts\`, ${plan.perRequest} per request one after the other, endsAt = send + ${plan.validForS} s; cores = CPU s ÷ wall s over ${plan.cycles} cycles (${fmt(stack.window.seconds, 1)} s) after the first send and one unmeasured re-send; idle = the same processes over one interval before it, nothing sent:`,
    '',
    `| | ${names.join(' | ')} | total cores | idle cores | CPU µs per re-sent alert | anything else, cores | request p50 / p99 ms | longest cycle send, s |`,
    `|---|${names.map(() => '---|').join('')}---|---|---|---|---|---|`,
    row('SentryHub', stack, names),
    ...(alertmanager ? [row('Alertmanager', alertmanager, names)] : []),
    '',
    `After the re-sends the stack held ${fmt(stack.stored.groups)} groups and ${fmt(stack.stored.instances)} episodes for ${fmt(plan.alerts)} alerts (${stack.stored.once ? 'one each' : 'NOT one each'}); processed ${fmt(stack.window.counts['processed'] ?? Number.NaN)} of ${fmt(stack.window.counts['accepted'] ?? Number.NaN)} accepted in the window${stack.drained ? '' : ' (NOT caught up)'}; first send settled before the cycles: ${stack.settled ? 'yes' : 'no'}.`,
    '',
  ];
}

export function markdown(report: Report): string {
  const l = report.limits;
  const lines = [
    `# SentryHub stack benchmark, ${report.startedAt}${report.quick ? ' (--quick: harness check, not a measurement)' : ''}`,
    '',
    ...(report.replicas.gateways > 1 || report.replicas.processors > 1 || report.nodeOptions.length
      ? [
          `Services: ${report.replicas.gateways} webhook-gateway, ${report.replicas.processors} alert-processor, ${report.replicas.notifiers} slack-notifier process(es)${report.nodeOptions.length ? `, node options \`${report.nodeOptions.join(' ')}\`` : ''}. With replicas, peak RSS and heap are the largest replica's, CPU the sum of all; each replica is listed below the table.`,
          '',
        ]
      : []),
    `Machine: ${report.machine.nproc} cores (${report.machine.cpuModel}), ${fmt(report.machine.totalMemoryMiB)} MiB, ${report.machine.kernel}, Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}, RabbitMQ ${report.machine.rabbitmq}; load average at start ${report.machine.loadAverage}, ${fmt(report.machine.busyBeforeRun * 100)}% busy the second before.`,
    '',
    "## The machine's limits (same run)",
    '',
    '| limit | figure |',
    '|---|---|',
    `| bare fastify route answering 202 (same single-alert body, autocannon) | ${fmt(l.bareFastify.requestsPerSecond)} req/s, p50 ${fmt(l.bareFastify.latencyMs.p50)} ms, p99 ${fmt(l.bareFastify.latencyMs.p99)} ms |`,
    `| raw amqplib persistent confirmed publishes to a quorum queue (${fmt(l.amqplibQuorumConfirmed.bytesPerMessage)} B, window ${l.amqplibQuorumConfirmed.window}) | ${fmt(l.amqplibQuorumConfirmed.messagesPerSecond)} msg/s |`,
    `| raw \`INSERT ... SELECT FROM unnest ... ON CONFLICT\`, ${fmt(l.unnestUpsert.rowsPerStatement)} rows per statement | ${fmt(l.unnestUpsert.insertRowsPerSecond)} rows/s new, ${fmt(l.unnestUpsert.conflictRowsPerSecond)} rows/s conflicting |`,
    '',
    ...headlineMarkdown(report),
    '## SentryHub, every scenario',
    '',
    '| scenario | accepted alerts/s | requests/s (÷ bare fastify) | latency p50 / p99 / p99.9 ms | statuses | confirmed publishes/s (÷ raw amqplib), requests per publish | gateway publish -> confirm mean ms (p99 ≤), mean in flight | end-to-end stored alerts/s (÷ raw unnest) | receipt -> store p50 / p99 ms | receipt -> Slack p50 / p99 ms | Slack requests | peak RSS MiB gw / proc / slack | CPU s gw / proc / slack / PG / RabbitMQ / bench / anything else |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of report.scenarios) {
    const statuses = Object.entries(s.load.statuses)
      .map(([code, count]) => `${code}: ${fmt(count)}`)
      .join(', ');
    const errors = s.load.connectionErrors ? `, ${fmt(s.load.connectionErrors)} connection errors` : '';
    const svc = (name: string) =>
      s.services[name] ?? { peakRssMiB: Number.NaN, peakHeapUsedMiB: Number.NaN, peakExternalMiB: Number.NaN, cpuSeconds: Number.NaN };
    lines.push(
      `| ${s.title} | **${fmt(s.acceptedAlertsPerSecond)}** | ${fmt(s.load.requestsPerSecond)} (${fmt(s.ratios.requestsToBareFastify, 2)}) | ${fmt(s.load.latencyMs.p50)} / ${fmt(s.load.latencyMs.p99)} / ${fmt(s.load.latencyMs.p99_9)} | ${statuses}${errors} | ${fmt(s.gatewayPublishesPerSecond)} (${fmt(s.ratios.publishesToRawAmqp, 2)}), ${fmt(s.requestsPerPublish, 1)} | ${s.gatewayConfirm ? `${fmt(s.gatewayConfirm.meanMs, 1)} (${fmt(s.gatewayConfirm.p99AtMostMs ?? Number.NaN)}), ${fmt(s.gatewayConfirm.meanInFlight, 1)}` : 'n/a'} | ${!s.services['alert-processor'] ? 'n/a (no processor)' : s.endToEndAlertsPerSecond === null ? `not drained (${fmt(s.storedAlerts)} of ${fmt(s.acceptedAlerts)})` : `**${fmt(s.endToEndAlertsPerSecond)}** (${fmt(s.ratios.storedToRawUnnest ?? Number.NaN, 2)})`} | ${s.receiptToStoreMs ? `${fmt(s.receiptToStoreMs.p50)} / ${fmt(s.receiptToStoreMs.p99)}` : s.fingerprints === 'new' ? 'n/a' : 'n/a (repeated fingerprints)'} | ${slackLatency(s.receiptToSlackMs)} | ${fmt(s.slackRequests)} | ${fmt(svc('webhook-gateway').peakRssMiB)} / ${fmt(svc('alert-processor').peakRssMiB)} / ${fmt(svc('slack-notifier').peakRssMiB)} (heap ${fmt(svc('webhook-gateway').peakHeapUsedMiB)} / ${fmt(svc('alert-processor').peakHeapUsedMiB)} / ${fmt(svc('slack-notifier').peakHeapUsedMiB)}; external ${fmt(svc('webhook-gateway').peakExternalMiB)} / ${fmt(svc('alert-processor').peakExternalMiB)} / ${fmt(svc('slack-notifier').peakExternalMiB)}) | ${fmt(svc('webhook-gateway').cpuSeconds, 1)} / ${fmt(svc('alert-processor').cpuSeconds, 1)} / ${fmt(svc('slack-notifier').cpuSeconds, 1)} / ${fmt(s.cpuSeconds.postgres, 1)} / ${fmt(s.cpuSeconds.rabbitmq, 1)} / ${fmt(s.cpuSeconds.benchClient, 1)} / ${fmt(s.cpuSeconds.others, 1)} |`,
    );
  }
  const replicaLines = report.scenarios.filter((s) => s.replicas || s.load.perGateway);
  if (replicaLines.length) {
    lines.push(
      '',
      '## Each replica',
      '',
      '| scenario | process | peak RSS MiB (heap; external) | CPU s | requests/s, p50 / p99 ms (gateways) |',
      '|---|---|---|---|---|',
    );
    for (const s of replicaLines) {
      const gatewayNames = Object.keys(s.replicas ?? {}).filter((name) => name.startsWith('webhook-gateway'));
      for (const [name, figure] of Object.entries(s.replicas ?? {})) {
        const load = s.load.perGateway?.[gatewayNames.indexOf(name)];
        lines.push(
          `| ${s.name} | ${name} | ${fmt(figure.peakRssMiB)} (${fmt(figure.peakHeapUsedMiB)}; ${fmt(figure.peakExternalMiB)}) | ${fmt(figure.cpuSeconds, 1)} | ${load ? `${fmt(load.requestsPerSecond)}, ${fmt(load.latencyMs.p50)} / ${fmt(load.latencyMs.p99)}` : ''} |`,
        );
      }
    }
  }
  lines.push(
    '',
    '## Method',
    '',
    ...report.method.map((line) => `- ${line}`),
    '',
    `Settings: ${
      Object.entries(report.settings)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ') || 'defaults'
    }.`,
    '',
  );
  return lines.join('\n');
}
