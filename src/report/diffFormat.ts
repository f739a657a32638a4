/**
 * Renders a {@link DiffResult} for people: plain text for a terminal or a CI log, markdown for a
 * pull-request comment or `$GITHUB_STEP_SUMMARY`. Every string that came from a report (stage and
 * run names) is escaped for the medium. Pure.
 */
import { fmtMs, fmtNum, fmtRate } from '../../analyzers/format';
import type { DiffFigure, DiffResult, StageDiff } from './diff';
import { escapeControl, markdownCode, markdownText } from './escape';

/** Colour functions for the text output; identity functions print plain text. */
export interface DiffColors {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

/** Longest stage name shown in the text table, characters (the markdown and JSON keep it whole). */
const MAX_NAME = 60;

const PLAIN: DiffColors = { red: id, green: id, yellow: id, bold: id, dim: id };

function id(s: string): string {
  return s;
}

/**
 * The diff as aligned plain text: a header, one line per stage, the stages that appeared or
 * vanished, notes, and a last line with the verdict.
 *
 * @example
 * console.log(formatDiffText(diffReports(base, head)));
 */
export function formatDiffText(result: DiffResult, colors: DiffColors = PLAIN): string {
  const c = colors;
  const lines: string[] = [];
  lines.push(c.bold(`stagemeter diff: ${escapeControl(result.base.name)} (${escapeControl(result.base.startedAt)}) -> ${escapeControl(result.head.name)} (${escapeControl(result.head.startedAt)})`));
  lines.push(`run: ${durationChange(result.run.durationMs)}, rows ${rowsChange(result.run.rowsProcessed)}, ${fmtRate(result.run.rowsPerSecond.base ?? 0)} -> ${fmtRate(result.run.rowsPerSecond.head ?? 0)} rows/s`);
  lines.push(c.dim(noiseLine(result)));
  lines.push(c.dim('own time: CPU time for stages that hold the CPU, else wall time, less nested stages; p: corrected for the number of stages; can show: smallest change these runs can tell from noise'));
  lines.push('');

  const compared = result.stages.filter((s) => s.presence === 'both');
  const rows: string[][] = [['stage', 'verdict', 'own time', 'change', `${confidenceLabel(result)} interval`, 'p', 'can show', 'total', 'p95', 'rows/s', 'CPU %', 'heap/call']];
  for (const s of compared) {
    const e = s.estimate;
    rows.push([
      clip(escapeControl(s.stage), MAX_NAME),
      verdictText(s),
      e ? `${e.basis === 'cpu' ? 'CPU ' : ''}${ownTime(s, ' -> ')}` : '-',
      e ? signedPercent(e.changePercent) : '-',
      e ? `${signedPercent(e.ciLowPercent)} .. ${signedPercent(e.ciHighPercent)}` : '-',
      e ? pText(e.pValue) : '-',
      e ? `±${fmtNum(e.detectablePercent, 0)}%` : '-',
      changeText(s.totalMs),
      changeText(s.p95Ms),
      changeText(s.rowsPerSecond),
      pointsText(s.cpuPercent),
      mbChange(s.heapDeltaMb),
    ]);
  }
  const colored = (cell: string, row: number, col: number): string => {
    if (row === 0) return c.bold(cell);
    if (col !== 1) return cell;
    const s = compared[row - 1]!;
    return s.regressed ? c.red(cell) : s.verdict === 'slower' ? c.yellow(cell) : s.verdict === 'faster' ? c.green(cell) : cell;
  };
  if (compared.length > 0) lines.push(...table(rows, [false, false, true, true, true, true, true, true, true, true, true, true], colored));
  for (const s of compared) if (s.note !== undefined) lines.push(c.dim(`  ${escapeControl(s.stage)}: ${s.note}`));

  const appeared = result.stages.filter((s) => s.presence === 'appeared');
  const vanished = result.stages.filter((s) => s.presence === 'vanished');
  if (appeared.length > 0) {
    lines.push('', 'appeared (only in head):');
    for (const s of appeared) lines.push(`  ${escapeControl(s.stage)}: ${fmtNum(s.calls.head ?? 0)} calls, ${fmtMs(s.totalMs.head ?? 0)} in all, ${fmtMs(s.selfMs.head ?? 0)} own`);
  }
  if (vanished.length > 0) {
    lines.push('', 'vanished (only in base):');
    for (const s of vanished) lines.push(`  ${escapeControl(s.stage)}: ${fmtNum(s.calls.base ?? 0)} calls, ${fmtMs(s.totalMs.base ?? 0)} in all, ${fmtMs(s.selfMs.base ?? 0)} own`);
  }
  if (result.notes.length > 0) {
    lines.push('');
    for (const n of result.notes) lines.push(c.yellow(`note: ${escapeControl(n)}`));
  }
  lines.push('', result.verdict === 'regression' ? c.red(c.bold(verdictLine(result, escapeControl))) : c.green(verdictLine(result, escapeControl)));
  return lines.join('\n');
}

/**
 * The diff as GitHub-flavoured markdown: a heading with the verdict, a table of the stages, the
 * stages that appeared or vanished, notes, and the verdict line. Fits a pull-request comment and
 * `$GITHUB_STEP_SUMMARY`.
 *
 * @example
 * appendFileSync(process.env.GITHUB_STEP_SUMMARY!, formatDiffMarkdown(result));
 */
export function formatDiffMarkdown(result: DiffResult): string {
  const lines: string[] = [];
  const failed = result.verdict === 'regression';
  lines.push(`### stagemeter diff: ${failed ? `❌ ${result.regressions.length} stage${result.regressions.length === 1 ? '' : 's'} regressed` : '✅ no regression'}`);
  lines.push('');
  lines.push(
    `base ${markdownCode(result.base.name)} (${markdownText(result.base.startedAt)}, ${fmtMs(result.base.durationMs)}) → head ${markdownCode(result.head.name)} (${markdownText(result.head.startedAt)}, ${fmtMs(result.head.durationMs)}) · ` +
      `fails on ${result.options.failOnPercent}% slower at ${confidenceLabel(result)} confidence · ${noiseLine(result)}`,
  );
  lines.push('');
  const compared = result.stages.filter((s) => s.presence === 'both');
  if (compared.length > 0) {
    lines.push('<sub>own time: CPU time for stages that hold the CPU, else wall time, less nested stages · p: corrected for the number of stages · can show: smallest change these runs can tell from noise</sub>', '');
    lines.push(`| stage | verdict | own time | change (${confidenceLabel(result)} interval) | p | can show | total | p95 | rows/s | CPU % | heap/call |`);
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of compared) {
      const e = s.estimate;
      const verdict = s.regressed ? '**❌ slower**' : s.verdict === 'slower' ? '**slower**' : s.verdict === 'faster' ? 'faster' : 'within noise';
      const cells = [
        markdownCode(s.stage),
        verdict,
        e ? `${e.basis === 'cpu' ? 'CPU ' : ''}${ownTime(s, ' → ')}` : '–',
        e ? `${signedPercent(e.changePercent)} (${signedPercent(e.ciLowPercent)} … ${signedPercent(e.ciHighPercent)})` : '–',
        e ? pText(e.pValue) : '–',
        e ? `±${fmtNum(e.detectablePercent, 0)}%` : '–',
        changeText(s.totalMs),
        changeText(s.p95Ms),
        changeText(s.rowsPerSecond),
        pointsText(s.cpuPercent, ' → '),
        mbChange(s.heapDeltaMb),
      ];
      // the name is escaped by markdownCode; every other cell is written here and holds no `|`
      lines.push(`| ${cells.join(' | ')} |`);
    }
    const notes = compared.filter((s) => s.note !== undefined);
    if (notes.length > 0) {
      lines.push('');
      for (const s of notes) lines.push(`- ${markdownCode(s.stage)}: ${markdownText(s.note!)}`);
    }
  }
  const appeared = result.stages.filter((s) => s.presence === 'appeared');
  const vanished = result.stages.filter((s) => s.presence === 'vanished');
  if (appeared.length > 0) lines.push('', `**Appeared** (only in head): ${appeared.map((s) => `${markdownCode(s.stage)} (${fmtNum(s.calls.head ?? 0)} calls, ${fmtMs(s.totalMs.head ?? 0)})`).join(', ')}`);
  if (vanished.length > 0) lines.push('', `**Vanished** (only in base): ${vanished.map((s) => `${markdownCode(s.stage)} (${fmtNum(s.calls.base ?? 0)} calls, ${fmtMs(s.totalMs.base ?? 0)})`).join(', ')}`);
  if (result.notes.length > 0) {
    lines.push('');
    for (const n of result.notes) lines.push(`> ${markdownText(n)}`);
  }
  lines.push('', `**${verdictLine(result, markdownCode)}**`, '');
  return lines.join('\n');
}

