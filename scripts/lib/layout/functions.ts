/**
 * Sizes a reader has to hold: the length of every function (declarations, methods, arrows and
 * function expressions, each counted from its first to its last line, nested ones inside their
 * parents too) and of every file. What issue 11 measures: "functions a reader can hold (about 70
 * lines at most)".
 */
import ts from 'typescript';
import type { SourceFile } from './source-files.ts';

export interface FunctionSize {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function nameOf(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  if (
    named.name &&
    (ts.isIdentifier(named.name) ||
      ts.isPrivateIdentifier(named.name) ||
      ts.isStringLiteral(named.name))
  ) {
    const own = named.name.text;
    const cls =
      node.parent && ts.isClassLike(node.parent) && node.parent.name
        ? `${node.parent.name.text}.`
        : '';
    return cls + own;
  }
  if (ts.isConstructorDeclaration(node))
    return `${(node.parent as ts.ClassLikeDeclaration).name?.text ?? 'class'}.constructor`;
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (p && ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  return '(anonymous)';
}

export function functionSizes({ rel, sf }: SourceFile): FunctionSize[] {
  const out: FunctionSize[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ file: rel, name: nameOf(node, sf), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export function fileLines({ sf }: SourceFile): number {
  return sf.getLineAndCharacterOfPosition(sf.getEnd()).line + (sf.text.endsWith('\n') ? 0 : 1);
}
