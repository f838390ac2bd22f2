/**
 * The launcher's line splitter (scripts/lib/cluster/output.ts): every line of a child's output
 * arrives once, whole and in order, however the stream cuts it into chunks.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pipeLines } from '../../scripts/lib/cluster/output.ts';

function linesOf(chunks: string[]): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  pipeLines(stream, (l) => lines.push(l));
  const done = new Promise<string[]>((resolve) => stream.on('end', () => resolve(lines)));
  for (const c of chunks) stream.write(c);
  stream.end();
  return done;
}

describe('splitting a child’s output into lines', () => {
  it('many lines in one chunk, lines cut across chunks, CRLF, empty lines and an unterminated last line', async () => {
    const text = `${Array.from({ length: 500 }, (_, i) => `{"msg":"line ${i}"}`).join('\n')}\n`;
    expect(await linesOf([text])).toHaveLength(500);
    expect((await linesOf([text]))[499]).toBe('{"msg":"line 499"}');
    expect(await linesOf(['a\r\nb', 'c\n\n', '\r\nd', 'e'])).toEqual(['a', 'bc', '', '', 'de']);
    // Cut at every position: the same lines as in one piece.
    const sample = 'one\r\ntwo\nthree\n\nfour';
    for (let cut = 0; cut <= sample.length; cut++)
      expect(await linesOf([sample.slice(0, cut), sample.slice(cut)])).toEqual([
        'one',
        'two',
        'three',
        '',
        'four',
      ]);
  });
});
