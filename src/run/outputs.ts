/**
 * What a run produces besides its JSON report, each only when its option is on:
 * - the live progress line on stderr (`progress`), from the run's start to its end;
 * - the HTML report (`htmlOutputPath`), written when the run ends, beside the JSON;
 * - the OpenTelemetry export (`otel`): the OTel context active at the run's start is captured,
 *   each checkpoint sends the calls that ended since the last one, and the end sends the rest and
 *   the run span. `@opentelemetry/api` is loaded only when `otel` is on.
 * None of them can fail the run or the program: a failure is a quality flag, a log entry, or a
 * stderr line.
 */
import { createOtelRunExporter, captureOtelParent, type OtelExportResult, type OtelRunExporter } from '../integrations/otel';
import { safeLog } from '../logger';
import { generateHtmlReport } from '../report/html';
import { writeFileAtomic } from '../report/write';
import { describeError } from '../sanitize';
import type { PerformanceReport } from '../types';
import { htmlPathFor } from '../validate';
import { announceWriteFailure } from './finalise';
import { liveStats } from './live';
import { startProgress, type ProgressLine } from './progress';
import type { RunState } from './state';

export class RunOutputs {
  readonly #run: RunState;
  readonly #progress: ProgressLine | undefined;
  readonly #otel: OtelRunExporter | undefined;
  /** The export under way (checkpoints and the final one are queued by the exporter). */
  #exporting: Promise<OtelExportResult | undefined> = Promise.resolve(undefined);

  constructor(run: RunState) {
    this.#run = run;
    const cfg = run.config;
    this.#progress = cfg.progress ? startProgress(process.stderr, () => ({ name: run.name, live: liveStats(run) })) : undefined;
    this.#otel = cfg.otel ? createOtelRunExporter(captureOtelParent()) : undefined;
  }

  /** A checkpoint's report was built: send its ended calls. */
  checkpoint(report: PerformanceReport): void {
    const otel = this.#otel;
    if (otel !== undefined) this.#exporting = otel.exportCheckpoint(report).then((r) => this.#noted(r));
  }

  /**
   * The run ended and its report is built: clear the progress line, write the HTML page (a
   * failure becomes a flag in the report, which is written after this), start the final export.
   */
  finish(report: PerformanceReport): void {
    this.#progress?.stop();
    this.#writeHtml(report);
    const otel = this.#otel;
    if (otel !== undefined) this.#exporting = otel.exportFinal(report).then((r) => this.#noted(r));
  }

  /** Resolves when the export started so far is handed over and flushed (undefined without `otel`). */
  exported(): Promise<OtelExportResult | undefined> {
    return this.#exporting;
  }

  #writeHtml(report: PerformanceReport): void {
    const run = this.#run;
    const wanted = run.config.htmlOutputPath;
    if (wanted === undefined) return;
    // A child process that writes its JSON beside the owner's writes its page beside its own JSON.
    const path = run.outputPath !== undefined && run.outputPath !== run.config.outputPath ? htmlPathFor(run.outputPath) : wanted;
    try {
      writeFileAtomic(path, generateHtmlReport(report));
    } catch (err) {
      const message = `the HTML report could not be written to ${path}: ${describeError(err).message}`;
      report.qualityFlags.push({ severity: 'warning', message, t: report.run.durationMs, code: 'html_write_failed' });
      report.summary.qualityFlagCounts.warning++;
      announceWriteFailure(run, path, err, message);
    }
  }

  #noted(result: OtelExportResult): OtelExportResult {
    if (result.errors.length > 0) {
      const message = `OpenTelemetry export of run ${this.#run.id}: ${result.errors.join('; ')}`;
      safeLog(this.#run.log, 'warn', { event: 'otel_export_failed', errors: result.errors }, message);
      if (this.#run.config.logger === undefined) {
        try {
          process.stderr.write(`stagemeter: ${message}\n`);
        } catch {
          // stderr closed
        }
      }
    }
    return result;
  }
}
