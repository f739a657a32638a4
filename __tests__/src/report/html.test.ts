import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { createPerformanceMonitor, generateHtmlReport, type PerformanceReport, type StageMetrics } from '../../../src/index';
import { buildPageModel, MAX_GANTT_ROWS, type PageModel } from '../../../src/report/htmlModel';
import { jsonForScript } from '../../../src/report/html';
import { HOSTILE_NAME, realRunReport } from './realRun';

const DATA_OPEN = '<script type="application/json" id="stagemeter-data">';

/** The embedded data as the browser reads it: the element's text up to the first closing tag. */
function embeddedModel(html: string): PageModel {
  const start = html.indexOf(DATA_OPEN);
  expect(start).toBeGreaterThan(0);
  const from = start + DATA_OPEN.length;
  const end = html.toLowerCase().indexOf('</script', from);
  return JSON.parse(html.slice(from, end)) as PageModel;
}

/** Every src/href/action value and every CSS url()/@import of the page. */
function references(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/\s(?:src|href|action|srcset|poster|data)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/gi)) out.push(m[2] ?? m[3] ?? m[4] ?? '');
  for (const m of html.matchAll(/url\(\s*([^)]*)\)|@import\s+([^;]+)/gi)) out.push((m[1] ?? m[2] ?? '').trim());
  return out;
}

function emptyReport(): PerformanceReport {
  const m = createPerformanceMonitor({ enableMemoryTracking: false });
  m.startMonitoring({ runName: 'empty' });
  return m.stopMonitoring();
}

function call(id: string, name: string, t: number, durationMs: number, parentId?: string): StageMetrics {
  return {
    id, name, t, durationMs, rowsProcessed: 100, rowsPerSecond: 100 / (durationMs / 1000), success: true,
    cpu: { userMs: 1, systemMs: 0, percent: 90 }, memory: { heapUsedDeltaMb: 0.25 }, fidelity: 'full', sync: true,
    ...(parentId !== undefined ? { parentId } : {}),
  };
}

