/**
 * The HTML report's own stylesheet (uPlot's is inlined beside it). System fonts only: the page
 * never fetches anything.
 */
export const PAGE_CSS = `
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #dde2ea; --bg: #f6f7f9; --card: #fff;
  --error: #c62828; --warning: #d97706; --info: #1f6fb2; --ok: #2e7d32; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 0 0 2px; word-break: break-all; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; text-transform: capitalize; }
section, header { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
.sub { color: var(--muted); margin: 0 0 12px; font-size: 12px; }
.status { font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px; vertical-align: middle; background: #e3e7ee; }
.status-completed { background: #e3f3e5; color: var(--ok); }
.status-aborted { background: #fde7e7; color: var(--error); }
.status-running { background: #fff4e0; color: var(--warning); }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.kpi-label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.kpi-value { font-size: 18px; font-weight: 600; white-space: nowrap; }
.kpi small { font-size: 12px; font-weight: 400; color: var(--muted); }
.leak-bad { border-color: var(--error); background: #fdf1f1; }
.leak-bad .kpi-value { color: var(--error); }
.leak-ok .kpi-value { color: var(--ok); }
.leak-unknown .kpi-value { color: var(--muted); }
.toolbar { display: flex; align-items: center; gap: 12px; margin-bottom: 8px; flex-wrap: wrap; }
.toolbar button { font: inherit; padding: 3px 12px; border: 1px solid var(--line); border-radius: 5px; background: #fff; cursor: pointer; }
.toolbar button:hover { background: #eef2f7; }
.hint, .range { color: var(--muted); font-size: 12px; }
.panel-title { font-size: 12px; font-weight: 600; color: var(--muted); margin: 10px 0 2px 4px; }
.empty { color: var(--muted); font-style: italic; margin: 6px 0; }
#gantt .u-over, .chart .u-over { cursor: crosshair; }
.uplot .u-legend { font-size: 12px; }
#tooltip { position: fixed; z-index: 10; pointer-events: none; display: none; max-width: 420px;
  background: rgba(29, 35, 48, .94); color: #fff; border-radius: 6px; padding: 7px 10px; font-size: 12px; line-height: 1.5; }
#tooltip .tt-title { font-weight: 600; font-size: 13px; word-break: break-all; }
#tooltip .tt-row span { color: #aeb8c6; }
#tooltip .tt-error { color: #ffb4b4; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; }
th { cursor: pointer; user-select: none; white-space: nowrap; background: #f0f2f6; position: sticky; top: 0; }
th:hover { background: #e4e8ef; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 10px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.stage { word-break: break-all; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; background: #999; vertical-align: baseline; }
tr.flash td { animation: flash 2.5s ease-out; }
@keyframes flash { 0%, 40% { background: #fff3b0; } 100% { background: transparent; } }
ul { margin: 0; padding-left: 0; list-style: none; }
li { padding: 5px 0 5px 10px; border-left: 3px solid var(--line); margin-bottom: 4px; }
li.sev-error, li.sev-high { border-left-color: var(--error); }
li.sev-warning, li.sev-medium { border-left-color: var(--warning); }
li.sev-info, li.sev-low { border-left-color: var(--info); }
h3.sev-error, h3.sev-high { color: var(--error); }
h3.sev-warning, h3.sev-medium { color: var(--warning); }
h3.sev-info, h3.sev-low { color: var(--info); }
.badge { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 11px; background: #eef1f5; border-radius: 4px; padding: 1px 5px; }
.links a { font-size: 12px; margin-left: 6px; color: var(--info); }
footer { color: var(--muted); font-size: 12px; text-align: center; }
`;
