/// <reference lib="webworker" />
/**
 * The playground's engine: trains, samples and (de)serialises checkpoints in a Web Worker,
 * with exactly the library code the CLI uses, and posts events to the page.
 */
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { resolveConfig } from '../src/config.js';
import { buildCorpus, type Corpus } from '../src/data.js';
import { Workspace, type CharRNN } from '../src/model/model.js';
import { formatSamples, generateWith } from '../src/generate.js';
import { NoveltyIndex, noveltySummary } from '../src/novelty.js';
import { Sampler } from '../src/sample.js';
import { Trainer } from '../src/train.js';
import type { Vocabulary } from '../src/vocab.js';
import type { Backend } from '../src/backend/types.js';
import { inspectHtml, type UnitRef } from '../src/viz/html.js';
import { findUnits, readText } from '../src/viz/inspect.js';
import { makeBackend } from './engine-backend.js';
import type { FromEngine, ToEngine } from './protocol.js';

declare const self: DedicatedWorkerGlobalScope;

/** Window length for reading a text in the inspect view (readText's default). */
const READ_WINDOW = 64;

const post = (m: FromEngine): void => self.postMessage(m);

class Engine {
  private trainer: Trainer | null = null;
  /** The model to sample from: the one training, or one loaded from a file. */
  private model: CharRNN | null = null;
  private vocab: Vocabulary | null = null;
  private loaded: ReturnType<typeof decodeCheckpoint> | null = null;
  private abort: AbortController | null = null;
  private paused = false;
  private resumeWaiter: (() => void) | null = null;

  constructor(private readonly backend: Backend) {}

  async train(text: string, partial: ToEngine & { type: 'train' }): Promise<void> {
    if (this.abort) throw new Error('already training');
    const corpus: Corpus = buildCorpus([{ name: 'the corpus', bytes: new TextEncoder().encode(text) }]);
    // A loaded checkpoint with this corpus's vocabulary is resumed; otherwise a new run.
    const resume = this.loaded?.train && sameSymbols(this.loaded.vocab.symbols, corpus.vocab.symbols) ? this.loaded : undefined;
    const config = resume ? resolveConfig({ ...resume.config, ...limitsOf(partial.config) }) : resolveConfig({ ...partial.config, backend: 'auto', threads: 0 });
    this.trainer = new Trainer({ config, corpus, backend: this.backend, resume });
    this.model = this.trainer.model;
    this.vocab = corpus.vocab;
    this.abort = new AbortController();
    this.paused = false;
    post({ type: 'state', state: 'training' });
    let lastStep = 0;
    try {
      for await (const ev of this.trainer.run(this.abort.signal)) {
        if (ev.type === 'step') {
          const now = performance.now();
          if (now - lastStep < 100) continue; // ~10 updates a second are plenty for the page
          lastStep = now;
        }
        post({ type: 'event', event: ev });
        if (ev.type === 'eval') {
          post({ type: 'checkpoint', bytes: this.trainer.checkpoint(), reason: 'autosave' });
        }
        while (this.paused && !this.abort.signal.aborted) {
          await new Promise<void>((r) => (this.resumeWaiter = r));
        }
      }
      // what a later Train resumes (decoded once at the end, not at every evaluation)
      this.loaded = decodeCheckpoint(this.trainer.checkpoint());
    } finally {
      this.abort = null;
      post({ type: 'state', state: 'idle' });
    }
  }

  pause(): void {
    if (!this.abort) return;
    this.paused = true;
    post({ type: 'state', state: 'paused' });
  }

  resume(): void {
    this.paused = false;
    this.resumeWaiter?.();
    if (this.abort) post({ type: 'state', state: 'training' });
  }

  stop(): void {
    this.abort?.abort();
    this.resume();
  }

  reset(): void {
    this.stop();
    this.trainer = null;
    this.model = null;
    this.vocab = null;
    this.loaded = null;
  }

  /**
   * The sampler and the inspect workspace of the current model, made once per model: the
   * WebAssembly backend's memory is never given back, so making them per click would grow it.
   */
  private views: { model: CharRNN; sampler: Sampler; readWs: Workspace } | null = null;

  private viewsOf(model: CharRNN, vocab: Vocabulary): { sampler: Sampler; readWs: Workspace } {
    if (this.views?.model !== model) {
      this.views = { model, sampler: new Sampler(model, vocab), readWs: new Workspace(model, 1, READ_WINDOW, { training: false }) };
    }
    return this.views;
  }

  /** Novelty needs the training text: the split of the run trained in this tab (made once per run). */
  private novelty: { trainer: Trainer; index: NoveltyIndex } | null = null;

