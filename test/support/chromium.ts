/**
 * Which Chromium the browser tests drive. scripts/ensure-chromium.sh owns the answer
 * (CHROMIUM_PATH, then the usual names on PATH); this asks it with `--find`, which never installs.
 * No browser is a failure with the script's own explanation, never a skipped test: npm test's
 * pretest has installed one already, so reaching this without one means the machine is broken.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/ensure-chromium.sh', import.meta.url));

export function chromiumPath(): string {
  try {
    return execFileSync('bash', [SCRIPT, '--find'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`no browser for the status page test: ${stderr || (err as Error).message}`);
  }
}
