/** Running the CLI's main() in-process with a fake process, for tests: it must never throw. */
import { main } from '../cli/main.js';
import type { Proc } from '../cli/io.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `charrnn ...args`; `onStdout` sees each write (a test may act at a given moment of a run). */
export async function runCli(args: string[], onStdout?: (s: string) => void): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const proc: Proc = {
    argv: ['node', 'charrnn', ...args],
    env: {},
    stdout: { write: (s: string) => { stdout += s; onStdout?.(s); } },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(proc);
  return { code, stdout, stderr };
}
