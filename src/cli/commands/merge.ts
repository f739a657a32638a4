/**
 * `stagemeter merge <a.json> <b.json>... [-o run.json]`: one re-analysed report from the reports
 * of one sharded or multi-process run.
 */
import { MergeError, mergeReports } from '../../report/merge';
import { CliError, type Command, parseCommandArgs } from '../command';
import { readJsonFile, showPath, writeOutputFile } from '../io';

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'merge the reports of one sharded or multi-process run into one report',
  usage: `usage: stagemeter merge <a.json> <b.json>... [-o <run.json>]

Sums each stage over the reports, merges its quantiles from the reports' sketches, keeps memory
per process, and re-runs the analysis on the merged data. Reports of different schema
versions, or the same report twice, are refused.

options:
  -o, --output <path>   where to write the merged report (default: stdout)
  -h, --help            show this help

exit codes:
  0  merged
  2  bad arguments; a report is missing, unreadable, not JSON, of another schema version, or
     cannot be merged with the others; the output cannot be written`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { output: { type: 'string', short: 'o' } }, { min: 1, max: Number.POSITIVE_INFINITY, what: '<a.json> <b.json>...' });
    let merged;
    try {
      merged = mergeReports(positionals.map(readJsonFile), { sources: positionals });
    } catch (e) {
      if (e instanceof MergeError) throw new CliError(e.message);
      throw e;
    }
    const text = JSON.stringify(merged, null, 2);
    if (values.output === undefined) {
      io.out(text);
      return 0;
    }
    writeOutputFile(values.output, `${text}\n`);
    io.err(`${showPath(values.output)}: ${merged.processes?.length ?? positionals.length} processes merged from ${positionals.length} reports`);
    return 0;
  },
};
