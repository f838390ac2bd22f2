/**
 * The repair command's flags: either one data dir laid out as the services lay it out
 * (`DATA_DIR/catalog`, `DATA_DIR/order-N`, see README "Configuration"), or the dirs one by one.
 */
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { RepairInputError } from './repair.ts';
import { catalogPaths, replicaIdsIn, replicaPaths } from '../../../shared/data-dir.ts';

export const USAGE = `usage:
  npm run repair -- --data-dir DIR [--dry-run]
  npm run repair -- --catalog-dir DIR --order-dir DIR[,DIR...] [--dry-run]

Repairs a catalog that refuses to start because its ledger is damaged (a corrupt record or lost
records) or its meta file is unreadable: keeps the ledger's valid prefix (the damaged file is kept
beside it), restores the purchase of every committed order whose key has no decrement left (from
the longest valid order log), adds restocks where stock would go negative, and says what it did.
Stop the catalog first. --dry-run prints the plan and writes nothing.`;

export interface RepairArgs {
  help: boolean;
  catalogDir: string;
  orderDirs: string[];
  dryRun: boolean;
}

export async function parseRepairArgs(argv: readonly string[]): Promise<RepairArgs> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        'catalog-dir': { type: 'string' },
        'order-dir': { type: 'string', multiple: true },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new RepairInputError((err as Error).message);
  }
  if (values.help) return { help: true, catalogDir: '', orderDirs: [], dryRun: false };
  const dataDir = values['data-dir'];
  const orderDirs = (values['order-dir'] ?? [])
    .flatMap((d) => d.split(','))
    .map((d) => d.trim())
    .filter(Boolean);
  if (dataDir !== undefined) {
    if (values['catalog-dir'] !== undefined || orderDirs.length)
      throw new RepairInputError(
        '--data-dir replaces --catalog-dir and --order-dir; give one or the other',
      );
    return {
      help: false,
      catalogDir: catalogPaths(dataDir).dir,
      orderDirs: await orderDirsIn(dataDir),
      dryRun: values['dry-run'],
    };
  }
  if (values['catalog-dir'] === undefined)
    throw new RepairInputError('--catalog-dir (or --data-dir) is required');
  if (orderDirs.length === 0)
    throw new RepairInputError(
      '--order-dir is required: the order logs say which purchases to restore',
    );
  return { help: false, catalogDir: values['catalog-dir'], orderDirs, dryRun: values['dry-run'] };
}

/** Every `order-N` directory of a data dir, by id. */
async function orderDirsIn(dataDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dataDir);
  } catch (err) {
    throw new RepairInputError(`cannot read data dir ${dataDir}: ${(err as Error).message}`);
  }
  return replicaIdsIn(names).map((id) => replicaPaths(dataDir, id).dir);
}
