/**
 * What an order replica reports about itself, as typed events (hashicorp/raft's Observations):
 * the one stream that logs, metrics, the status page, the simulator's checker and the tests all
 * consume. Nothing downstream parses text: a consumer switches on `type`.
 *
 * `describeReplicaEvent` is the one place an event becomes a human sentence and a log level.
 */
import type { StorageState } from './meta.ts';

export type ReplicaEvent =
  | {
      type: 'started';
      orders: number;
      promisedEpoch: number;
      logEpoch: number;
      commitIndex: number;
      storage: StorageState;
    }
  /** The replica's durable state changed condition (damage found, a new cluster confirmed...). */
  | { type: 'storage'; from: StorageState; to: StorageState; why: string }
  /** A recovering replica was caught up by an established leader and counts again. */
  | { type: 'recovered'; epoch: number; leaderId: number; orders: number }
  | { type: 'catchup_requested'; leaderId: number; epoch: number; after: number }
  | { type: 'became_leader'; epoch: number; orders: number; logFrom: number }
  /**
   * This leader's start-of-epoch log is durable on a quorum: it may now decide "never committed".
   */
  | { type: 'established'; epoch: number; orders: number }
  | { type: 'log_adopted'; orders: number; from: number; epoch: number }
  | { type: 'log_truncated'; from: number; leaderId: number; epoch: number }
  | { type: 'stepped_down'; epoch: number; reason: string }
  | { type: 'follower_up'; follower: number }
  | { type: 'follower_down'; follower: number; reason: string }
  | { type: 'fence_failed'; epoch: number; reason: string }
  | { type: 'purchases_released'; epoch: number; released: number }
  | { type: 'accounting_failed'; epoch: number; reason: string }
  | { type: 'fatal'; reason: string };

export type ReplicaEventType = ReplicaEvent['type'];
export type EventLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export function describeReplicaEvent(e: ReplicaEvent): { level: EventLevel; msg: string } {
  switch (e.type) {
    case 'started':
      return {
        level: 'info',
        msg: `starting with ${e.orders} orders (commit ${e.commitIndex}), promised epoch ${e.promisedEpoch}, log epoch ${e.logEpoch}, storage ${e.storage}`,
      };
    case 'storage':
      return {
        level: e.to === 'intact' ? 'info' : 'error',
        msg: `storage ${e.from} -> ${e.to}: ${e.why}`,
      };
    case 'recovered':
      return {
        level: 'warn',
        msg: `recovered: caught up by leader ${e.leaderId} in epoch ${e.epoch} with ${e.orders} orders; counting toward quorums again`,
      };
    case 'catchup_requested':
      return {
        level: 'info',
        msg: `asked leader ${e.leaderId} (epoch ${e.epoch}) for orders after ${e.after}`,
      };
    case 'became_leader':
      return {
        level: 'info',
        msg: `leading epoch ${e.epoch} with ${e.orders} orders (log from replica ${e.logFrom})`,
      };
    case 'established':
      return {
        level: 'info',
        msg: `epoch ${e.epoch} established: its start-of-epoch log (${e.orders} orders) is on a majority`,
      };
    case 'log_adopted':
      return {
        level: 'info',
        msg: `adopted ${e.orders} orders from replica ${e.from} before leading epoch ${e.epoch}`,
      };
    case 'log_truncated':
      return {
        level: 'warn',
        msg: `cut uncommitted orders from ${e.from} to follow replica ${e.leaderId} in epoch ${e.epoch}`,
      };
    case 'stepped_down':
      return { level: 'warn', msg: `stepping down from epoch ${e.epoch}: ${e.reason}` };
    case 'follower_up':
      return { level: 'info', msg: `follower ${e.follower} is reachable again` };
    case 'follower_down':
      return { level: 'warn', msg: `follower ${e.follower} unreachable: ${e.reason}` };
    case 'fence_failed':
      return { level: 'warn', msg: `could not fence the catalog at epoch ${e.epoch}: ${e.reason}` };
    case 'purchases_released':
      return {
        level: 'warn',
        msg: `released ${e.released} catalog purchases whose orders never committed (epoch ${e.epoch})`,
      };
    case 'accounting_failed':
      return {
        level: 'warn',
        msg: `could not account for catalog purchases in epoch ${e.epoch}: ${e.reason}`,
      };
    case 'fatal':
      return { level: 'fatal', msg: `FATAL ${e.reason}` };
  }
}
