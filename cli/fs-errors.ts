/**
 * Why a file-system call failed, in a few words, for one-line messages such as
 * "cannot read X: permission denied". Reading and writing word some errors differently: a
 * directory that refuses a new file is "not writable", a file that refuses to be opened gives
 * "permission denied".
 */

/** Per errno code: the reason when reading, and when writing. */
const REASONS: Record<string, readonly [read: string, write: string]> = {
  ENOENT: ['no such file or directory', 'no such directory'],
  EACCES: ['permission denied', 'not writable'],
  EPERM: ['permission denied', 'not writable'],
  EROFS: ['read-only file system', 'not writable'],
  EISDIR: ['it is a directory', 'the target is a directory'],
  ENOTEMPTY: ['it is a directory', 'the target is a directory'],
  ENOTDIR: ['a part of the path is not a directory', 'a part of the path is not a directory'],
  ENOSPC: ['disk full', 'disk full'],
  EDQUOT: ['disk quota exceeded', 'disk quota exceeded'],
  EEXIST: ['a file is in the way', 'a file is in the way'],
};

/** The errno code of a Node file-system error (ENOENT, ...), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The reason for a failed read or write: a known code in words, else the error's first line. */
export function fsErrorReason(err: unknown, op: 'read' | 'write'): string {
  const known = REASONS[errnoCode(err) ?? ''];
  if (known) return known[op === 'read' ? 0 : 1];
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split(/\r?\n/, 1)[0] || 'unknown error';
}
