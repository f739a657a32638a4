/**
 * `stagemeter validate <report.json>`: checks a report against the report schema. An invalid
 * report is an answer (exit 1, every problem on stderr), not an error.
 */
import { escapeControl } from '../../report/escape';
import { type Command, parseCommandArgs } from '../command';
import { readJsonFile, SCHEMA_VERSION, schemaProblems, showPath } from '../io';

/** Problems listed at most; a report broken everywhere would otherwise print thousands of lines. */
const MAX_PROBLEMS = 50;

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a report against the stagemeter report schema',
  usage: `usage: stagemeter validate <report.json>

Checks a report against the stagemeter report schema (docs/report.schema.json, schema version ${SCHEMA_VERSION}).

exit codes:
  0  the report is valid
  1  the report is invalid: each problem is listed on stderr
  2  bad arguments, or the file is missing, unreadable or not JSON`,
  run(args, io) {
    const { positionals } = parseCommandArgs(args, {}, { min: 1, max: 1, what: '<report.json>' });
    const path = positionals[0]!;
    const data = readJsonFile(path);
    const problems = schemaProblems(data);
    if (problems.length === 0) {
      io.out(`${showPath(path)}: valid stagemeter report`);
      return 0;
    }
    io.err(`${showPath(path)}: invalid stagemeter report`);
    const version = typeof data === 'object' && data !== null ? (data as { schemaVersion?: unknown }).schemaVersion : undefined;
    if (version !== undefined && version !== SCHEMA_VERSION) {
      io.err(`  report schema version ${escapeControl(JSON.stringify(version) ?? String(version))}; this stagemeter reads version ${SCHEMA_VERSION}`);
    }
    for (const p of problems.slice(0, MAX_PROBLEMS)) io.err(`  ${p}`);
    if (problems.length > MAX_PROBLEMS) io.err(`  ... ${problems.length - MAX_PROBLEMS} more`);
    return 1;
  },
};
