/**
 * The tree's own TypeScript files, parsed once with the compiler API: what the layering test and
 * the size report read. Parsing (not regexes) so a string that looks like an import, or an import
 * split over lines, is read as the compiler reads it.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The top-level folders that hold the project's code (node_modules, dist and data are not code).
 */
export const CODE_ROOTS = ['catalog', 'frontend', 'order', 'shared', 'scripts', 'test'] as const;

export interface SourceFile {
  /** Path from the repository root, with forward slashes. */
  rel: string;
  sf: ts.SourceFile;
}

/** Every .ts file below the code roots of `root`, sorted by path. */
export function listSourceFiles(root: string, roots: readonly string[] = CODE_ROOTS): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const ent of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${ent.name}`;
      if (ent.isDirectory()) {
        if (ent.name !== 'node_modules') walk(rel);
      } else if (ent.name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const r of roots) if (fs.existsSync(path.join(root, r))) walk(r);
  return out.sort();
}

export function parseSourceFile(root: string, rel: string): SourceFile {
  const text = fs.readFileSync(path.join(root, rel), 'utf8');
  return {
    rel,
    sf: ts.createSourceFile(rel, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS),
  };
}

export function parseTree(root: string, roots: readonly string[] = CODE_ROOTS): SourceFile[] {
  return listSourceFiles(root, roots).map((rel) => parseSourceFile(root, rel));
}
