#!/usr/bin/env node
// Build the native backend's addon (native/ -> native/build/Release/charrnn_native.node) with
// node-gyp, the one npm ships, and copy it to dist/native/<platform>-<arch>/, where the package
// carries it prebuilt. Never required and never downloads: without a C compiler, make, node-gyp
// or Node's headers on this machine it prints one line and exits 0, and the wasm backend serves.
//
//   node scripts/build-native.mjs            `npm run build`: build unless up to date
//   node scripts/build-native.mjs --install  the package's install script: nothing to do when an
//                                            addon (the prebuilt one) loads here, else build
//   node scripts/build-native.mjs --pack     prepack: the binary must be there for the tarball (fails loudly)
//   --force                                  rebuild even when up to date
//
// Headers: node-gyp downloads them unless told where they are (--nodedir), so this script finds
// them first (npm's nodedir config, the prefix of this node binary, node-gyp's cache) and skips
// the build where there are none. binding.gyp sits in native/, not at the package root, so npm
// never runs `node-gyp rebuild` on its own at install.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native');
const FILE = 'charrnn_native.node';
const built = path.join(src, 'build', 'Release', FILE);
const prebuiltDir = path.join(root, 'dist', 'native', `${process.platform}-${process.arch}`);
const prebuilt = path.join(prebuiltDir, FILE);
const args = new Set(process.argv.slice(2));
const say = (line) => console.log(`native addon: ${line}`);

/** Does this addon load in this Node? (a prebuilt one for another libc or CPU may not) */
function loads(file) {
  try {
    return existsSync(file) && typeof createRequire(import.meta.url)(file).create === 'function';
  } catch {
    return false;
  }
}

/** The built addon is newer than every source. */
function upToDate() {
  if (!existsSync(built)) return false;
  const t = statSync(built).mtimeMs;
  return readdirSync(src).every((f) => !/\.(c|h|inc|gyp)$/.test(f) || statSync(path.join(src, f)).mtimeMs <= t);
}

const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const hasHeaders = (dir) => Boolean(dir) && existsSync(path.join(dir, 'include', 'node', 'node_api.h'));

/** Where Node's headers are, without downloading: npm's nodedir, this node's prefix, node-gyp's cache. */
function nodeDir() {
  const cache = process.env.npm_config_devdir ?? path.join(os.homedir(), '.cache', 'node-gyp');
  const dirs = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..'), path.join(cache, process.versions.node)];
  return dirs.find(hasHeaders);
}

/** npm's own node-gyp: npm names it in the scripts' environment; else beside this npm or node. */
function nodeGyp() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((f) => f && existsSync(f));
}

/** Why it cannot be built here and what would fix it, or undefined. */
function missing() {
  const cc = process.env.CC ?? 'cc';
  if (!onPath(cc)) return `no C compiler (${cc}) on this machine; the wasm backend serves (to build it: install a C compiler and make, then npm run build:native)`;
  if (!onPath('make')) return 'no make on this machine; the wasm backend serves (to build it: install make, then npm run build:native)';
  if (!nodeGyp()) return 'no node-gyp (it comes with npm); the wasm backend serves (to build it: run npm run build:native from npm)';
  if (!nodeDir()) {
    return `no Node headers for ${process.version} here (node-gyp would download them; nothing is downloaded at install); the wasm backend serves ` +
      '(to build it: install the headers, e.g. the node tarball\'s include/ or Debian\'s libnode-dev, and set npm_config_nodedir, then npm run build:native)';
  }
  return undefined;
}

function build() {
  const why = missing();
  if (why) return say(`not built: ${why}`);
  const r = spawnSync(process.execPath, [nodeGyp(), 'rebuild', `--nodedir=${nodeDir()}`], { cwd: src, encoding: 'utf8' });
  if (r.status !== 0) {
    const out = `${r.stdout}\n${r.stderr}`.split('\n');
    const line = out.find((l) => /error/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l)) ?? `node-gyp exited ${r.status}`;
    return say(`not built (${line.trim()}); the wasm backend serves`);
  }
  say(`built ${path.relative(root, built)}`);
}

function publish() {
  if (!loads(built)) return;
  mkdirSync(prebuiltDir, { recursive: true });
  copyFileSync(built, prebuilt);
}

if (args.has('--pack')) {
  if (!upToDate() || !loads(built)) build();
  if (!loads(built)) {
    console.error(`native addon: nothing to pack for ${process.platform}-${process.arch}: ${built} is missing or does not load`);
    process.exit(1);
  }
  publish();
} else if (args.has('--install') && !args.has('--force') && (loads(built) || loads(prebuilt))) {
  // the prebuilt binary (or an earlier build) serves: nothing to compile
} else {
  if (args.has('--force') || !upToDate()) build();
  if (existsSync(path.join(root, 'dist'))) publish();
}
