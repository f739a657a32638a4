/**
 * The report writer: assembles the JSON report from the recorded run and its analysis, and is
 * the only code in stagemeter that touches the file system. Every write is atomic: a temp file
 * in the same directory (random name, created exclusively so a planted symlink is never
 * followed), fsync, rename. A reader sees the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync, constants as fsConstants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import reportSchemaJson from '../docs/report.schema.json';
import { VERSION } from './version';
import type { AnalysisResult, PerformanceReport, QualityFlag, RunData } from './types';

/** The JSON Schema every report validates against (also shipped as `docs/report.schema.json`). */
export const reportSchema: Readonly<Record<string, unknown>> = reportSchemaJson;

/** Assembles the report. Pure: the same inputs give the same report. */
export function buildReport(data: RunData, analysis: AnalysisResult, maxPerStage: number): PerformanceReport {
  const qualityFlags: QualityFlag[] = [...data.qualityFlags, ...analysis.qualityFlags].sort((a, b) => a.t - b.t);
  const qualityFlagCounts = { info: 0, warning: 0, error: 0 };
  for (const f of qualityFlags) qualityFlagCounts[f.severity]++;
  let totalStages = 0;
  let failedStages = 0;
  let kept = 0;
  let omitted = 0;
  let slowest: { name: string; totalMs: number } | undefined;
  for (const s of data.stageSummaries) {
    totalStages += s.calls;
    failedStages += s.failures;
    kept += s.recordsKept;
    omitted += s.recordsOmitted;
    if (slowest === undefined || s.totalMs > slowest.totalMs) slowest = s;
  }
  const slowestStage = analysis.bottlenecks.slowestStages[0] ?? slowest?.name;
  const report: PerformanceReport = {
    schemaVersion: 1,
    generator: { name: 'stagemeter', version: VERSION },
    run: data.run,
    summary: {
      totalStages,
      failedStages,
      peakMemoryMb: data.peakMemoryMb,
      avgCpuPercent: data.avgCpuPercent,
      memoryEfficiencyScore: analysis.efficiencyScore,
      ...(slowestStage !== undefined ? { slowestStage } : {}),
      qualityFlagCounts,
    },
    stages: data.stages,
    stageRecords: { maxPerStage, kept, omitted },
    stageSummaries: data.stageSummaries,
    memory: {
      samples: data.samples,
      samplingIntervalMs: data.samplingIntervalMs,
      trend: analysis.trend,
      spikes: analysis.spikes,
      efficiencyScore: analysis.efficiencyScore,
      ...(analysis.stageEfficiency !== undefined ? { stageEfficiency: analysis.stageEfficiency } : {}),
    },
    ...(data.eventLoop !== undefined ? { eventLoop: data.eventLoop } : {}),
    ...(data.gc !== undefined ? { gc: data.gc } : {}),
    ...(analysis.timeShare !== undefined ? { timeShare: analysis.timeShare } : {}),
    bottlenecks: analysis.bottlenecks,
    recommendations: analysis.recommendations,
    qualityFlags,
  };
  return report;
}

/**
 * Creates the missing directories of `dir`, one `mkdir` per level. Not `mkdirSync(dir, {
 * recursive: true })`: Node's recursive mkdir spins forever, blocking the event loop, where a
 * parent exists but cannot hold children and answers ENOENT (procfs), which would hang the host
 * at exit.
 */
function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    let isDir: boolean | undefined;
    try {
      isDir = statSync(d).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (isDir === true) break;
    if (isDir === false) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${d}'`), { code: 'ENOTDIR' });
    if (dirname(d) === d) break;
    missing.push(d);
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * Writes `text` to `path` atomically: temp file in the same directory, fsync, rename.
 * Creates missing directories. Throws the file-system error (the temp file is removed).
 */
export function writeFileAtomic(path: string, text: string): void {
  const target = resolve(path);
  const dir = dirname(target);
  ensureDir(dir);
  const temp = join(dir, `.${basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  // O_EXCL: fails rather than follow a symlink or reuse a file someone planted at the temp name.
  const fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o644);
  let renamed = false;
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
    renamed = true;
  } finally {
    if (!renamed) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(temp);
      } catch {
        // nothing to clean up
      }
    }
  }
  try {
    // Make the rename itself durable (best effort: not every file system allows it).
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // the data is written; only the directory entry's durability is unknown
  }
}

/**
 * Serialises a report as indented JSON and, when `path` is given, writes it there atomically.
 * This is the one stagemeter call that does I/O on request, so a failed write throws the
 * file-system error to the caller (stopMonitoring, by contrast, never throws).
 *
 * @example
 * const report = monitor.stopMonitoring();
 * generatePerformanceReportJson(report, 'reports/copy.json');
 */
export function generatePerformanceReportJson(report: PerformanceReport, path?: string): string {
  const text = `${JSON.stringify(report, null, 2)}\n`;
  if (path !== undefined) writeFileAtomic(path, text);
  return text;
}
