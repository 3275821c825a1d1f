import test from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharRnnError } from '../src/errors.js';
import { checkWritableDir, writeFileAtomic } from '../cli/atomic.js';
import { fsErrorReason } from '../cli/fs-errors.js';

/** Root ignores permission bits, so read-only-directory tests need another route there. */
const IS_ROOT = process.getuid?.() === 0;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'charrnn-atomic-'));
  try {
    await fn(dir);
  } finally {
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** A clean write error: CharRnnError, one line, naming the path. */
function assertCleanError(err: unknown, path: string, code?: string): true {
  assert.ok(err instanceof CharRnnError, `expected CharRnnError, got ${String(err)}`);
  if (code !== undefined) assert.equal(err.code, code);
  assert.doesNotMatch(err.message, /[\r\n]/);
  assert.ok(err.message.includes(JSON.stringify(path)), `message should name ${path}: ${err.message}`);
  return true;
}

test('writeFileAtomic writes, replaces, and leaves no temp files', async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'model.safetensors');
    await writeFileAtomic(target, 'first');
    assert.equal(await readFile(target, 'utf8'), 'first');
    await writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
    assert.deepEqual([...(await readFile(target))], [1, 2, 3]);
    await writeFileAtomic(target, new Uint8Array(0));
    assert.equal((await readFile(target)).length, 0);
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });
});

test('concurrent writers to one path leave one complete file and no temp files', async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'ckpt');
    const payloads = Array.from({ length: 16 }, (_, i) => String(i).repeat(10_000));
    await Promise.all(payloads.map((p) => writeFileAtomic(target, p)));
    assert.ok(payloads.includes(await readFile(target, 'utf8')));
    assert.deepEqual(await readdir(dir), ['ckpt']);
  });
});

test('a failed write keeps what was there and removes its temp file', async () => {
  await withTempDir(async (dir) => {
    // A non-empty directory where the file should go: the temp file is written, the rename fails.
    const target = join(dir, 'out');
    await mkdir(target);
    await writeFile(join(target, 'keep'), 'precious');
    await assert.rejects(writeFileAtomic(target, 'data'), (err) => assertCleanError(err, target, 'write-failed'));
    assert.equal(await readFile(join(target, 'keep'), 'utf8'), 'precious');
    assert.deepEqual(await readdir(dir), ['out']);
  });
});

test('writing into a read-only directory fails cleanly and keeps the previous file', { skip: IS_ROOT && 'running as root: permission bits are not enforced (covered by the next test)' }, async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, 'model.safetensors');
    await writeFile(target, 'old');
    await chmod(dir, 0o555);
    await assert.rejects(writeFileAtomic(target, 'new'), (err) => {
      assertCleanError(err, target, 'not-writable');
      assert.match((err as Error).message, /not writable/);
      return true;
    });
    assert.equal(await readFile(target, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });
});

test('writing under a path whose parent is a regular file fails cleanly', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'file'), 'x');
    const target = join(dir, 'file', 'model.safetensors');
    await assert.rejects(writeFileAtomic(target, 'data'), (err) => {
      assertCleanError(err, target, 'write-failed');
      assert.match((err as Error).message, /is not a directory/);
      return true;
    });
    assert.equal(await readFile(join(dir, 'file'), 'utf8'), 'x');
    assert.deepEqual(await readdir(dir), ['file']);
  });
});

test('file-system error codes map to short reasons', () => {
  const errno = (code: string): Error => Object.assign(new Error(`${code}: something\nsecond line`), { code });
  assert.equal(fsErrorReason(errno('ENOSPC'), 'write'), 'disk full');
  assert.equal(fsErrorReason(errno('EACCES'), 'write'), 'not writable');
  assert.equal(fsErrorReason(errno('EROFS'), 'write'), 'not writable');
  assert.equal(fsErrorReason(errno('EWEIRD'), 'write'), 'EWEIRD: something');
  assert.equal(fsErrorReason('odd', 'write'), 'odd');
  assert.equal(fsErrorReason(errno('EACCES'), 'read'), 'permission denied'); // a read words it as it is seen
  assert.equal(fsErrorReason(errno('ENOENT'), 'read'), 'no such file or directory');
});

test('checkWritableDir creates missing directories and leaves no probe behind', async () => {
  await withTempDir(async (dir) => {
    const nested = join(dir, 'a', 'b', 'c');
    await checkWritableDir(nested);
    assert.deepEqual(await readdir(nested), []);
    await checkWritableDir(nested); // already exists: still fine
  });
});

test('checkWritableDir refuses a file, a path under a file, impossible dirs and (non-root) a read-only dir', { timeout: 10_000 }, async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const refused = async (p: string): Promise<void> => {
      await assert.rejects(checkWritableDir(p), (err: unknown) => {
        assert.ok(err instanceof CharRnnError);
        assert.equal(err.code, 'not-writable');
        assert.doesNotMatch(err.message, /[\r\n]/);
        assert.ok(err.message.includes(JSON.stringify(p)));
        return true;
      });
    };
    await refused(file);
    await refused(join(file, 'sub'));
    // Node 20's own recursive mkdir spins forever under /proc; ours must fail promptly.
    await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
    await refused(join(dir, 'dangling', 'out'));
    if (existsSync('/proc/sys')) await refused('/proc/sys/charrnn-test/out');
    if (!IS_ROOT) {
      const ro = join(dir, 'ro');
      await mkdir(ro, { mode: 0o555 });
      await refused(ro);
    }
    assert.deepEqual((await readdir(dir)).sort(), IS_ROOT ? ['dangling', 'file'] : ['dangling', 'file', 'ro']);
  });
});
