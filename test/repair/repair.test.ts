/**
 * The catalog's way back from a damaged ledger (issue 9 item 9): it refuses to start with one line
 * naming the bad record and the repair command; the command keeps the valid prefix, restores the
 * purchases of committed orders from the order logs, and stock conservation holds after it, as
 * the project's own checker sees it.
 *
 * The fault: a flipped byte mid-ledger. Before, the catalog refused to start and nobody could
 * order, with no way out but hand editing.
 */
import { pendingRefs } from '../support/purchase-refs.ts';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LEDGER_FILE, META_FILE } from '../../catalog/ledger.ts';
import { describeCatalogDamage, openFileCatalogStore } from '../../catalog/store.ts';
import { LOG_FILE, openFileLogStore } from '../../order/file-log.ts';
import { signEntry } from '../../order/log.ts';
import type { OrderEntry } from '../../shared/contracts.ts';
import { CorruptLogError } from '../../shared/wal.ts';
import { checkDataDir } from '../../scripts/lib/check/index.ts';
import { planLedgerRepair } from '../../scripts/lib/repair/plan.ts';
import { repairCatalog } from '../../scripts/lib/repair/repair.ts';
import { runScript, runTs } from '../support/async.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dataDir: string;
const catalogDir = () => path.join(dataDir, 'catalog');
const ledgerFile = () => path.join(catalogDir(), LEDGER_FILE);
const orderDir = (id: number) => path.join(dataDir, `order-${id}`);

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-repair-'));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const noFatal = (what: string, err: unknown): never => {
  throw new Error(`unexpected fatal: ${what}: ${String(err)}`);
};

/** Keys of the committed orders, in log order, with what each bought. */
const ORDERS: Array<[key: string, name: string, quantity: number]> = [
  ['k0', 'Tux', 30],
  ['k1', 'Lego', 5],
  ['k2', 'Tux', 30],
  ['k3', 'Tux', 30],
  ['k5', 'Lego', 5],
  ['k6', 'Tux', 10],
  ['k8', 'Tux', 95],
  ['k9', 'Lego', 1],
];

function orderLog(n = ORDERS.length): OrderEntry[] {
  const out: OrderEntry[] = [];
  let crc = 0;
  for (const [index, [key, name, quantity]] of ORDERS.slice(0, n).entries()) {
    const e = signEntry(crc, { index, epoch: 2, name, quantity, key });
    out.push(e);
    crc = e.crc;
  }
  return out;
}

/**
 * A store that has lived a little, through its real code: purchases, a refusal, a sold-out toy
 * restocked, every purchase accounted for by a leader. Ledger seqs:
 * 0 k0 Tux -30 | 1 k1 Lego -5 | 2 k2 Tux -30 | 3 k3 Tux -30 | 4 refusal k4 Tux | 5 k5 Lego -5 |
 * 6 k6 Tux -10 (0 left) | 7 restock Tux +100 | 8 k8 Tux -95 | 9 k9 Lego -1
 */
async function liveALittle(
  logs: Record<number, OrderEntry[]> = { 1: orderLog(), 2: orderLog(), 3: orderLog() },
): Promise<void> {
  const store = await openFileCatalogStore(catalogDir(), { onDurabilityError: noFatal });
  const buy = (key: string) => {
    const [, name, quantity] = ORDERS.find(([k]) => k === key)!;
    return store.purchase({ name, quantity, key, epoch: 2 });
  };
  for (const key of ['k0', 'k1', 'k2', 'k3']) await buy(key);
  await expect(
    store.purchase({ name: 'Tux', quantity: 20, key: 'k4', epoch: 2 }),
  ).rejects.toMatchObject({ status: 409 });
  for (const key of ['k5', 'k6']) await buy(key);
  expect(await store.restockEmpty()).toEqual(['Tux']);
  for (const key of ['k8', 'k9']) await buy(key);
  await store.fence(2);
  await store.reconcile({ epoch: 2, committed: pendingRefs(store), release: [] });
  await store.close();
  for (const [id, entries] of Object.entries(logs)) {
    const log = await openFileLogStore(orderDir(Number(id)), { onFatal: noFatal });
    await log.append(entries);
    log.recordCommitIndex(entries.length - 1);
    await log.close();
  }
}

/**
 * Bit rot in the ledger record with seq `seq` (a letter of its toy's name flips), line kept whole.
 */
async function flipByteInRecord(seq: number): Promise<Buffer> {
  const content = await fs.readFile(ledgerFile());
  const lines = content.toString('utf8').split('\n');
  const line = lines[seq + 1]!;
  const at = content.indexOf(line) + line.indexOf(',Lego,') + 4;
  const damaged = Buffer.from(content);
  damaged[at] = damaged[at]! ^ 0x01;
  await fs.writeFile(ledgerFile(), damaged);
  return damaged;
}

