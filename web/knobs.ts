/**
 * The page's Advanced group: every knob of the one table (KNOBS in src/config.ts), in its
 * group, labelled in words with its flag as a hint, its one-line help as the box's description.
 * An empty box (or "default" in a list) is the default — or, for the shape, the budget's choice —
 * and is not sent at all; what a box holds is read by the library's parser (knobFromText), so
 * "abc" is refused with the CLI's message instead of becoming 0.
 */
import { KNOB_GROUPS, KNOBS, knobFromText, knobToText, type KnobInfo, type TrainConfig } from '../src/config.js';

/** The box of a knob: `cfg-` and its flag without dashes (cfg-seq-len). */
export const knobId = (k: KnobInfo): string => `cfg-${k.flag.slice(2)}`;

/** What the page says a knob's default is: the CLI's --help says the same ("(default 128)"). */
export function defaultText(k: KnobInfo): string {
  return `default ${knobToText(k.key, k.default)}`;
}

function field(k: KnobInfo): HTMLElement {
  const label = document.createElement('label');
  label.className = 'knob';
  const words = document.createElement('span');
  words.textContent = k.label + ' ';
  const hint = document.createElement('code');
  hint.textContent = k.flag;
  label.append(words, hint);
  let input: HTMLInputElement | HTMLSelectElement;
  if (k.kind === 'number') {
    input = document.createElement('input');
    input.type = 'text'; // not type=number: its value is '' for "abc", which would silently be the default
    input.inputMode = 'decimal';
    input.placeholder = defaultText(k);
    input.autocomplete = 'off';
  } else {
    input = document.createElement('select');
    input.append(new Option(defaultText(k), ''));
    for (const c of k.kind === 'choice' ? k.choices : ['yes', 'no']) input.append(new Option(c, c));
  }
  input.id = knobId(k);
  input.dataset.key = k.key;
  input.title = k.help;
  label.append(input);
  return label;
}

/** Build the group's boxes into `root`, one fieldset per group of the table. */
export function buildKnobs(root: HTMLElement): void {
  for (const [group, title] of Object.entries(KNOB_GROUPS)) {
    const set = document.createElement('fieldset');
    set.className = 'knobs';
    const legend = document.createElement('legend');
    legend.textContent = title;
    const grid = document.createElement('div');
    grid.className = 'grid';
    for (const k of KNOBS) if (k.group === group) grid.append(field(k));
    set.append(legend, grid);
    root.append(set);
  }
}

const box = (k: KnobInfo): HTMLInputElement | HTMLSelectElement => document.getElementById(knobId(k)) as HTMLInputElement;

/** The knobs given in the boxes (empty ones left out); a box the parser refuses throws its one-line error. */
export function readKnobs(): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const k of KNOBS) {
    const v = knobFromText(k.key, box(k).value);
    if (v !== undefined) out[k.key] = v;
  }
  return out as Partial<TrainConfig>;
}

/** Show these values in their boxes (a model's settings); `keys` left out: every knob of `values`. */
export function showKnobs(values: Partial<TrainConfig>, keys?: ReadonlySet<keyof TrainConfig>): void {
  for (const k of KNOBS) {
    const v = values[k.key];
    if (v !== undefined && (!keys || keys.has(k.key))) box(k).value = knobToText(k.key, v);
  }
}

/** Empty every box: the defaults (and the budget's choice). */
export function clearKnobs(): void {
  for (const k of KNOBS) box(k).value = '';
}
