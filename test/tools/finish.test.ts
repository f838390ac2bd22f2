/**
 * How a tool's process ends (scripts/lib/cli/finish.ts), on real child processes: when its job is
 * done it exits with the job's code even if the runtime still holds a handle, an exception exits
 * with the tool's failure code and says so, and a reader that goes away early is not a crash.
 *
 * The stories stand in for the chaos run that printed its summary and then never exited: there a
 * hung exit-time cleanup held the process, here a timer nobody cleared does, and either way a tool
 * that waits for the event loop to drain does not stop by itself.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run } from './processes.ts';

const FINISH = path.join(ROOT, 'scripts/lib/cli/finish.ts');
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-finish-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A tool whose `main` is `body` (an async function's statements), run by finish(). */
async function tool(name: string, body: string): Promise<string> {
  const file = path.join(dir, `${name}.ts`);
  const main = `async () => {\n${body}\n}`;
  await fs.writeFile(
    file,
    `import { finish } from ${JSON.stringify(FINISH)};\nfinish('demo', ${main}, 7);\n`,
  );
  return file;
}

describe('a tool ends when its job does', () => {
  it('when main returns while a timer still holds the event loop, the tool exits with its code', async () => {
    const file = await tool(
      'leftover',
      "setInterval(() => {}, 1000);\nconsole.log('report printed');\nreturn 3;",
    );
    // Killed at the deadline otherwise, which would give signal SIGKILL and code null.
    const r = await run(process.execPath, ['--import', 'tsx', file], {}, 20_000);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('report printed\n');
  });

  it('when main throws, the tool says so under its name and exits with its failure code', async () => {
    const file = await tool('throws', "setInterval(() => {}, 1000);\nthrow new Error('boom');");
    const r = await run(process.execPath, ['--import', 'tsx', file], {}, 20_000);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^demo: unexpected error: Error: boom/);
  });

  it('when the reader of its output goes away (| head), the tool stops without a crash', async () => {
    const file = await tool(
      'epipe',
      [
        "const line = 'x'.repeat(200) + '\\n';",
        'for (let i = 0; i < 100_000; i++) {',
        '  process.stdout.write(line);',
        '  if (i % 100 === 0) await new Promise((r) => setImmediate(r));',
        '}',
        'return 0;',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (c, s) => resolve([c, s])),
    );
    clearTimeout(killer);
    expect(stderr).toBe('');
    expect(signal).toBeNull();
    expect(code).toBe(0);
  });
});
