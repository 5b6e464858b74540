import { WORK_QUEUES as TOPOLOGY_WORK_QUEUES } from '@sentryhub/messaging';
import { waitFor } from '@sentryhub/testing';
import { AlertLoad, sleep } from '../harness/load';
import { allReady, deadLetterReasons, deadLetters, isReady, suspiciousLines } from '../harness/infra';
import { RabbitCluster, type ClusterNode } from '../harness/rabbitmq-cluster';
import { Checks, type Scenario } from '../harness/scenario';
import { startFaultStack } from '../harness/stack';
import { settle } from '../harness/verify';

const TOTAL = 15_000;
const RATE = 500;
/** How long the leader stays down once stopped. */
const DOWN_MS = 15_000;
/**
 * After a new leader is elected, how long a request may still get a 503: the gateway's own
 * connection may have been on the stopped node (first reconnect within 1 s, then the topology
 * declared again), and a publish written just before the stop waits for its confirm.
 */
const FAILOVER_GRACE_MS = 5_000;

/** The queues whose leader we look for: the work queues of the topology. */
const WORK_QUEUES: readonly string[] = TOPOLOGY_WORK_QUEUES.map((queue) => queue.name);

/**
 * Scenario 9: a three-node RabbitMQ cluster of its own (RabbitCluster, beside the machine's
 * broker), every service given all three URLs (RABBITMQ_URLS). Under 500 alerts/s, the node that
 * leads the work queues is stopped (`rabbitmqctl stop`), then started again 10 s later. The two
 * others keep a quorum: a new leader is elected, the services connected to the stopped node move
 * to another one by themselves, the gateway answers 503 only until then, and every alert that got
 * a 2xx is stored and notified exactly once.
 */
