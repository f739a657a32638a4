/**
 * The parts of the HTML report rendered ahead of time, as escaped HTML: the header, the stage
 * table (numbers carry their raw value in `data-v` for sorting) and the findings, recommendations
 * and quality flags, grouped by severity, with links to their stage and time. Pure.
 */
import type { Finding, PerformanceReport, QualityFlag, Recommendation, StageSummary } from '../../types';
import { findingTimeMs } from '../layout';

/**
 * Escapes text for HTML content and quoted attribute values. Control characters (an ANSI escape
 * in a stage name, say) are shown as `\x1b`-style text rather than passed to the page raw.
 *
 * @example
 * escapeHtml('</script>'); // '&#60;/script&#62;'
 */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replace(/[&<>"'\u2028\u2029]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const dec2 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });

/**
 * A duration in ms as text, in the unit that reads best.
 *
 * @example
 * formatMs(1234); // '1.23 s'
 * formatMs(0.012); // '12 µs'
 */
export function formatMs(ms: unknown): string {
  if (!finite(ms)) return '–';
  const a = Math.abs(ms);
  if (a >= 1000) return `${dec2.format(ms / 1000)} s`;
  if (a >= 100) return `${int.format(ms)} ms`;
  if (a >= 1 || a === 0) return `${dec2.format(ms)} ms`;
  return `${int.format(ms * 1000)} µs`;
}

function num(v: unknown, f: Intl.NumberFormat = int, unit = ''): string {
  return finite(v) ? `${f.format(v)}${unit}` : '–';
}

function kpi(label: string, value: string, title = ''): string {
  return `<div class="kpi"${title ? ` title="${escapeHtml(title)}"` : ''}><div class="kpi-label">${escapeHtml(label)}</div><div class="kpi-value">${value}</div></div>`;
}

/**
 * The run's header: name, status, rows, rows/s, duration, peak memory, CPU and the leak verdict.
 *
 * @example
 * renderHeader(report); // '<header>...'
 */
export function renderHeader(report: PerformanceReport): string {
  const run = report.run ?? ({} as Partial<PerformanceReport['run']>);
  const trend = report.memory?.trend;
  const status = typeof run.status === 'string' ? run.status : 'unknown';
  let leak = 'no trend';
  let leakClass = 'ok';
  let leakTitle = '';
  if (trend !== undefined && trend !== null) {
    const conf = escapeHtml(trend.confidence ?? 'none');
    if (trend.leakSuspected === true) {
      leak = `leak suspected: +${escapeHtml(num(trend.slopeMbPerMin, dec2))} MB/min <small>(confidence ${conf})</small>`;
      leakClass = 'bad';
    } else {
      leak = `no leak <small>(confidence ${conf})</small>`;
      if (trend.confidence === 'none') leakClass = 'unknown';
    }
    const reason = trend.details?.reason;
    leakTitle = `${String(trend.method ?? '')}${typeof reason === 'string' ? `: ${reason}` : ''}`;
  }
  const rows = `${escapeHtml(num(run.rowsProcessed))}${finite(run.expectedRows) ? ` <small>of ${escapeHtml(num(run.expectedRows))}</small>` : ''}`;
  const started = typeof run.startedAt === 'string' ? ` · started ${escapeHtml(run.startedAt)}` : '';
  const host = run.host ? ` · node ${escapeHtml(run.host.node)} on ${escapeHtml(run.host.platform)}, ${escapeHtml(run.host.cpus)} CPUs` : '';
  const loop = report.eventLoop ? kpi('loop delay p99', escapeHtml(formatMs(report.eventLoop.delayP99Ms))) : '';
  const gc = report.gc ? kpi('GC pauses', `${escapeHtml(formatMs(report.gc.totalPauseMs))} <small>in ${escapeHtml(num(report.gc.count))}</small>`) : '';
  return `<header id="run">
<h1><span class="run-name">${escapeHtml(run.name ?? 'stagemeter run')}</span> <span class="status status-${escapeHtml(status)}">${escapeHtml(status)}</span></h1>
<p class="sub">stagemeter report${started}${host}</p>
<div class="kpis">
${kpi('rows', rows)}
${kpi('rows/s', escapeHtml(num(run.rowsPerSecond)))}
${kpi('duration', escapeHtml(formatMs(run.durationMs)))}
${kpi('peak memory', `${escapeHtml(num(report.summary?.peakMemoryMb, dec1))} MB`)}
${kpi('CPU', `${escapeHtml(num(report.summary?.avgCpuPercent))} %`, 'average over the run, percent of one core')}
${loop}${gc}
<div class="kpi leak leak-${leakClass}" title="${escapeHtml(leakTitle)}"><div class="kpi-label">memory leak</div><div class="kpi-value">${leak}</div></div>
</div>
</header>`;
}

/** Self and total time of each stage: from `timeShare` when the report has it, else total only. */
function shareByStage(report: PerformanceReport): Map<string, { selfPercent?: number; totalPercent?: number }> {
  const out = new Map<string, { selfPercent?: number; totalPercent?: number; selfMs: number; totalMs: number; n: number }>();
  const runMs = finite(report.run?.durationMs) && report.run.durationMs > 0 ? report.run.durationMs : undefined;
  for (const s of Array.isArray(report.timeShare) ? report.timeShare : []) {
    const prev = out.get(s.stage);
    if (prev === undefined) out.set(s.stage, { selfPercent: s.selfPercent, totalPercent: s.totalPercent, selfMs: s.selfMs, totalMs: s.totalMs, n: 1 });
    else {
      // One entry per thread: the stage's share is its time on all threads over the run.
      prev.selfMs += s.selfMs;
      prev.totalMs += s.totalMs;
      prev.n++;
      prev.selfPercent = runMs !== undefined ? (prev.selfMs / runMs) * 100 : undefined;
      prev.totalPercent = runMs !== undefined ? (prev.totalMs / runMs) * 100 : undefined;
    }
  }
  return out;
}

function cell(value: unknown, text: string): string {
  return `<td class="n" data-v="${finite(value) ? value : ''}">${escapeHtml(text)}</td>`;
}

/**
 * The stage table, one row per stage summary, largest total time first.
 *
 * @example
 * renderStageTable(report, buildPageModel(report).names); // '<table id="stage-table">...'
 */
export function renderStageTable(report: PerformanceReport, names: readonly string[] = []): string {
  const summaries: StageSummary[] = Array.isArray(report.stageSummaries) ? [...report.stageSummaries] : [];
  if (summaries.length === 0) return '<p class="empty">No stage calls were recorded in this run.</p>';
  summaries.sort((a, b) => (b.totalMs ?? 0) - (a.totalMs ?? 0));
  const share = shareByStage(report);
  const index = indexer(names);
  const runMs = finite(report.run?.durationMs) && report.run.durationMs > 0 ? report.run.durationMs : undefined;
  const head = [
    ['stage', 'text', 'stage name'],
    ['self %', 'num', 'share of the run spent in the stage\u2019s own code (children excluded)'],
    ['total %', 'num', 'share of the run spent in the stage, children included'],
    ['calls', 'num', ''],
    ['failed', 'num', ''],
    ['p50', 'num', 'median call duration'],
    ['p95', 'num', '95th percentile of call duration'],
    ['max', 'num', 'longest call'],
    ['rows/s', 'num', 'rows over the stage\u2019s busy time'],
    ['CPU %', 'num', 'process CPU during the stage\u2019s calls, percent of one core'],
    ['heap Δ', 'num', 'mean heap-used change per call, MB'],
  ]
    .map(([label, type, title]) => `<th data-sort="${type}"${title ? ` title="${escapeHtml(title)}"` : ''} tabindex="0">${escapeHtml(label)}</th>`)
    .join('');
  const rows = summaries.map((s) => {
    const sh = share.get(s.name);
    const selfMs = (s as { selfMs?: unknown }).selfMs;
    const selfPercent = sh?.selfPercent ?? (finite(selfMs) && runMs !== undefined ? (selfMs / runMs) * 100 : undefined);
    const totalPercent = sh?.totalPercent ?? (finite(s.totalMs) && runMs !== undefined ? (s.totalMs / runMs) * 100 : undefined);
    const cpu = s.cpu?.percent;
    const est = s.cpu?.estimated === true ? ' ~' : '';
    return (
      `<tr data-stage-index="${index(s.name)}"><td class="stage"><span class="swatch"></span>${escapeHtml(s.name)}</td>` +
      cell(selfPercent, num(selfPercent, dec1)) +
      cell(totalPercent, num(totalPercent, dec1)) +
      cell(s.calls, num(s.calls)) +
      cell(s.failures, num(s.failures)) +
      cell(s.p50Ms, formatMs(s.p50Ms)) +
      cell(s.p95Ms, formatMs(s.p95Ms)) +
      cell(s.maxMs, formatMs(s.maxMs)) +
      cell(s.rowsProcessed > 0 ? s.rowsPerSecond : undefined, s.rowsProcessed > 0 ? num(s.rowsPerSecond) : '–') +
      cell(cpu, `${num(cpu)}${finite(cpu) ? est : ''}`) +
      cell(s.meanHeapUsedDeltaMb, num(s.meanHeapUsedDeltaMb, dec2)) +
      '</tr>'
    );
  });
  return `<table id="stage-table"><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

interface Item {
  group: string;
  badge: string;
  message: string;
  stage?: string;
  t?: number;
}

/** Position of each stage name in the page model's `names` (-1 when absent), which links and rows carry. */
function indexer(names: readonly string[]): (name: string) => number {
  const map = new Map<string, number>();
  names.forEach((n, i) => {
    if (!map.has(n)) map.set(n, i);
  });
  return (name) => map.get(name) ?? -1;
}

function links(item: Item, index: (name: string) => number): string {
  const out: string[] = [];
  if (item.stage !== undefined) {
    const i = index(item.stage);
    out.push(i >= 0 ? `<a href="#" class="to-stage" data-stage-index="${i}">${escapeHtml(item.stage)}</a>` : `<span class="stage-name">${escapeHtml(item.stage)}</span>`);
  }
  if (item.t !== undefined) out.push(`<a href="#" class="to-time" data-t="${item.t}">at ${escapeHtml(formatMs(item.t))}</a>`);
  return out.length > 0 ? ` <span class="links">${out.join(' ')}</span>` : '';
}

function list(title: string, id: string, groups: readonly string[], items: Item[], index: (name: string) => number): string {
  if (items.length === 0) return `<section id="${id}"><h2>${escapeHtml(title)}</h2><p class="empty">None.</p></section>`;
  const parts = groups
    .map((g) => {
      const inGroup = items.filter((i) => i.group === g);
      if (inGroup.length === 0) return '';
      const lis = inGroup.map((i) => `<li class="sev-${escapeHtml(g)}"><span class="badge">${escapeHtml(i.badge)}</span> ${escapeHtml(i.message)}${links(i, index)}</li>`).join('\n');
      return `<h3 class="sev-${escapeHtml(g)}">${escapeHtml(g)} (${inGroup.length})</h3><ul>\n${lis}\n</ul>`;
    })
    .join('\n');
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>${parts}</section>`;
}

function severity(v: unknown): string {
  return v === 'error' || v === 'warning' ? v : 'info';
}

/**
 * Findings, recommendations and quality flags, grouped by severity (recommendations by priority).
 *
 * @example
 * renderFindings(report, buildPageModel(report).names); // '<section id="findings">...'
 */
export function renderFindings(report: PerformanceReport, names: readonly string[] = []): string {
  const index = indexer(names);
  const findings: Finding[] = Array.isArray(report.bottlenecks?.findings) ? report.bottlenecks.findings : [];
  const recs: Recommendation[] = Array.isArray(report.recommendations) ? report.recommendations : [];
  const flags: QualityFlag[] = Array.isArray(report.qualityFlags) ? report.qualityFlags : [];
  const sev = ['error', 'warning', 'info'];
  const f = list(
    'Findings',
    'findings',
    sev,
    findings.map((x) => ({ group: severity(x.severity), badge: String(x.kind), message: String(x.message), ...(x.stage !== undefined ? { stage: String(x.stage) } : {}), ...optionalT(findingTimeMs(x)) })),
    index,
  );
  const r = list(
    'Recommendations',
    'recommendations',
    ['high', 'medium', 'low'],
    recs.map((x) => ({ group: ['high', 'medium', 'low'].includes(x.priority) ? x.priority : 'low', badge: String(x.category), message: String(x.message), ...(x.stage !== undefined ? { stage: String(x.stage) } : {}) })),
    index,
  );
  const q = list(
    'Quality flags',
    'quality-flags',
    sev,
    flags.map((x) => ({ group: severity(x.severity), badge: String(x.code ?? x.severity), message: String(x.message), ...(x.stage !== undefined ? { stage: String(x.stage) } : {}), ...optionalT(finite(x.t) ? x.t : undefined) })),
    index,
  );
  return `${f}\n${r}\n${q}`;
}

function optionalT(t: number | undefined): { t?: number } {
  return t !== undefined ? { t } : {};
}
