/**
 * Invariants over replica order logs: numbering, checksums, epochs, keys, agreement between
 * replicas, and acknowledged orders present. Pure functions over parsed records.
 */
import type { OrderEntry } from '../../../shared/contracts.ts';
import { chainCrc } from '../../../order/log.ts';
import type { Violation } from './types.ts';

/**
 * Order numbers run 0..n-1 with no gap or repeat, epochs never go down, the checksum chain holds.
 */
export function checkLogWellFormed(name: string, log: readonly OrderEntry[]): Violation[] {
  const out: Violation[] = [];
  let prevCrc = 0;
  let prevEpoch = 0;
  for (let i = 0; i < log.length; i++) {
    const e = log[i]!;
    if (e.index !== i)
      out.push({
        kind: 'gap',
        message: `${name}: record ${i} has order number ${e.index}`,
        records: [e],
      });
    if (chainCrc(prevCrc, e) !== e.crc)
      out.push({
        kind: 'checksum',
        message: `${name}: record ${i} fails its checksum`,
        records: [e],
      });
    if (e.epoch < prevEpoch)
      out.push({
        kind: 'epoch-order',
        message: `${name}: record ${i} has epoch ${e.epoch} after epoch ${prevEpoch}`,
        records: [e],
      });
    prevCrc = e.crc;
    prevEpoch = Math.max(prevEpoch, e.epoch);
  }
  return out;
}

/** One key, one order. */
export function checkUniqueKeys(name: string, log: readonly OrderEntry[]): Violation[] {
  const seen = new Map<string, OrderEntry>();
  const out: Violation[] = [];
  for (const e of log) {
    const first = seen.get(e.key);
    if (first !== undefined)
      out.push({
        kind: 'duplicate-key',
        message: `${name}: key ${e.key} is both order ${first.index} and order ${e.index}`,
        records: [first, e],
      });
    else seen.set(e.key, e);
  }
  return out;
}

/**
 * Replicas agree on every record they both hold up to `upTo` (the committed prefix; pass
 * Infinity after catch-up, when the logs must be identical, lengths included).
 */
export function checkLogsAgree(
  logs: ReadonlyMap<string, readonly OrderEntry[]>,
  upTo = Infinity,
): Violation[] {
  const out: Violation[] = [];
  const named = [...logs.entries()];
  const [refName, ref] = named[0] ?? ['', []];
  for (const [name, log] of named.slice(1)) {
    if (upTo === Infinity && log.length !== ref.length) {
      const longer = log.length > ref.length ? log : ref;
      const extra = longer.slice(
        Math.min(log.length, ref.length),
        Math.min(log.length, ref.length) + 3,
      );
      out.push({
        kind: 'divergence',
        message: `${name} has ${log.length} orders, ${refName} has ${ref.length}`,
        records: extra,
      });
    }
    const n = Math.min(log.length, ref.length, upTo === Infinity ? Infinity : upTo + 1);
    for (let i = 0; i < n; i++) {
      if (log[i]!.crc !== ref[i]!.crc) {
        out.push({
          kind: 'divergence',
          message: `${name} and ${refName} differ at order ${i}`,
          records: [
            { replica: name, entry: log[i] },
            { replica: refName, entry: ref[i] },
          ],
        });
        break;
      }
    }
  }
  return out;
}

export interface Acknowledged {
  orderNumber: number;
  name: string;
  quantity: number;
}

/** Every order a client was told about is in the log, with what the client asked for. */
export function checkAcknowledged(
  name: string,
  log: readonly OrderEntry[],
  acked: readonly Acknowledged[],
): Violation[] {
  const out: Violation[] = [];
  for (const a of acked) {
    const e = log[a.orderNumber];
    if (!e)
      out.push({
        kind: 'lost',
        message: `${name}: acknowledged order ${a.orderNumber} is missing`,
        records: [a],
      });
    else if (e.name !== a.name || e.quantity !== a.quantity) {
      out.push({
        kind: 'wrong-content',
        message: `${name}: order ${a.orderNumber} is ${e.quantity} ${e.name}, client was told ${a.quantity} ${a.name}`,
        records: [a, e],
      });
    }
  }
  return out;
}

/** All of the above over a set of replica logs that should have converged. */
export function checkConvergedCluster(
  logs: ReadonlyMap<string, readonly OrderEntry[]>,
  acked: readonly Acknowledged[],
): Violation[] {
  const out = checkLogsAgree(logs);
  for (const [name, log] of logs)
    out.push(
      ...checkLogWellFormed(name, log),
      ...checkUniqueKeys(name, log),
      ...checkAcknowledged(name, log, acked),
    );
  return out;
}
