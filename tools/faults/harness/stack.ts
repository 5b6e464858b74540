import { createTestDatabase, createTestVhost, startSlackMock, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { startService, type RunningService } from '../../e2e/services';

/** The label every fault-scenario alert carries; the stack's one Slack rule matches it. */
export const FAULT_TEAM = 'faults';

export interface FaultStackOptions {
  /** A short name for the throwaway database and vhost. */
  label: string;
  /** Queue workers, started before the gateway (each name once per replica). */
  workers?: readonly string[];
  /** Environment of every service (merged over the stack's own). */
  env?: Record<string, string>;
  /** Environment of one app only. */
  envFor?: Record<string, Record<string, string>>;
  /**
   * Another broker than the machine's (a test cluster): its vhost, and every node's URL, given
   * to the services as RABBITMQ_URLS. Without it, a throwaway vhost of the machine's RabbitMQ.
   */
  broker?: { vhost: TestVhost; urls: readonly string[] };
}

export interface FaultStack {
  db: TestDatabase;
  vhost: TestVhost;
  slack: SlackMock;
  gatewayUrl: string;
  /** Every process started, killed ones included, in start order. */
  started: RunningService[];
  /** The live processes of one app. */
  running(app: string): RunningService[];
  /** Starts one more process of `app` (with `env` over the stack's) and waits until it is ready. */
  start(app: string, env?: Record<string, string>): Promise<RunningService>;
  /** Sends `signal` and resolves with the exit code once the process is gone. */
  kill(service: RunningService, signal: NodeJS.Signals): Promise<number | null>;
  /** Stops every live process (SIGTERM), then drops the database and the vhost. */
  destroy(): Promise<void>;
}

/**
 * The real built services (dist/apps) on a throwaway database and vhost, a Slack stand-in,
 * and one Slack rule: every alert of team `faults` goes to its `channel` label's channel as
 * `firing <alertname>` / `resolved <alertname>`.
 */
export async function startFaultStack(options: FaultStackOptions): Promise<FaultStack> {
  const [db, vhost, slack] = await Promise.all([createTestDatabase(options.label), options.broker?.vhost ?? createTestVhost(options.label), startSlackMock()]);
  await db.db
    .insertInto('slack_rules')
    .values({
      name: 'fault scenarios',
      priority: 0,
      match_criteria: JSON.stringify({ team: FAULT_TEAM }),
      message_template: 'firing {{ alert_group.name }}',
      resolved_message_template: 'resolved {{ alert_group.name }}',
      updated_at: new Date(),
    })
    .execute();
  const env: Record<string, string> = {
    RABBITMQ_URL: vhost.url,
    ...(options.broker ? { RABBITMQ_URLS: options.broker.urls.join(',') } : {}),
    DATABASE_URL: db.url,
    SLACK_INTERNAL_ENDPOINT: slack.url,
    // Each channel may get several messages a second: the scenarios check delivery, not pacing.
    SLACK_MAX_PER_SECOND: '20',
    // The scenarios post without a token: open intake, as a decision (the gateway refuses to start otherwise).
    WEBHOOK_ALLOW_ANONYMOUS: 'true',
    ...options.env,
  };
  const started: RunningService[] = [];
  const exited = new Set<RunningService>();
  const signalled = new Set<RunningService>();

  const start = async (app: string, extra: Record<string, string> = {}) => {
    const service = await startService(app, { ...env, ...options.envFor?.[app], ...extra }, app === 'webhook-gateway' ? 'PORT' : 'HEALTH_PORT');
    service.process.once('exit', (code, signal) => {
      exited.add(service);
      // A service that dies on its own is a finding: show why.
      if (!signalled.has(service))
        console.error(`${service.name} exited by itself (code ${code}, signal ${signal}); its last lines:\n${service.output.slice(-15).join('\n')}`);
    });
    started.push(service);
    return service;
  };
  const kill = (service: RunningService, signal: NodeJS.Signals) =>
    new Promise<number | null>((resolve) => {
      if (service.process.exitCode !== null || service.process.signalCode !== null) return resolve(service.process.exitCode);
      signalled.add(service);
      service.process.once('exit', (code) => resolve(code));
      service.process.kill(signal);
    });

  try {
    for (const app of options.workers ?? ['alert-processor', 'slack-notifier']) await start(app);
    const gateway = await start('webhook-gateway');
    return {
      db,
      vhost,
      slack,
      gatewayUrl: `http://127.0.0.1:${gateway.port}`,
      started,
      running: (app) => started.filter((service) => service.name === app && !exited.has(service)),
      start,
      kill,
      destroy: async () => {
        await Promise.all(started.map((service) => kill(service, 'SIGTERM')));
        await Promise.all([db.destroy(), vhost.destroy(), slack.close()]);
      },
    };
  } catch (error) {
    await Promise.all(started.map((service) => kill(service, 'SIGKILL')));
    await Promise.all([db.destroy(), vhost.destroy(), slack.close()]);
    throw error;
  }
}
