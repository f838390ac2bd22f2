/**
 * `npm start`'s own cluster secret (scripts/lib/cluster/secret.ts): with none configured, the
 * first start makes one in DATA_DIR/cluster-secret that only its owner reads, every later start
 * (and a service or tool given CLUSTER_SECRET_FILE) gets the same one, and a damaged file stops
 * the start instead of being replaced behind the running services' backs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureSecretFile, SECRET_FILE_NAME } from '../../scripts/lib/cluster/secret.ts';
import { clusterCredential } from '../../shared/auth.ts';
import { loadConfig } from '../../shared/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'toystore-secret-file-'));
  dirs.push(d);
  return d;
};

describe('npm start with no CLUSTER_SECRET', () => {
  it('makes a secret on the first start, in a file only its owner can read, and keeps it on the next', () => {
    const dataDir = path.join(tmp(), 'data'); // not there yet: a first start
    const first = ensureSecretFile(dataDir);
    expect(first.file).toBe(path.join(dataDir, SECRET_FILE_NAME));
    expect(() => clusterCredential(first.secret)).not.toThrow();
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    expect(ensureSecretFile(dataDir)).toEqual(first);
  });

  it('the file is what a service started by hand reads with CLUSTER_SECRET_FILE, even bound to every interface', () => {
    const { secret, file } = ensureSecretFile(tmp());
    expect(loadConfig({ HOST: '0.0.0.0', CLUSTER_SECRET_FILE: file }).clusterSecret).toBe(secret);
  });

  it('two data dirs are two clusters with two secrets', () => {
    expect(ensureSecretFile(tmp()).secret).not.toBe(ensureSecretFile(tmp()).secret);
  });

  it('a damaged secret file stops the start with a message naming the file, and is left as it was', () => {
    const dataDir = tmp();
    const file = path.join(dataDir, SECRET_FILE_NAME);
    fs.writeFileSync(file, 'too short\n');
    expect(() => ensureSecretFile(dataDir)).toThrow(
      new RegExp(`${file}: the cluster secret must be at least 32 characters`),
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('too short\n');
  });
});
