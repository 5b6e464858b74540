/** `npm run bench`'s options (command line and environment) and the small shared helpers. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '@sentryhub/contracts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const APPS = ['webhook-gateway', 'alert-processor', 'slack-notifier'] as const;
export type AppName = (typeof APPS)[number];

/** Debian's package (installed by `.ci/run` for the compatibility tests). */
export const DEFAULT_ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const fmt = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

export interface Options {
  quick: boolean;
  /** Seconds per duration-based scenario (and per bare-fastify run). */
  durationS: number;
  connections: number;
  build: boolean;
  write: boolean;
  outDir: string;
  /** Alerts of the unique storm; fingerprints of the repeat storm; alerts it sends. */
  stormAlerts: number;
  repeatFingerprints: number;
  repeatAlerts: number;
  /** Raw amqplib publishes and raw unnest rows of the limit measurements. */
  limitMessages: number;
  limitRows: number;
  drainTimeoutS: number;
  /** Scenario names to run (all when empty). */
  only: string[];
  /** Directory for a `node --cpu-prof` profile of the gateway, or none. */
  profileDir: string | null;
  /** Directory for CPU profiles of every stack service over the resend scenario's measured cycles, or none. */
  profileResendDir: string | null;
  /** Directory for CPU profiles and allocation samples of every stack service over each scenario's load and drain, or none. */
  profileScenariosDir: string | null;
  /** Where the built apps are (`<dist>/apps/<app>/main.js`). */
  dist: string;
  /** alert-processor processes (competing consumers of one queue, one database) and webhook-gateway processes (the load split evenly across their ports). */
  processors: number;
  gateways: number;
  /** Extra node options for the spawned services only (not the bench process, not the limits). */
  nodeOptions: string[];
  /** Directory for each spawned process's whole output, or none (only its last lines, shown when it fails). */
  serviceLogDir: string | null;
  /** The Alertmanager binary driven beside the stack (the peer), or null with --no-peer. */
  alertmanager: string | null;
  /** The catch-all Slack rule's repeat interval (an Alertmanager duration), or null: no repeat timers. */
  ruleRepeat: string | null;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick            tiny counts (1 s per scenario, 2,000-alert storm, 1,000 alerts re-sent twice every 2 s): checks the harness, measures nothing worth publishing
  --duration S       seconds per duration-based scenario (default 10)
  --connections C    autocannon connections (default 100)
  --skip-build       use dist/apps/*/main.js as they are
  --no-write         print only, no result files
  --out DIR          where the result files go (default bench/results)
  --only A,B         only these scenarios (resend, paced-2000, api-1, api-10, gateway-alone, single, webhook10, api-batch, storm, repeat-storm)
  --profile DIR      run the gateway under node --cpu-prof and write its profile to DIR
  --profile-resend DIR  profile every service over the resend scenario's measured cycles only (through its inspector) and write the profiles to DIR
  --profile-scenarios DIR  profile every service over each scenario's load and drain (CPU, and allocations with the garbage), written to DIR/<service>-<scenario>.cpuprofile and .heapprofile
  --dist DIR         run the apps built in DIR/apps/<app>/main.js (default dist; with --skip-build)
  --processors N     N alert-processor processes, competing consumers of one queue (default 1)
  --gateways N       N webhook-gateway processes; one autocannon per gateway, connections and rate split evenly (default 1)
  --node-options=S   extra node options for the services only (note the =), e.g. --node-options="--max-semi-space-size=4 --max-old-space-size=256"
  --service-logs DIR write each spawned process's whole output to DIR/<name>.log (e.g. with --node-options=--trace-gc)
  --alertmanager P   the Alertmanager binary driven beside the stack (default ${DEFAULT_ALERTMANAGER})
  --no-peer          no Alertmanager: the headline then has no ratios
  --rule-repeat D    the catch-all Slack rule repeats a firing every D (an Alertmanager duration, e.g. 4h), so each one also schedules a repeat timer (default: no repeat)
Gateway and processor settings come from the environment (GATEWAY_COALESCE_*, PROCESSOR_*, DATABASE_POOL_SIZE).
A stack already running instead of the bench's own: BENCH_GATEWAY_URL, BENCH_PROCESSOR_URL and
BENCH_NOTIFIER_URL (each service's HTTP port, e.g. http://127.0.0.1:8080) and BENCH_DATABASE_URL.`;

export function parseOptions(argv: string[] = process.argv.slice(2)): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      'skip-build': { type: 'boolean' },
      'no-write': { type: 'boolean' },
      out: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'string' },
      'profile-resend': { type: 'string' },
      'profile-scenarios': { type: 'string' },
      dist: { type: 'string' },
      processors: { type: 'string' },
      gateways: { type: 'string' },
      'node-options': { type: 'string' },
      'service-logs': { type: 'string' },
      alertmanager: { type: 'string' },
      'no-peer': { type: 'boolean' },
      'rule-repeat': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (name: string, value: string | undefined, fallback: number): number => {
    const parsed = value === undefined ? fallback : Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer, got "${value}"\n${USAGE}`);
    return parsed;
  };
  const options: Options = {
    quick,
    durationS: int('--duration', values.duration, quick ? 1 : 10),
    connections: int('--connections', values.connections, quick ? 10 : 100),
    build: !values['skip-build'],
    write: !values['no-write'],
    outDir: values.out ?? join(ROOT, 'bench/results'),
    stormAlerts: quick ? 2_000 : 50_000,
    repeatFingerprints: quick ? 100 : 500,
    repeatAlerts: quick ? 2_000 : 50_000,
    limitMessages: quick ? 1_000 : 30_000,
    limitRows: quick ? 2_000 : 50_000,
    drainTimeoutS: quick ? 60 : 180,
    only: (values.only ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    profileDir: values.profile ?? null,
    profileResendDir: values['profile-resend'] ?? null,
    profileScenariosDir: values['profile-scenarios'] ?? null,
    dist: values.dist ?? 'dist',
    processors: int('--processors', values.processors, 1),
    gateways: int('--gateways', values.gateways, 1),
    nodeOptions: (values['node-options'] ?? '').split(/\s+/).filter(Boolean),
    serviceLogDir: values['service-logs'] ?? null,
    alertmanager: values['no-peer'] ? null : (values.alertmanager ?? DEFAULT_ALERTMANAGER),
    ruleRepeat: values['rule-repeat'] ?? null,
  };
  if (options.ruleRepeat !== null && !(parseDuration(options.ruleRepeat) ?? 0))
    throw new Error(`--rule-repeat must be a positive Alertmanager duration such as 4h, got "${options.ruleRepeat}"\n${USAGE}`);
  if (options.gateways > options.connections) throw new Error(`--gateways ${options.gateways} needs at least as many --connections\n${USAGE}`);
  if (values.dist !== undefined && !values['skip-build']) throw new Error(`--dist needs --skip-build (the build writes to dist/)\n${USAGE}`);
  if (values['no-peer'] && values.alertmanager !== undefined) throw new Error(`--alertmanager and --no-peer contradict each other\n${USAGE}`);
  return options;
}
