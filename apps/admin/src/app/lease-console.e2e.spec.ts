import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlertGroupDetail } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

/**
 * Leases in the admin: the alert detail API returns each episode's lease end and the `expired`
 * resolution, and the console (headless Chromium, Debian's) shows them in the instances table.
 */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const logger = createLogger('lease-console', 'silent');
const MINUTE = 60_000;

describe('episode leases in the admin API and console', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let context: BrowserContext;
  let page: Page;
  let userDataDir = '';
  let base = '';
  let viewerKey = '';
  let groupId = 0;
  const now = Date.now();
  const expiredLease = new Date(now - 15 * MINUTE);
  const runningLease = new Date(now + 4 * MINUTE + 20_000);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
    database = await createTestDatabase('lease_console');
    const store = apiKeyStore(database.db);
    viewerKey = (await store.create('lease-viewer', 'viewer')).key;
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('lease-console'),
      defaultChannel: '#general',
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    const labels = { alertname: 'LeaseShown', severity: 'warning', instance: 'prom-1' };
    const group = await database.db
      .insertInto('alert_groups')
      .values({
        fingerprint: fingerprint(labels),
        name: 'LeaseShown',
        labels: JSON.stringify(labels),
        severity: 'warning',
        instance: 'prom-1',
        source: 'api',
        current_status: 'firing',
        firing_count: 2,
        first_occurrence: new Date(now - 20 * MINUTE),
        last_occurrence: new Date(now),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    groupId = group.id;
    await database.db
      .insertInto('alert_instances')
      .values([
        {
          group_id: groupId,
          status: 'resolved',
          starts_at: new Date(now - 20 * MINUTE),
          ends_at: expiredLease,
          lease_ends_at: expiredLease,
          resolution_type: 'expired',
          annotations: JSON.stringify({ summary: 'the first episode' }),
          intake_source: 'api',
        },
        {
          group_id: groupId,
          status: 'firing',
          starts_at: new Date(now - 5 * MINUTE),
          ends_at: null,
          lease_ends_at: runningLease,
          resolution_type: null,
          annotations: JSON.stringify({ summary: 'the second episode' }),
          intake_source: 'api',
        },
      ])
      .execute();

    userDataDir = mkdtempSync(join(tmpdir(), 'sentryhub-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timezoneId: 'UTC',
      locale: 'en-GB',
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(8_000);
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await app?.close();
    await database?.destroy();
  });

  it("GET /api/v1/alert-groups/:id returns each episode's lease end and the expired resolution", async () => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/alert-groups/${groupId}`, headers: { authorization: `Bearer ${viewerKey}` } });
    expect(response.statusCode).toBe(200);
    const detail = AlertGroupDetail.parse(response.json());
    expect(detail.instances.map(({ status, resolutionType, endsAt, leaseEndsAt }) => ({ status, resolutionType, endsAt, leaseEndsAt }))).toEqual([
      { status: 'firing', resolutionType: null, endsAt: null, leaseEndsAt: runningLease.toISOString() },
      { status: 'resolved', resolutionType: 'expired', endsAt: expiredLease.toISOString(), leaseEndsAt: expiredLease.toISOString() },
    ]);
  });

  it("the alert detail shows each episode's lease end, and the expired resolution as such", async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('API key').fill(viewerKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.goto(`${base}/#/alerts/${groupId}`);
    const table = page.getByRole('table', { name: 'Instances, newest first' });
    await table.locator('tbody tr').nth(1).waitFor();
    const headers = await table.locator('thead th').allTextContents();
    const leaseColumn = headers.findIndex((text) => text.trim() === 'Lease ends');
    const statusColumn = headers.findIndex((text) => text.trim() === 'Status');
    expect(leaseColumn).toBeGreaterThan(-1);
    const cell = (row: number, column: number) => table.locator('tbody tr').nth(row).locator('td').nth(column);

    // The open episode: its lease end, in local time (UTC here) and how soon.
    const firingLease = cell(0, leaseColumn);
    expect(await firingLease.locator('time').getAttribute('datetime')).toBe(runningLease.toISOString());
    expect(await firingLease.innerText()).toMatch(/in [45] min/);
    // The expired one: its type, explained, and the lease end it resolved at.
    const expiredStatus = cell(1, statusColumn);
    expect(await expiredStatus.innerText()).toContain('expired (lease ran out)');
    expect(await expiredStatus.locator('[title]').first().getAttribute('title')).toMatch(/lease ran out without a re-send/);
    expect(await cell(1, leaseColumn).locator('time').getAttribute('datetime')).toBe(expiredLease.toISOString());
  });
});
