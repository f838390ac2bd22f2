/**
 * When the machine refuses what the configuration asks for, a service says so in one line that
 * names the variable to change, and exits non-zero: no stack trace. Each case runs the real
 * service process. (A damaged ledger's refusal, exit 65, is test/repair's; a bad value, exit 2,
 * is the config tests'.)
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../shared/cli.ts';
import { run, runTs, startStore } from './processes.ts';

let dir: string;
let blocker: net.Server;
let takenPort: number;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-operr-'));
  blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  takenPort = (blocker.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => blocker?.close(resolve));
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** The whole of stderr is one line (and no stack frame anywhere in the output). */
function oneLine(r: { stdout: string; stderr: string }): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

const freePortsEnv = { FRONTEND_PORT: '0', FRONTEND_INTERNAL_PORT: '0', CATALOG_PORT: '0' };
/** A service off loopback needs the cluster secret before it gets as far as listening. */
const withSecret = { CLUSTER_SECRET: 'a-cluster-secret-of-forty-characters-xyz' };

describe('a port in use', () => {
  it('the catalog names CATALOG_PORT and exits 78', async () => {
    const r = await runTs('catalog/main.ts', [], {
      CATALOG_PORT: String(takenPort),
      DATA_DIR: path.join(dir, 'a'),
    });
    expect(r.code).toBe(EXIT.config);
    expect(oneLine(r)).toBe(
      `catalog: cannot listen on 127.0.0.1:${takenPort}: the port is in use (EADDRINUSE; another toystore running?). Set CATALOG_PORT to a free port, or 0 for any`,
    );
  });

  it('the frontend names the variable of the port that was taken (its internal one here)', async () => {
    const r = await runTs('frontend/main.ts', [], {
      ...freePortsEnv,
      FRONTEND_INTERNAL_PORT: String(takenPort),
    });
    expect(r.code).toBe(EXIT.config);
    expect(oneLine(r)).toMatch(
      /^frontend: cannot listen on .*EADDRINUSE.*Set FRONTEND_INTERNAL_PORT to a free port/,
    );
  });

  it('a replica names its own entry in ORDER_REPLICAS', async () => {
    const r = await runTs('order/main.ts', [], {
      ORDER_ID: '2',
      ORDER_REPLICAS: `1=http://127.0.0.1:1,2=http://127.0.0.1:${takenPort},3=http://127.0.0.1:3`,
      DATA_DIR: path.join(dir, 'b'),
    });
    expect(r.code).toBe(EXIT.config);
    expect(oneLine(r)).toMatch(
      /^order: cannot listen on .*EADDRINUSE.*Set ORDER_REPLICAS \(the entry of replica 2\)/,
    );
  });

  it('npm start: the service that could not listen says why in one line, npm start what to set; exit 1, no stack trace', async () => {
    const store = await startStore({ FRONTEND_PORT: String(takenPort) });
    const exit = await store.exit;
    await store.stop();
    const all = [...store.stdout, ...store.stderr].join('\n');
    expect(exit.code).toBe(1);
    // Once: a port the user fixed is not retried with other picks (it would fail the same way).
    expect(
      all.match(/frontend: cannot listen on 127\.0\.0\.1:\d+: the port is in use \(EADDRINUSE/g),
    ).toHaveLength(1);
    expect(store.stderr.join('\n')).toMatch(
      /start: frontend exited \(code 78\) before it was listening/,
    );
    expect(all).not.toMatch(/^\s+at /m);
  }, 120_000);
});

describe('a bad HOST', () => {
  it('one that is not an address or a name is refused with the other config problems, exit 2', async () => {
    const r = await runTs('frontend/main.ts', [], { HOST: 'http://127.0.0.1' });
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/HOST="http:\/\/127\.0\.0\.1": expected an IP address or a host name/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("an address that is not this machine's: one line, exit 78", async () => {
    const r = await runTs('catalog/main.ts', [], {
      ...withSecret,
      HOST: '192.0.2.1',
      CATALOG_PORT: '0',
      DATA_DIR: path.join(dir, 'c'),
    });
    expect(r.code).toBe(EXIT.config);
    expect(oneLine(r)).toMatch(
      /^catalog: cannot listen on HOST=192\.0\.2\.1: not an address of this machine \(EADDRNOTAVAIL\)$/,
    );
  });

  it('a name that does not resolve: one line, exit 78', async () => {
    const r = await runTs('frontend/main.ts', [], {
      ...freePortsEnv,
      ...withSecret,
      HOST: 'no-such-host.invalid',
    });
    expect(r.code).toBe(EXIT.config);
    expect(oneLine(r)).toMatch(
      /^frontend: cannot listen on HOST=no-such-host\.invalid: the name does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/,
    );
  });
});

describe('a DATA_DIR that cannot be written', () => {
  it('a file where the data dir should be: the catalog says which path and why, exit 73', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, '');
    const r = await runTs('catalog/main.ts', [], { CATALOG_PORT: '0', DATA_DIR: file });
    expect(r.code).toBe(EXIT.cantCreate);
    expect(oneLine(r)).toBe(
      `catalog: cannot write DATA_DIR=${file}: mkdir ${file}/catalog: a part of the path is a file, not a directory (ENOTDIR)`,
    );
  });

  it('a directory this user may not write: a replica says permission denied, exit 73', async () => {
    const ro = path.join(dir, 'read-only');
    await fs.mkdir(ro, { mode: 0o555 });
    await fs.chmod(dir, 0o755);
    // root writes anywhere: run the replica as nobody then (it only needs to read the code).
    const asNobody =
      process.getuid?.() === 0
        ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
        : [];
    const node = [process.execPath, '--import', 'tsx', 'order/main.ts'];
    const [cmd, ...args] = [...asNobody, ...node];
    const r = await run(cmd!, args, {
      ORDER_ID: '1',
      ORDER_REPLICAS: '1=http://127.0.0.1:0',
      DATA_DIR: ro,
    });
    expect(r.code).toBe(EXIT.cantCreate);
    expect(oneLine(r)).toBe(
      `order: cannot write DATA_DIR=${ro}: mkdir ${ro}/order-1: permission denied (EACCES)`,
    );
  });
});

describe('a flag a tool does not take', () => {
  // Before, every tool but bench and build printed its whole usage text after the reason, so the
  // one line that mattered scrolled away; the usage stays behind --help.
  const TOOLS: Array<[string, string]> = [
    ['scripts/bench.ts', 'bench'],
    ['scripts/client.ts', 'client'],
    ['scripts/chaos.ts', 'chaos'],
    ['scripts/check.ts', 'check'],
    ['scripts/repair.ts', 'repair'],
    ['scripts/cluster-hosts.ts', 'cluster:hosts'],
    ['scripts/build.ts', 'build'],
    ['scripts/layout.ts', 'layout'],
  ];
  for (const [file, name] of TOOLS) {
    it(`${name}: one line naming the flag and pointing to --help, exit 2, nothing run`, async () => {
      const r = await runTs(file, ['--quikc']);
      expect(r.code).toBe(EXIT.usage);
      expect(r.stdout).toBe('');
      expect(oneLine(r)).toBe(
        `${name}: Unknown option '--quikc' (npm run ${name} -- --help lists the flags)`,
      );
    });
  }
});
