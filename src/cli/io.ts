/**
 * Reading report files for the commands: every way a file can be wrong becomes one clear line
 * (a {@link CliError}, exit code 2) that names the file and says what to do, never a stack trace
 * and never a half-read report printed with NaN.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, writeFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { reportSchema } from '../report/build';
import { escapeControl } from '../report/escape';
import type { PerformanceReport } from '../types';
import { VERSION } from '../version';
import { CliError } from './command';

/** Schema version this stagemeter reads and writes. */
export const SCHEMA_VERSION = 1;

/**
 * Largest report read, bytes. The collector keeps a report near 25 MB; 1 GiB leaves room for any
 * real one and keeps a wrong path (a disk image, a log) from exhausting memory.
 */
const MAX_REPORT_BYTES = 1024 * 1024 * 1024;

let validator: ValidateFunction | undefined;

/** The compiled report schema (compiling costs ~30 ms, so once per process). */
export function reportValidator(): ValidateFunction {
  validator ??= new Ajv({ allErrors: true }).compile(reportSchema);
  return validator;
}

/** What a read report file holds: its text parsed, or why it could not be read or parsed. */
export function readJsonFile(path: string): unknown {
  const shown = showPath(path);
  let text: string;
  let fd: number | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file reads the same
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new CliError(`${shown} is a directory, not a report file`);
    if (!stat.isFile()) throw new CliError(`${shown} is not a regular file`);
    if (stat.size > MAX_REPORT_BYTES) throw new CliError(`${shown} is ${Math.round(stat.size / 1048576)} MB, over the ${MAX_REPORT_BYTES / 1048576} MB a report can be`);
    const buf = Buffer.alloc(stat.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    text = buf.subarray(0, off).toString('utf8');
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot read ${shown}: ${fsReason(e)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (text.trim() === '') throw new CliError(`${shown} is empty: a report is a JSON object (was the run stopped before it wrote one?)`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    // the parser stopped at the very end of the text: what is missing is the rest of the file
    const at = /at position (\d+)/.exec(reason);
    const atEnd = /end of (JSON )?input/i.test(reason) || (at !== null && Number(at[1]) >= text.trimEnd().length);
    const truncated = atEnd ? ' (the file ends early: was it cut off while being written or copied?)' : '';
    throw new CliError(`${shown} is not valid JSON: ${escapeControl(reason)}${truncated}`);
  }
}

/** The schema's complaints about a parsed report, one short line each (empty when it is valid). */
export function schemaProblems(data: unknown): string[] {
  const validate = reportValidator();
  if (validate(data)) return [];
  return (validate.errors ?? []).map(describeSchemaError);
}

/**
 * Reads, parses and validates a report file. Throws a {@link CliError} that names the file and
 * the problem: missing, unreadable, empty, not JSON, cut off, a different schema version, or
 * failing the schema (first problem shown, the count of the others, and `stagemeter validate` to
 * list them).
 *
 * @example
 * const report = readReport('reports/run.json');
 */
export function readReport(path: string): PerformanceReport {
  const data = readJsonFile(path);
  const shown = showPath(path);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CliError(`${shown} is not a stagemeter report: it holds ${data === null ? 'null' : Array.isArray(data) ? 'an array' : `a ${typeof data}`}, not an object`);
  }
  const version = (data as { schemaVersion?: unknown }).schemaVersion;
  if (version === undefined) throw new CliError(`${shown} is not a stagemeter report: it has no schemaVersion`);
  if (version !== SCHEMA_VERSION) {
    throw new CliError(`${shown} has report schema version ${escapeControl(JSON.stringify(version) ?? String(version))}; this stagemeter (${VERSION}) reads version ${SCHEMA_VERSION}: use the stagemeter version that wrote it`);
  }
  const problems = schemaProblems(data);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}; \`stagemeter validate ${shown}\` lists them)` : '';
    throw new CliError(`${shown} is not a valid stagemeter report: ${problems[0]}${more}`);
  }
  return data as PerformanceReport;
}

/** `/run/durationMs must be number`, with the data path escaped. */
export function describeSchemaError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : escapeControl(e.instancePath);
  const extra = e.keyword === 'additionalProperties' ? `: ${escapeControl(String((e.params as { additionalProperty?: unknown }).additionalProperty))}` : '';
  return `${where} ${e.message ?? 'is invalid'}${extra}`;
}

/** A path as shown in a message: control characters escaped. */
export function showPath(path: string): string {
  return escapeControl(path);
}

function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EISDIR':
      return 'it is a directory (EISDIR)';
    case 'ENOTDIR':
      return 'a part of the path is not a directory (ENOTDIR)';
    default:
      return escapeControl(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Writes a command's output file. Every failure (a missing folder, a directory in the way, no
 * permission) becomes one {@link CliError} naming the path.
 */
export function writeOutputFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new CliError(`cannot write ${showPath(path)}: ${fsReason(e)}`);
  }
}
