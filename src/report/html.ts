/**
 * The HTML report: one self-contained file that opens in any browser without a network. It
 * inlines uPlot (its script and stylesheet, ~53 KB, read from the installed `uplot` package) and
 * embeds the report's data as JSON; the header, the stage table and the findings are rendered
 * here, the timeline by the page's script.
 */
import { readFileSync } from 'node:fs';
import type { PerformanceReport } from '../types';
import { buildPageModel } from './htmlModel';
import { HELPERS_SCRIPT, PAGE_SCRIPT } from './htmlPage/pageScript';
import { escapeHtml, renderFindings, renderHeader, renderStageTable } from './htmlPage/sections';
import { PAGE_CSS } from './htmlPage/style';
import { TIMELINE_SCRIPT } from './htmlPage/timelineScript';

/**
 * JSON that is safe inside a `<script>` element: `<`, `>` and `&` become \u escapes, so no
 * `</script>` or `<!--` can end or bend the element, and U+2028/U+2029 are escaped too.
 * `JSON.parse` of the element's text gives the value back unchanged.
 *
 * @example
 * `<script type="application/json">${jsonForScript({ name: '</script>' })}</script>`
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Inline code must not close its element: `</script` or `</style` becomes `<\/…` (same meaning in JS strings, regexes and comments). */
function inline(code: string, tag: 'script' | 'style'): string {
  return code.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1');
}

let uplotAssets: { js: string; css: string } | undefined;

/**
 * uPlot's script and stylesheet, read once per process. Resolved from this module (not the
 * working directory), so it works from the packed package as from the source tree.
 */
function uplot(): { js: string; css: string } {
  uplotAssets ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplotAssets;
}

/**
 * Renders a report as a single self-contained HTML page: header, timeline (Gantt of the stage
 * calls, memory, CPU, event-loop delay and GC pauses on one zoomable time axis), stage table, and
 * the findings, recommendations and quality flags. The page makes no network request.
 *
 * @example
 * const report = monitor.stopMonitoring();
 * writeFileSync('reports/run.html', generateHtmlReport(report));
 */
export function generateHtmlReport(report: PerformanceReport): string {
  const assets = uplot();
  const model = buildPageModel(report);
  const run = report.run ?? ({} as Partial<PerformanceReport['run']>);
  const title = `stagemeter: ${String(run.name ?? 'run')}`;
  const version = report.generator?.version !== undefined ? ` ${String(report.generator.version)}` : '';
  const omitted = report.stageRecords?.omitted ?? 0;
  const recordsNote =
    omitted > 0 ? `<p class="hint">${escapeHtml(report.stageRecords.kept)} calls drawn; ${escapeHtml(omitted)} more were counted in the table but not kept as records.</p>` : '';
  const script = `(function () {\n'use strict';\n${HELPERS_SCRIPT}\n${TIMELINE_SCRIPT}\n${PAGE_SCRIPT}\n})();`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="stagemeter${escapeHtml(version)}">
<title>${escapeHtml(title)}</title>
<style>${inline(assets.css, 'style')}</style>
<style>${inline(PAGE_CSS, 'style')}</style>
</head>
<body>
<main>
${renderHeader(report)}
<section id="timeline">
<h2>Timeline</h2>
<div class="toolbar"><button type="button" id="reset-zoom">Reset zoom</button><span class="range" id="range"></span><span class="hint">drag across any panel to zoom; double-click to zoom out; click a bar to find its stage</span></div>
${recordsNote}
<div class="panel-title">Stage calls</div>
<div id="gantt"></div>
<div id="charts"><div id="chart-memory" class="chart"></div><div id="chart-cpu" class="chart"></div><div id="chart-loop" class="chart"></div></div>
</section>
<section id="stages">
<h2>Stages</h2>
${renderStageTable(report, model.names)}
</section>
${renderFindings(report, model.names)}
<footer>${escapeHtml(`stagemeter${version}`)}${typeof run.id === 'string' ? ` · run ${escapeHtml(run.id)}` : ''}</footer>
</main>
<div id="tooltip" role="tooltip"></div>
<script type="application/json" id="stagemeter-data">${jsonForScript(model)}</script>
<script>${inline(assets.js, 'script')}</script>
<script>${inline(script, 'script')}</script>
</body>
</html>
`;
}
