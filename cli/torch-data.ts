/**
 * The ids of a torch run (ids.bin), for corpora bigger than memory: never the whole id array.
 *
 *   pass 1  scanCorpus: the vocabulary and the number of characters (one flag per code point)
 *   pass 2  streamIds: each chunk's ids appended to a file as they are decoded
 *
 * Memory, whatever the corpus size: pass 1's flags (1.1 MB), pass 2's code point → id table
 * (≤ 4.4 MB), one chunk of bytes and its ids (≤ 5 × the chunk: 5 MiB at the default 1 MiB), and
 * the first HEAD ids (≤ 4 MiB), kept for our engine's speed gauge: about 15 MB beyond Node itself.
 * The bytes of ids.bin are those of the whole id array our engine would hold (the same
 * vocabulary, dtype and order), so a streamed run and an in-memory one train on the same file.
 */
import { open, rm } from 'node:fs/promises';
import type { Corpus } from '../src/data.js';
import { IdPass } from '../src/stream.js';
import { idBytes } from '../src/torch-run.js';
import { idArrayFor, type IdArray, type Vocabulary } from '../src/vocab.js';
import { checkSecondPass, readPass, type CorpusSource } from './corpus.js';
import { fsErrorReason } from './fs-errors.js';
import { CliError } from './io.js';

/** Ids kept in memory from the start of the corpus (our engine's speed gauge trains on B × T of them). */
const HEAD = 1 << 20;

/** A torch run's corpus: its vocabulary and length, where ids.bin's bytes are, and its first ids. */
export interface TorchData {
  vocab: Vocabulary;
  /** Characters (ids) in all. */
  length: number;
  /** ids.bin's bytes in memory (a corpus already loaded), or a file written by streamIds. */
  ids: { bytes: Uint8Array } | { file: string };
  /** The first min(length, HEAD) ids. */
  head: IdArray;
}

/** A corpus held in memory (tests, benchmarks: small texts) as a torch run's data. */
export function corpusData(corpus: Corpus): TorchData {
  return { vocab: corpus.vocab, length: corpus.ids.length, ids: { bytes: idBytes(corpus.ids) }, head: corpus.ids.subarray(0, HEAD) };
}

/**
 * Pass 2 of the corpus pass 1 scanned (its vocabulary, `count` characters), written to `path` as
 * ids.bin bytes a chunk at a time, synced to disk; returns the first ids (TorchData.head). A
 * one-line error if the text changed between the passes or the file cannot be written; `path`
 * is removed then.
 */
export async function streamIds(src: CorpusSource, scan: { vocab: Vocabulary; count: number }, path: string, chunk?: number): Promise<IdArray> {
  const { vocab, count } = scan;
  const enc = new IdPass(src.mode, vocab, chunk ?? 1 << 20); // a chunk of n bytes holds at most n characters
  const head = idArrayFor(vocab.size, Math.min(count, HEAD));
  let written = 0;
  try {
    const fh = await open(path, 'w').catch((e: unknown) => {
      throw new CliError(`cannot write ${path}: ${fsErrorReason(e, 'write')}`);
    });
    try {
      await readPass(src, enc, chunk, async () => {
        const ids = enc.drain();
        if (written < head.length) head.set(ids.subarray(0, head.length - written), written);
        written += ids.length;
        await writeAll(fh, idBytes(ids), path);
      });
      checkSecondPass(enc, count);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await rm(path, { force: true });
    throw e;
  }
  return head;
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, bytes: Uint8Array, path: string): Promise<void> {
  try {
    for (let at = 0; at < bytes.length;) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${fsErrorReason(e, 'write')}`);
  }
}
