/// <reference lib="webworker" />
/**
 * The playground's worker: trains, samples and (de)serialises checkpoints in a Web Worker,
 * with exactly the library code the CLI uses, and posts events to the page. It trains on the
 * backend createBackend picks for training (WebGPU on a hardware GPU) and samples, inspects and
 * loads on the CPU: a GPU run's host copy of its weights comes from the library
 * (Trainer.hostModel, on the CPU backend of backends.ts).
 */
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint.js';
import { checkResume, newRunConfig, resumeConfig, type TrainConfig } from '../src/config.js';
import { chooseModel, choosesModel, measureSpeed } from '../src/budget.js';
import { guessingBits } from '../src/evaluate.js';
import { splitFor } from '../src/lines.js';
import { buildCorpus, type Corpus } from '../src/data.js';
import type { CharRNN } from '../src/model/model.js';
import { formatSamples, generate } from '../src/generate.js';
import { GENERATION_DEFAULTS } from '../src/generate-options.js';
import { Sampler } from '../src/sample.js';
import { NoveltyIndex, noveltySummary } from '../src/novelty.js';
import { Trainer } from '../src/train.js';
import type { Vocabulary } from '../src/vocab.js';
import type { Backend } from '../src/backend/types.js';
import { inspectHtml, type UnitRef } from '../src/viz/html.js';
import { findUnits, readText } from '../src/viz/inspect.js';
import { exportJs } from '../src/export/js-module.js';
import { exportOnnx } from '../src/export/onnx.js';
import { exportSourceOf } from '../src/export/source.js';
import { Assistant } from '../src/write.js';
import { backendRequest, startBackends } from './backends.js';
import type { FromWorker, ToWorker } from './protocol.js';

declare const self: DedicatedWorkerGlobalScope;

const post = (m: FromWorker): void => self.postMessage(m);

class Playground {
  private trainer: Trainer | null = null;
  /** The current model: the one training (on `training`), or one loaded from a file (on `cpu`). */
  private model: CharRNN | null = null;
  private vocab: Vocabulary | null = null;
  private loaded: ReturnType<typeof decodeCheckpoint> | null = null;
  private abort: AbortController | null = null;
  private paused = false;
  private resumeWaiter: (() => void) | null = null;

  /** `training` trains; `cpu` runs what needs numbers every character. One backend unless training is on a GPU. */
  constructor(private readonly training: Backend, private readonly cpu: Backend) {}

  async train(text: string, partial: ToWorker & { type: 'train' }): Promise<void> {
    if (this.abort) throw new Error('already training');
    const corpus: Corpus = buildCorpus([{ name: 'the corpus', bytes: new TextEncoder().encode(text) }]);
    // The current model is continued unless a new one is asked for, by the library's rules (as
    // `charrnn train --resume`): a changed model setting, batch or vocabulary is refused, never
    // silently ignored.
    const resume = partial.fresh ? undefined : this.loaded?.train ? this.loaded : undefined;
    let config = resume ? resumeConfig(resume.config, partial.config) : newRunConfig(partial.config);
    if (resume) checkResume(resume, config, corpus); // before the budget's gauge spends a second
    if (!resume && choosesModel(partial.config)) config = await this.chooseForBudget(partial.config, config, corpus);
    const guess = guessingBits(splitFor(corpus.ids, corpus.vocab, config).train, corpus.vocab.size);
    post({ type: 'guessing', vocab: corpus.vocab.size, ...guess });
    // on a GPU the run's host copy of its weights (samples, Sample, Inspect) lives on the CPU backend
    const trainer = new Trainer({ config, corpus, backend: this.training, resume, hostBackend: this.cpu });
    this.release();
    this.trainer = trainer;
    this.model = trainer.model;
    this.vocab = corpus.vocab;
    const abort = (this.abort = new AbortController());
    this.paused = false;
    post({ type: 'state', state: 'training' });
    let lastStep = 0;
    let lastLive = -Infinity;
    const live = new LiveSample(trainer, corpus, text, config.lines);
    try {
      for await (const ev of trainer.run(abort.signal)) {
        if (ev.type === 'step') {
          const now = performance.now();
          if (now - lastStep < 100) continue; // ~10 updates a second are plenty for the page
          lastStep = now;
          if (now - lastLive >= LIVE_EVERY_MS) {
            post({ type: 'live', iter: ev.iter, ...(await live.draw()) });
            lastLive = performance.now(); // from its end: a slow draw never takes the whole run
          }
        }
        post({ type: 'event', event: ev });
        if (ev.type === 'eval') {
          post({ type: 'checkpoint', bytes: trainer.checkpoint(), reason: 'autosave' });
        }
        while (this.paused && !abort.signal.aborted) {
          await new Promise<void>((r) => (this.resumeWaiter = r));
        }
      }
      if (this.trainer === trainer) {
        // what a later Train resumes (decoded once at the end, not at every evaluation);
        // after a Reset during the run there is nothing to resume
        this.loaded = decodeCheckpoint(trainer.checkpoint());
        this.tellContinuable();
      }
    } finally {
      this.abort = null;
      if (this.trainer !== trainer) trainer.dispose(); // reset while it ran: nothing holds it now
      post({ type: 'state', state: 'idle' });
    }
  }

