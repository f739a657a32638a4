/**
 * The report writer, the only code in stagemeter that writes files. Every write is atomic: a temp
 * file in the same directory (random name, created exclusively so a planted symlink is never
 * followed), fsync, rename. A reader sees the old file or the new one, never half of one. Only a
 * regular file (or a new path) is ever replaced: a FIFO, a device (`/dev/null`), a socket or a
 * directory at the output path is left alone and the write fails with ENOTREGULAR.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync, constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { PerformanceReport } from '../types';
import { reportText } from './serialize';

/**
 * Creates the missing directories of `dir`, one `mkdir` per level. Not `mkdirSync(dir, {
 * recursive: true })`: Node's recursive mkdir spins forever, blocking the event loop, where a
 * parent exists but cannot hold children and answers ENOENT (procfs), which would hang the host
 * at exit.
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(d).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (isDir === true) break;
    if (isDir === false) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${d}'`), { code: 'ENOTDIR' });
    if (dirname(d) === d) break;
    missing.push(d);
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * `path`, when a write may replace what is there: nothing, a regular file, or a symlink (the link
 * itself is replaced, never written through: a planted link cannot aim the report at another
 * file). Anything else (a FIFO, a device such as /dev/null, a socket, a directory) throws ENOTREGULAR.
 */
function regularTarget(path: string): string {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
    throw err;
  }
  if (st.isFile() || st.isSymbolicLink()) return path;
  const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw Object.assign(new Error(`ENOTREGULAR: ${path} is ${kind}; stagemeter writes reports only to regular files or new paths`), { code: 'ENOTREGULAR' });
}

/** Where a write of `path` goes: the target (checked) and a fresh temp name beside it. */
function prepare(path: string): { target: string; dir: string; temp: string } {
  const target = regularTarget(resolve(path));
  const dir = dirname(target);
  ensureDir(dir);
  return { target, dir, temp: join(dir, `.${basename(target)}.${randomBytes(8).toString('hex')}.tmp`) };
}

// O_EXCL: fails rather than follow a symlink or reuse a file someone planted at the temp name.
const TEMP_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0);

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // nothing to clean up
  }
}

/** Makes a rename durable (best effort: not every file system allows it). */
function syncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // the data is written; only the directory entry's durability is unknown
  }
}

/**
 * Writes `text` to `path` atomically: temp file in the same directory, fsync, rename.
 * Creates missing directories. Throws the file-system error (the temp file is removed).
 */
export function writeFileAtomic(path: string, text: string): void {
  const { target, dir, temp } = prepare(path);
  const fd = openSync(temp, TEMP_FLAGS, 0o644);
  let renamed = false;
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
    renamed = true;
  } finally {
    if (!renamed) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      removeQuietly(temp);
    }
  }
  syncDir(dir);
}

/** Bytes handed to one asynchronous write: the pieces of a report are grouped up to this size. */
const WRITE_GROUP_BYTES = 1024 * 1024;

/**
 * {@link writeFileAtomic} for a text given in pieces, with the writing and the fsync done off the
 * event loop (in libuv's thread pool): only the checks, the temp file's creation and the final
 * rename run on it. `stillWanted()` is asked right before the rename, synchronously with it: when
 * it says no (the run ended and wrote its final report meanwhile), the temp file is removed and
 * the target is left alone. `onTemp` hears the temp file's path, so an owner that gives up can
 * remove it (`stillWanted()` is then never reached when the process exits first). Resolves to
 * whether the file was replaced; rejects with the file-system error (the temp file removed).
 */
export async function writeFileAtomicInBackground(path: string, pieces: readonly string[], stillWanted: () => boolean, onTemp?: (temp: string | undefined) => void): Promise<boolean> {
  const { target, dir, temp } = prepare(path);
  let handle: FileHandle | undefined = await open(temp, TEMP_FLAGS, 0o644);
  onTemp?.(temp);
  try {
    for (let i = 0; i < pieces.length; ) {
      const group: Buffer[] = [];
      let bytes = 0;
      while (i < pieces.length && bytes < WRITE_GROUP_BYTES) {
        const b = Buffer.from(pieces[i++]!, 'utf8');
        group.push(b);
        bytes += b.length;
      }
      const buf = group.length === 1 ? group[0]! : Buffer.concat(group, bytes);
      for (let off = 0; off < buf.length; ) off += (await handle.write(buf, off, buf.length - off)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (!stillWanted()) {
      removeQuietly(temp);
      return false;
    }
    regularTarget(target);
    renameSync(temp, target);
  } catch (err) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    removeQuietly(temp);
    throw err;
  } finally {
    onTemp?.(undefined);
  }
  try {
    // the rename made durable, off the event loop too (best effort, as in syncDir)
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    // the data is written; only the directory entry's durability is unknown
  }
  return true;
}

/**
 * Serialises a report and, when `path` is given, writes it there atomically. The JSON is indented
 * while it is small (up to ~2 MB of compact JSON, a few thousand per-call records) and compact
 * above, where indentation would add ~45 % to the size and the time (see `INDENTED_MAX_CHARS`).
 * This is the one stagemeter call that does I/O on request, so a failed write throws the
 * file-system error to the caller (stopMonitoring, by contrast, never throws).
 *
 * @example
 * const report = monitor.stopMonitoring();
 * generatePerformanceReportJson(report, 'reports/copy.json');
 */
export function generatePerformanceReportJson(report: PerformanceReport, path?: string): string {
  const text = reportText(report);
  if (path !== undefined) writeFileAtomic(path, text);
  return text;
}