/** The last line: which stages regressed, or that none did. */
function verdictLine(result: DiffResult, name: (s: string) => string): string {
  const regressed = result.stages.filter((s) => s.regressed);
  if (regressed.length === 0) {
    const slower = result.stages.filter((s) => s.verdict === 'slower').length;
    const faster = result.stages.filter((s) => s.verdict === 'faster').length;
    const moved = slower + faster > 0 ? ` (${[slower > 0 ? `${slower} slower under the threshold` : '', faster > 0 ? `${faster} faster` : ''].filter(Boolean).join(', ')})` : '';
    return `verdict: ok, no stage regressed past ${result.options.failOnPercent}%${moved}`;
  }
  const list = regressed.map((s) => `${name(s.stage)} ${signedPercent(s.estimate!.changePercent)}${s.estimate!.basis === 'cpu' ? ' CPU time' : ''}`).join(', ');
  return `verdict: REGRESSION, ${regressed.length} stage${regressed.length === 1 ? '' : 's'} slower past ${result.options.failOnPercent}%: ${list}`;
}

function noiseLine(r: DiffResult): string {
  const n = r.noise;
  const scale = (kappa: number | null, k: number): string =>
    kappa === null ? 'the floor alone' : kappa === 0 ? `no drift beyond its calls' spread (measured on ${k} stages)` : `${fmtNum(kappa, 2)}x its calls' variation (measured on ${k} stages)`;
  return `run-to-run noise of a stage: CPU time ${scale(n.cpuScale, n.cpuStages)}, at least ±${n.cpuFloorPercent}%; wall time ${scale(n.wallScale, n.wallStages)}, at least ±${n.wallFloorPercent}%`;
}

