/**
 * The kinds of value a configuration variable can hold (shared/config.ts declares which kind each
 * variable is). A kind says what it accepts in words (the README's and --help's "type" column)
 * and parses a raw environment string into a value or problems that name the variable, so the
 * docs and the parser cannot disagree about a bound.
 *
 * Problems quote the raw value (`shown`), except for a secret, whose value the loader hides.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, secretProblem } from './auth.ts';
import { parseReplicaList } from './replica-list.ts';

/** A parse result: the value, or what is wrong with it (each problem names the variable). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export interface Kind<T> {
  /** What it accepts, in words: "integer 0-65535", "true or false". */
  readonly type: string;
  /** `name` is the variable, `shown` its raw value as messages quote it. */
  parse(raw: string, name: string, shown: string): Parsed<T>;
}

export interface ReplicaAddress {
  id: number;
  url: string;
  port: number;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (...problems: string[]): Parsed<never> => ({ ok: false, problems });

export function int(min: number, max: number, type = `integer ${min}-${max}`): Kind<number> {
  return {
    type,
    parse: (raw, name, shown) => {
      const v = raw.trim();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
        return bad(`${name}=${shown}: expected an integer from ${min} to ${max}`);
      return ok(Number(v));
    },
  };
}

export const port: Kind<number> = int(0, 65535, 'port 0-65535 (0: any free port)');

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];
export const bool: Kind<boolean> = {
  type: 'true or false',
  parse: (raw, name, shown) => {
    const v = raw.trim().toLowerCase();
    if (TRUE.includes(v)) return ok(true);
    if (FALSE.includes(v)) return ok(false);
    return bad(`${name}=${shown}: expected true or false`);
  },
};

export function oneOf<T extends string>(allowed: readonly T[]): Kind<T> {
  return {
    type: allowed.join(', '),
    parse: (raw, name, shown) => {
      const v = raw.trim().toLowerCase();
      if ((allowed as readonly string[]).includes(v)) return ok(v as T);
      return bad(`${name}=${shown}: expected one of ${allowed.join(', ')}`);
    },
  };
}

/** A host name (RFC 1123 labels) or an IP address: what a server can bind. */
export const host: Kind<string> = {
  type: 'IP address or host name',
  parse: (raw, name, shown) => {
    const v = raw.trim();
    const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
    if (net.isIP(v) || (v.length <= 253 && v.split('.').every((l) => label.test(l)))) return ok(v);
    return bad(`${name}=${shown}: expected an IP address or a host name (no scheme, no port)`);
  },
};

/** A directory, resolved against the working directory once, at start. */
export const directory: Kind<string> = {
  type: 'path',
  parse: (raw) => ok(path.resolve(raw)),
};

/** Any non-empty text. */
export const text: Kind<string> = { type: 'text', parse: (raw) => ok(raw) };

function originOf(raw: string, name: string): Parsed<string> {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:') throw new Error('not http');
    return ok(u.origin);
  } catch {
    return bad(`${name}: ${JSON.stringify(raw)} is not an http:// URL`);
  }
}

/** An http:// URL, kept as its origin. */
export const origin: Kind<string> = {
  type: 'http:// URL',
  parse: (raw, name) => originOf(raw.trim(), name),
};

/** A comma-separated list of http:// URLs, each kept as its origin. */
export const origins: Kind<string[]> = {
  type: 'comma-separated http:// URLs',
  parse: (raw, name) => {
    const values: string[] = [];
    const problems: string[] = [];
    for (const part of raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const r = originOf(part, name);
      if (r.ok) values.push(r.value);
      else problems.push(...r.problems);
    }
    return problems.length ? bad(...problems) : ok(values);
  },
};

/**
 * `id=http://host:port,...` (the format's one reader, shared/replica-list.ts), sorted by id,
 * highest (the highest priority) first.
 */
export const replicaList: Kind<ReplicaAddress[]> = {
  type: 'comma-separated id=http://host:port',
  parse: (raw, name) => {
    const { replicas, problems } = parseReplicaList(raw, name);
    return problems.length ? bad(...problems) : ok(replicas.sort((a, b) => b.id - a.id));
  },
};

/** One of the ids in `replicas`, or null when unset (empty). */
export function replicaIdIn(replicas: readonly ReplicaAddress[]): Kind<number | null> {
  const ids = replicas.map((r) => r.id);
  return {
    type: 'an id in ORDER_REPLICAS',
    parse: (raw, name, shown) => {
      if (raw === '') return ok(null);
      if (!/^\d+$/.test(raw) || !ids.includes(Number(raw)))
        return bad(
          `${name}=${shown}: must be one of the ids in ORDER_REPLICAS (${ids.join(', ')})`,
        );
      return ok(Number(raw));
    },
  };
}

/**
 * The cluster secret itself (shared/auth.ts's rules), or null when unset. Its problems never
 * quote it: the loader passes `shown` as (hidden) for a `secret` entry, and this never uses `raw`.
 */
export const clusterSecret: Kind<string | null> = {
  type: `${MIN_SECRET_LENGTH}-${MAX_SECRET_LENGTH} visible ASCII characters`,
  parse: (raw, name) => {
    if (raw === '') return ok(null);
    const problem = secretProblem(raw);
    return problem ? bad(`${name}: the secret ${problem}`) : ok(raw);
  },
};

/** What CLUSTER_SECRET_FILE yields: where the secret is (absolute) and the secret it holds. */
export interface SecretFile {
  file: string;
  secret: string;
}

/**
 * A file holding the cluster secret (one trailing newline dropped, as `echo` and editors leave
 * one), or null when unset. The path is no secret and is quoted, so a person sees which file is
 * wrong; the file's contents never appear in a problem.
 */
export const clusterSecretFile: Kind<SecretFile | null> = {
  type: 'path of a file holding the secret',
  parse: (raw, name) => {
    if (raw === '') return ok(null);
    const where = `${name}=${JSON.stringify(raw)}`;
    let secret: string;
    try {
      secret = readFileSync(raw, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      return bad(
        `${where}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const problem = secretProblem(secret);
    return problem
      ? bad(`${where}: the secret ${problem}`)
      : ok({ file: path.resolve(raw), secret });
  },
};
