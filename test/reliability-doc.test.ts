/**
 * docs/reliability.md stays true: every test it cites as proof (`test/x.test.ts` › “name”)
 * exists in that file, and every test file it cites exists.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('docs/reliability.md cites only tests that exist', () => {
  const md = readFileSync(join(ROOT, 'docs', 'reliability.md'), 'utf8');
  let cited = 0;
  for (const line of md.split('\n').filter((l) => l.startsWith('|'))) {
    // in a table row: `test/a.test.ts` › “name”, “name”; `test/b.test.ts` › “name”
    for (const group of line.matchAll(/`(test\/[\w.-]+\.test\.ts)` › ((?:“[^”]+”(?:, )?)+)/g)) {
      const path = join(ROOT, group[1]);
      assert.ok(existsSync(path), `${group[1]} exists`);
      const source = readFileSync(path, 'utf8');
      for (const name of group[2].matchAll(/“([^”]+)”/g)) {
        // a cited name is the start of the test's title (titles may end with a run count)
        const text = name[1];
        // safetensors.test.ts builds its "refuses: <case>" titles from a table of cases
        const table = /^refuses: (.*)$/.exec(text)?.[1];
        const found = [`'${text}`, `\`${text}`, `"${text}`].some((q) => source.includes(q)) || (table !== undefined && source.includes(`['${table}',`));
        assert.ok(found, `${group[1]} has a test “${text}”`);
        cited++;
      }
    }
  }
  assert.ok(cited >= 30, `the table cites ${cited} tests`);
});
