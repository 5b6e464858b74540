import type { ChangeKind, NormalizedAlert, ResolutionType } from '@sentryhub/contracts';

/**
 * The alert state machine (docs/alert-lifecycle.md), as pure functions over an in-memory picture of a
 * group and the instances that matter for a decision (its open ones, the latest one, and those
 * with the startsAt of an incoming alert). The batch store loads that picture under a row lock,
 * applies a batch here, and writes back what changed.
 */
export interface InstanceState {
  /** null until the row is inserted. */
  id: number | null;
  status: 'firing' | 'resolved';
  startsAt: Date;
  endsAt: Date | null;
  annotations: Record<string, string>;
  generatorUrl: string | null;
  resolutionType: ResolutionType | null;
  /** The intake of the alert that started the episode (webhook, api, external). */
  intakeSource: string | null;
  /** When the episode's lease runs out without a re-send (it then resolves `expired`); null or absent: never. */
  leaseEndsAt?: Date | null;
  /** The row exists in the database (else it is inserted when the batch is written). */
  stored: boolean;
  /** A stored row that this batch changed. */
  dirty: boolean;
}

export interface GroupState {
  id: number;
  status: 'firing' | 'resolved';
  firingCount: number;
  acknowledged: boolean;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  instances: InstanceState[];
  dirty: boolean;
}

/** A change, with the group and instance as they were right after it. */
export interface Transition {
  change: ChangeKind;
  instance: InstanceState;
  instanceAt: Pick<InstanceState, 'status' | 'endsAt' | 'resolutionType'>;
  groupAt: Pick<GroupState, 'status' | 'firingCount' | 'acknowledged'>;
}

const sameTime = (a: Date, b: Date) => a.getTime() === b.getTime();

function latestOf(instances: readonly InstanceState[]): InstanceState | undefined {
  let latest: InstanceState | undefined;
  for (const instance of instances) if (!latest || instance.startsAt > latest.startsAt) latest = instance;
  return latest;
}

/**
 * The latest instance that has started by `now`. An episode that claims to start later (a
 * far-future startsAt stored before intake had bounds, or a sender's clock ahead) never makes a
 * present event look stale: it could otherwise hold the group for as long as it claims.
 */
function latestStartedOf(instances: readonly InstanceState[], now: Date): InstanceState | undefined {
  return latestOf(instances.filter((instance) => instance.startsAt <= now));
}

const later = (a: Date, b: Date) => (a > b ? a : b);
const earlier = (a: Date, b: Date) => (a < b ? a : b);

/**
 * Closes an episode. Its end is kept between its own start and `now` (the time the batch is
 * processed): an episode never ends before it started, nor in the future, whatever the event
 * said.
 */
function close(instance: InstanceState, endsAt: Date, resolutionType: ResolutionType, now: Date): void {
  instance.status = 'resolved';
  instance.endsAt = later(instance.startsAt, earlier(endsAt, now));
  instance.resolutionType = resolutionType;
  if (instance.stored) instance.dirty = true;
}

function transition(group: GroupState, instance: InstanceState, change: ChangeKind): Transition {
  return {
    change,
    instance,
    instanceAt: { status: instance.status, endsAt: instance.endsAt, resolutionType: instance.resolutionType },
    groupAt: { status: group.status, firingCount: group.firingCount, acknowledged: group.acknowledged },
  };
}

function newInstance(alert: NormalizedAlert, status: 'firing' | 'resolved', startsAt: Date, intakeSource: string): InstanceState {
  return {
    id: null,
    status,
    startsAt,
    endsAt: null,
    annotations: alert.annotations,
    generatorUrl: alert.generatorURL,
    resolutionType: null,
    intakeSource,
    leaseEndsAt: null,
    stored: false,
    dirty: false,
  };
}

/** The lease a firing alert asks for (none for a resolved one, or from a door without leases). */
export const leaseOf = (alert: NormalizedAlert): Date | null => (alert.status === 'firing' && alert.leaseEndsAt ? new Date(alert.leaseEndsAt) : null);