  /**
   * A new run given no shape: the model its budget affords, as `charrnn train` chooses it
   * (src/budget.ts), the speed measured by real steps on the engine that trains. The page
   * says what was chosen in a sentence.
   */
  private async chooseForBudget(given: Partial<TrainConfig>, config: TrainConfig, corpus: Corpus): Promise<TrainConfig> {
    post({ type: 'plan', line: 'measuring how fast this engine trains, to choose the model…' });
    const trainChars = splitFor(corpus.ids, corpus.vocab, config).train.length;
    const now = (): number => performance.now() / 1000;
    const plan = await chooseModel({ given, config, vocabSize: corpus.vocab.size, trainChars, speed: (c) => measureSpeed(this.training, c, corpus.vocab.size, corpus.ids, now) });
    const c = plan.config;
    post({ type: 'plan', line: plan.choice?.line ?? `${c.model.toUpperCase()} ${c.layers}×${c.hidden}: with no time limit the budget rule has nothing to size the model by, so it is the default shape` });
    return c;
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
    if (!this.abort) this.release(); // a run still going is given back when it ends (train())
    this.trainer = null;
    this.model = null;
    this.vocab = null;
    this.loaded = null;
    this.tellContinuable();
  }

  /** Tell the page which model Train would continue, so it can say so (and offer a new one). */
  private tellContinuable(): void {
    const t = this.loaded?.train;
    post({ type: 'continuable', config: t ? this.loaded!.config : null, iter: t?.state.iter ?? 0 });
  }

  /**
   * The current model is being replaced: give its backend memory back (with its trainer's), so
   * loading or training model after model in one page does not grow the WebAssembly memory.
   */
  private release(): void {
    this.dropWriter();
    if (this.trainer) this.trainer.dispose();
    else this.model?.dispose();
  }

  /**
   * The model Sample and Inspect run on, with its weights as they are now: a trainer's
   * hostModel() (the model itself on the CPU; on a GPU the trainer's one host copy, refreshed),
   * or the model loaded from a file.
   */
  private async cpuModel(): Promise<{ model: CharRNN; vocab: Vocabulary }> {
    const { model, vocab, trainer } = this;
    if (!model || !vocab) throw new Error('train or load a model first');
    return { model: trainer ? await trainer.hostModel() : model, vocab };
  }

  /** Novelty needs the training text: the split of the run trained in this tab (made once per run). */
  private novelty: { trainer: Trainer; index: NoveltyIndex } | null = null;

