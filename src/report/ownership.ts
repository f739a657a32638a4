/**
 * Who writes a report path when several processes share it (zero-code mode, or
 * `perProcessOutput: true`): the process that first claims the path owns it and writes its
 * report there; every other process writes `<name>.<pid>.json` beside it, never the owner's path.
 *
 * - The claim is a small file beside the report, `.<file>.owner`, created exclusively (O_EXCL)
 *   when the run starts and removed when it ends. Its first line names the owner (pid, run id).
 *   A claim whose pid no longer runs (an owner killed by SIGKILL) is taken over.
 * - The owner also sets `STAGEMETER_PARENT=<pid>:<run id>:<absolute report path>` in its own
 *   environment, which child processes (fork, spawn, cluster workers) inherit. A process that
 *   finds a marker naming the same report path and another pid is a child: it never claims the
 *   path, even after its parent has exited and released the claim (a detached child that outlives
 *   its parent leaves the parent's report alone).
 * - A child announces itself when its run starts, by appending one JSON line to the owner's claim
 *   file (O_APPEND: one write per child, atomic on a local file system). The owner reads those
 *   lines whenever it builds a report, so its report lists the children that started before it,
 *   including children still running when it ends.
 * - A process that meets a claim held by another live process without the marker (a second,
 *   independent program started with the same STAGEMETER_OUTPUT) writes beside it too, with a note.
 *
 * Every step is best effort: a claim that cannot be made (read-only directory, ...) leaves the
 * run writing to the configured path as before, with a note, and never throws.
 */
import { closeSync, openSync, readSync, statSync, unlinkSync, writeSync, constants as fsConstants } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ENV, parseParentMarker } from '../validate';
import { ensureDir } from './write';

/** Child announcements read from a claim file, at most (a fork bomb must not grow the report without bound). */
export const MAX_CHILDREN_LISTED = 1000;
/** Bytes of a claim file read, at most: ~1,000 announcements of 200-byte lines fit in it many times over. */
const MAX_CLAIM_BYTES = 4 * 1024 * 1024;

/** A child process's report, as the owner's report lists it. */
export interface ChildReport {
  pid: number;
  /** The child's run id (its report's `run.id`). */
  runId: string;
  /** Where the child writes its report. */
  path: string;
}

/** How a run came by its report path. */
export interface OutputClaim {
  /** `owner`: it writes the configured path; `child`: a process started by the owner; `sibling`: another process found the path owned. */
  readonly role: 'owner' | 'child' | 'sibling';
  /** Where this run writes its report. */
  readonly path: string;
  /** Children: the owner's pid and run id. */
  readonly parent?: { pid: number; runId: string };
  /** Notes for the run's quality flags (info): a sibling's, a claim that could not be made. */
  readonly notes: readonly string[];
  /** Owner only: the children that announced themselves so far (the rest: `omitted`). */
  children(): { listed: ChildReport[]; omitted: number };
  /** Gives the path up (owner: removes the claim if it is still its own). Never throws. */
  release(): void;
}

/** The report path of process `pid` beside `path`: `run.json` -> `run.<pid>.json`, `run` -> `run.<pid>`. */
export function perProcessPath(path: string, pid: number): string {
  const ext = extname(path);
  return ext === '' ? `${path}.${pid}` : `${path.slice(0, -ext.length)}.${pid}${ext}`;
}

/** The claim file of a report path: `.run.json.owner` in the same directory. */
export function claimPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.owner`);
}

/** Whether a process with this pid runs (EPERM: it does, as another user's). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : 'error');
}

/** Reads at most MAX_CLAIM_BYTES of a file as text; undefined when it cannot be read. */
function readClaim(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    const buf = Buffer.alloc(Math.min(MAX_CLAIM_BYTES, Math.max(0, statSync(path).size)));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('utf8');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The owner line of a claim file, when it has a well-formed one. */
function ownerOf(text: string | undefined): { pid: number; runId: string } | undefined {
  if (text === undefined) return undefined;
  const end = text.indexOf('\n');
  const line = end < 0 ? text : text.slice(0, end);
  try {
    const o = JSON.parse(line) as { owner?: unknown; runId?: unknown };
    if (Number.isSafeInteger(o.owner) && (o.owner as number) > 0 && typeof o.runId === 'string') return { pid: o.owner as number, runId: o.runId };
  } catch {
    // a torn or foreign file: no owner
  }
  return undefined;
}

/** Creates the claim file exclusively; true when this process now owns it. Throws other errors than EEXIST. */
function create(claim: string, pid: number, runId: string): boolean {
  let fd: number;
  try {
    fd = openSync(claim, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify({ owner: pid, runId })}\n`);
  } catch (err) {
    closeSync(fd);
    // a disk full: leave no empty claim behind
    unlinkSync(claim);
    throw err;
  }
  closeSync(fd);
  return true;
}