  /** The Sample panel: generate() as `charrnn sample` runs it, rendered the same way. */
  sample(m: ToEngine & { type: 'sample' }): string {
    if (!this.model || !this.vocab) throw new Error('train or load a model first');
    const { sampler } = this.viewsOf(this.model, this.vocab);
    const lines = this.model.config.lines ?? false;
    const beam = (m.beam ?? 0) >= 2;
    const req = { length: m.length, temperature: m.temperature, prime: m.prime, seed: m.seed, skipUnknown: true, stop: m.stop, beam: m.beam, unique: m.unique, count: m.count ?? (lines ? (beam ? m.beam : 10) : 1) };
    const { samples } = generateWith(sampler, req);
    const prime = [...m.prime].filter((ch) => this.vocab!.has(ch.codePointAt(0)!)).join('');
    let note = '';
    let marks: string[] | undefined;
    if (m.novelty) {
      const trainer = this.trainer?.model === this.model ? this.trainer : null;
      if (!trainer) note = 'novelty needs the training text: train the model in this tab\n';
      else {
        if (this.novelty?.trainer !== trainer) this.novelty = { trainer, index: new NoveltyIndex(this.vocab, trainer.split, lines) };
        const r = this.novelty.index.measure(samples.map((g) => (lines ? prime + g.text : g.text)));
        marks = r.marks;
        note = noveltySummary(r, lines);
      }
    }
    const text = formatSamples(samples, { prime, lines, beam, marks });
    return (samples.length === 1 && !beam && !marks && !lines ? text.replace(/\n$/, '') : text) + note;
  }

  /** The CLI's `inspect` page for a text: predictions, loss, unit heatmaps and, with a regex, neuron search. */
  inspect(text: string, find: string): { html: string; summary: string } {
    if (!this.model || !this.vocab) throw new Error('train or load a model first');
    const reading = readText(this.model, this.vocab, text, { workspace: this.viewsOf(this.model, this.vocab).readWs });
    let found: { regex: string; units: UnitRef[] } | undefined;
    if (find) {
      const re = new RegExp(find, 'mu'); // ^ and $ at every line, as in the CLI
      found = { regex: re.source, units: findUnits(reading, re, { limit: 6 }) };
    }
    const c = this.model.config;
    const modelLabel = `${c.type.toUpperCase()} ${c.layers}×${c.hidden}, ${this.vocab.size} symbols`;
    const best = found?.units[0];
    const summary = `${reading.bitsPerChar.toFixed(3)} bits/char over ${reading.chars.length} characters${best ? `; strongest unit for /${find}/: layer ${best.layer} ${best.kind} ${best.unit} (r = ${best.r?.toFixed(3)})` : ''}`;
    return { html: inspectHtml({ title: 'the playground model', modelLabel, reading, units: [], found, maxChars: 2000 }), summary };
  }

  save(): Uint8Array {
    if (this.trainer) return this.trainer.checkpoint();
    throw new Error('nothing to save yet: train a model first');
  }

  load(bytes: Uint8Array, name: string): string {
    if (this.abort) throw new Error('stop training before loading a model');
    const data = decodeCheckpoint(bytes);
    this.loaded = data;
    this.trainer = null;
    this.model = modelFromCheckpoint(data, this.backend);
    this.vocab = data.vocab;
    const m = data.model;
    return `${name}: ${m.type} ${m.layers}×${m.hidden}, ${m.vocabSize} symbols${data.train ? `, trained ${data.train.state.iter} iterations` : ''}`;
  }
}

function sameSymbols(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function limitsOf(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['maxIters', 'epochs', 'maxTime', 'evalEvery', 'sampleEvery']) if (c[k] !== undefined) out[k] = c[k];
  return out;
}


const ready = makeBackend(self.name === 'js' ? 'js' : 'auto').then(({ backend, threads }) => {
  post({ type: 'ready', backend: backend.name, threads, isolated: self.crossOriginIsolated === true });
  return new Engine(backend);
});

self.onmessage = async (e: MessageEvent<ToEngine>) => {
  const engine = await ready;
  const m = e.data;
  try {
    switch (m.type) {
      case 'train': await engine.train(m.text, m); break;
      case 'pause': engine.pause(); break;
      case 'resume': engine.resume(); break;
      case 'stop': engine.stop(); break;
      case 'reset': engine.reset(); break;
      case 'sample': post({ type: 'sample', text: engine.sample(m) }); break;
      case 'save': post({ type: 'checkpoint', bytes: engine.save(), reason: 'save' }); break;
      case 'load': post({ type: 'loaded', name: m.name, summary: engine.load(m.bytes, m.name) }); break;
      case 'inspect': post({ type: 'inspect', ...engine.inspect(m.text, m.find) }); break;
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
