/**
 * The data-dir layout, in one place: where every service keeps its files under DATA_DIR, and
 * what each file and its sidecars are called. The services, the launcher, the checker, the
 * repair command, the chaos tool and the bench all derive their paths from here, so a file
 * cannot be renamed in one of them only.
 *
 *   DATA_DIR/catalog/ledger.csv          the stock ledger (catalog/ledger.ts), the source of truth
 *   DATA_DIR/catalog/ledger.csv.mark     its durable watermark (shared/wal-mark.ts)
 *   DATA_DIR/catalog/ledger.csv.synced   its last fsynced length (TRACK_FSYNC_OFFSETS, chaos only)
 *   DATA_DIR/catalog/products.csv        a snapshot of the stock, rebuilt from the ledger
 *   DATA_DIR/catalog/meta.json           the catalog's fence epoch and accounting position
 *   DATA_DIR/order-N/orders.csv          replica N's order log (order/file-log.ts), with its
 *                                        .mark and .synced, as the ledger's
 *   DATA_DIR/order-N/meta.json           replica N's promises and storage condition (order/meta.ts)
 *
 * Copies a service keeps of a damaged file sit beside it: `<file>.torn-<ms>` (a cut torn tail),
 * `<file>.corrupt-<ms>` and `<file>.lost-<ms>` (a file set aside on damage),
 * `<file>.unreadable-<ms>` (an unreadable meta file).
 */
import path from 'node:path';

export const CATALOG_DIR = 'catalog';
export const LEDGER_FILE = 'ledger.csv';
export const PRODUCTS_FILE = 'products.csv';
export const ORDER_LOG_FILE = 'orders.csv';
/** Both the catalog's and each replica's small JSON state file. */
export const META_FILE = 'meta.json';
/** Beside every log: its durable watermark. */
export const MARK_SUFFIX = '.mark';
/** Beside every log when TRACK_FSYNC_OFFSETS is on: the byte length its last fsync covered. */
export const SYNCED_SUFFIX = '.synced';

/** What a set-aside copy of `file` is called: `kind` is torn, corrupt, lost or unreadable. */
export type SetAsideKind = 'torn' | 'corrupt' | 'lost' | 'unreadable';
export const setAsideName = (file: string, kind: SetAsideKind, atMs: number): string =>
  `${file}.${kind}-${atMs}`;

/** `order-N`: replica N's directory under DATA_DIR, and its name in logs and the launcher. */
export const replicaDirName = (id: number): string => `order-${id}`;

const REPLICA_DIR = /^order-(\d+)$/;

/** The replica id a directory name under DATA_DIR stands for, or null. */
export function replicaIdOfDir(name: string): number | null {
  const m = REPLICA_DIR.exec(name);
  return m ? Number(m[1]) : null;
}

export interface CatalogPaths {
  dir: string;
  ledger: string;
  products: string;
  meta: string;
}

export function catalogPaths(dataDir: string): CatalogPaths {
  return catalogPathsIn(path.join(dataDir, CATALOG_DIR));
}

/** The same files in a catalog directory given by itself (`npm run repair -- --catalog-dir`). */
export function catalogPathsIn(dir: string): CatalogPaths {
  return {
    dir,
    ledger: path.join(dir, LEDGER_FILE),
    products: path.join(dir, PRODUCTS_FILE),
    meta: path.join(dir, META_FILE),
  };
}

export interface ReplicaPaths {
  id: number;
  /** `order-N`. */
  name: string;
  dir: string;
  log: string;
  meta: string;
}

export function replicaPaths(dataDir: string, id: number): ReplicaPaths {
  const name = replicaDirName(id);
  return { id, name, ...replicaPathsIn(path.join(dataDir, name)) };
}

/** The files of a replica directory given by itself (`npm run repair -- --order-dir`). */
export function replicaPathsIn(dir: string): { dir: string; log: string; meta: string } {
  return { dir, log: path.join(dir, ORDER_LOG_FILE), meta: path.join(dir, META_FILE) };
}

/** The ids of the replica directories among `names` (a DATA_DIR listing), ascending. */
export function replicaIdsIn(names: readonly string[]): number[] {
  return names
    .map(replicaIdOfDir)
    .filter((id): id is number => id !== null)
    .sort((a, b) => a - b);
}