  /** The Sample panel: generate() as `charrnn sample` runs it, rendered the same way. */
  async sample(m: ToWorker & { type: 'sample' }): Promise<string> {
    const { model, vocab } = await this.cpuModel();
    const beam = (m.beam ?? 0) >= 2;
    const req = { length: m.length, temperature: m.temperature, prime: m.prime, seed: m.seed, skipUnknown: true, stop: m.stop, beam: m.beam, unique: m.unique, count: m.count };
    // the prime as read and a lines model's count are generate()'s
    const { samples, prime, lines } = await generate({ model, vocab }, req);
    let note = '';
    let marks: string[] | undefined;
    if (m.novelty) {
      const trainer = this.trainer?.model === this.model ? this.trainer : null; // trained here, not loaded
      if (!trainer) note = 'novelty needs the training text: train the model in this tab\n';
      else {
        if (this.novelty?.trainer !== trainer) this.novelty = { trainer, index: new NoveltyIndex(vocab, trainer.split, lines) };
        const r = this.novelty.index.measure(samples.map((g) => (lines ? prime + g.text : g.text)));
        marks = r.marks;
        note = noveltySummary(r, lines);
      }
    }
    const text = formatSamples(samples, { prime, lines, beam, marks });
    return (samples.length === 1 && !beam && !marks && !lines ? text.replace(/\n$/, '') : text) + note;
  }

  /** The CLI's `inspect` page for a text: predictions, loss, unit heatmaps and, with a regex, neuron search. */
  async inspect(text: string, find: string): Promise<{ html: string; summary: string }> {
    const { model, vocab } = await this.cpuModel();
    const reading = readText(model, vocab, text);
    let found: { regex: string; units: UnitRef[] } | undefined;
    if (find) {
      const re = new RegExp(find, 'mu'); // ^ and $ at every line, as in the CLI
      found = { regex: re.source, units: findUnits(reading, re, { limit: 6 }) };
    }
    const c = model.config;
    const modelLabel = `${c.type.toUpperCase()} ${c.layers}×${c.hidden}, ${vocab.size} symbols`;
    const best = found?.units[0];
    const summary = `${reading.bitsPerChar.toFixed(3)} bits/char over ${reading.chars.length} characters${best ? `; strongest unit for /${find}/: layer ${best.layer} ${best.kind} ${best.unit} (r = ${best.r?.toFixed(3)})` : ''}`;
    return { html: inspectHtml({ title: 'the playground model', modelLabel, reading, units: [], found, maxChars: 2000 }), summary };
  }

  /** "Use it": the current model as the JS module (float32) or as ONNX, by the library's exporters (src/export). */
  async exportModel(format: 'js' | 'onnx'): Promise<{ bytes: Uint8Array; name: string }> {
    const { model, vocab } = await this.cpuModel();
    const src = exportSourceOf(model, vocab, this.trainer?.state ?? this.loaded?.train?.state);
    return format === 'js' ? { bytes: new TextEncoder().encode(exportJs(src)), name: 'charrnn-model.js' } : { bytes: exportOnnx(src), name: 'charrnn-model.onnx' };
  }

  /** The writing box's assistant (src/write.ts, `charrnn write`'s), on the current model's weights at `iter`. */
  private writer: { assistant: Assistant; sampler: Sampler; model: CharRNN; iter: number } | null = null;

  /**
   * The completion after `text` (what is before the caret): the assistant's first word
   * completion (else the one to the end of the line). Its state is carried from the last text
   * (setText keeps the shared start); while training the weights change, so a new iteration
   * starts a new assistant on them. Seeded, so the same text on the same weights suggests the same.
   */
  async suggest(text: string): Promise<string | null> {
    if (!this.model) return null;
    const { model, vocab } = await this.cpuModel();
    const iter = this.trainer?.state.iter ?? -1;
    if (!this.writer || this.writer.model !== model || this.writer.iter !== iter) {
      this.dropWriter();
      const sampler = new Sampler(model, vocab);
      this.writer = { assistant: new Assistant(sampler, 1), sampler, model, iter };
    }
    this.writer.assistant.setText(text);
    return this.writer.assistant.suggest(1)[0]?.text ?? '';
  }

