/**
 * The one knob table (src/config.ts): every knob has a label, help and a group; DEFAULT_CONFIG
 * and the validation are its; the CLI's flags and --help come from it; the one number parser
 * reads flags, query strings and page boxes alike (an empty box is the default, never 0).
 * The page's side (its Advanced group, the same defaults as --help) is in playground-flow.test.ts.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG, KNOB_GROUPS, KNOBS, flagName, knobFromText, knobToText, parseNumber, resolveConfig } from '../src/config.js';
import { CharRnnError } from '../src/errors.js';
import { runCli } from './run-cli.js';

test('every knob has a label, one-line help, a group and a default its own rule accepts', () => {
  assert.deepEqual(KNOBS.map((k) => k.key), Object.keys(DEFAULT_CONFIG));
  for (const k of KNOBS) {
    assert.ok(k.label.trim().length > 0 && !k.label.startsWith('--'), `${k.key}: a label in words`);
    assert.ok(k.help.trim().length > 0 && !k.help.includes('\n'), `${k.key}: one line of help`);
    assert.ok(k.group in KNOB_GROUPS, `${k.key}: group ${k.group}`);
    assert.equal(k.flag, flagName(k.key));
    assert.equal(DEFAULT_CONFIG[k.key], k.default);
    if (k.kind === 'choice') assert.ok(k.choices.includes(k.default as never), `${k.key}: its default is one of its choices`);
  }
  assert.deepEqual(resolveConfig({}), { ...DEFAULT_CONFIG });
  for (const g of Object.keys(KNOB_GROUPS)) assert.ok(KNOBS.some((k) => k.group === g), `group ${g} holds a knob`);
});

test('the rules come from the table: a value outside a knob\'s range names its flag', () => {
  for (const k of KNOBS) {
    const bad = k.kind === 'number' ? (k.rule.max !== undefined ? k.rule.max + 1 : -1) : k.kind === 'choice' ? 'nope' : 'yes';
    assert.throws(() => resolveConfig({ [k.key]: bad }), (e: unknown) => e instanceof CharRnnError && e.message.startsWith(k.flag), `${k.key} = ${String(bad)}`);
  }
});

test('one number parser: strict, one line naming what was given; a page box: empty is the default', () => {
  assert.equal(parseNumber('--lr', ' 2e-3 '), 2e-3);
  for (const bad of ['', ' ', 'abc', '12abc', 'NaN', 'Infinity']) {
    assert.throws(() => parseNumber('--lr', bad), /^CharRnnError: --lr must be a number \(got ".*"\)$/);
  }
  assert.throws(() => parseNumber('length', 'x'.repeat(100)), (e: Error) => e.message === `length must be a number (got "${'x'.repeat(40)}")`);
  for (const k of KNOBS) assert.equal(knobFromText(k.key, '  '), undefined, `${k.key}: an empty box is the default`);
  assert.throws(() => knobFromText('lr', 'abc'), /--lr must be a number \(got "abc"\)/);
  assert.throws(() => knobFromText('lines', 'maybe'), /--lines is a switch: yes or no/);
  // every knob's value survives text and back
  for (const k of KNOBS) assert.deepEqual(knobFromText(k.key, knobToText(k.key, k.default)), k.default, k.key);
});

test('the CLI\'s train flags and --help are the table\'s: every flag, its help and its default', async () => {
  const help = await runCli(['train', '--help']);
  assert.equal(help.code, 0);
  const flat = help.stdout.replace(/\n\s+/g, ' ');
  for (const k of KNOBS) {
    const start = flat.indexOf(`${k.flag}${k.kind === 'switch' ? ' ' : ' <'}`);
    assert.ok(start >= 0, `${k.flag} in --help`);
    assert.ok(flat.slice(start).includes(k.help.replace(/\s+/g, ' ')), `${k.flag}: its help`);
    if (k.kind !== 'switch') assert.match(flat.slice(start), new RegExp(`^${k.flag} <\\w+> .*?\\(default ${String(k.default).replace(/[.+]/g, '\\$&')}\\)`));
  }
  // a value given on the command line is parsed by the table's kind
  const bad = await runCli(['train', '--hidden', '12abc']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'charrnn: --hidden must be a number (got "12abc")\n');
});
