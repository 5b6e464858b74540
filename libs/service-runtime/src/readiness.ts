/**
 * What a service waits for before it is ready (broker, database, subscriptions). Each
 * component starts not ready; `/readyz` is 200 only when every one is ready.
 */
export class Readiness {
  private readonly reasons = new Map<string, string | null>();

  constructor(components: readonly string[]) {
    for (const component of components) this.reasons.set(component, 'starting');
  }

  ready(component: string): void {
    this.reasons.set(component, null);
  }

  notReady(component: string, reason: string): void {
    this.reasons.set(component, reason);
  }

  status(): { ready: boolean; notReady: Record<string, string> } {
    const notReady: Record<string, string> = {};
    for (const [component, reason] of this.reasons) if (reason !== null) notReady[component] = reason;
    return { ready: Object.keys(notReady).length === 0, notReady };
  }
}