  private dropWriter(): void {
    this.writer?.sampler.dispose();
    this.writer = null;
  }

  save(): Uint8Array {
    if (this.trainer) return this.trainer.checkpoint();
    throw new Error('nothing to save yet: train a model first');
  }

  load(bytes: Uint8Array, name: string): string {
    if (this.abort) throw new Error('stop training before loading a model');
    const data = decodeCheckpoint(bytes);
    const model = modelFromCheckpoint(data, this.cpu);
    this.release();
    this.loaded = data;
    this.trainer = null;
    this.model = model;
    this.vocab = data.vocab;
    this.tellContinuable();
    const m = data.model;
    return `${name}: ${m.type} ${m.layers}×${m.hidden}, ${m.vocabSize} symbols${data.train ? `, trained ${data.train.state.iter} iterations` : ''}`;
  }
}

/** How often the page's sample is drawn again while training (ms). */
const LIVE_EVERY_MS = 3000;
/** Its length: a few lines (a lines model draws generate()'s count of items instead). */
const LIVE_LENGTH = 240;

/**
 * The sample the page rewrites while a model trains: always the same prime and seed, so what
 * changes between two drawings is only what the model learned. A lines model gives a list of
 * items, each marked as in the training split, held out, or new (src/novelty.ts).
 */
class LiveSample {
  readonly prime: string;
  private novelty: NoveltyIndex | null = null;

  constructor(private readonly trainer: Trainer, private readonly corpus: Corpus, text: string, private readonly lines: boolean) {
    // a text's first word (what it would start with); an item model starts each item from nothing
    this.prime = lines ? '' : (/^\s*\S{1,16}\s/u.exec(text)?.[0].trimStart() ?? '');
  }

  async draw(): Promise<{ prime: string; text: string; items?: Array<{ text: string; mark: string }> }> {
    const model = await this.trainer.hostModel();
    // the page's temperature (GENERATION_DEFAULTS.page); a lines model gets generate()'s count of items
    const req = { prime: this.prime, seed: 1, temperature: GENERATION_DEFAULTS.page.temperature, skipUnknown: true, length: this.lines ? 60 : LIVE_LENGTH };
    const { samples } = await generate({ model, vocab: this.corpus.vocab }, req);
    if (!this.lines) return { prime: this.prime, text: samples[0]?.text ?? '' };
    this.novelty ??= new NoveltyIndex(this.corpus.vocab, this.trainer.split, true);
    const { marks } = this.novelty.measure(samples.map((g) => g.text));
    return { prime: '', text: '', items: samples.map((g, i) => ({ text: g.text, mark: marks[i] })) };
  }
}

// the library's createBackend, as an app gets it from 'charrnn': WebAssembly SIMD on every core
// when the page is cross-origin isolated, else on one (choice.reason says so); training on a
// hardware GPU when there is one. The page's options come as the worker's name (main.ts).
const ready = startBackends(backendRequest(self.name)).then(({ training, cpu, note }) => {
  post({ type: 'ready', training: training.choice, cpu: cpu.choice, note });
  return new Playground(training, cpu);
});

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const playground = await ready;
  const m = e.data;
  try {
    switch (m.type) {
      case 'train': await playground.train(m.text, m); break;
      case 'pause': playground.pause(); break;
      case 'resume': playground.resume(); break;
      case 'stop': playground.stop(); break;
      case 'reset': playground.reset(); break;
      case 'sample': post({ type: 'sample', text: await playground.sample(m) }); break;
      case 'save': post({ type: 'checkpoint', bytes: playground.save(), reason: 'save' }); break;
      case 'load': post({ type: 'loaded', name: m.name, summary: playground.load(m.bytes, m.name) }); break;
      case 'inspect': post({ type: 'inspect', ...(await playground.inspect(m.text, m.find)) }); break;
      case 'export': post({ type: 'file', ...(await playground.exportModel(m.format)) }); break;
      case 'suggest': post({ type: 'suggestion', text: m.text, suggestion: await playground.suggest(m.text) }); break;
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
