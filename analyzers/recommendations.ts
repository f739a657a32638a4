/**
 * Recommendations built from the built-in findings: what to do, about which stage, with the
 * numbers behind it (share of the run, rows/s, CPU %, MB, ms) and a priority from the severity and
 * how much of the run is at stake. A slow stage's advice depends on whether it is CPU-bound,
 * I/O-bound or blocks the loop; one recommendation per category and stage, highest priority first.
 */
import type { Finding, Recommendation, StageSummary } from '../src/types';
import type { RunEfficiency } from './efficiency';
import { fmtAt, fmtMb, fmtMs, fmtNum, fmtP, fmtPct, fmtRate } from './format';
import type { RunView } from './view';

type Priority = Recommendation['priority'];

const RANK: Record<Priority, number> = { high: 0, medium: 1, low: 2 };

/** Share of the run above which a stage's problem is raised one priority level, percent. */
export const MAJOR_SHARE_PERCENT = 50;
/** Share of the run under which a warning about a stage drops one level, percent. */
export const MINOR_SHARE_PERCENT = 5;

function num(e: Record<string, unknown> | undefined, key: string): number {
  const v = e?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function str(e: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = e?.[key];
  return typeof v === 'string' ? v : undefined;
}

function up(p: Priority): Priority {
  return p === 'low' ? 'medium' : 'high';
}

function down(p: Priority): Priority {
  return p === 'high' ? 'medium' : 'low';
}

/** Severity → priority, raised for a stage that takes most of the run and lowered for a marginal one. */
/** Below this share of its total time in its own code, a slow stage is a wrapper of others. */
const WRAPPER_SELF_SHARE = 0.2;

/** The stages called from `stage`'s kept calls, by their exclusive share of the run, largest first. */
function childrenByShare(view: RunView, stage: string): Array<{ stage: string; sharePercent: number }> {
  const ids = new Set<string>();
  for (const r of view.recordsOf(stage)) ids.add(r.id);
  const names = new Set<string>();
  const records = view.run.stages;
  // a name already found needs no id lookup: on 100 000 records that skips most of them
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.parentId === undefined || r.name === stage || names.has(r.name)) continue;
    if (ids.has(r.parentId)) names.add(r.name);
  }
  return [...names].map((name) => ({ stage: name, sharePercent: view.shareOf(name).sharePercent })).sort((a, b) => b.sharePercent - a.sharePercent);
}

/** Per-call and per-row figures of a stage that spends CPU: rows per call, time per row, allocation, GC while it ran. */
function cpuAdvice(view: RunView, stage: string, summary: StageSummary | undefined): string {
  if (summary === undefined || summary.calls === 0) return 'profile it (node --cpu-prof) for its hot functions.';
  const parts: string[] = [];
  const perCallMs = summary.meanMs;
  if (summary.rowsProcessed > 0) {
    const usPerRow = (summary.totalMs * 1000) / summary.rowsProcessed;
    parts.push(`${fmtNum(usPerRow, usPerRow < 10 ? 2 : 0)} µs per row over ${fmtNum(summary.rowsProcessed)} rows`);
  }
  const advice: string[] = [];
  if (summary.calls >= 10_000 && perCallMs < 0.05) advice.push(`its ${fmtNum(summary.calls)} calls average ${fmtMs(perCallMs)}: pass it batches of rows instead of one row per call`);
  const gcMs = view.gcByStage.get(stage) ?? 0;
  const gcShare = summary.busyMs > 0 ? (gcMs / summary.busyMs) * 100 : 0;
  if (gcShare >= 10) advice.push(`GC pauses take ${fmtPct(gcShare)} of its time: allocate less per row (reuse buffers and objects, avoid intermediate arrays and string concatenation)`);
  else if (summary.meanHeapUsedDeltaMb > 1) advice.push(`a call allocates about ${fmtMb(summary.meanHeapUsedDeltaMb)} on the heap: allocate less per row`);
  if (summary.syncCalls === summary.calls && summary.maxSyncMs >= 100) advice.push(`its calls hold the event loop up to ${fmtMs(summary.maxSyncMs)}: split the work into chunks or move it to a worker thread`);
  advice.push('profile it (node --cpu-prof) to find the functions its time goes to');
  return `${parts.length > 0 ? `${parts.join(', ')}; ` : ''}${advice.join('; ')}.`;
}

