import type { Scenario } from '../harness/scenario';
import { brokerRestart } from './broker-restart';
import { clusterNodeLoss } from './cluster-node-loss';
import { memoryAlarm } from './memory-alarm';
import { networkCut } from './network-cut';
import { poisonMessage } from './poison-message';
import { postgresRestart } from './postgres-restart';
import { processorKills } from './processor-kills';
import { sigterm } from './sigterm';
import { slackOutage } from './slack-outage';

/** The eight scenarios of issue 11, in its order, then the cluster's (issue 20). */
export const SCENARIOS: readonly Scenario[] = [
  brokerRestart,
  processorKills,
  postgresRestart,
  poisonMessage,
  slackOutage,
  networkCut,
  memoryAlarm,
  sigterm,
  clusterNodeLoss,
];