function noChildren(): { listed: ChildReport[]; omitted: number } {
  return { listed: [], omitted: 0 };
}

/** Appends this child's announcement to the owner's claim file, if the owner still holds it. */
function announce(target: string, line: string): void {
  let fd: number | undefined;
  try {
    // no O_CREAT: an owner that has ended took its claim with it, and nobody reads a new one
    fd = openSync(claimPathFor(target), fsConstants.O_WRONLY | fsConstants.O_APPEND | (fsConstants.O_NOFOLLOW ?? 0));
    writeSync(fd, line);
  } catch {
    // the owner has ended or its directory is gone: the child's report still names its parent
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The children announced in a claim file for run `runId`, in announcement order, unique by run id. */
export function childrenIn(text: string | undefined, runId: string): { listed: ChildReport[]; omitted: number } {
  if (text === undefined) return noChildren();
  const listed: ChildReport[] = [];
  const seen = new Set<string>();
  let omitted = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"child"')) continue;
    let c: { child?: unknown; parentRunId?: unknown; runId?: unknown; path?: unknown };
    try {
      c = JSON.parse(line) as typeof c;
    } catch {
      continue; // a line torn by a full disk, or not ours
    }
    if (c.parentRunId !== runId || !Number.isSafeInteger(c.child) || typeof c.runId !== 'string' || typeof c.path !== 'string' || seen.has(c.runId)) continue;
    seen.add(c.runId);
    if (listed.length >= MAX_CHILDREN_LISTED) omitted++;
    else listed.push({ pid: c.child as number, runId: c.runId, path: c.path });
  }
  return { listed, omitted };
}

/**
 * Decides where run `runId` of this process writes the report configured at `path`, claiming the
 * path when no one holds it. The owner sets the STAGEMETER_PARENT marker in `env` for the
 * processes it starts. Never throws.
 *
 * @example
 * const claim = claimOutput('reports/run.json', run.id);
 * claim.path;      // 'reports/run.json' for the first process, '/abs/reports/run.4242.json' for its children
 * // ... the run ...
 * claim.release();
 */
export function claimOutput(path: string, runId: string, env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): OutputClaim {
  const target = resolve(path);
  const marker = parseParentMarker(env[ENV.parent]);
  if (marker !== undefined && marker.path === target && marker.pid !== pid) {
    const own = perProcessPath(target, pid);
    announce(target, `${JSON.stringify({ child: pid, parentRunId: marker.runId, runId, path: own })}\n`);
    return { role: 'child', path: own, parent: { pid: marker.pid, runId: marker.runId }, notes: [], children: noChildren, release: () => undefined };
  }
  const claim = claimPathFor(target);
  const sibling = (holder: number | undefined): OutputClaim => {
    const own = perProcessPath(path, pid);
    const who = holder === pid ? 'run of this process' : holder !== undefined ? `process (pid ${holder})` : 'process';
    const note = `${path} is owned by another running ${who}; this run writes its report to ${own}`;
    return { role: 'sibling', path: own, notes: [note], children: noChildren, release: () => undefined };
  };
  try {
    ensureDir(dirname(target));
    let owned = create(claim, pid, runId);
    if (!owned) {
      const text = readClaim(claim);
      const holder = ownerOf(text);
      if (holder !== undefined && (holder.pid === pid || isAlive(holder.pid))) return sibling(holder.pid);
      // The holder has died (or the file is not a claim): take it over, unless another process
      // did so since we read it (the content differs then).
      if (readClaim(claim) === text) {
        try {
          unlinkSync(claim);
        } catch {
          // someone else removed it first
        }
      }
      owned = create(claim, pid, runId);
      if (!owned) {
        return sibling(ownerOf(readClaim(claim))?.pid);
      }
    }
    env[ENV.parent] = `${pid}:${runId}:${target}`;
    let released = false;
    return {
      role: 'owner',
      path,
      notes: [],
      children: () => (released ? noChildren() : childrenIn(readClaim(claim), runId)),
      release: () => {
        if (released) return;
        released = true;
        try {
          if (ownerOf(readClaim(claim))?.runId === runId) unlinkSync(claim);
        } catch {
          // already gone
        }
      },
    };
  } catch (err) {
    const note = `the report path ${path} could not be claimed (${errorCode(err)}): other processes with the same path may overwrite this report`;
    return { role: 'owner', path, notes: [note], children: noChildren, release: () => undefined };
  }
}
