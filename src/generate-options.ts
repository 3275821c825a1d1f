/**
 * What a generation request defaults to on each surface, and how a person types a stop
 * sequence. No imports, so the page's main thread and the CLI's --help take these without
 * loading the model code.
 */

/**
 * The defaults of each surface that generates text. They differ because each answers a
 * different reader:
 *
 *   cli        500 / τ 1    `charrnn sample`: a person asked to read the model; τ = 1 is the
 *                           model's own distribution (as char-rnn and torch-rnn sample), and
 *                           500 characters show what it learnt beyond a line or two.
 *   server     200 / τ 1    `POST /v1/sample` and the stream: an API answer, short enough to come
 *                           back fast under load (a client asks for more up to --max-length);
 *                           the model's own distribution, which the client tunes.
 *   rnnWriter  140 / τ 0.7  `GET /generate`, torch-rnn-server's API, which rnn-writer expects: a
 *                           completion to the end of a sentence, at most 140 characters, at most
 *                           10 of them; 0.7 is the middle of the 0.5–0.9 it drew from.
 *   page       300 / τ 0.8  the playground's Sample box: what its panel shows without scrolling,
 *                           a little below τ = 1 because its models are trained for minutes, and
 *                           a half-trained model at τ = 1 reads as noise.
 *   write      τ 0.7        `charrnn write`: completions a writer accepts with Tab, so
 *                           conservative ones; `top` likeliest next characters and `suggestions`
 *                           completions shown (src/write.ts).
 */
export const GENERATION_DEFAULTS = {
  cli: { length: 500, temperature: 1 },
  server: { length: 200, temperature: 1 },
  rnnWriter: { length: 140, temperature: 0.7, stop: ['.', '!', '?'], maxCount: 10 },
  page: { length: 300, temperature: 0.8 },
  write: { temperature: 0.7, top: 5, suggestions: 3 },
} as const;

/** Items a lines model makes when a request names no count (beam search: its width), on every surface. */
export const LINES_COUNT = 10;

/**
 * A stop sequence as a person types it, in a flag (a shell cannot easily pass a newline), a
 * query string or a page's box: `\n` is a newline, `\t` a tab, `\\` a backslash; anything else
 * is itself. (A JSON body has its own escapes and is taken as it is.)
 */
export function parseStop(typed: string): string {
  return typed.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}
