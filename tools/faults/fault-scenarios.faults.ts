import { describe, expect, it } from 'vitest';
import { formatReport, runScenario } from './harness/scenario';
import { SCENARIOS } from './scenarios/index';

/**
 * `npm run test:faults`: the fault scenarios (issue 11's eight, the cluster's of issue 20) against the real built
 * services, one after the other (they stop RabbitMQ and PostgreSQL: never beside other suites).
 */
describe('fault injection: nothing accepted is lost', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: ${scenario.title}`, async () => {
      const report = await runScenario(scenario);
      console.info(formatReport(report));
      expect(report.checks.filter((check) => !check.ok)).toEqual([]);
      expect(report.summary.accepted).toBeGreaterThan(0);
      expect(report.summary).toMatchObject({ lost: 0, duplicated: 0 });
    });
  }
});
