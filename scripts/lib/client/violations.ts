/**
 * Store violations the client itself can see, as they happen: today one kind,
 * `definite-after-unknown` (an order whose earlier attempt had an unknown outcome later got a
 * 503 or a 4xx other than a stock refusal: the store said "certainly not taken" about an order
 * it may have taken). Bounded: the first `MAX_KEPT` are kept with their evidence, the rest only
 * counted.
 */
import { describeAttempts } from '../invariants/index.ts';
import type { Attempt } from './send.ts';

export interface StoreViolation {
  kind: 'definite-after-unknown';
  client: number;
  iteration: number;
  key: string | null;
  name: string;
  quantity: number;
  /** Every attempt of the order, oldest first. */
  attempts: Attempt[];
}

export const MAX_KEPT = 200;

export class StoreViolations {
  readonly kept: StoreViolation[] = [];
  count = 0;

  add(v: StoreViolation): void {
    this.count++;
    if (this.kept.length < MAX_KEPT) this.kept.push(v);
  }
}

/** One line per violation, naming the key and every attempt's answer. */
export function describeStoreViolation(v: StoreViolation): string {
  return `order of ${v.quantity} x ${v.name} (client ${v.client}, key ${v.key ?? '-'}): a definite answer after an unknown outcome: ${describeAttempts(v.attempts)}`;
}
