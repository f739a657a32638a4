/**
 * The report writer, the only code in stagemeter that writes files. Every write is atomic: a temp
 * file in the same directory (random name, created exclusively so a planted symlink is never
 * followed), fsync, rename. A reader sees the old file or the new one, never half of one. Only a
 * regular file (or a new path) is ever replaced: a FIFO, a device (`/dev/null`), a socket or a
 * directory at the output path is left alone and the write fails with ENOTREGULAR.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync, constants as fsConstants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { PerformanceReport } from '../types';

/**
 * Creates the missing directories of `dir`, one `mkdir` per level. Not `mkdirSync(dir, {
 * recursive: true })`: Node's recursive mkdir spins forever, blocking the event loop, where a
 * parent exists but cannot hold children and answers ENOENT (procfs), which would hang the host
 * at exit.
 */
function ensureDir(dir: string): void {
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

/**
 * Writes `text` to `path` atomically: temp file in the same directory, fsync, rename.
 * Creates missing directories. Throws the file-system error (the temp file is removed).
 */
export function writeFileAtomic(path: string, text: string): void {
  const target = regularTarget(resolve(path));
  const dir = dirname(target);
  ensureDir(dir);
  const temp = join(dir, `.${basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  // O_EXCL: fails rather than follow a symlink or reuse a file someone planted at the temp name.
  const fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o644);
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
      try {
        unlinkSync(temp);
      } catch {
        // nothing to clean up
      }
    }
  }
  try {
    // Make the rename itself durable (best effort: not every file system allows it).
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
 * Serialises a report as indented JSON and, when `path` is given, writes it there atomically.
 * This is the one stagemeter call that does I/O on request, so a failed write throws the
 * file-system error to the caller (stopMonitoring, by contrast, never throws).
 *
 * @example
 * const report = monitor.stopMonitoring();
 * generatePerformanceReportJson(report, 'reports/copy.json');
 */
export function generatePerformanceReportJson(report: PerformanceReport, path?: string): string {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  if (path !== undefined) writeFileAtomic(path, text);
  return text;
}
