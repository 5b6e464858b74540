import type { ChangeKind, NormalizedAlert, ResolutionType } from '@sentryhub/contracts';

/**
 * The alert state machine of SPEC section 5, as pure functions over an in-memory picture of a
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

function close(instance: InstanceState, endsAt: Date, resolutionType: ResolutionType): void {
  instance.status = 'resolved';
  instance.endsAt = endsAt;
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
  return { id: null, status, startsAt, endsAt: null, annotations: alert.annotations, generatorUrl: alert.generatorURL, resolutionType: null, intakeSource, stored: false, dirty: false };
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
 * Firing: an episode with the same startsAt already known is no change (a duplicate, or an old
 * firing after its resolved: never re-opened); a firing older than the latest episode is stale;
 * otherwise open episodes close as `inferred` and a new one starts, which needs a new
 * acknowledgement. A sender that gives no startsAt means the open episode, if there is one.
 */
export function applyFiring(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string): Transition | null {
  const requested = alert.startsAt ? new Date(alert.startsAt) : null;
  const open = group.instances.filter((instance) => instance.status === 'firing');
  if (requested === null && open.length > 0) return null;
  const startsAt = requested ?? receivedAt;
  if (group.instances.some((instance) => sameTime(instance.startsAt, startsAt))) return null;
  const latest = latestOf(group.instances);
  if (latest && latest.startsAt > startsAt) return null;

  for (const instance of open) close(instance, startsAt, 'inferred');
  const instance = newInstance(alert, 'firing', startsAt, intakeSource);
  group.instances.push(instance);
  setStatus(group);
  group.acknowledged = false;
  group.acknowledgedBy = null;
  group.acknowledgedAt = null;
  return transition(group, instance, latest ? 'refired' : 'created');
}

/**
 * Resolved: a known resolved episode is no change; else the open episode with the same startsAt
 * closes (`normal`); else the latest open one closes (`inferred`) and the named episode is
 * recorded as resolved, unless the open one started after this event (then the event is history
 * of an older episode, recorded without a change); else a
 * resolved episode is recorded (`normal`), so that its late firing is not re-opened. A resolved
 * without startsAt and with nothing open changes nothing.
 */
export function applyResolved(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string): Transition | null {
  const startsAt = alert.startsAt ? new Date(alert.startsAt) : null;
  const endsAt = alert.endsAt ? new Date(alert.endsAt) : receivedAt;
  const exact = startsAt ? group.instances.find((instance) => sameTime(instance.startsAt, startsAt)) : undefined;
  const latestOpen = latestOf(group.instances.filter((instance) => instance.status === 'firing'));

  if (exact) {
    if (exact.status === 'resolved') return null;
    close(exact, endsAt, 'normal');
    setStatus(group);
    return transition(group, exact, 'resolved');
  }
  if (latestOpen && (startsAt === null || latestOpen.startsAt < startsAt)) {
    close(latestOpen, endsAt, 'inferred');
    // The episode this event names is recorded too, so that its firing, if it arrives late,
    // finds it resolved instead of opening it.
    if (startsAt) group.instances.push(resolvedInstance(alert, startsAt, endsAt, intakeSource));
    setStatus(group);
    return transition(group, latestOpen, 'resolved');
  }
  // Without a startsAt and with nothing open there is nothing to resolve.
  if (startsAt === null) return null;
  const instance = resolvedInstance(alert, startsAt, endsAt, intakeSource);
  group.instances.push(instance);
  setStatus(group);
  return latestOpen ? null : transition(group, instance, 'resolved');
}

export function applyAlert(group: GroupState, alert: NormalizedAlert, receivedAt: Date, intakeSource: string): Transition | null {
  return alert.status === 'firing' ? applyFiring(group, alert, receivedAt, intakeSource) : applyResolved(group, alert, receivedAt, intakeSource);
}
