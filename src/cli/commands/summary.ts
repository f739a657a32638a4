/**
 * `stagemeter summary <report.json>`: the human summary of a report, or the same as JSON.
 */
import { formatReportSummary, summarizeReport } from '../../summary';
import { type CliIo, type Command, parseCommandArgs, UsageError } from '../command';
import { readReport } from '../io';

export const summaryCommand: Command = {
  name: 'summary',
  summary: 'print a short summary of a report: the run, its stages, findings and flags',
  usage: `usage: stagemeter summary <report.json> [--all] [--json] [--color | --no-color]

Prints the run, its stages by total time, the findings and quality flags most severe first, and
the recommendations by priority. Every error is always shown; what the limits leave out is counted.

options:
  --all                 show every stage, finding, recommendation and quality flag
  --json                print the same summary as JSON
  --color, --no-color   force colour on or off (default: on a terminal, unless NO_COLOR is set)
  -h, --help            show this help

exit codes:
  0  printed
  2  bad arguments; the report is missing, unreadable, not JSON, or fails the report schema`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      { all: { type: 'boolean' }, json: { type: 'boolean' }, color: { type: 'boolean' }, 'no-color': { type: 'boolean' } },
      { min: 1, max: 1, what: '<report.json>' },
    );
    const color = colorEnabled(values.color, values['no-color'], io);
    const report = readReport(positionals[0]!);
    const options = { all: values.all === true, color };
    io.out(values.json === true ? JSON.stringify(summarizeReport(report, options), null, 2) : formatReportSummary(report, options));
    return 0;
  },
};

/**
 * Colour on or off: `--color` or `--no-color` when given; otherwise on only when stdout is a
 * terminal and `NO_COLOR` is unset or empty (https://no-color.org).
 *
 * @example
 * colorEnabled(undefined, undefined, { stdoutIsTTY: true, env: {} }); // true
 */
export function colorEnabled(force: boolean | undefined, forceOff: boolean | undefined, io: Pick<CliIo, 'stdoutIsTTY' | 'env'>): boolean {
  if (force === true && forceOff === true) throw new UsageError('--color and --no-color together: give one');
  if (force === true) return true;
  if (forceOff === true) return false;
  const noColor = io.env.NO_COLOR;
  return io.stdoutIsTTY && (noColor === undefined || noColor === '');
}
