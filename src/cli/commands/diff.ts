/**
 * `stagemeter diff <base.json> <head.json>`: compares two reports stage by stage and fails (exit
 * 1) when a stage got slower past the threshold. The CI gate.
 */
import pc from 'picocolors';
import { diffReports, ReportDiffError, type DiffOptions } from '../../report/diff';
import { formatDiffMarkdown, formatDiffText } from '../../report/diffFormat';
import { escapeControl } from '../../report/escape';
import { CliError, type Command, parseCommandArgs, UsageError } from '../command';
import { readReport } from '../io';
import { colorEnabled } from './summary';

const FORMATS = ['text', 'md', 'json'] as const;

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare two reports stage by stage; exit 1 when a stage got slower (the CI gate)',
  usage: `usage: stagemeter diff <base.json> <head.json> [options]

Compares head against base stage by stage: own time (with its confidence interval and p-value),
total time, p95, rows/s, CPU and heap, and the stages that appeared or vanished. Each change gets
a verdict (faster, slower, within noise) from the spread of the stages' calls and how much the
stages moved between the two runs. Compare runs of the same workload.

options:
  --fail-on <P%>        fail when a stage is slower by at least P percent, with confidence (default 10%)
  --format <fmt>        text (default), md (a table for a pull request or $GITHUB_STEP_SUMMARY), json
  --confidence <C%>     confidence a verdict needs, after correcting for the number of stages (default 99%)
  --min-change <P%>     smallest change called faster or slower (default 5%, or --fail-on when lower)
  --min-impact <P%>     smallest change that counts, as a share of the run's duration (default 0.5%)
  --noise-floor <P%>    run-to-run noise of a stage's CPU time assumed at least (default 14%; wall time: twice it)
  --color, --no-color   force colour on or off in text output (default: on a terminal, unless NO_COLOR is set)
  -h, --help            show this help

exit codes:
  0  no stage regressed
  1  at least one stage is slower by at least --fail-on, with confidence
  2  bad arguments; a report missing, unreadable, invalid, empty, or of another schema version`,
  run(args, io) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        'fail-on': { type: 'string' },
        format: { type: 'string' },
        confidence: { type: 'string' },
        'min-change': { type: 'string' },
        'min-impact': { type: 'string' },
        'noise-floor': { type: 'string' },
        color: { type: 'boolean' },
        'no-color': { type: 'boolean' },
      },
      { min: 2, max: 2, what: '<base.json> <head.json>' },
    );
    const format = values.format ?? 'text';
    if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')} (got ${JSON.stringify(escapeControl(format))})`);
    const options: DiffOptions = {};
    if (values['fail-on'] !== undefined) options.failOnPercent = percent('--fail-on', values['fail-on'], 0, 1e6);
    if (values.confidence !== undefined) options.confidence = percent('--confidence', values.confidence, 50, 99.99) / 100;
    if (values['min-change'] !== undefined) options.minChangePercent = percent('--min-change', values['min-change'], 0, 1e6);
    if (values['min-impact'] !== undefined) options.minImpactPercent = percent('--min-impact', values['min-impact'], 0, 100);
    if (values['noise-floor'] !== undefined) options.noiseFloorPercent = percent('--noise-floor', values['noise-floor'], 0, 1000);
    const color = colorEnabled(values.color, values['no-color'], io);

    const base = readReport(positionals[0]!);
    const head = readReport(positionals[1]!);
    let result;
    try {
      result = diffReports(base, head, options);
    } catch (e) {
      if (e instanceof ReportDiffError) throw new CliError(e.message);
      throw e;
    }
    if (format === 'json') io.out(JSON.stringify(result, null, 2));
    else if (format === 'md') io.out(formatDiffMarkdown(result));
    else io.out(formatDiffText(result, color ? pc.createColors(true) : undefined));
    return result.verdict === 'regression' ? 1 : 0;
  },
};

/** `10%`, `10` or `0.5%` as a number within [min, max]. */
function percent(option: string, raw: string, min: number, max: number): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*%?\s*$/.exec(raw);
  const value = m ? Number(m[1]) : NaN;
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    const range = max < 1e6 ? ` from ${min}% to ${max}%` : '';
    throw new UsageError(`${option} needs a percentage${range}, like ${option === '--confidence' ? '99%' : '10%'} (got ${JSON.stringify(escapeControl(raw))})`);
  }
  return value;
}
