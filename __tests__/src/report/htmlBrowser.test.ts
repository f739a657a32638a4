/**
 * The HTML report in a real browser: Debian's chromium driven by playwright-core. Opens the
 * report of a real run of the demo pipeline from a file:// URL and checks what a user sees:
 * nothing fails or reaches out, the charts draw, the table sorts, hover and zoom work.
 * Writes reports/artifacts/html-report.png (and the page and its timings beside it).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runLabelingPipeline } from '../../../examples/labelingPipeline';
import { createPerformanceMonitor, generateHtmlReport, setMonitor, type PerformanceReport, type StageMetrics } from '../../../src/index';
import { resetGlobalStateForTests } from '../../../src/callpath/global';
import { HOSTILE_NAME, realRunReport } from './realRun';

// The browser side of page.evaluate, typed by hand: the test project compiles without the DOM lib.
interface Pixels { data: Uint8ClampedArray }
interface Canvas { width: number; height: number; getBoundingClientRect(): { left: number; top: number; width: number }; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): Pixels } }
interface Row { cells: Array<{ textContent: string | null; getAttribute(name: string): string | null }> }
interface PageModel { names: string[]; calls: { t: number[]; d: number[]; name: number[]; rows: number[]; cpu: Array<number | null> } }
declare const window: { stagemeter: { readyMs: number; model: PageModel; barBox(i: number): { x: number; y: number; width: number; height: number } } };
declare const document: { querySelector(selector: string): unknown; querySelectorAll(selector: string): { length: number } };
declare function getComputedStyle(element: unknown): { backgroundColor: string };

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve(__dirname, '..', '..', '..', 'reports', 'artifacts');

jest.setTimeout(120_000);

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`htmlBrowser.test.ts skipped: ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)`);
const describeWithChromium = haveChromium ? describe : describe.skip;

/** A page with listeners that collect console errors, page errors, failed and outside requests. */
async function openPage(browser: Browser, allowed: (url: string) => boolean): Promise<{ page: Page; problems: string[]; requests: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('dialog', (d) => {
    problems.push(`dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (r) => requests.push(r.url()));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (allowed(url)) return route.continue();
    problems.push(`outside request: ${url}`);
    return route.abort();
  });
  return { page, problems, requests };
}

async function waitReady(page: Page): Promise<number> {
  await page.waitForSelector('html[data-ready="1"]', { timeout: 30_000 });
  return page.evaluate(() => window.stagemeter.readyMs);
}

/** Pixels of each canvas that are neither transparent nor white, by panel id. */
async function inkedPixels(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const id of ['gantt', 'chart-memory', 'chart-cpu', 'chart-loop']) {
      const canvas = document.querySelector(`#${id} canvas`) as Canvas | null;
      if (canvas === null) continue;
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 0 && !(data[i]! > 245 && data[i + 1]! > 245 && data[i + 2]! > 245)) n++;
      out[id] = n;
    }
    return out;
  });
}

async function stageColumn(page: Page, col: number): Promise<Array<{ name: string; v: string }>> {
  return page.$$eval(
    '#stage-table tbody tr',
    (rows, c) => rows.map((r) => ({ name: (r as unknown as Row).cells[0]!.textContent ?? '', v: (r as unknown as Row).cells[c]!.getAttribute('data-v') ?? '' })),
    col,
  );
}

async function demoReport(): Promise<PerformanceReport> {
  resetGlobalStateForTests();
  const monitor = createPerformanceMonitor({ memorySamplingIntervalMs: 20, thresholds: { slowStageMs: 20, minThroughputRowsPerSec: 500_000, memoryIntensiveMb: 16 } });
  setMonitor(monitor);
  try {
    monitor.startMonitoring({ runName: 'labeling-demo (browser test)', expectedRows: 4 * 20_000 });
    await runLabelingPipeline({ months: 4, rowsPerMonth: 20_000, auditWindow: 200 });
    return monitor.stopMonitoring();
  } finally {
    resetGlobalStateForTests();
  }
}