describe('generateHtmlReport on a real run', () => {
  let report: PerformanceReport;
  let html: string;
  beforeAll(async () => {
    report = await realRunReport();
    html = generateHtmlReport(report);
  });

  test('is one self-contained page: no external reference, no stylesheet link, uPlot inlined', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/<(iframe|img|object|embed)\b/i);
    expect(html).not.toMatch(/<script[^>]*\ssrc\s*=/i);
    for (const ref of references(html)) expect(ref).toMatch(/^#/);
    expect(html).toContain('uPlot');
    expect(html).toMatch(/\.uplot\s*\{/);
    // The page script uses no network API.
    expect(html).not.toMatch(/\b(fetch|XMLHttpRequest|WebSocket|EventSource|sendBeacon|importScripts)\s*\(/);
  });

  test('the embedded data parses back to the page model, hostile stage name included', () => {
    const model = embeddedModel(html);
    expect(model).toEqual(JSON.parse(JSON.stringify(buildPageModel(report))));
    expect(model.names).toContain(HOSTILE_NAME);
    expect(model.calls.t).toHaveLength(report.stages.length);
  });

  test('a stage named </script><script>alert(1)</script> cannot break out anywhere', () => {
    expect(html).not.toContain('alert(1)</script>');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('\u2028');
    expect(html).not.toContain('\u001b');
    expect(html.match(/<script\b/gi)).toHaveLength(3);
    expect(html.match(/<\/script>/gi)).toHaveLength(3);
    expect(html.match(/<!--/g)).toBeNull();
    // In the table the name is text.
    expect(html).toContain('&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#8232;&#60;!--\\x1b[31m');
  });

  test('the inline scripts are valid JavaScript', () => {
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    for (const code of scripts) expect(() => new Script(code)).not.toThrow();
  });

  test('the header names the run, its status, rows, rows/s, duration, peak memory and the leak verdict', () => {
    const header = html.slice(html.indexOf('<header'), html.indexOf('</header>'));
    expect(header).toContain('viewer-test');
    expect(header).toContain('status-completed');
    expect(header).toContain(`>${report.run.rowsProcessed.toLocaleString('en-US')} <small>of 6</small>`);
    for (const label of ['rows/s', 'duration', 'peak memory', 'memory leak']) expect(header).toContain(label);
    expect(header).toContain(`confidence ${report.memory.trend.confidence}`);
  });

  test('the stage table has one row per stage, sortable headers and raw values to sort on', () => {
    const table = html.slice(html.indexOf('<table id="stage-table">'), html.indexOf('</table>'));
    expect(table.match(/<tr data-stage-index="\d+">/g)).toHaveLength(report.stageSummaries.length);
    expect(table.match(/<th data-sort="num"/g)).toHaveLength(10);
    const load = report.stageSummaries.find((s) => s.name === 'load')!;
    expect(table).toContain(`data-v="${load.p95Ms}"`);
    expect(table).toContain(`data-v="${load.calls}"`);
  });

  test('every finding, recommendation and quality flag is listed, with links to its stage and time', () => {
    const lists = html.slice(html.indexOf('<section id="findings">'));
    const items = lists.match(/<li class="sev-/g) ?? [];
    expect(items).toHaveLength(report.bottlenecks.findings.length + report.recommendations.length + report.qualityFlags.length);
    const failed = report.bottlenecks.findings.find((f) => f.kind === 'stage_failed')!;
    expect(failed.stage).toBe('validate');
    const index = embeddedModel(html).names.indexOf('validate');
    expect(lists).toContain(`<a href="#" class="to-stage" data-stage-index="${index}">validate</a>`);
    expect(lists).toMatch(/class="to-time" data-t="[\d.]+"/);
  });

  test('stays small: under 200 KB for this run, of which uPlot is about 53 KB', () => {
    expect(Buffer.byteLength(html)).toBeLessThan(200_000);
  });

  test('finds uPlot from the package, whatever the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagemeter-html-cwd-'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      expect(generateHtmlReport(report)).toBe(html);
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('generateHtmlReport on empty, partial and hostile reports', () => {
  test('an empty report renders with its empty states and no calls', () => {
    const html = generateHtmlReport(emptyReport());
    expect(html).toContain('No stage calls were recorded in this run.');
    const model = embeddedModel(html);
    expect(model.calls.t).toEqual([]);
    expect(model.samples.t).toEqual([]);
    expect(model.durationMs).toBeGreaterThan(0);
  });

  test('a report missing its optional fields, and even some required ones, still renders', () => {
    const full = emptyReport();
    const partial = { schemaVersion: 1, run: { name: 'partial' }, stages: [call('1', 'only', 0, 5)] } as unknown as PerformanceReport;
    const stripped = { ...full, memory: { ...full.memory, trend: undefined }, timeShare: undefined, eventLoop: undefined, gc: undefined } as unknown as PerformanceReport;
    for (const r of [partial, stripped]) {
      const html = generateHtmlReport(r);
      expect(html).toContain('</html>');
      for (const code of [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!)) expect(() => new Script(code)).not.toThrow();
    }
    expect(embeddedModel(generateHtmlReport(partial)).names).toEqual(['only']);
  });

  test('__proto__, constructor and control characters as names stay data', () => {
    const r = { ...emptyReport(), stages: [call('1', '__proto__', 0, 5), call('2', 'constructor', 1, 2, '1'), call('3', 'a\u0000b\u0007', 2, 1, '__proto__')] };
    const html = generateHtmlReport(r);
    expect(embeddedModel(html).names.sort()).toEqual(['__proto__', 'a\u0000b\u0007', 'constructor']);
    expect(html).not.toMatch(/[\u0000\u0007]/);
  });

  test('jsonForScript escapes <, >, &, U+2028 and U+2029 and parses back to the same value', () => {
    const value = { a: '</script><!-- & \u2028\u2029 -->', b: ['</SCRIPT>'] };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });

  test('40,000 calls render, lanes past the cap sharing the last Gantt row', () => {
    const calls: StageMetrics[] = [];
    for (let i = 0; i < 10_000; i++) {
      const t = i * 2;
      calls.push(call(`p${i}`, 'batch', t, 1.5), call(`c${i}`, 'row', t + 0.1, 0.5, `p${i}`), call(`d${i}`, 'row', t + 0.7, 0.5, `p${i}`), call(`q${i}`, 'side', t + 0.2, 3));
    }
    // 400 calls at once: more lanes than the Gantt shows.
    for (let i = 0; i < 400; i++) calls.push(call(`w${i}`, 'wide', 5, 10));
    const report = { ...emptyReport(), stages: calls };
    const html = generateHtmlReport(report);
    const model = embeddedModel(html);
    expect(model.calls.t).toHaveLength(40_400);
    expect(model.gantt.rows).toBe(MAX_GANTT_ROWS);
    expect(Math.max(...model.calls.row)).toBe(MAX_GANTT_ROWS - 1);
    expect(Buffer.byteLength(html)).toBeLessThan(3_000_000);
  });
});

describe('buildPageModel', () => {
  test('places nested and concurrent calls on rows, and gives the heap floor and trend', () => {
    const base = emptyReport();
    const samples = Array.from({ length: 20 }, (_, i) => ({ t: i * 100, rssMb: 100 + i, heapUsedMb: i % 2 === 0 ? 10 + i : 40 + i, heapTotalMb: 80, externalMb: 1 }));
    const report: PerformanceReport = {
      ...base,
      run: { ...base.run, durationMs: 2000 },
      stages: [call('a', 'parent', 0, 100), call('b', 'child', 10, 40, 'a'), call('c', 'other', 20, 50)],
      memory: { ...base.memory, samples, trend: { leakSuspected: true, slopeMbPerMin: 60, r2: 1, method: 'test', sampleCount: 20, confidence: 'high', details: { windowMs: 200 } } },
    };
    const model = buildPageModel(report);
    // parent on row 0, its child on row 1 (same track), the concurrent call on the next track's row 2.
    expect(model.calls.row).toEqual([0, 1, 2]);
    expect(model.gantt).toEqual({ rows: 3, labels: [[0, 'main'], [2, 'lane 2']], foldedLanes: 0 });
    // Windows of 200 ms hold two samples: the floor is the even (lower) one.
    expect(model.samples.floor.slice(0, 4)).toEqual([10, 10, 12, 12]);
    // Slope 60 MB/min = 1 MB per second; floor points 10 + t/100 ms: offsets 10 - t/1000 * 1 ... median through them.
    const trend = model.samples.trend as number[];
    expect(trend[10]! - trend[0]!).toBeCloseTo(1, 6);
    expect(model.durationMs).toBe(2000);
  });
});
