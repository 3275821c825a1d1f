#!/usr/bin/env node
// Build and run bench/native-gemm.c, the standalone check and benchmark of native/gemm.c, with the
// flags the addon uses (gcc -O2 -std=c11, no -march: one binary for every x86-64).
//
//   node scripts/native-gemm-check.mjs                 check every isa the CPU has, then time
//   node scripts/native-gemm-check.mjs check           only the check (non-zero exit on a mismatch)
//   node scripts/native-gemm-check.mjs bench [options] only the timings
// options: --isa plain|avx2|avx512 (hold to that isa and below), --time S (seconds per shape and
// isa, default 0.15), --only TEXT (the shapes whose name has TEXT), -DNAME=VALUE (passed to the compiler: CRN_KC, CRN_MC, CRN_AVX512_MR,
// CRN_AVX2_MR, CRN_AVX2_NP, to measure other blockings and tiles; CRN_GEMM_NO_SIMD, to build only
// the portable path as other CPUs get it). CC overrides the compiler.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const mode = ['check', 'bench'].includes(args[0]) ? args.shift() : 'all';
const defines = args.filter((a) => a.startsWith('-D'));
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const isas = { plain: 0, avx2: 1, avx512: 2 };
const isa = option('--isa', 'avx512');
if (!(isa in isas)) {
  console.error(`native-gemm-check: --isa must be plain, avx2 or avx512 (got ${isa})`);
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'native-gemm-'));
try {
  const exe = path.join(dir, 'native-gemm');
  const cc = process.env.CC ?? 'gcc';
  try {
    execFileSync(cc, ['-O2', '-std=c11', '-Wall', '-Wextra', ...defines, '-o', exe,
      path.join(root, 'bench/native-gemm.c'), path.join(root, 'native/gemm.c'), '-lm'], { stdio: 'inherit' });
  } catch {
    console.error(`native-gemm-check: ${cc} could not build bench/native-gemm.c (is a C compiler installed?)`);
    process.exit(2);
  }
  const run = spawnSync(exe, [mode, String(isas[isa]), option('--time', '0.15'), ...(option('--only') ? [option('--only')] : [])], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
