/**
 * What a run writes besides its JSON: the HTML page (htmlOutputPath, STAGEMETER_HTML, per child
 * process), the OpenTelemetry export from the run's own options (otel, STAGEMETER_OTEL, at
 * checkpoints and at the end, in zero-code mode when the process ends by itself), and the live
 * progress line.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import { progressText, startProgress } from '../../../src/run/progress';
import type { LivePerformanceStats, PerformanceReport } from '../../../src/types';
import { runChild } from '../../helpers/child';
import { expectValidReport } from '../../helpers/schema';

const ROOT = resolve(__dirname, '..', '..', '..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stagemeter-outputs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the HTML report written by the run', () => {
  test('htmlOutputPath: the page is written when the run ends, beside the JSON, and names the run and its stages', () => {
    const json = join(dir, 'page.json');
    const html = join(dir, 'page-report.html');
    const monitor = createPerformanceMonitor({ outputPath: json, htmlOutputPath: html, enableMemoryTracking: false });
    monitor.startMonitoring({ runName: 'page-run' });
    const clean = withStage('clean_rows', (rows: number[]) => rows.filter((x) => x > 1), { monitor });
    for (let i = 0; i < 10; i++) clean([1, 2, 3]);
    expect(existsSync(html)).toBe(false);
    const report = monitor.stopMonitoring();
    expect(report.output).toEqual({ path: json, written: true });
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('page-run');
    expect(page).toContain('clean_rows');
    expect(report.qualityFlags.map((f) => f.code)).not.toContain('html_write_failed');
  });

  test('a page that cannot be written is a warning flag in the JSON, which is still written', () => {
    const json = join(dir, 'nopage.json');
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const monitor = createPerformanceMonitor({ outputPath: json, htmlOutputPath: join(blocker, 'x.html'), enableMemoryTracking: false, logger: silentLogger() });
    monitor.startMonitoring();
    withStage('s', () => 1, { monitor })();
    const report = expectValidReport(monitor.stopMonitoring());
    const flag = report.qualityFlags.find((f) => f.code === 'html_write_failed');
    expect(flag?.severity).toBe('warning');
    const written = JSON.parse(readFileSync(json, 'utf8')) as PerformanceReport;
    expect(written.qualityFlags.map((f) => f.code)).toContain('html_write_failed');
  });
});

describe('the OpenTelemetry export from the run options', () => {
  test('otel: true exports every recorded call as a span under the run span, parented to the span active at start', async () => {
    const contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    try {
      const monitor = createPerformanceMonitor({ otel: true, outputPath: join(dir, 'otel.json'), checkpointIntervalMs: 100, enableMemoryTracking: false });
      const job = trace.getTracer('test').startSpan('nightly job');
      let report: PerformanceReport | undefined;
      await context.with(trace.setSpan(context.active(), job), async () => {
        monitor.startMonitoring({ runName: 'otel-run' });
        const step = withStage('step', async (rows: number[]) => {
          await sleep(20);
          return rows.length;
        }, { monitor });
        // 15 calls over ~300 ms: several checkpoints send the calls that ended before them
        for (let i = 0; i < 15; i++) await step([1, 2]);
        // the checkpoints have sent some calls already, while the run goes on
        expect(exporter.getFinishedSpans().filter((s) => s.name === 'step').length).toBeGreaterThan(0);
        report = monitor.stopMonitoring();
      });
      job.end();
      const result = await monitor.waitForOtelExport();
      expect(result?.errors).toEqual([]);
      const spans = exporter.getFinishedSpans();
      const run = spans.find((s) => s.name === 'stagemeter.run otel-run')!;
      expect(run.parentSpanContext?.spanId).toBe(job.spanContext().spanId);
      const steps = spans.filter((s) => s.name === 'step');
      // every call once, whether a checkpoint or the end sent it
      expect(steps).toHaveLength(report!.stages.filter((r) => r.name === 'step').length);
      expect(steps).toHaveLength(15);
      expect(new Set(steps.map((s) => s.parentSpanContext?.spanId))).toEqual(new Set([run.spanContext().spanId]));
    } finally {
      trace.disable();
      context.disable();
      await provider.shutdown();
    }
  });

  test('without otel nothing is exported and waitForOtelExport resolves to undefined', async () => {
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
    monitor.startMonitoring();
    monitor.stopMonitoring();
    await expect(monitor.waitForOtelExport()).resolves.toBeUndefined();
  });

  test('zero-code mode: STAGEMETER_OTEL=1 exports when the process ends by itself, and STAGEMETER_HTML=1 writes each process its page', async () => {
    const spansFile = join(dir, 'zero-spans.jsonl');
    const out = join(dir, 'zero', 'run.json');
    const r = await runChild(join(ROOT, '__tests__', 'fixtures', 'zeroCodeOutputs.ts'), [spansFile, 'fork'], {
      env: { STAGEMETER_OUTPUT: out, STAGEMETER_OTEL: '1', STAGEMETER_HTML: '1' },
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    const [parent, child] = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { pid: number }).pid).reverse();
    const files = readdirSync(join(dir, 'zero')).sort();
    expect(files).toEqual(expect.arrayContaining(['run.json', 'run.html', `run.${child}.json`, `run.${child}.html`]));
    const spans = readFileSync(spansFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pid: number; name: string });
    for (const pid of [parent, child]) {
      const own = spans.filter((s) => s.pid === pid);
      expect(own.filter((s) => s.name === 'load')).toHaveLength(4);
      expect(own.filter((s) => s.name === 'parse')).toHaveLength(4);
      expect(own.filter((s) => s.name.startsWith('stagemeter.run'))).toHaveLength(1);
    }
    const report = expectValidReport(JSON.parse(readFileSync(out, 'utf8')) as PerformanceReport);
    expect(report.run.status).toBe('completed');
  });
});

describe('the live progress line', () => {
  const live = (over: Partial<LivePerformanceStats>): LivePerformanceStats => ({
    elapsedMs: 65_000, rowsProcessed: 1_200_000, currentRowsPerSecond: 18_500, averageRowsPerSecond: 18_000, currentMemoryMb: 411.6, peakMemoryMb: 500, activeStages: ['load_month'], completedStages: 10, ...over,
  });

  test('shows rows, throughput, progress and ETA when expectedRows is known, memory and the active stage', () => {
    expect(progressText('nightly', live({ expectedRows: 4_000_000, progress: 0.3, etaMs: 150_000 }), 200)).toBe(
      'stagemeter nightly 1m05s | 1.2M/4M rows 30% | 18.5K rows/s | ETA 2m30s | rss 412 MB | load_month',
    );
    expect(progressText('n', live({ activeStages: [] }), 200)).toBe('stagemeter n 1m05s | 1.2M rows | 18.5K rows/s | rss 412 MB');
  });

  test('is cut to the terminal width, and a stage name cannot move the cursor', () => {
    expect(progressText('nightly', live({}), 30)).toHaveLength(30);
    expect(progressText('x', live({ activeStages: ['a\u001b[2J\rb'] }), 200)).toContain('a?[2J?b');
  });

  test('on a terminal it is redrawn in place while the run goes on, with the rows passed so far, and cleared at the end', async () => {
    const writes: string[] = [];
    const stream = { isTTY: true, columns: 120, write: (s: string) => writes.push(s) };
    const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
    monitor.startMonitoring({ runName: 'tty', expectedRows: 10_000 });
    const load = withStage('load', (rows: number[]) => rows.length, { monitor });
    const line = startProgress(stream, () => ({ name: 'tty', live: monitor.getLivePerformanceStats() }))!;
    let passed = 0;
    const seen: Array<{ passed: number; shown: string }> = [];
    for (let i = 0; i < 8; i++) {
      load(new Array(1000).fill(0));
      passed += 1000;
      await sleep(300);
      seen.push({ passed, shown: writes[writes.length - 1] ?? '' });
    }
    line.stop();
    monitor.stopMonitoring();
    expect(writes.length).toBeGreaterThanOrEqual(4);
    for (const w of writes.slice(0, -1)) expect(w).toMatch(/^\r.*\u001b\[K$/);
    expect(writes[writes.length - 1]).toBe('\r\u001b[K');
    // each redraw after a batch shows exactly the rows passed so far (the test's own count)
    for (const { passed: p, shown } of seen.slice(1)) expect(shown).toContain(`${p / 1000}K/10K rows ${p / 100}%`);
  });

  test('progress: true and STAGEMETER_PROGRESS=1 draw the line on a terminal stderr, and the program ends as it would', async () => {
    for (const mode of ['option', 'env']) {
      const env = mode === 'env' ? { STAGEMETER_PROGRESS: '1', STAGEMETER_OUTPUT: join(dir, 'tty', 'run.json') } : {};
      const r = await runChild(join(ROOT, '__tests__', 'fixtures', 'progressTty.ts'), [mode], { env });
      expect({ mode, code: r.code, stdout: r.stdout }).toEqual({ mode, code: 0, stdout: 'done\n' });
      const draws = r.stderr.split('\r').filter((d) => d.startsWith('stagemeter '));
      expect(draws.length).toBeGreaterThanOrEqual(2);
      expect(draws[draws.length - 1]).toMatch(mode === 'env' ? /K rows \| .* rows\/s \| rss \d+ MB/ : /^stagemeter tty-run .*K\/6K rows \d+% \| .* rows\/s/);
      expect(r.stderr.endsWith('\r\u001b[K')).toBe(true);
    }
  });

  test('not on a terminal: no line, and nothing is written', () => {
    const writes: string[] = [];
    expect(startProgress({ isTTY: false, write: (s: string) => writes.push(s) }, () => { throw new Error('never read'); })).toBeUndefined();
    expect(writes).toEqual([]);
  });
});

function silentLogger(): import('pino').Logger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('pino') as typeof import('pino').default)({ level: 'silent' });
}
