/**
 * Author attribution: which of several language models explains a text best.
 *
 * Each model k gives the text a log-likelihood log P_k(text) = −nats_k · n, where nats_k is its
 * mean loss per character (evaluateText) and n the number of characters predicted. With equal
 * prior odds, Bayes' rule turns these into the posterior probability that model k's author
 * wrote the text:
 *
 *   P(k | text) = softmax_k(−nats_k · n) = P_k(text) / Σ_j P_j(text)
 *
 * so the probabilities are likelihood ratios, and they sharpen with the length of the text: a
 * gap of 0.1 nats/char over 500 characters is odds of e^50. They are as honest as the models
 * are: a model that is confidently wrong about a style is confidently wrong here too.
 *
 * A character outside a model's vocabulary is skipped by that model (as in evaluateText), so
 * models may predict different numbers of characters; n is the largest of them, i.e. every
 * model's per-character rate is applied to the same length, and the scores stay comparable.
 */
import type { TextPart } from './data.js';
import { CharRnnError } from './errors.js';
import { evaluateText, type EvalResult } from './evaluate.js';
import type { CharRNN } from './model/model.js';
import type { Vocabulary } from './vocab.js';

export interface Candidate {
  /** What the result calls this model (the CLI uses the checkpoint path). */
  name: string;
  model: CharRNN;
  vocab: Vocabulary;
}

export interface AuthorScore {
  model: string;
  bits_per_char: number;
  nats_per_char: number;
  /** Characters this model predicted. */
  chars: number;
  /** Characters outside this model's vocabulary, skipped. */
  unknown_chars: number;
  /** Posterior probability under equal priors (see the file header). */
  probability: number;
}

export interface Attribution {
  /** Name of the most probable model (the lowest bits/char). */
  best: string;
  /** In the order the candidates were given. */
  scores: AuthorScore[];
}

/** Scores texts under a fixed set of candidates (windows of T characters). */
export class Attributor {
  constructor(readonly candidates: Candidate[], readonly T = 100) {
    if (candidates.length === 0) throw new CharRnnError('bad-flag', 'classify needs at least one model');
  }

  /** Score `parts` (read as one text from the zero state) under every candidate. */
  async classify(parts: TextPart[]): Promise<Attribution> {
    const { candidates } = this;
    const results: EvalResult[] = [];
    for (const c of candidates) results.push(await evaluateText(c.model, c.vocab, parts, this.T));
    const n = Math.max(...results.map((r) => r.chars));
    const logLik = results.map((r) => -r.nats_per_char * n); // (K) log P_k(text)
    const max = Math.max(...logLik);
    const w = logLik.map((l) => Math.exp(l - max)); // shifted by the max: never overflows
    const total = w.reduce((a, b) => a + b, 0);
    const scores = candidates.map((c, k): AuthorScore => ({
      model: c.name,
      bits_per_char: results[k].bits_per_char,
      nats_per_char: results[k].nats_per_char,
      chars: results[k].chars,
      unknown_chars: results[k].unknown_chars,
      probability: w[k] / total,
    }));
    let best = 0;
    for (let k = 1; k < scores.length; k++) if (scores[k].nats_per_char < scores[best].nats_per_char) best = k;
    return { best: scores[best].model, scores };
  }
}

/** One text under every candidate (see Attributor to score many texts). */
export function classifyText(candidates: Candidate[], parts: TextPart[], T = 100): Promise<Attribution> {
  return new Attributor(candidates, T).classify(parts);
}
