/**
 * A report's figures as OpenTelemetry attributes (semantic-convention names where they exist,
 * `stagemeter.*` otherwise) and times as HrTime. Pure.
 */
import type { Finding, PerformanceReport, StageMetrics, StageSummary } from '../../types';

/**
 * Span and event attributes, as `@opentelemetry/api` takes them (its `Attributes` accepts these),
 * declared here so that the package's declarations never name the optional peer dependency.
 */
export type OtelAttributes = Record<string, string | number | boolean | string[] | number[] | boolean[]>;

/** Longest span name and string attribute kept, characters (backends cut far shorter ones anyway). */
const MAX_NAME = 1024;
export const MAX_STRING = 4096;
/** Evidence and metadata are flattened at most this deep and into at most this many attributes. */
const MAX_FLAT_DEPTH = 4;
const MAX_FLAT_KEYS = 64;

/**
 * `baseMs` (whole epoch ms: the run's `startedAt`) plus `offsetMs` (with fractions) as an OTel
 * HrTime [seconds, nanoseconds], exact to the nanosecond for offsets up to ~104 days: an epoch in
 * ns (~1.7e18) is past 2^53, so the two parts are never added as one double.
 */
export function hrTimeAt(baseMs: number, offsetMs: number): [number, number] {
  const offsetNs = Math.round(offsetMs * 1e6);
  const offsetS = Math.floor(offsetNs / 1e9);
  const baseS = Math.floor(baseMs / 1000);
  let seconds = baseS + offsetS;
  let nanos = (baseMs - baseS * 1000) * 1e6 + (offsetNs - offsetS * 1e9);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

export function stageAttributes(r: StageMetrics, name: string): OtelAttributes {
  const a: OtelAttributes = {
    'code.function.name': name,
    'stagemeter.stage': name,
    'stagemeter.call.id': r.id,
    'stagemeter.rows': finite(r.rowsProcessed),
    'stagemeter.rows_per_second': finite(r.rowsPerSecond),
    'stagemeter.duration_ms': r.durationMs > 0 ? r.durationMs : 0,
    'stagemeter.success': r.success !== false,
    'stagemeter.sync': r.sync === true,
  };
  const cpu = r.cpu;
  if (cpu !== null && typeof cpu === 'object') {
    a['stagemeter.cpu.user_ms'] = finite(cpu.userMs);
    a['stagemeter.cpu.system_ms'] = finite(cpu.systemMs);
    a['stagemeter.cpu.percent'] = finite(cpu.percent);
    if (cpu.estimated === true) a['stagemeter.cpu.estimated'] = true;
  }
  const memory = r.memory;
  if (memory !== null && typeof memory === 'object') {
    a['stagemeter.memory.heap_used_delta_mb'] = finite(memory.heapUsedDeltaMb);
    if (memory.estimated === true) a['stagemeter.memory.estimated'] = true;
  }
  if (typeof r.fidelity === 'string') a['stagemeter.fidelity'] = r.fidelity;
  // Fields newer reports carry: the thread the call ran on (0 = main) and its self time.
  const extra = r as StageMetrics & { threadId?: unknown; selfMs?: unknown };
  if (typeof extra.threadId === 'number' && Number.isFinite(extra.threadId)) a['thread.id'] = extra.threadId;
  if (typeof extra.selfMs === 'number' && Number.isFinite(extra.selfMs)) a['stagemeter.self_ms'] = extra.selfMs;
  if (r.success === false) a['error.type'] = bounded(String(r.error?.name ?? 'Error'));
  if (r.metadata !== null && typeof r.metadata === 'object') flatten('stagemeter.metadata', r.metadata, a);
  return a;
}

export function runAttributes(report: PerformanceReport, durationMs: number): OtelAttributes {
  const run = report.run;
  const a: OtelAttributes = {
    'stagemeter.run.id': bounded(run.id),
    'stagemeter.run.name': bounded(String(run.name)),
    'stagemeter.run.status': bounded(String(run.status)),
    'stagemeter.rows': finite(run.rowsProcessed),
    'stagemeter.rows_per_second': finite(run.rowsPerSecond),
    'stagemeter.duration_ms': durationMs,
  };
  if (typeof run.endReason === 'string') a['stagemeter.run.end_reason'] = bounded(run.endReason);
  if (typeof run.expectedRows === 'number') a['stagemeter.run.expected_rows'] = finite(run.expectedRows);
  if (typeof run.host?.pid === 'number') a['process.pid'] = run.host.pid;
  const summary = report.summary;
  if (summary !== null && typeof summary === 'object') {
    a['stagemeter.memory.peak_mb'] = finite(summary.peakMemoryMb);
    a['stagemeter.cpu.avg_percent'] = finite(summary.avgCpuPercent);
    a['stagemeter.stages.calls'] = finite(summary.totalStages);
    a['stagemeter.stages.failed'] = finite(summary.failedStages);
    a['stagemeter.memory.efficiency_score'] = finite(summary.memoryEfficiencyScore);
    if (typeof summary.slowestStage === 'string') a['stagemeter.slowest_stage'] = bounded(summary.slowestStage);
  }
  const trend = report.memory?.trend;
  if (trend !== null && typeof trend === 'object') {
    a['stagemeter.memory.leak_suspected'] = trend.leakSuspected === true;
    a['stagemeter.memory.leak_confidence'] = bounded(String(trend.confidence));
    a['stagemeter.memory.slope_mb_per_min'] = finite(trend.slopeMbPerMin);
  }
  const records = report.stageRecords;
  if (records !== null && typeof records === 'object') {
    a['stagemeter.records.kept'] = finite(records.kept);
    a['stagemeter.records.omitted'] = finite(records.omitted);
  }
  if (Array.isArray(report.bottlenecks?.findings)) a['stagemeter.findings'] = report.bottlenecks.findings.length;
  return a;
}

export function summaryAttributes(s: StageSummary): OtelAttributes {
  const a: OtelAttributes = {
    'stagemeter.stage': bounded(String(s.name)),
    'stagemeter.calls': finite(s.calls),
    'stagemeter.failures': finite(s.failures),
    'stagemeter.records.kept': finite(s.recordsKept),
    'stagemeter.records.omitted': finite(s.recordsOmitted),
    'stagemeter.total_ms': finite(s.totalMs),
    'stagemeter.mean_ms': finite(s.meanMs),
    'stagemeter.p50_ms': finite(s.p50Ms),
    'stagemeter.p95_ms': finite(s.p95Ms),
    'stagemeter.p99_ms': finite(s.p99Ms),
    'stagemeter.max_ms': finite(s.maxMs),
    'stagemeter.rows': finite(s.rowsProcessed),
    'stagemeter.rows_per_second': finite(s.rowsPerSecond),
  };
  // Fields newer reports carry.
  const extra = s as StageSummary & { busyMs?: unknown; selfMs?: unknown };
  if (typeof extra.busyMs === 'number' && Number.isFinite(extra.busyMs)) a['stagemeter.busy_ms'] = extra.busyMs;
  if (typeof extra.selfMs === 'number' && Number.isFinite(extra.selfMs)) a['stagemeter.self_ms'] = extra.selfMs;
  if (s.firstError !== undefined && s.firstError !== null) a['error.type'] = bounded(String(s.firstError.name));
  return a;
}

export function findingAttributes(f: Finding): OtelAttributes {
  const a: OtelAttributes = {
    'stagemeter.finding.severity': bounded(String(f.severity)),
    'stagemeter.finding.message': bounded(String(f.message), MAX_STRING),
  };
  if (typeof f.stage === 'string') a['stagemeter.stage'] = bounded(f.stage);
  if (f.evidence !== null && typeof f.evidence === 'object') flatten('stagemeter.finding.evidence', f.evidence, a);
  return a;
}

/**
 * Flattens an object into attributes (`prefix.key.sub`), keeping only what OTel accepts:
 * strings, finite numbers, booleans, and arrays of one of those. Anything else becomes its JSON
 * text. Bounded in depth and count; never calls a getter of a Proxy twice or follows a cycle.
 */
function flatten(prefix: string, value: object, into: OtelAttributes): void {
  let budget = MAX_FLAT_KEYS;
  const visit = (path: string, v: unknown, depth: number): void => {
    if (budget <= 0 || v === undefined || v === null) return;
    if (typeof v === 'string') {
      into[path] = bounded(v, MAX_STRING);
      budget--;
    } else if (typeof v === 'number') {
      into[path] = Number.isFinite(v) ? v : String(v);
      budget--;
    } else if (typeof v === 'boolean') {
      into[path] = v;
      budget--;
    } else if (Array.isArray(v)) {
      into[path] = homogeneous(v) ?? jsonText(v);
      budget--;
    } else if (typeof v === 'object' && depth < MAX_FLAT_DEPTH) {
      for (const key of Object.keys(v)) {
        if (budget <= 0) break;
        visit(`${path}.${key}`, (v as Record<string, unknown>)[key], depth + 1);
      }
    } else {
      into[path] = typeof v === 'object' ? jsonText(v) : bounded(String(v));
      budget--;
    }
  };
  try {
    visit(prefix, value, 0);
  } catch {
    into[`${prefix}.unreadable`] = true;
  }
}

/** An array OTel takes as is: all strings, all finite numbers or all booleans, short enough. */
function homogeneous(list: unknown[]): string[] | number[] | boolean[] | undefined {
  if (list.length === 0 || list.length > MAX_FLAT_KEYS) return undefined;
  const kind = typeof list[0];
  if (kind === 'string') return list.every((x) => typeof x === 'string') ? (list as string[]).map((s) => bounded(s)) : undefined;
  if (kind === 'number') return list.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (list as number[]) : undefined;
  if (kind === 'boolean') return list.every((x) => typeof x === 'boolean') ? (list as boolean[]) : undefined;
  return undefined;
}

function jsonText(v: unknown): string {
  try {
    return bounded(JSON.stringify(v) ?? String(v), MAX_STRING);
  } catch {
    return '[unserialisable]';
  }
}

export function finite(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

export function bounded(s: string, max = MAX_NAME): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

