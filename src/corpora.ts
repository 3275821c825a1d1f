/**
 * The built-in corpora as they are trained on, from the files their npm packages ship: the one
 * rule the CLI (cli/corpus.ts, reading the files) and the playground (fetching them) share.
 */
import { Rng } from './rng.js';

/** The list's names are alphabetical, so an item split would hold out only Y and Z: shuffle them, always the same way. */
const NAMES_SHUFFLE_SEED = 14;

/** The `names` corpus: the names of the given lists (one per line), each once, in a fixed shuffled order, one per line. */
export function namesText(lists: string[]): string {
  const all = new Set<string>();
  for (const list of lists) for (const line of list.split(/\r?\n/)) if (line.trim()) all.add(line.trim());
  const names = [...all].sort();
  const rng = new Rng(NAMES_SHUFFLE_SEED);
  for (let k = names.length - 1; k > 0; k--) {
    const j = Math.floor(rng.next() * (k + 1));
    [names[k], names[j]] = [names[j], names[k]];
  }
  return names.join('\n') + '\n';
}
