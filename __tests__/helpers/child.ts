/**
 * Runs a TypeScript script in a child process (through register.js) and collects how it ended.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const REGISTER = join(__dirname, 'register.js');

/** Runs `node [nodeArgs] -r register.js <script> ...args` with the given environment; resolves when it exits. */
export function runChild(
  script: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeArgs?: string[]; onStdout?: (chunk: string, kill: (s: NodeJS.Signals) => void) => void } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('STAGEMETER_') && k !== 'STAGEMETER_TEST_LEGACY_DECORATORS') delete env[k];
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '-r', REGISTER, script, ...args], { env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const kill = (s: NodeJS.Signals): void => {
      child.kill(s);
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      options.onStdout?.(c, kill);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${script} timed out; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
