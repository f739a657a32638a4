/**
 * `stagemeter trace <report.json> [-o trace.json]`: the report as Chrome Trace Event JSON, for
 * https://ui.perfetto.dev and chrome://tracing.
 */
import { generateTraceEvents } from '../../report/trace';
import { type Command, parseCommandArgs } from '../command';
import { readReport, showPath, writeOutputFile } from '../io';

export const traceCommand: Command = {
  name: 'trace',
  summary: 'write a report as Chrome Trace Event JSON for Perfetto or chrome://tracing',
  usage: `usage: stagemeter trace <report.json> [-o <trace.json>]

Writes the report's kept stage calls as nested complete events (concurrent calls on tracks of
their own), memory, CPU, event-loop delay and GC as counters, and findings as instant events.
Open the file in https://ui.perfetto.dev or chrome://tracing.

options:
  -o, --output <path>   where to write it (default: the report's path with .trace.json for .json)
  -h, --help            show this help

exit codes:
  0  written
  2  bad arguments; the report is missing, unreadable, not JSON or fails the report schema;
     the output cannot be written`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { output: { type: 'string', short: 'o' } }, { min: 1, max: 1, what: '<report.json>' });
    const input = positionals[0]!;
    const output = values.output ?? tracePathFor(input);
    writeOutputFile(output, JSON.stringify(generateTraceEvents(readReport(input))));
    io.out(`${showPath(output)}: trace of ${showPath(input)} (open it in https://ui.perfetto.dev)`);
    return 0;
  },
};

/** `run.json` → `run.trace.json`. */
function tracePathFor(jsonPath: string): string {
  return /\.json$/i.test(jsonPath) ? jsonPath.replace(/\.json$/i, '.trace.json') : `${jsonPath}.trace.json`;
}