/**
 * The lease of an open episode after a re-sent firing: the later of both leases, and none at all
 * when either has none (a door without leases, such as the webhook, keeps the episode open until
 * its resolved comes).
 */
export const renewedLease = (current: Date | null, incoming: Date | null): Date | null =>
  current === null || incoming === null ? null : later(current, incoming);

/** A re-sent firing renews the open episode's lease (see renewedLease), without a change. */
function renewLease(instance: InstanceState, alert: NormalizedAlert): void {
  const current = instance.leaseEndsAt ?? null;
  const renewed = renewedLease(current, leaseOf(alert));
  if ((renewed?.getTime() ?? null) === (current?.getTime() ?? null)) return;
  instance.leaseEndsAt = renewed;
  if (instance.stored) instance.dirty = true;
}

/**
 * A firing re-sent for an episode that expired, with a lease still running at `now`, re-opens
 * it (`refired`), as Alertmanager takes a re-sent alert after its lease ran out as active again:
 * a re-send that waited in the queue past the lease end does not leave a firing alert resolved.
 * Only the group's latest episode is re-opened, and only when nothing else is open.
 */
function reopenExpired(group: GroupState, instance: InstanceState, alert: NormalizedAlert, now: Date): Transition | null {
  const lease = leaseOf(alert);
  if (instance.status !== 'resolved' || instance.resolutionType !== 'expired' || lease === null || lease <= now) return null;
  if (latestOf(group.instances) !== instance || group.instances.some((other) => other.status === 'firing')) return null;
  instance.status = 'firing';
  instance.endsAt = null;
  instance.resolutionType = null;
  instance.leaseEndsAt = lease;
  if (instance.stored) instance.dirty = true;
  setStatus(group);
  return transition(group, instance, 'refired');
}

/**
 * Lease expiry: the group's open episodes whose lease ended by `now` resolve with their lease
 * end as endsAt and resolution type `expired`, as any resolve (one change per episode).
 */
export function applyExpiry(group: GroupState, now: Date): Transition[] {
  const made: Transition[] = [];
  for (const instance of group.instances) {
    const lease = instance.leaseEndsAt ?? null;
    if (instance.status !== 'firing' || lease === null || lease > now) continue;
    close(instance, lease, 'expired', now);
    setStatus(group);
    made.push(transition(group, instance, 'resolved'));
  }
  return made;
}

function resolvedInstance(alert: NormalizedAlert, startsAt: Date, endsAt: Date, intakeSource: string): InstanceState {
  return { ...newInstance(alert, 'resolved', startsAt, intakeSource), endsAt, resolutionType: 'normal' };
}

/** The group is firing while one of its episodes is open. */
function setStatus(group: GroupState): void {
  const firing = group.instances.some((instance) => instance.status === 'firing');
  if (firing && group.status !== 'firing') group.firingCount += 1;
  group.status = firing ? 'firing' : 'resolved';
  group.dirty = true;
}

/**
 * Firing: an episode with the same startsAt already known is no change (a duplicate, which renews
 * the open episode's lease, or an old firing after its resolved: never re-opened, except an
 * episode that expired, see reopenExpired); a firing older than the latest episode that has
 * started by `now` is stale; otherwise open episodes close as `inferred` and a new one starts,
 * which needs a new acknowledgement. A sender that gives no startsAt means the open episode, if
 * there is one (its lease is renewed). `now` is when the batch is processed (the receipt time when
 * not given).
 */
