/**
 * What `npm run bench` sends: request bodies made on demand from a request counter (so that no
 * body is ever sent twice and "new fingerprints" means what it says) and the scenarios.
 */
import { fmt, type Options } from './stack-bench-options';

export const STARTS_AT = new Date(Date.now() - 60_000).toISOString();
const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** Alert `n` of a scenario: alertname `<prefix><n / 100>`, instance `host-<n % 100>`; its fingerprint is new for every n. */
const nameOf = (prefix: string, n: number) => `${prefix}${Math.floor(n / 100)}`;

/** One alert's labels as JSON, written out (a template, not JSON.stringify: the generator must not be what limits the load). */
const labelsJson = (prefix: string, n: number, index: number) =>
  `{"alertname":"${nameOf(prefix, n)}","instance":"host-${n % 100}","job":"bench","severity":"${SEVERITIES[index % 3] ?? 'warning'}","team":"bench"}`;

const annotationsJson = (prefix: string, n: number) => `{"summary":"Benchmark alert ${nameOf(prefix, n)} on host-${n % 100}"}`;

/** An Alertmanager webhook (version 4) of the given alerts. */
function webhookBody(prefix: string, alerts: number[]): string {
  const first = nameOf(prefix, alerts[0] ?? 0);
  const items = alerts.map(
    (n, index) =>
      `{"status":"firing","labels":${labelsJson(prefix, n, index)},"annotations":${annotationsJson(prefix, n)},"startsAt":"${STARTS_AT}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up"}`,
  );
  return `{"version":"4","groupKey":"{}:{alertname=\\"${first}\\"}","truncatedAlerts":0,"status":"firing","receiver":"sentryhub","groupLabels":{"alertname":"${first}"},"commonLabels":{"job":"bench"},"commonAnnotations":{},"externalURL":"http://alertmanager.bench:9093","alerts":[${items.join(',')}]}`;
}

/** `POST /api/v2/alerts`: an array of postable alerts, as Prometheus sends them (no endsAt). */
function apiBody(prefix: string, alerts: number[]): string {
  return `[${alerts.map((n, index) => `{"labels":${labelsJson(prefix, n, index)},"annotations":${annotationsJson(prefix, n)},"startsAt":"${STARTS_AT}","generatorURL":"http://prometheus.bench:9090/graph"}`).join(',')}]`;
}

/** Request `r`'s body: alerts r × per ... r × per + per - 1, each a new fingerprint, or cycling through `distinct` fingerprints. */
export type BodyOf = (request: number) => string;

export function bodies(kind: 'webhook' | 'api', prefix: string, per: number, distinct = Number.POSITIVE_INFINITY): BodyOf {
  const make = kind === 'webhook' ? webhookBody : apiBody;
  return (request) => {
    const alerts: number[] = [];
    for (let a = 0; a < per; a++) alerts.push((request * per + a) % distinct);
    return make(prefix, alerts);
  };
}

export interface Scenario {
  name: string;
  title: string;
  path: string;
  alertsPerRequest: number;
  body: BodyOf;
  /** Either a duration or a number of requests. */
  durationS?: number;
  amount?: number;
  /** Offered load in requests/s, evenly spaced (loadtest's requestsPerSecond); unlimited (autocannon) when absent. */
  rate?: number;
  /** The alertname prefix of its alerts, to find them in PostgreSQL (no prefix is the start of another). */
  prefix: string;
  /** `new`: every alert sent has a fingerprint never sent before; a number: that many distinct fingerprints, sent again and again. */
  fingerprints: 'new' | number;
  /** The same requests also go to Alertmanager (the peer), with the same client, before the stack gets them. */
  peer: boolean;
  /** Sent to a webhook-gateway of its own with no processor (its own vhost): the gateway alone. */
  gatewayAlone?: boolean;
  /** Wait for the Slack notifications of its alerts and measure receipt -> Slack. */
  slack?: boolean;
}

export function scenarios(options: Options): Scenario[] {
  const stormRequests = Math.ceil(options.stormAlerts / 100);
  const repeatRequests = Math.ceil(options.repeatAlerts / 100);
  const timed = { durationS: options.durationS, fingerprints: 'new' as const };
  return [
    {
      // First: its latencies (receipt -> store, -> Slack) and RSS are not those of the backlog
      // and heap that the closed-loop scenarios leave behind.
      name: 'paced-2000',
      title: 'POST /api/v2/alerts, 10 per request, paced at 2,000 alerts/s',
      path: '/api/v2/alerts',
      alertsPerRequest: 10,
      body: bodies('api', 'Paced', 10),
      ...timed,
      rate: 200,
      prefix: 'Paced',
      peer: true,
      slack: true,
    },
    {
      name: 'api-1',
      title: 'POST /api/v2/alerts, 1 per request',
      path: '/api/v2/alerts',
      alertsPerRequest: 1,
      body: bodies('api', 'NewOne', 1),
      ...timed,
      prefix: 'NewOne',
      peer: true,
    },
    {
      name: 'api-10',
      title: 'POST /api/v2/alerts, 10 per request',
      path: '/api/v2/alerts',
      alertsPerRequest: 10,
      body: bodies('api', 'NewTen', 10),
      ...timed,
      prefix: 'NewTen',
      peer: true,
    },
    {
      name: 'gateway-alone',
      title: 'the gateway alone: POST /api/v2/alerts, 1 per request, no processor',
      path: '/api/v2/alerts',
      alertsPerRequest: 1,
      body: bodies('api', 'Alone', 1),
      ...timed,
      prefix: 'Alone',
      peer: false,
      gatewayAlone: true,
    },
    {
      name: 'single',
      title: 'single-alert webhooks',
      path: '/api/v1/webhooks/alertmanager',
      alertsPerRequest: 1,
      body: bodies('webhook', 'Single', 1),
      ...timed,
      prefix: 'Single',
      peer: false,
    },
    {
      name: 'webhook10',
      title: '10-alert webhooks',
      path: '/api/v1/webhooks/alertmanager',
      alertsPerRequest: 10,
      body: bodies('webhook', 'Ten', 10),
      ...timed,
      prefix: 'Ten',
      peer: false,
    },
    {
      name: 'api-batch',
      title: 'POST /api/v2/alerts, 100 per request',
      path: '/api/v2/alerts',
      alertsPerRequest: 100,
      body: bodies('api', 'Batch', 100),
      ...timed,
      prefix: 'Batch',
      peer: false,
    },
    {
      name: 'storm',
      title: `storm: ${fmt(options.stormAlerts)} new fingerprints`,
      path: '/api/v2/alerts',
      alertsPerRequest: 100,
      body: bodies('api', 'Storm', 100),
      amount: stormRequests,
      fingerprints: 'new',
      prefix: 'Storm',
      peer: false,
      slack: true,
    },
    {
      name: 'repeat-storm',
      title: `repeat storm: ${fmt(options.repeatFingerprints)} fingerprints, ${fmt(options.repeatAlerts)} alerts`,
      path: '/api/v2/alerts',
      alertsPerRequest: 100,
      body: bodies('api', 'Repeat', 100, options.repeatFingerprints),
      amount: repeatRequests,
      fingerprints: options.repeatFingerprints,
      prefix: 'Repeat',
      peer: false,
    },
  ];
}
