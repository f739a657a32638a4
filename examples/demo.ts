/**
 * `npm run demo`: labels 1.2 million generated rows month by month under stagemeter, writes the
 * report (JSON, and the HTML page beside it) to the configured path and prints a summary. On a
 * terminal a live progress line runs meanwhile; elsewhere (a CI log) one line a second.
 *
 *   --no-monitor        run the same pipeline without a monitor (hooks pass straight through)
 *   --months N          months to process (default 12)
 *   --rows N            rows per month (default 100000)
 *   --output PATH       report path (default: $STAGEMETER_OUTPUT or reports/demo-report.json)
 *   --slow STAGE=N      do that stage's work N times per call: a known regression to find with
 *                       `stagemeter diff` (e.g. --slow WeightedLabelingEngine.audit=2)
 */
import { createPerformanceMonitor, formatReportSummary, setMonitor } from '../src/index';
import { PIPELINE_STAGES, runLabelingPipeline, type SlowStage } from './labelingPipeline';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function positiveInt(name: string, fallback: number): number {
  const raw = argValue(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`${name} needs a positive whole number (got ${raw})`);
    process.exit(2);
  }
  return n;
}

function slowStage(): SlowStage | undefined {
  const raw = argValue('--slow');
  if (raw === undefined) return undefined;
  const eq = raw.lastIndexOf('=');
  const name = eq > 0 ? raw.slice(0, eq) : '';
  const factor = Number(raw.slice(eq + 1));
  if (!PIPELINE_STAGES.includes(name) || !Number.isInteger(factor) || factor < 1 || factor > 100) {
    console.error(`--slow needs <stage>=<whole number 1-100> (got ${raw}); the stages are ${PIPELINE_STAGES.join(', ')}`);
    process.exit(2);
  }
  return { name, factor };
}

async function main(): Promise<void> {
  const months = positiveInt('--months', 12);
  const rowsPerMonth = positiveInt('--rows', 100_000);
  const slow = slowStage();
  const expectedRows = months * rowsPerMonth;

  if (process.argv.includes('--no-monitor')) {
    const t0 = performance.now();
    await runLabelingPipeline({ months, rowsPerMonth, ...(slow !== undefined ? { slowStage: slow } : {}) });
    const s = (performance.now() - t0) / 1000;
    console.log(`unmonitored: ${expectedRows.toLocaleString('en-US')} rows in ${s.toFixed(2)} s (${Math.round(expectedRows / s).toLocaleString('en-US')} rows/s)`);
    return;
  }

  const outputPath = argValue('--output') ?? process.env.STAGEMETER_OUTPUT ?? 'reports/demo-report.json';
  const htmlOutputPath = outputPath.replace(/(\.json)?$/i, '.html');
  const monitor = createPerformanceMonitor({
    outputPath,
    htmlOutputPath,
    progress: true,
    memorySamplingIntervalMs: 100,
    // The demo runs for seconds, not hours: thresholds are scaled down so its findings show.
    thresholds: { slowStageMs: 100, minThroughputRowsPerSec: 500_000, memoryIntensiveMb: 64 },
  });
  setMonitor(monitor);
  monitor.startMonitoring({ expectedRows, runName: 'labeling-demo', metadata: { months, rowsPerMonth, ...(slow !== undefined ? { slowStage: `${slow.name}=${slow.factor}` } : {}) } });

  // The progress option draws on a terminal only; a log gets a line a second instead.
  const progress = setInterval(() => {
    if (process.stderr.isTTY) return;
    const live = monitor.getLivePerformanceStats();
    const eta = live.etaMs !== undefined ? `, ETA ${(live.etaMs / 1000).toFixed(1)} s` : '';
    console.log(
      `  ${((live.progress ?? 0) * 100).toFixed(0).padStart(3)} % ${live.rowsProcessed.toLocaleString('en-US')} rows, ${Math.round(live.currentRowsPerSecond).toLocaleString('en-US')} rows/s, ${live.currentMemoryMb.toFixed(0)} MB${eta}`,
    );
  }, 1000);
  progress.unref();

  await runLabelingPipeline({ months, rowsPerMonth, ...(slow !== undefined ? { slowStage: slow } : {}) });
  clearInterval(progress);
  const report = monitor.stopMonitoring();
  console.log('');
  console.log(formatReportSummary(report));
  console.log(`HTML report: ${htmlOutputPath} (open it in a browser)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