export const clusterNodeLoss: Scenario = {
  name: 'cluster-node-loss',
  title: 'three-node RabbitMQ cluster: the work queues\u2019 leader stopped under load, then restarted',
  async run() {
    const cluster = await RabbitCluster.start();
    const checks = new Checks();
    let load: AlertLoad | null = null;
    let stack: Awaited<ReturnType<typeof startFaultStack>> | null = null;
    try {
      const urls = cluster.urls('/');
      stack = await startFaultStack({ label: 'fault-cluster', broker: { vhost: { vhost: '/', url: urls[0] ?? '', destroy: async () => undefined }, urls } });
      const [first] = cluster.nodes as [ClusterNode, ...ClusterNode[]];
      const before = await cluster.queues(first);
      const ours = before.filter((queue) => !queue.name.startsWith('amq.'));
      const everywhere = (queue: { members: string[] }) => cluster.nodes.every((node) => queue.members.includes(node.name));
      checks.that(
        'every SentryHub queue is a quorum queue replicated on all three nodes',
        ours.length > 0 && ours.every((queue) => queue.type === 'quorum' && everywhere(queue)),
        ours.filter((queue) => queue.type !== 'quorum' || !everywhere(queue)).map((queue) => `${queue.name}: ${queue.type} on ${queue.members.join(',')}`),
      );
      const leaders = WORK_QUEUES.map((name) => before.find((queue) => queue.name === name)?.leader ?? '');
      const leaderName = mostCommon(leaders);
      const leader = cluster.node(leaderName);
      const survivor = cluster.nodes.find((node) => node !== leader) ?? first;
      // The services' connections per node: those on the leader must move when it stops.
      const connections = await cluster.connectionsPerNode(survivor);

      load = new AlertLoad({ gatewayUrl: stack.gatewayUrl, perRequest: 10, channels: 50 });
      const sending = load.run(TOTAL, RATE);
      await sleep(3_000);
      const stopping = Date.now();
      await cluster.stopNode(leader);
      const stopped = Date.now();
      // A new leader for every work queue, among the two nodes left (polled from one of them).
      const elected = await waitFor(
        async () => {
          const rows = await cluster.queues(survivor).catch(() => []);
          const moved = WORK_QUEUES.every((name) => {
            const row = rows.find((queue) => queue.name === name);
            return row !== undefined && row.leader !== '' && row.leader !== leader.name && row.online.includes(row.leader);
          });
          return moved ? Date.now() : null;
        },
        60_000,
        'a new leader of every work queue',
      );
      // Every service ready again while the old leader is still down: they failed over by themselves.
      const readyWhileDown = await allReady(stack.started, Math.max(1_000, stopped + DOWN_MS - Date.now())).catch(() => null);
      const connectionsWhileDown = await cluster.connectionsPerNode(survivor);
      const notReadyWhileDown =
        readyWhileDown === null
          ? (await Promise.all(stack.started.map(async (service) => ((await isReady(service)) ? null : service.name)))).filter(Boolean)
          : [];
      await sleep(Math.max(0, stopped + DOWN_MS - Date.now()));
      const restarting = Date.now();
      await cluster.startNode(leader);
      const back = Date.now();
      const running = await cluster.runningNodes(survivor);
      const readyAt = await allReady(stack.started, 60_000);
      await sending;
      const firstRound = load.statusCounts();
      await load.resend(RATE);
      const summary = await settle(stack, load);
      const after = await cluster.queues(survivor);
      const dead = await deadLetters(urls[0] ?? '');

      const refusals = load.answers.filter((answer) => answer.status < 200 || answer.status >= 300);
      const lateRefusals = refusals.filter((answer) => answer.sentAt > elected + FAILOVER_GRACE_MS);
      const duringOutage = load.answers.filter((answer) => answer.sentAt > elected + FAILOVER_GRACE_MS && answer.at < restarting);
      checks.that('some service connections were on the stopped node', (connections[leader.name] ?? 0) > 0, connections);
      checks.that(
        'while it was down, as many connections on the two others',
        (connectionsWhileDown[leader.name] ?? 0) === 0 && sum(connectionsWhileDown) >= sum(connections),
        { before: connections, whileDown: connectionsWhileDown },
      );
      checks.that(
        'a new leader of the work queues was elected among the two nodes left',
        elected - stopped <= 15_000,
        `${elected - stopped} ms after the stop`,
      );
      checks.that(
        'every refusal was a 503',
        refusals.every((answer) => answer.status === 503),
        load.statusCounts(refusals),
      );
      checks.that(
        `503 only until a quorum could confirm again (no request sent later than ${FAILOVER_GRACE_MS / 1000} s after the new leader was refused)`,
        lateRefusals.length === 0,
        load.statusCounts(lateRefusals),
      );
      checks.that(
        'with one node of three down the gateway kept accepting',
        duringOutage.length > 0 && duringOutage.every((answer) => answer.status === 202),
        load.statusCounts(duringOutage),
      );
      checks.that(
        'every service was ready again while the node was still down (moved to another node on its own)',
        readyWhileDown !== null,
        `not ready: ${notReadyWhileDown.join(', ')}`,
      );
      checks.that(
        'the stopped node rejoined the cluster',
        cluster.nodes.every((node) => running.includes(node.name)),
        running,
      );
      checks.that(
        'its queue replicas are back online',
        WORK_QUEUES.every((name) => after.find((queue) => queue.name === name)?.online.length === cluster.nodes.length),
        after.filter((queue) => WORK_QUEUES.includes(queue.name)).map((queue) => `${queue.name}: ${queue.online.join(',')}`),
      );
      checks.that('every service ready after the node came back', readyAt - back <= 30_000, `${readyAt - back} ms`);
      checks.that('the resent alerts were all accepted', load.rejectedIndexes().length === 0, `${load.rejectedIndexes().length} never accepted`);
      const deadLettered = Object.values(dead).some((count) => count > 0);
      checks.that('nothing dead-lettered', !deadLettered, deadLettered ? { counts: dead, why: await deadLetterReasons(urls[0] ?? '') } : dead);
      const suspicious = stack.started.flatMap((service) => suspiciousLines(service).map((line) => `${service.name}: ${line.slice(0, 200)}`));
      checks.that('no double ack, unhandled error or crash in the logs', suspicious.length === 0, suspicious.slice(0, 5));
      checks.nothingLostOrDuplicated(summary);
      return {
        summary,
        checks: checks.list,
        facts: {
          'stopped node (leader of the work queues)': leader.name,
          'connections per node before the stop': connections,
          'connections per node while it was down': connectionsWhileDown,
          'first round answers': firstRound,
          'stop took (ms)': stopped - stopping,
          'new leader elected after the stop (ms)': elected - stopped,
          'new leaders': WORK_QUEUES.map((name) => `${name}: ${after.find((queue) => queue.name === name)?.leader ?? '?'}`),
          'services ready while the node was down, after the stop (ms)': readyWhileDown === null ? 'no' : readyWhileDown - stopped,
          'node down (ms)': back - stopping,
          'answers while failing over': load.statusCounts(
            load.answers.filter((answer) => answer.sentAt >= stopping && answer.sentAt <= elected + FAILOVER_GRACE_MS),
          ),
          'last 503 sent after the stop (ms)': refusals.length > 0 ? Math.max(...refusals.map((answer) => answer.sentAt)) - stopping : 'none',
        },
      };
    } finally {
      await load?.close();
      await stack?.destroy();
      // Stops the three nodes and removes their files, whatever failed.
      await cluster.destroy();
    }
  },
};

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((total, count) => total + count, 0);

function mostCommon(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) if (value) counts.set(value, (counts.get(value) ?? 0) + 1);
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  if (!best) throw new Error(`no leader found for the work queues (${values.join(', ')})`);
  return best[0];
}