const run = (file: string, env: Record<string, string>) => runTs(file, [], env);

describe('a flipped byte in the middle of the ledger', () => {
  it('the catalog refuses with one line naming the file, the record and the repair; the repair restores every committed purchase and the checker finds 0 violations', async () => {
    await liveALittle();
    expect((await checkDataDir(dataDir)).violations).toEqual([]);
    const damaged = await flipByteInRecord(5);

    // The catalog refuses to serve from it, and says exactly what and where.
    const err = await openFileCatalogStore(catalogDir(), { onDurabilityError: noFatal }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptLogError);
    expect(describeCatalogDamage(err)).toBe(
      `${ledgerFile()}: corrupt record at line 7 (seq 5): checksum mismatch`,
    );
    expect((await checkDataDir(dataDir)).violations.length).toBeGreaterThan(0);

    const report = await repairCatalog({
      catalogDir: catalogDir(),
      orderDirs: [1, 2, 3].map(orderDir),
      onFatal: noFatal,
    });
    expect(report.changed).toBe(true);
    expect(report.ledger).toMatchObject({ state: 'corrupt', keptRecords: 5 });
    expect(report.plan!.restored.map((r) => r.order.key)).toEqual(['k5', 'k6', 'k8', 'k9']);
    // Tux was restocked in the damaged part; without it k8's 95 would take Tux below zero.
    expect(report.plan!.restocks).toEqual([{ name: 'Tux', delta: 95, seq: 7, forOrder: 6 }]);
    expect(report.meta.before?.accountedBelowSeq).toBe(10);
    expect(report.meta.after.accountedBelowSeq).toBe(5);
    expect(report.lines.join('\n')).toMatch(
      /using .*order-1\/orders\.csv: the longest valid log \(8 orders\)/,
    );
    expect(await fs.readFile(report.ledger.movedTo!)).toEqual(damaged);
    expect(JSON.parse(await fs.readFile(path.join(catalogDir(), META_FILE), 'utf8'))).toEqual({
      fenceEpoch: 2,
      accountedBelowSeq: 5,
    });

    // Stock is conserved and every committed order has exactly one net decrement.
    const check = await checkDataDir(dataDir);
    expect(check.violations).toEqual([]);
    expect(check.ledgerEntries).toBe(10);

    // The catalog starts, and a retry of a restored key is a replay, not a second decrement.
    const store = await openFileCatalogStore(catalogDir(), { onDurabilityError: noFatal });
    try {
      expect(store.get('Tux')?.quantity).toBe(0);
      expect(store.get('Lego')?.quantity).toBe(89);
      expect(await store.purchase({ name: 'Tux', quantity: 95, key: 'k8', epoch: 2 })).toEqual({
        name: 'Tux',
        quantity: 0,
      });
      expect(store.ledger(0, 100).lastSeq).toBe(9);
      expect(store.pending().entries.map((p) => p.key)).toEqual(['k5', 'k6', 'k8', 'k9']);
    } finally {
      await store.close();
    }
  });

  it('through the real processes: the catalog exits 65 with the one line, npm run repair fixes it, the catalog then starts', async () => {
    await liveALittle();
    await flipByteInRecord(5);
    const env = {
      DATA_DIR: dataDir,
      CATALOG_PORT: '0',
      FRONTEND_URL: 'http://127.0.0.1:9',
      LOG_LEVEL: 'warn',
    };
    const refused = await run('catalog/main.ts', env);
    expect(refused.code).toBe(65);
    const lines = refused.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `catalog: refusing to start: ${ledgerFile()}: corrupt record at line 7 (seq 5): checksum mismatch; repair with: npm run repair -- --data-dir ${dataDir}`,
    );

    const repaired = await runScript('repair.ts', ['--data-dir', dataDir]);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/restoring 4 purchases/);
    expect(repaired.stdout).toMatch(/adding a restock of 95 Tux/);
    expect((await checkDataDir(dataDir)).violations).toEqual([]);

    const again = await runScript('repair.ts', ['--data-dir', dataDir]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to repair/);

    const catalog = spawn(process.execPath, ['--import', 'tsx', 'catalog/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => catalog.on('close', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        catalog.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /catalog listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) =>
          reject(new Error(`catalog exited ${code} before listening: ${out}`)),
        );
      });
      const tux = (await (await fetch(`${url}/products/Tux`)).json()) as {
        data: { quantity: number };
      };
      expect(tux.data.quantity).toBe(0);
    } finally {
      catalog.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

describe('the repair picks its orders from the longest valid log, and says which', () => {
  it('a lagging replica and one with a corrupt log lose to the full one; --dry-run writes nothing', async () => {
    const full = orderLog();
    await liveALittle({ 1: orderLog(5), 3: full });
    // Replica 2's log: the full log with bit rot in its third record.
    await fs.mkdir(orderDir(2), { recursive: true });
    const log2 = await openFileLogStore(orderDir(2), { onFatal: noFatal });
    await log2.append(full);
    await log2.close();
    const text = await fs.readFile(path.join(orderDir(2), LOG_FILE), 'utf8');
    await fs.writeFile(path.join(orderDir(2), LOG_FILE), text.replace(',k2,', ',k2.'));
    await flipByteInRecord(1);
    const before = await fs.readFile(ledgerFile());

    const dry = await repairCatalog({
      catalogDir: catalogDir(),
      orderDirs: [1, 2, 3].map(orderDir),
      dryRun: true,
    });
    expect(dry.changed).toBe(false);
    expect(dry.logs.map((l) => [l.records.length, l.state])).toEqual([
      [5, 'ok'],
      [2, 'corrupt'],
      [8, 'ok'],
    ]);
    expect(dry.reference?.dir).toBe(orderDir(3));
    expect(dry.lines.join('\n')).toMatch(/using .*order-3\/orders\.csv/);
    expect(dry.plan!.restored.map((r) => r.order.key)).toEqual([
      'k1',
      'k2',
      'k3',
      'k5',
      'k6',
      'k8',
      'k9',
    ]);
    expect(await fs.readFile(ledgerFile())).toEqual(before);
  });
});

describe('other damage the repair handles', () => {
  it('lost records (the ledger cut back at a record boundary, its mark kept): the missing purchases come back', async () => {
    await liveALittle();
    const content = await fs.readFile(ledgerFile(), 'utf8');
    const lines = content.split('\n');
    await fs.writeFile(ledgerFile(), `${lines.slice(0, 7).join('\n')}\n`);
    expect(
      describeCatalogDamage(
        await openFileCatalogStore(catalogDir()).then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    ).toMatch(/lost records: the file holds 6 valid records, its mark says 10/);
    const report = await repairCatalog({
      catalogDir: catalogDir(),
      orderDirs: [1, 2, 3].map(orderDir),
      onFatal: noFatal,
    });
    expect(report.ledger.state).toBe('lost');
    expect(report.plan!.restored.map((r) => r.order.key)).toEqual(['k6', 'k8', 'k9']);
    expect((await checkDataDir(dataDir)).violations).toEqual([]);
  });

  it('an unreadable meta file: a new one fenced at the highest epoch any replica knows', async () => {
    await liveALittle();
    await fs.writeFile(path.join(catalogDir(), META_FILE), '{"fenceEpoch": 2, "accounted');
    expect(
      describeCatalogDamage(
        await openFileCatalogStore(catalogDir()).then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    ).toMatch(/meta\.json is unreadable/);
    await fs.writeFile(
      path.join(orderDir(3), 'meta.json'),
      JSON.stringify({ promisedEpoch: 7, votedFor: 3, logEpoch: 7 }),
    );
    const report = await repairCatalog({
      catalogDir: catalogDir(),
      orderDirs: [1, 2, 3].map(orderDir),
      onFatal: noFatal,
    });
    expect(report.meta.after).toEqual({ fenceEpoch: 7, accountedBelowSeq: 0 });
    expect(report.plan!.restored).toEqual([]);
    const store = await openFileCatalogStore(catalogDir(), { onDurabilityError: noFatal });
    try {
      expect(store.pending().fenceEpoch).toBe(7);
    } finally {
      await store.close();
    }
    expect(
      (await fs.readdir(catalogDir())).some((f) => f.startsWith(`${META_FILE}.unreadable-`)),
    ).toBe(true);
  });

  it('the plan never leaves a negative stock and never restores a key twice', () => {
    const order = (index: number, key: string, quantity: number) =>
      signEntry(0, { index, epoch: 1, name: 'Tux', quantity, key });
    const plan = planLedgerRepair(
      [],
      [order(0, 'a', 80), order(1, 'b', 80), order(2, 'a', 80)],
      [{ name: 'Tux', price: 1, quantity: 100 }],
    );
    expect(plan.append.map((e) => [e.kind, e.delta, e.quantityAfter])).toEqual([
      ['purchase', -80, 20],
      ['restock', 60, 80],
      ['purchase', -80, 0],
    ]);
  });
});
