/**
 * What every `stagemeter` command is made of, and the errors that end one with exit code 2.
 * A command is a name, a one-line summary for `stagemeter --help`, its own `--help` text, and a
 * `run` that gets the arguments after its name and returns the exit code.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { escapeControl } from '../report/escape';

/** Where a command writes, and what it may know of the terminal. */
export interface CliIo {
  /** Writes one line (or several joined by `\n`) to stdout. */
  out(text: string): void;
  /** Writes one line to stderr. */
  err(text: string): void;
  /** Whether stdout is a terminal (colour is only ever on for one). */
  readonly stdoutIsTTY: boolean;
  /** The environment (`NO_COLOR`, `FORCE_COLOR`). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One `stagemeter` command. */
export interface Command {
  /** The word after `stagemeter`, e.g. `diff`. */
  readonly name: string;
  /** One line for the command list of `stagemeter --help`. */
  readonly summary: string;
  /** The whole text of `stagemeter <name> --help`: usage line, options, exit codes. */
  readonly usage: string;
  /**
   * Runs the command with the arguments after its name and returns the exit code: 0 done, 1 a
   * negative answer (an invalid report, a regression), 2 bad input (thrown as {@link CliError}).
   */
  run(args: string[], io: CliIo): number;
}

/** Ends a command with exit code 2 and this one-line message on stderr. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
}

/** A {@link CliError} about the command line itself; the message points to `--help`. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
}

/**
 * `node:util` parseArgs in strict mode, with its errors turned into one-line {@link UsageError}s and
 * the positional count checked.
 *
 * @example
 * const { values, positionals } = parseCommandArgs(args, { all: { type: 'boolean' } }, { min: 1, max: 1, what: '<report.json>' });
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
  positional: { min: number; max: number; what: string },
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseErrorMessage(e));
  }
  const n = parsed.positionals.length;
  if (n < positional.min) throw new UsageError(`missing ${positional.what}`);
  if (n > positional.max) throw new UsageError(`too many arguments: expected ${positional.what}, got ${n} (${parsed.positionals.slice(positional.max).map((p) => JSON.stringify(escapeControl(p))).join(', ')} left over)`);
  return parsed;
}

function parseErrorMessage(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']*)'/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted !== undefined) return `unknown option ${escapeControl(quoted)}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return escapeControl(message.charAt(0).toLowerCase() + message.slice(1));
  return escapeControl(message.split('\n')[0] ?? message);
}
