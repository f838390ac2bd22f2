/**
 * `npm start`'s cluster secret when the user set none: one file in the data dir
 * (`DATA_DIR/cluster-secret`, mode 0600), made on the first start and read on every later one,
 * so services restarted by hand and tools (the live checker) can be given the same secret with
 * `CLUSTER_SECRET_FILE=data/cluster-secret`. The launcher gives it to every service.
 */
import fs from 'node:fs';
import path from 'node:path';
import { newClusterSecret, secretProblem } from '../../../shared/auth.ts';

export const SECRET_FILE_NAME = 'cluster-secret';

/**
 * The secret in `DATA_DIR/cluster-secret`, made first if the file is missing; throws if it holds no
 * valid secret.
 */
export function ensureSecretFile(dataDir: string): { secret: string; file: string } {
  const file = path.join(dataDir, SECRET_FILE_NAME);
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text === null) {
    const secret = newClusterSecret();
    fs.mkdirSync(dataDir, { recursive: true });
    // 'wx': two starts at once never overwrite each other's secret; the loser reads the winner's.
    try {
      fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      return { secret, file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return ensureSecretFile(dataDir);
    }
  }
  const problem = secretProblem(text);
  if (problem)
    throw new Error(`${file}: the cluster secret ${problem}; delete the file to make a new one`);
  return { secret: text, file };
}
