/**
 * The ORDER_REPLICAS format, read once: `1=http://127.0.0.1:8011,2=http://127.0.0.1:8012,...`,
 * id = priority. The services' config (shared/config.ts) and the checker's `--replicas` both
 * parse with this, so a list one accepts the other accepts too.
 */
import type { ReplicaAddress } from './config-kinds.ts';
import { REPLICA_ID } from './fields.ts';

/** The origin of an http:// URL, or null. */
export function httpOriginOf(raw: string): string | null {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' ? u.origin : null;
  } catch {
    return null;
  }
}

/**
 * Every entry of `raw` in the order written, and each problem (prefixed with `name`, the variable
 * or flag it came from). A list with problems is not to be used.
 */
export function parseReplicaList(
  raw: string,
  name = 'ORDER_REPLICAS',
): { replicas: ReplicaAddress[]; problems: string[] } {
  const replicas: ReplicaAddress[] = [];
  const problems: string[] = [];
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)=(.+)$/.exec(part);
    if (!m) {
      problems.push(`${name}: entry ${JSON.stringify(part)} is not id=http://host:port`);
      continue;
    }
    const id = Number(m[1]);
    const origin = httpOriginOf(m[2]!);
    if (origin === null) problems.push(`${name}: ${JSON.stringify(m[2])} is not an http:// URL`);
    if (!REPLICA_ID.valid(id))
      problems.push(
        `${name}: id ${m[1]} must be an integer from ${REPLICA_ID.min} to ${REPLICA_ID.max}`,
      );
    if (replicas.some((r) => r.id === id)) problems.push(`${name}: id ${id} appears twice`);
    if (origin) replicas.push({ id, url: origin, port: Number(new URL(origin).port || 80) });
  }
  if (replicas.length === 0) problems.push(`${name}: at least one replica is required`);
  return { replicas, problems };
}
