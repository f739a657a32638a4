/**
 * `stagemeter html <report.json> [-o report.html]`: one self-contained HTML page of a report
 * (no network request), beside the report unless `-o` says where.
 */
import { generateHtmlReport } from '../../report/html';
import { htmlPathFor } from '../../validate';
import { type Command, parseCommandArgs } from '../command';
import { readReport, showPath, writeOutputFile } from '../io';

export const htmlCommand: Command = {
  name: 'html',
  summary: 'write a report as one self-contained HTML page: stage table, timeline, findings',
  usage: `usage: stagemeter html <report.json> [-o <report.html>]

Writes one HTML file that opens offline in any browser: the run's header, a sortable stage
table, a zoomable timeline of stage calls with memory, CPU, event-loop delay and GC below it,
and the findings, recommendations and quality flags.

options:
  -o, --output <path>   where to write it (default: the report's path with .html for .json)
  -h, --help            show this help

exit codes:
  0  written
  2  bad arguments; the report is missing, unreadable, not JSON or fails the report schema;
     the output cannot be written`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { output: { type: 'string', short: 'o' } }, { min: 1, max: 1, what: '<report.json>' });
    const input = positionals[0]!;
    const output = values.output ?? htmlPathFor(input);
    writeOutputFile(output, generateHtmlReport(readReport(input)));
    io.out(`${showPath(output)}: HTML report of ${showPath(input)}`);
    return 0;
  },
};
