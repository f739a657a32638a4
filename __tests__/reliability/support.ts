/**
 * Shared by the reliability suite: temp directories, child runs compared with and without
 * monitoring, and reading reports back from disk.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PerformanceReport } from '../../src/types';
import type { ChildResult } from '../helpers/child';
import { expectValidReport } from '../helpers/schema';
import { compileForNode } from './compile';

export const FIXTURES = join(__dirname, 'fixtures');
const NODE_MODULES = resolve(__dirname, '..', '..', 'node_modules');

// Fixtures are compiled to plain JavaScript once per test file: a child then starts in ~0.2 s
// instead of ~2 s (loading the TypeScript compiler and transpiling the package on every start).
let buildDir: string | undefined;
const compiled = new Map<string, string>();
const compiledSources = new Set<string>();
afterAll(() => {
  if (buildDir !== undefined) rmSync(buildDir, { recursive: true, force: true });
  buildDir = undefined;
  compiled.clear();
  compiledSources.clear();
});

/** The compiled JavaScript of a fixture (and of the package sources it requires). */
export function compiledFixture(script: string): string {
  let js = compiled.get(script);
  if (js === undefined) {
    buildDir ??= mkdtempSync(join(tmpdir(), 'stagemeter-rel-build-'));
    js = compileForNode(join(FIXTURES, script), buildDir, compiledSources);
    compiled.set(script, js);
  }
  return js;
}

/**
 * Runs a compiled fixture with plain node, like __tests__/helpers/runChild (STAGEMETER_* variables
 * of this process are not passed on); resolves when it exits, rejects after `timeoutMs`.
 */
export function runCompiled(
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeArgs?: string[]; onStdout?: (seen: string, kill: (s: NodeJS.Signals) => void) => void } = {},
): Promise<ChildResult> {
  const js = compiledFixture(script);
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: NODE_MODULES };
    for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_')) delete env[k];
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), js, ...args], { env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      options.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${script} did not end within ${options.timeoutMs ?? 30_000} ms (killed); stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A fresh temp directory per test, removed afterwards (read-only bits are cleared first). */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), `stagemeter-rel-${prefix}-`));
  });
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => dir!;
}

/**
 * Stack frames differ between a monitored and a plain run (the wrapper's own frames sit between
 * the caller and the user function), so stderr is compared without `    at ...` lines. Everything
 * else Node prints for a crash (the source line, the caret, the error and its message) must match.
 */
export function withoutStackFrames(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !/^\s+at /.test(line))
    .join('\n');
}

/** How a process ended and what it printed, in a form two runs can be compared by. */
export function outcome(r: ChildResult): { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  return { code: r.code, signal: r.signal, stdout: r.stdout, stderr: withoutStackFrames(r.stderr) };
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Sent once the child has printed a line `ready`. */
  signalOnReady?: NodeJS.Signals;
  /** Awaited after `ready` and before the signal is sent. */
  beforeSignal?: () => Promise<void>;
  timeoutMs?: number;
}

/** Runs a fixture, and sends a signal once it prints a line `ready` (when asked to). */
export function runFixture(script: string, args: string[], options: ChildOptions = {}): Promise<ChildResult> {
  let sent = false;
  return runCompiled(script, args, {
    env: options.env ?? {},
    timeoutMs: options.timeoutMs ?? 30_000,
    onStdout: (seen, kill) => {
      if (sent || options.signalOnReady === undefined || !/^ready$/m.test(seen)) return;
      sent = true;
      const signal = options.signalOnReady;
      void (options.beforeSignal ?? (() => Promise.resolve()))().then(() => kill(signal));
    },
  });
}

/** Reads and schema-checks the report at `path`. */
export function readReport(path: string): PerformanceReport {
  if (!existsSync(path)) throw new Error(`no report at ${path}`);
  return expectValidReport(readFileSync(path, 'utf8'));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns true (no wall-clock assertion: only a generous give-up). */
export async function waitFor(check: () => boolean, giveUpMs = 15_000, everyMs = 20): Promise<void> {
  const until = Date.now() + giveUpMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(everyMs);
  }
}

/** Runs the tasks two at a time (this suite targets a 2-core machine). */
export async function twoAtATime<T>(tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < tasks.length; i += 2) results.push(...(await Promise.all(tasks.slice(i, i + 2).map((t) => t()))));
  return results;
}
