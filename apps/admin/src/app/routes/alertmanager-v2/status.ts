import type { Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';
import { stringify } from 'yaml';
import { receiverNames } from './alerts';

export const SENTRYHUB_VERSION = '0.1.0';

/**
 * `GET /api/v2/status`. `config.original` is an Alertmanager configuration that describes
 * SentryHub's routing as far as Alertmanager's format can: one receiver per rule, each a child
 * route with `continue: true` (every matching rule is a receiver of the alert). Tools that read
 * it (Grafana shows it) see the receivers; the rules' own criteria are in SentryHub's API.
 */
export async function alertmanagerStatus(db: Kysely<Database>, startedAt: Date) {
  const names = await receiverNames(db);
  const config = {
    route: { receiver: 'sentryhub', routes: names.map((name) => ({ receiver: name, continue: true })) },
    receivers: [{ name: 'sentryhub' }, ...names.filter((name) => name !== 'sentryhub').map((name) => ({ name }))],
  };
  return {
    cluster: { peers: [], status: 'disabled' as const },
    config: { original: stringify(config) },
    uptime: startedAt.toISOString(),
    versionInfo: {
      branch: 'main',
      buildDate: '',
      buildUser: 'sentryhub',
      goVersion: `node ${process.version}`,
      revision: '',
      version: `sentryhub-${SENTRYHUB_VERSION}`,
    },
  };
}
