/**
 * Analyzer timing (issue 3): `runAnalysis(run, DEFAULT_THRESHOLDS)` on a synthetic run of
 * 1,000,000 memory samples and 100,000 stage records, median of a few runs. Runs in a worker
 * thread (analyzerWorker.ts) with a time limit, so a slow analyzer is reported, not waited for.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { median } from './stats';

export interface AnalyzerResult {
  samples: number;
  records: number;
  repeats: number;
  buildMs?: number;
  /** Every timed run, ms; the first one includes JIT warm-up of the analyzers. */
  timesMs: number[];
  firstMs?: number;
  medianMs?: number;
  findings?: number;
  findingKinds?: string[];
  trendMethod?: string;
  error?: string;
  timedOut?: boolean;
}

interface Message {
  type: 'progress' | 'done' | 'error';
  buildMs?: number;
  timesMs: number[];
  findings?: number;
  kinds?: string[];
  trendMethod?: string;
  error?: string;
}

export function runAnalyzerTiming(samples: number, records: number, repeats: number, timeLimitMs: number): Promise<AnalyzerResult> {
  return new Promise((resolve) => {
    const result: AnalyzerResult = { samples, records, repeats, timesMs: [] };
    const worker = new Worker(join(__dirname, 'analyzerWorker.js'), { workerData: { samples, records, repeats }, resourceLimits: { maxOldGenerationSizeMb: 4096 } });
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (result.timesMs.length > 0) {
        result.firstMs = result.timesMs[0];
        result.medianMs = median(result.timesMs);
      }
      void worker.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      result.error = `runAnalysis did not finish ${repeats} runs within ${timeLimitMs / 1000} s`;
      finish();
    }, timeLimitMs);
    worker.on('message', (m: Message) => {
      result.timesMs = m.timesMs;
      if (m.buildMs !== undefined) result.buildMs = m.buildMs;
      if (m.type === 'done') {
        if (m.findings !== undefined) result.findings = m.findings;
        if (m.kinds !== undefined) result.findingKinds = m.kinds;
        if (m.trendMethod !== undefined) result.trendMethod = m.trendMethod;
        finish();
      } else if (m.type === 'error') {
        result.error = m.error ?? 'unknown error';
        finish();
      }
    });
    worker.on('error', (err) => {
      result.error = `worker failed: ${err.message}`;
      finish();
    });
    worker.on('exit', (code) => {
      if (!settled) {
        result.error = `worker exited with code ${code}`;
        finish();
      }
    });
  });
}