export function applyFiring(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string, now: Date = receivedAt): Transition | null {
  const requested = alert.startsAt ? new Date(alert.startsAt) : null;
  const open = group.instances.filter((instance) => instance.status === 'firing');
  if (requested === null && open.length > 0) {
    const current = latestOf(open);
    if (current) renewLease(current, alert);
    return null;
  }
  const startsAt = requested ?? receivedAt;
  const known = group.instances.find((instance) => sameTime(instance.startsAt, startsAt));
  if (known) {
    if (known.status === 'firing') renewLease(known, alert);
    return known.status === 'resolved' ? reopenExpired(group, known, alert, now) : null;
  }
  const latest = latestStartedOf(group.instances, now);
  if (latest && latest.startsAt > startsAt) return null;

  for (const instance of open) close(instance, startsAt, 'inferred', now);
  const instance = { ...newInstance(alert, 'firing', startsAt, intakeSource), leaseEndsAt: leaseOf(alert) };
  group.instances.push(instance);
  setStatus(group);
  group.acknowledged = false;
  group.acknowledgedBy = null;
  group.acknowledgedAt = null;
  return transition(group, instance, group.instances.length > 1 ? 'refired' : 'created');
}

/**
 * Resolved: a known resolved episode is no change; else the open episode with the same startsAt
 * closes (`normal`); else the latest open one closes (`inferred`) and the named episode is
 * recorded as resolved, unless the open one started after this event and by `now` (then the
 * event is history of an older episode, recorded without a change; an open episode that claims
 * to start after `now` is closed, as it cannot outrank a present event); else a
 * resolved episode is recorded (`normal`), so that its late firing is not re-opened. A resolved
 * without startsAt and with nothing open changes nothing.
 */
export function applyResolved(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string, now: Date = receivedAt): Transition | null {
  const startsAt = alert.startsAt ? new Date(alert.startsAt) : null;
  const endsAt = alert.endsAt ? new Date(alert.endsAt) : receivedAt;
  const exact = startsAt ? group.instances.find((instance) => sameTime(instance.startsAt, startsAt)) : undefined;
  const latestOpen = latestOf(group.instances.filter((instance) => instance.status === 'firing'));

  if (exact) {
    if (exact.status === 'resolved') return null;
    close(exact, endsAt, 'normal', now);
    setStatus(group);
    return transition(group, exact, 'resolved');
  }
  if (latestOpen && (startsAt === null || latestOpen.startsAt < startsAt || latestOpen.startsAt > now)) {
    close(latestOpen, endsAt, 'inferred', now);
    // The episode this event names is recorded too, so that its firing, if it arrives late,
    // finds it resolved instead of opening it.
    if (startsAt) group.instances.push(resolvedInstance(alert, startsAt, later(startsAt, earlier(endsAt, now)), intakeSource));
    setStatus(group);
    return transition(group, latestOpen, 'resolved');
  }
  // Without a startsAt and with nothing open there is nothing to resolve.
  if (startsAt === null) return null;
  const instance = resolvedInstance(alert, startsAt, later(startsAt, earlier(endsAt, now)), intakeSource);
  group.instances.push(instance);
  setStatus(group);
  return latestOpen ? null : transition(group, instance, 'resolved');
}

/**
 * One event applied to a group. `now` (the time the batch is processed, the receipt time when
 * not given) bounds what any timestamp can do: an episode that claims to start after it never
 * makes a present event stale, and no episode is closed with an end after it. So no event,
 * whatever its timestamps, can keep a later firing from opening or its resolved from closing.
 */
export function applyAlert(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string, now: Date = receivedAt): Transition | null {
  return alert.status === 'firing' ? applyFiring(group, alert, receivedAt, intakeSource, now) : applyResolved(group, alert, receivedAt, intakeSource, now);
}

/**
 * Manual resolve (an operator in the admin): every open episode of the group closes at `at`,
 * resolution type `manual`, one change each, with the group resolved in all of them. The caller
 * refuses an `at` before an episode started (see resolveGroupManually).
 */
export function applyManualResolve(group: GroupState, at: Date): Transition[] {
  const open = group.instances.filter((instance) => instance.status === 'firing');
  if (open.length === 0) return [];
  for (const instance of open) {
    instance.status = 'resolved';
    instance.endsAt = at;
    instance.resolutionType = 'manual';
    if (instance.stored) instance.dirty = true;
  }
  setStatus(group);
  return open.map((instance) => transition(group, instance, 'resolved'));
}
