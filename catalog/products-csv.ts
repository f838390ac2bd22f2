/**
 * `products.csv`, the catalog's snapshot of its stock for people and the lab (header
 * `name,price,quantity`): its format, its reader (strict: a malformed file is an error naming the
 * line, never a guess) and the writer that keeps it current. The ledger (catalog/ledger.ts) is the
 * truth; this file is rewritten from it, so it needs no crash treatment of its own beyond an
 * atomic rename.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { Product } from '../shared/contracts.ts';
import { PRODUCTS_FILE } from '../shared/data-dir.ts';
import { STOCK, TOY_NAME } from '../shared/fields.ts';
import { writeFileAtomic } from '../shared/fsutil.ts';

export const CSV_COLUMNS = ['name', 'price', 'quantity'] as const;

/**
 * Coalesces snapshot writes through one loop (so two writes never share a temp file), at most one
 * per `minIntervalMs`: the snapshot is for people and the lab, the ledger already made each change
 * durable, so there is no reason to spend three fsyncs on it per batch of purchases.
 */
export function createSnapshotWriter(file: string, minIntervalMs = 500) {
  let latest: Product[] | null = null;
  let running: Promise<void> | null = null;
  let lastWriteMs = -Infinity;
  const run = async (now: boolean) => {
    while (latest) {
      const wait = now ? 0 : lastWriteMs + minIntervalMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
      const next = latest;
      latest = null;
      lastWriteMs = performance.now();
      await writeFileAtomic(file, toCsv(next)).catch((err) =>
        console.error(`catalog: could not write ${file}`, err),
      );
    }
    running = null;
  };
  return {
    write(products: Product[]) {
      latest = products;
      running ??= run(false);
    },
    /** Writes the latest state now (start, close), after any write in flight. */
    async writeNow(products: Product[]) {
      await running;
      latest = products;
      running = run(true);
      await running;
    },
  };
}

export function toCsv(products: Product[]): string {
  return stringify(
    products.map((p) => ({ name: p.name, price: p.price, quantity: p.quantity })),
    {
      header: true,
      columns: [...CSV_COLUMNS],
    },
  );
}

/**
 * Parses and checks a products file; anything malformed is an error naming the line, never a guess.
 */
export function parseProductsCsv(text: string, file = PRODUCTS_FILE): Product[] {
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (err) {
    throw new Error(`${file}: not valid CSV: ${(err as Error).message}`);
  }
  const header = rows[0];
  if (!header || header.join(',') !== CSV_COLUMNS.join(',')) {
    throw new Error(
      `${file}: expected header "${CSV_COLUMNS.join(',')}", found ${JSON.stringify(header?.join(',') ?? '')}`,
    );
  }
  const products: Product[] = [];
  const seen = new Set<string>();
  rows.slice(1).forEach((row, i) => {
    const where = `${file}: record ${i + 1}`;
    const [name = '', rawPrice = '', rawQuantity = ''] = row;
    const price = Number(rawPrice);
    if (!TOY_NAME.valid(name))
      throw new Error(`${where}: bad name ${JSON.stringify(name)}: ${TOY_NAME.problem(name)}`);
    if (seen.has(name)) throw new Error(`${where}: ${name} appears twice`);
    if (rawPrice.trim() === '' || !Number.isFinite(price) || price < 0)
      throw new Error(`${where}: bad price ${JSON.stringify(rawPrice)}`);
    const quantity = STOCK.parse(rawQuantity);
    if (quantity === null) throw new Error(`${where}: bad quantity ${JSON.stringify(rawQuantity)}`);
    seen.add(name);
    products.push({ name, price, quantity });
  });
  return products;
}
