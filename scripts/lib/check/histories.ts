/** Client history files (JSON lines, one array of events per file). */
import fs from 'node:fs/promises';
import { HistoryEventSchema, type HistoryEvent } from '../../../shared/contracts.ts';
import { CheckInputError } from './snapshot.ts';

/**
 * Reads JSON-lines history files, one array of events per file (op ids and times are only
 * comparable within one file). A torn last line is ignored; any other bad line is an input error.
 */
export async function loadHistories(
  files: readonly string[],
): Promise<{ histories: HistoryEvent[][]; notes: string[] }> {
  const histories: HistoryEvent[][] = [];
  const notes: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new CheckInputError(`history ${file}: ${(err as Error).message}`);
    }
    const parsed = parseHistory(text, file);
    histories.push(parsed.events);
    if (parsed.tornLast) notes.push(`history ${file}: torn last line ignored`);
  }
  return { histories, notes };
}

export function parseHistory(
  text: string,
  file = 'history',
): { events: HistoryEvent[]; tornLast: boolean } {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  let tornLast = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const last = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (last) {
        tornLast = true;
        continue;
      }
      throw new CheckInputError(`history ${file}:${i + 1}: not JSON`);
    }
    const r = HistoryEventSchema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new CheckInputError(
        `history ${file}:${i + 1}: ${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    events.push(r.data);
  }
  return { events, tornLast };
}
