/**
 * The layering rule of the project (README "Code layout"), as data and as a check:
 *
 * - services (catalog/, frontend/, order/) import only shared/ and their own folder;
 * - shared/ imports no service, tool or test;
 * - scripts/ (the tools) import services and shared/, never tests;
 * - nothing outside test/ imports from test/.
 *
 * Every relative module specifier counts: static imports, `export ... from`, `import type`, dynamic
 * `import()` with a literal, `import x = require()`, and `new URL('x.ts', import.meta.url)` naming
 * a script or worker (how a spawned module is named; a folder URL is not an import). Bare
 * specifiers (packages, node:) are not layers.
 */
import path from 'node:path';
import ts from 'typescript';
import type { SourceFile } from './source-files.ts';

export type Layer = 'catalog' | 'frontend' | 'order' | 'shared' | 'scripts' | 'test' | 'other';

const SERVICES = new Set<Layer>(['catalog', 'frontend', 'order']);

export interface ImportEdge {
  from: string;
  /** The imported file, from the repository root. */
  to: string;
  line: number;
  specifier: string;
}

export function layerOf(rel: string): Layer {
  const top = rel.split('/')[0] as Layer;
  return ['catalog', 'frontend', 'order', 'shared', 'scripts', 'test'].includes(top)
    ? top
    : 'other';
}

/** Why `from` may not import `to`, or null when it may. */
export function layeringViolation(from: string, to: string): string | null {
  const a = layerOf(from);
  const b = layerOf(to);
  if (a === 'test') return null;
  if (b === 'test') return 'nothing outside test/ imports from test/';
  if (SERVICES.has(a) && b !== 'shared' && b !== a)
    return `a service (${a}/) imports only shared/ and its own folder`;
  if (a === 'shared' && b !== 'shared') return 'shared/ imports no service or tool';
  if (a === 'scripts' && b === 'other') return 'tools import services, shared/ and scripts/ only';
  return null;
}

/** Every relative import of one file, resolved to a path from the repository root. */
export function importsOf({ rel, sf }: SourceFile): ImportEdge[] {
  const out: ImportEdge[] = [];
  const add = (node: ts.Node, specifier: string) => {
    if (!specifier.startsWith('.')) return;
    const to = path.posix.normalize(path.posix.join(path.posix.dirname(rel), specifier));
    out.push({
      from: rel,
      to,
      specifier,
      line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
    });
  };
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node, node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      add(node, node.moduleReference.expression.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node, node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node, node.argument.literal.text);
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'URL' &&
      isImportMetaUrlPair(node)
    ) {
      add(node, (node.arguments![0] as ts.StringLiteralLike).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** `new URL('<literal>', import.meta.url)`: a module named relative to this one. */
function isImportMetaUrlPair(node: ts.NewExpression): boolean {
  const [spec, base] = node.arguments ?? [];
  return (
    spec !== undefined &&
    ts.isStringLiteralLike(spec) &&
    /\.(ts|mts|js|mjs)$/.test(spec.text) &&
    base !== undefined &&
    ts.isPropertyAccessExpression(base) &&
    ts.isMetaProperty(base.expression) &&
    base.name.text === 'url'
  );
}

export interface Violation extends ImportEdge {
  rule: string;
}

export function layeringViolations(files: readonly SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    for (const e of importsOf(f)) {
      const rule = layeringViolation(e.from, e.to);
      if (rule !== null) out.push({ ...e, rule });
    }
  }
  return out;
}