function priorityOf(f: Finding, sharePercent: number | undefined): Priority {
  let p: Priority = f.severity === 'error' ? 'high' : f.severity === 'warning' ? 'medium' : 'low';
  if (sharePercent !== undefined) {
    if (sharePercent >= MAJOR_SHARE_PERCENT) p = up(p);
    else if (sharePercent < MINOR_SHARE_PERCENT && f.severity !== 'error') p = down(p);
  }
  return p;
}

/**
 * @example
 * buildRecommendations(findings, view, runEfficiency(view));
 * // [{ category: 'cpu_bound', stage: 'score', priority: 'high', message: 'score takes 81% of the run ...' }]
 */
export function buildRecommendations(findings: readonly Finding[], view: RunView, efficiency: RunEfficiency | undefined): Recommendation[] {
  const out: Recommendation[] = [];
  const seen = new Set<string>();
  const add = (category: string, stage: string | undefined, priority: Priority, message: string): void => {
    const key = `${category}\u0000${stage ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(stage !== undefined ? { category, stage, priority, message } : { category, priority, message });
  };
  const byStage = (kind: string, stage: string | undefined): Finding | undefined => findings.find((f) => f.kind === kind && f.stage === stage);

  for (const f of findings) {
    const e = f.evidence;
    const stage = f.stage;
    const share = stage !== undefined ? view.shareOf(stage) : undefined;
    const sharePct = share?.sharePercent;
    switch (f.kind) {
      case 'stage_failed': {
        const first = e?.firstError as { name?: string; message?: string } | undefined;
        const error = first !== undefined ? ` The first error was ${first.name ?? 'Error'}: ${first.message ?? ''}.` : '';
        const open = num(e, 'stillRunningAtEnd') > 0 ? ` ${num(e, 'stillRunningAtEnd')} call(s) were still running when the run ended: await them before stopMonitoring().` : '';
        add(
          'stage_failed',
          stage,
          priorityOf(f, sharePct),
          `${stage} failed ${num(e, 'failures')} of ${num(e, 'calls')} calls (${fmtPct(num(e, 'failurePercent'))}).${error}${open} Handle or retry that error; failed calls also distort the stage's timings.`,
        );
        break;
      }
      case 'dominant_stage':
      case 'slow_stage':
      case 'cpu_bound':
      case 'io_bound':
      case 'thread_contention': {
        if (stage === undefined || share === undefined) break;
        // A stage whose time is mostly in the stages it calls (a per-month driver, say): the
        // advice is where that time goes, ranked by their own share of the run.
        if (share.totalMs > 0 && share.selfMs < WRAPPER_SELF_SHARE * share.totalMs) {
          if (f.kind !== 'slow_stage' && f.kind !== 'dominant_stage') break;
          const inside = childrenByShare(view, stage).slice(0, 3);
          const where = inside.length > 0 ? `: its time is in the stages it calls, ${inside.map((c) => `${c.stage} (holds ${fmtPct(c.sharePercent)} of the run)`).join(', ')}. Start with those` : '';
          add('slow_stage', stage, priorityOf(f, share.sharePercent), `${stage} is open ${fmtPct(share.totalPercent)} of the run but holds only ${fmtPct(share.sharePercent)} of it itself${where}.`);
          break;
        }
        const waits = byStage('thread_contention', stage);
        if (waits !== undefined) {
          add('thread_contention', stage, 'low', `${stage} mostly waits while other stages hold the thread (${fmtPct(num(waits.evidence, 'waitedOnOthersPercent'))} of its time); it holds ${fmtPct(share.sharePercent)} of the run itself. Speed up the stages beside it, or move their synchronous work off the thread.`);
          break;
        }
        // one piece of advice per stage, shaped by what it spends its time on
        const summary = view.summaries.get(stage);
        const basis = byStage('slow_stage', stage) ?? byStage('dominant_stage', stage) ?? f;
        const took = `${stage} holds ${fmtPct(share.sharePercent)} of the run (${fmtMs(share.shareMs)})`;
        const cpu = byStage('cpu_bound', stage);
        const io = byStage('io_bound', stage);
        if (cpu !== undefined && cpu.evidence?.starved === true && num(cpu.evidence, 'cpuPercent') < 70) {
          add(
            'cpu_bound',
            stage,
            priorityOf(basis, share.sharePercent),
            `${took} and needs the CPU, but the host gave it only ${fmtPct(num(cpu.evidence, 'cpuPercent'))} of a core (the OS preempted the process ${fmtNum(num(cpu.evidence, 'involuntarySwitchesPerSec'))} times a second): run it where it has a core to itself or with fewer processes beside it.`,
          );
        } else if (cpu !== undefined) {
          add('cpu_bound', stage, priorityOf(basis, share.sharePercent), `${took} and its own code keeps a core ${fmtPct(num(cpu.evidence, 'cpuPercent'))} busy: ${cpuAdvice(view, stage, summary)}`);
        } else if (io !== undefined && io.evidence?.syscalls === true) {
          add(
            'io_bound',
            stage,
            priorityOf(basis, share.sharePercent),
            `${took} and spends ${fmtPct(num(io.evidence, 'systemPercent'))} of its CPU in system calls (${fmtMs(num(io.evidence, 'systemMs'))}): it is doing file or network I/O or other syscalls, not computing. Write and read in larger blocks, avoid fsync per item, stream instead of reading whole files, or move the I/O off the thread (async fs, a worker).`,
          );
        } else if (io !== undefined) {
          const sync = io.evidence?.synchronous === true;
          add(
            'io_bound',
            stage,
            priorityOf(basis, share.sharePercent),
            sync
              ? `${took} but its code uses only ${fmtPct(num(io.evidence, 'cpuPercent'))} CPU while blocking synchronously: replace the sync I/O (readFileSync, execSync, Atomics.wait) with async calls so the loop can do other work meanwhile.`
              : `${took} but its code uses only ${fmtPct(num(io.evidence, 'cpuPercent'))} CPU: it mostly waits for I/O or timers. Run its requests concurrently with a bounded limit, batch them, or cache repeated reads.`,
          );
        } else if (f.kind === 'slow_stage' || f.kind === 'dominant_stage') {
          const cpuPct = summary?.cpu.percent ?? 0;
          const what =
            f.kind === 'dominant_stage'
              ? `${took}: start there.`
              : `${stage}'s slowest call took ${fmtMs(num(e, 'durationMs'))}, over the ${fmtMs(num(e, 'slowStageMs'))} threshold; it holds ${fmtPct(share.sharePercent)} of the run.`;
          add(f.kind, stage, priorityOf(f, share.sharePercent), `${what} Its code uses ${fmtPct(cpuPct)} CPU over its calls (neither clearly computing nor clearly waiting): ${cpuAdvice(view, stage, summary)}`);
        }
        break;
      }
      case 'low_throughput': {
        add(
          'low_throughput',
          stage,
          priorityOf(f, sharePct),
          `${stage} processes ${fmtRate(num(e, 'rowsPerSecond'))} rows/s, under the ${fmtNum(num(e, 'minRowsPerSecond'))} rows/s minimum (${fmtNum(num(e, 'rowsProcessed'))} rows in ${fmtMs(num(e, 'busyMs'))} of busy time): work on batches of rows instead of one row per call or per await, and parallelise independent batches.`,
        );
        break;
      }
      case 'memory_intensive': {
        add(
          'memory_intensive',
          stage,
          priorityOf(f, undefined),
          `${stage} grows the heap by up to ${fmtMb(num(e, 'heapUsedDeltaMb'))} in one call (threshold ${fmtMb(num(e, 'memoryIntensiveMb'))}): stream or chunk its input instead of materialising it whole, and drop references to intermediate results as soon as they are used.`,
        );
        break;
      }
      case 'memory_leak': {
        const retained = num(e, 'retainedMb');
        const where =
          stage !== undefined
            ? ` The floor grows while ${stage} is busy (${fmtMb(retained)} of its growth): look first at what ${stage} adds to long-lived structures (module-level caches, arrays, maps, listeners).`
            : ` No stage's activity explains the growth (${str(e, 'attribution') ?? 'none follows it'}).`;
        const budget = num(e, 'minutesToBudget') > 0 ? ` At this rate the memory budget is reached in ${fmtMs(num(e, 'minutesToBudget') * 60_000)}.` : '';
        add(
          'memory_leak',
          stage,
          e?.confidence === 'high' ? 'high' : priorityOf(f, undefined),
          `The post-GC heap floor grows ${fmtNum(num(e, 'slopeMbPerMin'), 2)} MB/min (${fmtP(num(e, 'pValue'))}, ${str(e, 'confidence') ?? 'low'} confidence).${where}${budget} Compare two heap snapshots taken a few minutes apart (node --heapsnapshot-signal=SIGUSR2) to see what accumulates.`,
        );
        break;
      }
      case 'memory_spike': {
        const who = stage !== undefined ? stage : 'Code outside any recorded stage';
        add(
          'memory_spike',
          stage,
          priorityOf(f, undefined),
          `${who} made ${str(e, 'series') ?? 'memory'} jump by ${fmtMb(num(e, 'jumpMb'))} at ${fmtAt(num(e, 'atMs'))}${num(e, 'spikes') > 1 ? ` (${num(e, 'spikes')} spikes)` : ''}: load and process that data in smaller batches to flatten the peak, or release the previous batch before loading the next.`,
        );
        break;
      }
      case 'event_loop_blocked': {
        const ms = num(e, 'longestCallMs') > 0 ? num(e, 'longestCallMs') : num(e, 'durationMs');
        const what = stage !== undefined ? `${stage} blocks` : 'Unrecorded code blocks';
        add(
          'event_loop_blocked',
          stage,
          priorityOf(f, sharePct),
          `${what} the event loop for up to ${fmtMs(ms)} (threshold ${fmtMs(num(e, 'eventLoopBlockedMs'))}); timers, I/O callbacks and health checks stall meanwhile. Split the work into chunks that yield (await setImmediate between chunks) or move it to a worker thread.`,
        );
        break;
      }
      case 'gc_pressure': {
        const during = stage !== undefined ? `, ${fmtPct(num(e, 'stageSharePercent'))} of it while ${stage} ran` : '';
        add(
          'gc_pressure',
          stage,
          priorityOf(f, undefined),
          `GC pauses take ${fmtPct(num(e, 'gcPausePercent'))} of the run (${fmtMs(num(e, 'totalPauseMs'))} in ${fmtNum(num(e, 'count'))} pauses${during}): allocate less in the hot path (reuse buffers, avoid per-row temporary objects and string concatenation), or give the heap room (--max-old-space-size) if it runs near its limit.`,
        );
        break;
      }
      case 'call_skew': {
        add(
          'call_skew',
          stage,
          priorityOf(f, undefined),
          `${stage}'s slowest call took ${fmtMs(num(e, 'maxMs'))} against a 75th percentile of ${fmtMs(num(e, 'p75Ms'))} over ${fmtNum(num(e, 'calls'))} calls${num(e, 'slowestAtMs') > 0 ? ` (at ${fmtAt(num(e, 'slowestAtMs'))})` : ''}: check that call's input size and look for retries, lock waits or a cold cache; even out the partitions if one is much larger.`,
        );
        break;
      }
      default:
        break;
    }
  }
  if (efficiency !== undefined && efficiency.score < view.thresholds.memoryEfficiencyThreshold) {
    const p = efficiency.penalties;
    const worst = (Object.entries(p) as Array<[keyof RunEfficiency['penalties'], number]>).sort((a, b) => b[1] - a[1])[0];
    const cause =
      worst?.[0] === 'peak'
        ? `the peak (${fmtMb(view.run.peakMemoryMb)}, ${fmtPct(efficiency.peakSharePercent)} of the ${fmtMb(view.thresholds.maxMemoryMb)} budget) costs the most`
        : worst?.[0] === 'leak'
          ? 'the growing heap floor costs the most'
          : worst?.[0] === 'spikes'
            ? `the ${view.spikes.length} memory spike(s) cost the most`
            : `GC pauses (${fmtPct(efficiency.gcPausePercent)} of the run) cost the most`;
    add(
      'memory_efficiency',
      undefined,
      efficiency.score < view.thresholds.memoryEfficiencyThreshold / 2 ? 'high' : 'medium',
      `Memory efficiency is ${fmtNum(efficiency.score, 1)}/100, under the ${fmtNum(view.thresholds.memoryEfficiencyThreshold)} threshold; ${cause}. See the memory findings for the stages involved.`,
    );
  }
  return out.map((r, i) => ({ r, i })).sort((a, b) => RANK[a.r.priority] - RANK[b.r.priority] || a.i - b.i).map(({ r }) => r);
}
