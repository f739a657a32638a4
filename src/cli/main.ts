/**
 * The `stagemeter` command line: finds the command named by the first argument in the registry
 * (./commands/index.ts), answers `--help` and `--version`, and turns every failure into one line
 * on stderr with exit code 2.
 *
 *   stagemeter <command> [arguments]     exit 0 done, 1 a negative answer, 2 bad input
 */
import { escapeControl } from '../report/escape';
import { VERSION } from '../version';
import { type CliIo, CliError, type Command, UsageError } from './command';
import { COMMANDS } from './commands';

/** `stagemeter --help`: the commands of the registry, one line each. */
export function generalUsage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: stagemeter <command> [arguments]',
    '',
    'Reads the JSON reports that stagemeter writes.',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "'stagemeter <command> --help' shows a command's arguments and exit codes.",
    "'stagemeter --version' prints the version.",
  ].join('\n');
}

/**
 * Runs the command line `argv` (the arguments after `stagemeter`) and returns the exit code.
 * Output goes through `out` and `err`, one call per line or block.
 *
 * @example
 * process.exitCode = main(process.argv.slice(2), (s) => console.log(s), (s) => console.error(s));
 */
export function main(
  argv: readonly string[],
  out: (text: string) => void,
  err: (text: string) => void,
  context: { stdoutIsTTY?: boolean; env?: Readonly<Record<string, string | undefined>>; commands?: readonly Command[] } = {},
): number {
  const commands = context.commands ?? COMMANDS;
  const io: CliIo = { out, err, stdoutIsTTY: context.stdoutIsTTY === true, env: context.env ?? {} };
  const [first, ...rest] = argv;
  const known = commands.map((c) => c.name).join(', ');
  if (first === undefined) {
    err(`stagemeter: missing <command>: the commands are ${known} (usage: stagemeter --help)`);
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    out(topic !== undefined ? topic.usage : generalUsage(commands));
    return 0;
  }
  if (first === '--version' || first === '-v') {
    out(VERSION);
    return 0;
  }
  const command = commands.find((c) => c.name === first);
  if (command === undefined) {
    err(`stagemeter: ${first.startsWith('-') ? 'unknown option' : 'unknown command'} ${JSON.stringify(escapeControl(first))}: the commands are ${known} (usage: stagemeter --help)`);
    return 2;
  }
  // --help anywhere before a `--` answers with the command's help, whatever else is on the line
  const beforeDashes = rest.indexOf('--') === -1 ? rest : rest.slice(0, rest.indexOf('--'));
  if (beforeDashes.includes('--help') || beforeDashes.includes('-h')) {
    out(command.usage);
    return 0;
  }
  try {
    return command.run([...rest], io);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`stagemeter ${command.name}: ${e.message} (usage: stagemeter ${command.name} --help)`);
      return 2;
    }
    if (e instanceof CliError) {
      err(`stagemeter ${command.name}: ${e.message}`);
      return 2;
    }
    err(`stagemeter ${command.name}: unexpected error: ${escapeControl(e instanceof Error ? e.message : String(e))}`);
    return 2;
  }
}

/**
 * Runs `main` on this process's arguments and streams; sets `process.exitCode`. A closed stdout
 * (`stagemeter diff a b | head -1`) ends the process quietly instead of with an EPIPE trace.
 *
 * @example
 * runFromProcess();
 */
export function runFromProcess(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = main(
    process.argv.slice(2),
    (s) => process.stdout.write(`${s}\n`),
    (s) => process.stderr.write(`${s}\n`),
    { stdoutIsTTY: process.stdout.isTTY === true, env: process.env },
  );
}