describeWithChromium('the HTML report in chromium', () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    dir = mkdtempSync(join(tmpdir(), 'stagemeter-html-browser-'));
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the demo pipeline report loads offline, draws, sorts, hovers and zooms', async () => {
    const report = await demoReport();
    const started = performance.now();
    const html = generateHtmlReport(report);
    const generateMs = performance.now() - started;
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const url = pathToFileURL(file).href;
    const { page, problems, requests } = await openPage(browser, (u) => u === url);

    const loadStarted = performance.now();
    await page.goto(url);
    const readyMs = await waitReady(page);
    const loadMs = performance.now() - loadStarted;

    // Charts drew: every panel has ink, the Gantt a lot of it.
    const ink = await inkedPixels(page);
    expect(Object.keys(ink).sort()).toEqual(['chart-cpu', 'chart-loop', 'chart-memory', 'gantt']);
    for (const n of Object.values(ink)) expect(n).toBeGreaterThan(2000);

    // The table sorts, numerically, both ways.
    const initial = await stageColumn(page, 6);
    await page.click('#stage-table th:nth-child(7)');
    const desc = await stageColumn(page, 6);
    expect(desc.map((r) => Number(r.v))).toEqual([...initial.map((r) => Number(r.v))].sort((a, b) => b - a));
    await page.click('#stage-table th:nth-child(7)');
    const asc = await stageColumn(page, 6);
    expect(asc.map((r) => Number(r.v))).toEqual([...initial.map((r) => Number(r.v))].sort((a, b) => a - b));
    expect(asc.map((r) => r.name)).not.toEqual(initial.map((r) => r.name));
    expect(await page.getAttribute('#stage-table th:nth-child(7)', 'aria-sort')).toBe('ascending');
    await page.click('#stage-table th:nth-child(1)');
    const byName = (await stageColumn(page, 0)).map((r) => r.name);
    expect(byName).toEqual([...byName].sort((a, b) => a.localeCompare(b)));

    // Hover the longest audit call: the tooltip names it with its figures, and the pixel under
    // the pointer has the colour of the stage's swatch in the table.
    const target = await page.evaluate(() => {
      const m = window.stagemeter.model;
      const audit = m.names.indexOf('WeightedLabelingEngine.audit');
      let best = -1;
      m.calls.name.forEach((n, i) => {
        if (n === audit && (best < 0 || m.calls.d[i]! > m.calls.d[best]!)) best = i;
      });
      return { index: best, d: m.calls.d[best]!, rows: m.calls.rows[best]!, cpu: m.calls.cpu[best] ?? null, stage: audit };
    });
    expect(target.index).toBeGreaterThanOrEqual(0);
    await page.locator('#gantt').scrollIntoViewIfNeeded();
    const box = await page.evaluate((i) => window.stagemeter.barBox(i), target.index);
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    await page.mouse.move(x - 20, y);
    await page.mouse.move(x, y, { steps: 4 });
    await page.waitForSelector('#tooltip', { state: 'visible' });
    const tip = await page.textContent('#tooltip');
    expect(tip).toContain('WeightedLabelingEngine.audit');
    expect(tip).toContain(`rows: ${target.rows.toLocaleString('en-US')}`);
    expect(tip).toContain(`${Math.round(target.rows / (target.d / 1000)).toLocaleString('en-US')} rows/s`);
    expect(tip).toContain(target.d >= 100 ? `${target.d.toFixed(0)} ms` : `${target.d.toFixed(2)} ms`);
    if (target.cpu !== null) expect(tip).toContain(`CPU: ${target.cpu >= 100 ? Math.round(target.cpu).toLocaleString('en-US') : String(Math.round(target.cpu * 100) / 100)} %`);
    expect(tip).toMatch(/heap Δ: [+-]?\d/);
    const [pixel, swatch] = await page.evaluate(
      ({ px, py, stage }) => {
        const canvas = document.querySelector('#gantt canvas') as Canvas;
        const rect = canvas.getBoundingClientRect();
        const ratio = canvas.width / rect.width;
        const d = canvas.getContext('2d').getImageData(Math.round((px - rect.left) * ratio), Math.round((py - rect.top) * ratio), 1, 1).data;
        const sw = document.querySelector(`#stage-table tr[data-stage-index="${stage}"] .swatch`);
        return [`rgb(${d[0]}, ${d[1]}, ${d[2]})`, getComputedStyle(sw).backgroundColor];
      },
      { px: x, py: y, stage: target.stage },
    );
    expect(pixel).toBe(swatch);

    // Drag across the memory chart: every panel zooms to the same window; reset restores it.
    const fullRange = await page.textContent('#range');
    const widthBefore = box.width;
    await page.locator('#chart-memory').scrollIntoViewIfNeeded();
    const over = (await page.locator('#chart-memory .u-over').boundingBox())!;
    await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 5 });
    await page.mouse.up();
    const zoomed = await page.textContent('#range');
    expect(zoomed).not.toBe(fullRange);
    const boxZoomed = await page.evaluate((i) => window.stagemeter.barBox(i), target.index);
    if (boxZoomed.width > 1) expect(boxZoomed.width).toBeGreaterThan(widthBefore * 2);
    await page.click('#reset-zoom');
    expect(await page.textContent('#range')).toBe(fullRange);

    // A finding's time link zooms the timeline; its stage link flashes the table row.
    if ((await page.locator('a.to-time').count()) > 0) {
      await page.locator('a.to-time').first().click();
      expect(await page.textContent('#range')).not.toBe(fullRange);
    }
    const stageLink = page.locator('a.to-stage').first();
    const linked = await stageLink.getAttribute('data-stage-index');
    await stageLink.click();
    expect(await page.getAttribute(`#stage-table tr[data-stage-index="${linked}"]`, 'class')).toContain('flash');
    await page.click('#reset-zoom');

    mkdirSync(ARTIFACTS, { recursive: true });
    // Chart values on hover.
    await page.locator('#chart-memory').scrollIntoViewIfNeeded();
    const chart = (await page.locator('#chart-memory .u-over').boundingBox())!;
    await page.mouse.move(chart.x + chart.width * 0.5, chart.y + chart.height * 0.5, { steps: 3 });
    await page.waitForSelector('#tooltip', { state: 'visible' });
    expect(await page.textContent('#tooltip')).toMatch(/rss: [\d,.]+ MB.*heap used: [\d,.]+ MB/);

    // The screenshot: top of the page, the tooltip over the audit bar.
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    const again = await page.evaluate((i) => window.stagemeter.barBox(i), target.index);
    await page.mouse.move(again.x + again.width / 2 - 10, again.y + again.height / 2);
    await page.mouse.move(again.x + again.width / 2, again.y + again.height / 2, { steps: 3 });
    await page.waitForSelector('#tooltip', { state: 'visible' });
    await page.screenshot({ path: join(ARTIFACTS, 'html-report.png'), fullPage: true });
    writeFileSync(join(ARTIFACTS, 'html-report.html'), html);
    writeFileSync(join(ARTIFACTS, 'html-report-timing.json'), `${JSON.stringify({ htmlBytes: Buffer.byteLength(html), calls: report.stages.length, samples: report.memory.samples.length, generateMs, pageReadyMs: readyMs, gotoToReadyMs: loadMs }, null, 2)}\n`);

    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);
    await page.close();
  });

  test('a hostile stage name shows as text and runs nothing', async () => {
    const report = await realRunReport();
    const { page, problems, requests } = await openPage(browser, () => false);
    await page.setContent(generateHtmlReport(report));
    await waitReady(page);
    const names = await page.$$eval('#stage-table td.stage', (cells) => cells.map((c) => c.textContent));
    // Control characters are shown escaped, everything else literally.
    expect(names).toContain(HOSTILE_NAME.replace('\u001b', '\\x1b'));
    expect(await page.evaluate(() => document.querySelectorAll('script').length)).toBe(3);
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  test('an empty report and a report of 40,000 calls both load without errors', async () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring({ runName: 'empty' });
    const empty = m.stopMonitoring();
    const calls: StageMetrics[] = [];
    const call = (id: string, name: string, t: number, durationMs: number, parentId?: string): StageMetrics => ({
      id, name, t, durationMs, rowsProcessed: 10, rowsPerSecond: 10_000, success: true, cpu: { userMs: 1, systemMs: 0, percent: 90 },
      memory: { heapUsedDeltaMb: 0.1 }, fidelity: 'full', sync: true, ...(parentId !== undefined ? { parentId } : {}),
    });
    for (let i = 0; i < 10_000; i++) {
      calls.push(call(`p${i}`, 'batch', i * 2, 1.5), call(`c${i}`, 'row', i * 2 + 0.1, 0.5, `p${i}`), call(`d${i}`, 'row', i * 2 + 0.7, 0.5, `p${i}`), call(`q${i}`, 'side', i * 2 + 0.2, 3));
    }
    const big = { ...empty, run: { ...empty.run, durationMs: 20_010 }, stages: calls };
    const timings: Record<string, number> = {};
    for (const [name, report] of [['empty', empty], ['40k', big]] as const) {
      const { page, problems } = await openPage(browser, () => false);
      const started = performance.now();
      await page.setContent(generateHtmlReport(report));
      timings[name] = await waitReady(page);
      timings[`${name}Wall`] = performance.now() - started;
      if (name === 'empty') expect(await page.textContent('#gantt')).toContain('No stage calls were recorded');
      else expect((await inkedPixels(page)).gantt).toBeGreaterThan(10_000);
      expect(problems).toEqual([]);
      await page.close();
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'html-report-40k-timing.json'), `${JSON.stringify(timings, null, 2)}\n`);
    expect(timings['40kWall']).toBeLessThan(20_000);
  });
});
