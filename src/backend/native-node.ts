/**
 * Finding the native addon in Node: the one built here by `npm install` / `npm run build`
 * (native/build/Release/, node-gyp through scripts/build-native.mjs), else the prebuilt binary
 * the package carries for this platform (dist/native/<platform>-<arch>/, made at pack time).
 * Either way, whatever fails comes back as one line saying why, for createBackend to report.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { NativeAddon } from './native-abi.js';

const FILE = 'charrnn_native.node';

/** Where the addon may be, best first: built on this machine, then the package's prebuilt one (from dist/src/backend/ or src/backend/). */
function candidates(): URL[] {
  const plat = `${process.platform}-${process.arch}`;
  return [
    new URL(`../../native/build/Release/${FILE}`, import.meta.url),
    new URL(`../../../native/build/Release/${FILE}`, import.meta.url),
    new URL(`../../native/${plat}/${FILE}`, import.meta.url),
    new URL(`../../dist/native/${plat}/${FILE}`, import.meta.url),
  ];
}

/** The addon, or why there is none (one line). CHARRNN_NATIVE=0 in the environment hides it (a machine without it, simulated). */
export function loadNativeAddon(): NativeAddon | { error: string } {
  if (process.env.CHARRNN_NATIVE === '0') return { error: 'turned off by CHARRNN_NATIVE=0' };
  const found = candidates().filter((u) => existsSync(u));
  if (found.length === 0) {
    return { error: `no native addon for ${process.platform}-${process.arch} (not built: npm install builds it where a C compiler and Node's headers are)` };
  }
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const u of found) {
    try {
      return require(fileURLToPath(u)) as NativeAddon;
    } catch (e) {
      errors.push((e instanceof Error ? e.message : String(e)).split('\n')[0]);
    }
  }
  return { error: `the native addon did not load (${errors[0]})` };
}
