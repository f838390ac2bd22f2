/**
 * A latency histogram of bounded size (HdrHistogram: hdr-histogram-js), so a run of any length
 * keeps a few dozen kilobytes per request type instead of every latency. Values are recorded in
 * microseconds from 1 µs to 1 h with 3 significant digits: a percentile is exact to 0.1 %, which
 * is far below the noise of a latency measured on a shared machine. A value above the range is
 * clamped to it (and counted), never dropped.
 */
import * as hdr from 'hdr-histogram-js';

const HIGHEST_US = 3_600_000_000;

export class LatencyHistogram {
  private readonly h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
  });
  /** Values above the trackable range, recorded as the range's top. */
  clamped = 0;

  get count(): number {
    return this.h.totalCount;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    let us = Math.max(1, Math.round(ms * 1000));
    if (us > HIGHEST_US) {
      us = HIGHEST_US;
      this.clamped++;
    }
    this.h.recordValue(us);
  }

  /** The value at quantile `q` (0..1) in ms, rounded to the µs; null when nothing was recorded. */
  quantileMs(q: number): number | null {
    if (this.h.totalCount === 0) return null;
    return Math.round(this.h.getValueAtPercentile(q * 100)) / 1000;
  }

  add(other: LatencyHistogram): void {
    this.h.add(other.h);
    this.clamped += other.clamped;
  }
}
