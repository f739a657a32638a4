#!/usr/bin/env node
/**
 * The `stagemeter` command: reads reports written by stagemeter.
 *
 *   stagemeter summary <report.json>    print the human summary
 *   stagemeter validate <report.json>   check it against the report schema (exit 1 if invalid)
 */
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import { reportSchema } from './report/build';
import { formatReportSummary } from './summary';
import type { PerformanceReport } from './types';
import { VERSION } from './version';

const USAGE = `usage: stagemeter <command> <report.json>

commands:
  summary <report.json>    print a short human summary of a report
  validate <report.json>   check a report against the stagemeter report schema
  --version                print the version`;

function read(path: string | undefined): unknown {
  if (path === undefined) throw new Error('missing <report.json>');
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

/** Runs the command line; returns the exit code. */
export function main(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): number {
  const [command, path] = argv;
  try {
    switch (command) {
      case 'summary': {
        out(formatReportSummary(read(path) as PerformanceReport));
        return 0;
      }
      case 'validate': {
        const validate = new Ajv({ allErrors: true }).compile(reportSchema);
        if (validate(read(path))) {
          out(`${path}: valid stagemeter report`);
          return 0;
        }
        err(`${path}: invalid stagemeter report`);
        for (const e of validate.errors ?? []) err(`  ${e.instancePath || '(root)'} ${e.message ?? ''}`);
        return 1;
      }
      case '--version':
      case '-v':
        out(VERSION);
        return 0;
      case '--help':
      case '-h':
        out(USAGE);
        return 0;
      default:
        err(USAGE);
        return 2;
    }
  } catch (e) {
    err(`stagemeter: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), (s) => console.log(s), (s) => console.error(s));
}
