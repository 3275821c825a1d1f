/**
 * `npm run bench:corpora -- [OUTDIR]`: rebuild the two other corpora of the quality goals (issue
 * 24's "no regression elsewhere", docs/guide.md "The budget") from files already on the machine,
 * with no download:
 *
 *   python.txt    Python source: numpy's .py files (Debian's python3-numpy, else the first numpy
 *                 that `python3` or /usr/bin/python3 imports), in sorted path order, each file
 *                 whole, joined by newlines, cut at the first 1,100,000 characters.
 *   markdown.txt  Markdown prose: every README.md under this project's node_modules (what the
 *                 lockfile installs), in sorted path order, likewise cut at 1,100,000 characters.
 *
 * Both are about the size of tiny Shakespeare (1,115,394). Each corpus's file name, characters,
 * symbols and a SHA-256 of its text are printed, so two sessions can tell whether they measured
 * the same corpus (numpy's or a package's version changes the text). Then, per corpus:
 *   node dist/bench/quality.js --seconds 180 --no-pytorch --data OUTDIR/python.txt
 * OUTDIR defaults to $TMPDIR/charrnn-corpora. A measurement tool, never a test.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHARS = 1_100_000;
const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/bench → the project
const out = process.argv[2] ?? join(tmpdir(), 'charrnn-corpora');

function fail(msg: string): never {
  console.error(`bench:corpora: ${msg}`);
  process.exit(2);
}

/** Every file under dir whose name passes keep, sorted by path (links are followed; broken links and unreadable folders skipped). */
function walk(dir: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  const visit = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const path = join(d, n);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) visit(path);
      else if (st.isFile() && keep(n)) found.push(path);
    }
  };
  visit(dir);
  return found;
}

/** The files' texts joined by newlines until CHARS characters (code points), cut there. */
function gather(files: string[]): { text: string; used: number } {
  const parts: string[] = [];
  let chars = 0;
  let used = 0;
  for (const f of files) {
    if (chars >= CHARS) break;
    const t = readFileSync(f, 'utf8');
    parts.push(t.endsWith('\n') ? t : t + '\n');
    chars += [...parts[parts.length - 1]].length;
    used++;
  }
  return { text: [...parts.join('')].slice(0, CHARS).join(''), used };
}

function numpyDir(): string {
  const debian = '/usr/lib/python3/dist-packages/numpy';
  if (existsSync(debian)) return debian;
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      return execFileSync(py, ['-c', 'import numpy, os; print(os.path.dirname(numpy.__file__))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // the next interpreter
    }
  }
  return fail('no numpy found (Debian: apt-get install python3-numpy): the Python corpus is its source');
}

const modules = join(root, 'node_modules');
if (!existsSync(modules)) fail(`${modules} is missing: run npm install first (the Markdown corpus is its READMEs)`);
mkdirSync(out, { recursive: true });
const numpy = numpyDir();
const corpora = [
  { name: 'python.txt', from: numpy, files: walk(numpy, (n) => n.endsWith('.py')) },
  { name: 'markdown.txt', from: modules, files: walk(modules, (n) => n === 'README.md') },
];
for (const c of corpora) {
  const { text, used } = gather(c.files);
  if ([...text].length < CHARS) fail(`${c.from} holds only ${[...text].length} characters of ${c.name}'s kind (${CHARS} wanted)`);
  const path = join(out, c.name);
  writeFileSync(path, text);
  const symbols = new Set(text).size;
  const sha = createHash('sha256').update(text).digest('hex').slice(0, 16);
  console.log(`${path}: ${CHARS.toLocaleString('en-US')} characters, ${symbols} symbols, sha256 ${sha}…, from the first ${used} of ${c.files.length} files under ${c.from.startsWith(root) ? relative(root, c.from) : c.from}`);
}