function confidenceLabel(r: DiffResult): string {
  return `${+(r.options.confidence * 100).toFixed(2)}%`;
}

function verdictText(s: StageDiff): string {
  if (s.regressed) return 'SLOWER (fail)';
  return s.verdict === 'within-noise' ? 'within noise' : (s.verdict ?? '-');
}

function ownTime(s: StageDiff, arrow: string): string {
  const f = s.estimate?.basis === 'cpu' ? s.cpuMs : s.selfMs;
  return `${fmtMs(f.base ?? 0)}${arrow}${fmtMs(f.head ?? 0)}`;
}

function durationChange(f: DiffFigure): string {
  return `${fmtMs(f.base ?? 0)} -> ${fmtMs(f.head ?? 0)}${f.changePercent !== null ? ` (${signedPercent(f.changePercent)})` : ''}`;
}

function rowsChange(f: DiffFigure): string {
  return f.base === f.head ? `${fmtNum(f.base ?? 0)} in both` : `${fmtNum(f.base ?? 0)} -> ${fmtNum(f.head ?? 0)}`;
}

function changeText(f: DiffFigure): string {
  return f.changePercent === null ? '-' : signedPercent(f.changePercent);
}

/** A change of a percentage, in percentage points. */
function pointsText(f: DiffFigure, arrow = ' -> '): string {
  if (f.base === undefined || f.head === undefined) return '-';
  return `${fmtNum(f.base)}${arrow}${fmtNum(f.head)}`;
}

function mbChange(f: DiffFigure): string {
  if (f.base === undefined || f.head === undefined) return '-';
  const d = f.head - f.base;
  return `${d >= 0 ? '+' : ''}${fmtNum(d, Math.abs(d) < 10 ? 2 : 1)} MB`;
}

function clip(s: string, max: number): string {
  const chars = [...s];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : s;
}

function signedPercent(x: number): string {
  const digits = Math.abs(x) < 10 ? 1 : 0;
  return `${x > 0 ? '+' : x < 0 ? '-' : '±'}${fmtNum(Math.abs(x), digits)}%`;
}

function pText(p: number): string {
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

/** Left- or right-aligned columns separated by two spaces; `paint` colours a cell after it is padded. */
function table(rows: readonly string[][], right: readonly boolean[], paint: (cell: string, row: number, col: number) => string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row, r) =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - [...cell].length);
        return paint(right[i] ? pad + cell : cell + pad, r, i);
      })
      .join('  ')
      .trimEnd(),
  );
}
