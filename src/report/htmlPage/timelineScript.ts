/**
 * The page's timeline, as browser JavaScript: the Gantt of stage calls and the sample charts,
 * each a uPlot instance on one shared x axis (seconds since the run started). Drag-select zooms
 * every panel together, double-click or "reset zoom" goes back to the whole run; the tooltip
 * shows the call under the pointer or the chart's values. The Gantt draws its bars itself on
 * uPlot's canvas in one pass per stage name, so 40,000 calls redraw in a few ms.
 *
 * Runs inside the page's IIFE after HELPERS_SCRIPT (model, fmtMs, fmtNum, colorOf, tooltip).
 * Kept free of template literals and of the closing script tag: it is embedded verbatim.
 */
export const TIMELINE_SCRIPT = String.raw`
var DUR_S = Math.max(model.durationMs, 1e-3) / 1000;
var BAND = 12, X_AXIS = 34, Y_AXIS = 78, PAD = [6, 14, 0, 0];
var SEV_COLOR = { error: '#c62828', warning: '#d97706', info: '#1f6fb2', spike: '#7b3fb8' };
var panels = [];
var syncing = false;
var hovered = null;
var focusT = null;
var timelineEl = document.getElementById('timeline');
var rangeEl = document.getElementById('range');

function panelWidth() { return Math.max(320, timelineEl.clientWidth - 4); }
function pxRatio() { return (window.uPlot && uPlot.pxRatio) || window.devicePixelRatio || 1; }

function xAxis() {
  return { size: X_AXIS, values: function (u, splits) { return splits.map(function (v) { return fmtSeconds(v); }); } };
}

function onScale(u, key) {
  if (key !== 'x') return;
  var min = u.scales.x.min, max = u.scales.x.max;
  if (!syncing) {
    syncing = true;
    panels.forEach(function (p) { if (p !== u) p.setScale('x', { min: min, max: max }); });
    syncing = false;
  }
  if (rangeEl) rangeEl.textContent = 'showing ' + fmtSeconds(min) + ' \u2013 ' + fmtSeconds(max) + ' of ' + fmtSeconds(DUR_S);
}

function zoomTo(fromMs, toMs) {
  var a = Math.max(0, fromMs / 1000), b = Math.min(DUR_S, toMs / 1000);
  if (!(b > a)) { a = 0; b = DUR_S; }
  if (panels.length > 0) panels[0].setScale('x', { min: a, max: b });
}

function resetZoom() { focusT = null; zoomTo(0, DUR_S * 1000); }

/** Vertical lines at spikes, findings and quality flags (and at a moment a link points to). */
function drawMarks(u, top, height) {
  var ctx = u.ctx, bb = u.bbox, min = u.scales.x.min, max = u.scales.x.max, r = pxRatio();
  ctx.save();
  ctx.lineWidth = r;
  ctx.setLineDash([4 * r, 3 * r]);
  model.marks.forEach(function (m) {
    var s = m.t / 1000;
    if (s < min || s > max) return;
    var x = Math.round(bb.left + (s - min) / (max - min) * bb.width) + 0.5;
    ctx.strokeStyle = m.kind === 'spike' ? SEV_COLOR.spike : SEV_COLOR[m.severity] || SEV_COLOR.info;
    ctx.globalAlpha = 0.7;
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
  });
  if (focusT !== null && focusT / 1000 >= min && focusT / 1000 <= max) {
    var fx = Math.round(bb.left + (focusT / 1000 - min) / (max - min) * bb.width) + 0.5;
    ctx.setLineDash([]); ctx.globalAlpha = 1; ctx.lineWidth = 2 * r; ctx.strokeStyle = '#111';
    ctx.beginPath(); ctx.moveTo(fx, top); ctx.lineTo(fx, top + height); ctx.stroke();
  }
  ctx.restore();
}

/** Marks within a few pixels of the pointer, for the tooltip. */
function marksNear(u, left) {
  var min = u.scales.x.min, max = u.scales.x.max, w = u.over.clientWidth || 1;
  var tol = 5 * (max - min) / w;
  var at = u.posToVal(left, 'x');
  return model.marks.filter(function (m) { return Math.abs(m.t / 1000 - at) <= tol; });
}

function markLines(marks) {
  return marks.slice(0, 6).map(function (m) { return { text: (m.kind === 'flag' ? 'quality flag: ' : '') + m.text, cls: m.severity === 'error' ? 'tt-error' : '' }; });
}

function watchHover(u) {
  u.over.addEventListener('mouseenter', function () { hovered = u; });
  u.over.addEventListener('mouseleave', function () { if (hovered === u) hovered = null; hideTooltip(); });
}

// ------------------------------------------------------------------------------------------
// Gantt
// ------------------------------------------------------------------------------------------
var C = model.calls, G = model.gantt, nCalls = C.t.length;
var ROW_H = Math.max(3, Math.min(18, Math.floor(380 / Math.max(1, G.rows))));
var failedError = {};
C.failed.forEach(function (f) { failedError[f[0]] = f[1]; });
var byName = model.names.map(function () { return []; });
var byRow = [];
for (var r0 = 0; r0 < G.rows; r0++) byRow.push([]);
for (var i0 = 0; i0 < nCalls; i0++) { byName[C.name[i0]].push(i0); byRow[C.row[i0]].push(i0); }
byRow.forEach(function (list) { list.sort(function (a, b) { return C.t[a] - C.t[b] || C.d[b] - C.d[a]; }); });
var rowStarts = byRow.map(function (list) { return list.map(function (i) { return C.t[i]; }); });
var gantt = null;

/** A call's bar in CSS px relative to the plot area, under the current zoom. */
function barGeom(u, i) {
  var min = u.scales.x.min, max = u.scales.x.max, w = u.bbox.width / pxRatio(), h = u.bbox.height / pxRatio();
  var rowH = (h - BAND) / Math.max(1, G.rows);
  var x0 = (C.t[i] / 1000 - min) / (max - min) * w;
  var x1 = ((C.t[i] + C.d[i]) / 1000 - min) / (max - min) * w;
  return { x: x0, y: BAND + C.row[i] * rowH + 1, w: Math.max(x1 - x0, 1), h: Math.max(rowH - 2, 1) };
}

function drawGantt(u) {
  var ctx = u.ctx, bb = u.bbox, r = pxRatio();
  var min = u.scales.x.min, max = u.scales.x.max;
  var rowH = (bb.height - BAND * r) / Math.max(1, G.rows);
  var scale = bb.width / (max - min);
  ctx.save();
  ctx.beginPath(); ctx.rect(bb.left, bb.top, bb.width, bb.height); ctx.clip();
  for (var row = 0; row < G.rows; row += 2) {
    ctx.fillStyle = 'rgba(0,0,0,0.025)';
    ctx.fillRect(bb.left, bb.top + BAND * r + row * rowH, bb.width, rowH);
  }
  var labels = [];
  byName.forEach(function (list, n) {
    ctx.fillStyle = colorOf(n);
    for (var k = 0; k < list.length; k++) {
      var i = list[k], s = C.t[i] / 1000, e = (C.t[i] + C.d[i]) / 1000;
      if (e < min || s > max) continue;
      var x0 = bb.left + (s - min) * scale, w = Math.max((e - s) * scale, r);
      var y = bb.top + BAND * r + C.row[i] * rowH;
      ctx.fillRect(x0, y + r, w, Math.max(rowH - 2 * r, r));
      if (w > 60 * r && rowH >= 12 * r) labels.push(i);
    }
  });
  ctx.strokeStyle = SEV_COLOR.error; ctx.lineWidth = 1.5 * r;
  C.failed.forEach(function (f) {
    var i = f[0], s = C.t[i] / 1000, e = (C.t[i] + C.d[i]) / 1000;
    if (e < min || s > max) return;
    ctx.strokeRect(bb.left + (s - min) * scale, bb.top + BAND * r + C.row[i] * rowH + r, Math.max((e - s) * scale, r), Math.max(rowH - 2 * r, r));
  });
  ctx.fillStyle = '#fff';
  ctx.font = Math.round(Math.min(11, rowH / r - 4) * r) + 'px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  labels.slice(0, 2000).forEach(function (i) {
    var s = Math.max(C.t[i] / 1000, min), e = Math.min((C.t[i] + C.d[i]) / 1000, max);
    var x = bb.left + (s - min) * scale + 4 * r, room = (e - s) * scale - 8 * r;
    var text = model.names[C.name[i]];
    if (ctx.measureText(text).width > room) {
      var keep = Math.floor(text.length * room / Math.max(1, ctx.measureText(text).width)) - 1;
      if (keep < 3) return;
      text = text.slice(0, keep) + '\u2026';
    }
    ctx.fillText(text, x, bb.top + BAND * r + C.row[i] * rowH + rowH / 2);
  });
  model.marks.forEach(function (m) {
    var s = m.t / 1000;
    if (s < min || s > max) return;
    var x = bb.left + (s - min) * scale;
    ctx.fillStyle = m.kind === 'spike' ? SEV_COLOR.spike : SEV_COLOR[m.severity] || SEV_COLOR.info;
    ctx.beginPath(); ctx.moveTo(x - 5 * r, bb.top + r); ctx.lineTo(x + 5 * r, bb.top + r); ctx.lineTo(x, bb.top + (BAND - 2) * r); ctx.closePath(); ctx.fill();
  });
  ctx.restore();
  drawMarks(u, bb.top + BAND * r, bb.height - BAND * r);
  // Track labels in the left gutter.
  ctx.save();
  ctx.fillStyle = '#5f6b7a'; ctx.font = Math.round(11 * r) + 'px system-ui, sans-serif'; ctx.textBaseline = 'middle'; ctx.textAlign = 'right';
  G.labels.forEach(function (l) { ctx.fillText(l[1], bb.left - 6 * r, bb.top + BAND * r + l[0] * rowH + Math.min(rowH, 14 * r) / 2); });
  ctx.restore();
}

/** The call under the pointer: binary search in its row, with a few pixels of slack for thin bars. */
function callAt(u, left, top) {
  var h = u.over.clientHeight, w = u.over.clientWidth || 1;
  var rowH = (h - BAND) / Math.max(1, G.rows);
  var row = Math.floor((top - BAND) / rowH);
  if (top < BAND || row < 0 || row >= G.rows) return -1;
  var tMs = u.posToVal(left, 'x') * 1000;
  var tol = 3 * (u.scales.x.max - u.scales.x.min) * 1000 / w;
  var starts = rowStarts[row], list = byRow[row];
  var lo = 0, hi = starts.length;
  while (lo < hi) { var mid = (lo + hi) >> 1; if (starts[mid] <= tMs + tol) lo = mid + 1; else hi = mid; }
  var best = -1, bestDist = Infinity;
  // Rows are disjoint except the folded last one: look back a little for overlapping calls.
  for (var k = lo - 1; k >= 0 && k >= lo - 64; k--) {
    var i = list[k], s = C.t[i], e = s + C.d[i];
    var dist = tMs < s ? s - tMs : tMs > e ? tMs - e : 0;
    if (dist <= tol && (dist < bestDist || (dist === bestDist && best >= 0 && C.d[i] < C.d[best]))) { best = i; bestDist = dist; }
  }
  return best;
}

function callTooltip(i) {
  var rows = C.rows[i], d = C.d[i];
  var lines = [
    { title: model.names[C.name[i]] },
    { label: 'duration', text: fmtMs(d) + '  (at ' + fmtMs(C.t[i]) + ')' },
    { label: 'rows', text: fmtNum(rows) + (rows > 0 && d > 0 ? '  \u00b7  ' + fmtNum(rows / (d / 1000)) + ' rows/s' : '') },
    { label: 'CPU', text: C.cpu[i] === null ? '\u2013' : fmtNum(C.cpu[i]) + ' %' },
    { label: 'heap \u0394', text: C.heap[i] === null ? '\u2013' : (C.heap[i] > 0 ? '+' : '') + C.heap[i].toFixed(2) + ' MB' },
  ];
  if (failedError[i] !== undefined) lines.push({ text: 'failed: ' + failedError[i], cls: 'tt-error' });
  return lines;
}

var lastGanttCall = -1;
function onGanttCursor(u) {
  if (hovered !== u) return;
  var left = u.cursor.left, top = u.cursor.top;
  if (left === undefined || left < 0) { hideTooltip(); return; }
  if (top < BAND) {
    var near = marksNear(u, left);
    lastGanttCall = -1;
    if (near.length > 0) showTooltip(u, left, top, markLines(near)); else hideTooltip();
    return;
  }
  lastGanttCall = callAt(u, left, top);
  if (lastGanttCall < 0) hideTooltip(); else showTooltip(u, left, top, callTooltip(lastGanttCall));
}

function makeGantt() {
  var el = document.getElementById('gantt');
  if (nCalls === 0) { el.innerHTML = '<p class="empty">No stage calls were recorded in this run.</p>'; return; }
  var opts = {
    width: panelWidth(), height: BAND + G.rows * ROW_H + X_AXIS + PAD[0] + 2, padding: PAD,
    legend: { show: false },
    cursor: { sync: { key: 'stagemeter' }, y: false, points: { show: false }, drag: { x: true, y: false, setScale: true } },
    scales: { x: { time: false }, y: { auto: false, range: [0, 1] } },
    axes: [xAxis(), { size: Y_AXIS, splits: function () { return []; }, grid: { show: false }, ticks: { show: false } }],
    series: [{}, { show: false }],
    hooks: { draw: [drawGantt], setScale: [onScale], setCursor: [onGanttCursor] },
  };
  gantt = new uPlot(opts, [[0, DUR_S], [null, null]], el);
  panels.push(gantt);
  watchHover(gantt);
  var down = null;
  gantt.over.addEventListener('mousedown', function (e) { down = [e.clientX, e.clientY]; });
  gantt.over.addEventListener('click', function (e) {
    if (down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) < 4 && lastGanttCall >= 0) highlightStage(C.name[lastGanttCall]);
  });
}

// ------------------------------------------------------------------------------------------
// Sample charts
// ------------------------------------------------------------------------------------------
var S = model.samples;

/** The series of the samples on the shared axis: padded with empty points at 0 and at the end. */
function column(values) {
  var out = values.slice();
  if (S.t.length === 0 || S.t[0] > 0) out.unshift(null);
  if (S.t.length === 0 || S.t[S.t.length - 1] / 1000 < DUR_S) out.push(null);
  return out;
}
var XS = column(S.t.map(function (t) { return t / 1000; }));
XS[0] = XS[0] === null ? 0 : XS[0];
XS[XS.length - 1] = XS[XS.length - 1] === null ? DUR_S : XS[XS.length - 1];

function anyValue(values) { for (var k = 0; k < values.length; k++) if (values[k] !== null) return true; return false; }

function makeChart(id, title, unit, specs) {
  var used = specs.filter(function (s) { return anyValue(s.values); });
  var el = document.getElementById(id);
  if (used.length === 0) { el.innerHTML = '<div class="panel-title">' + title + '</div><p class="empty">No samples of this in the report.</p>'; return; }
  el.innerHTML = '<div class="panel-title">' + title + '</div>';
  var series = [{ label: 'time', value: function (u, v) { return v === null ? '\u2013' : fmtSeconds(v); } }];
  used.forEach(function (s) {
    var one = { label: s.label, stroke: s.color, width: s.width || 1.5, spanGaps: true, points: { show: false },
      value: function (u, v) { return v === null || v === undefined ? '\u2013' : fmtNum(v) + ' ' + unit; } };
    if (s.dash) one.dash = s.dash;
    if (s.fill) one.fill = s.fill;
    if (s.bars && uPlot.paths && uPlot.paths.bars) { one.paths = uPlot.paths.bars({ size: [0.6, 8] }); one.fill = s.color; one.spanGaps = false; }
    series.push(one);
  });
  var u = new uPlot({
    width: panelWidth(), height: 150, padding: PAD,
    legend: { show: true, live: false },
    cursor: { sync: { key: 'stagemeter' }, drag: { x: true, y: false, setScale: true }, points: { size: 5 } },
    scales: { x: { time: false } },
    axes: [xAxis(), { size: Y_AXIS, values: function (u, splits) { return splits.map(function (v) { return fmtNum(v) + ' ' + unit; }); } }],
    series: series,
    hooks: {
      draw: [function (u) { drawMarks(u, u.bbox.top, u.bbox.height); }],
      setScale: [onScale],
      setCursor: [function (u) {
        if (hovered !== u) return;
        var idx = u.cursor.idx;
        if (idx === null || idx === undefined || u.cursor.left < 0) { hideTooltip(); return; }
        var lines = [{ title: fmtSeconds(u.posToVal(u.cursor.left, 'x')) }];
        for (var k = 1; k < u.series.length; k++) lines.push({ label: u.series[k].label, text: u.data[k][idx] === null ? '\u2013' : fmtNum(u.data[k][idx]) + ' ' + unit });
        showTooltip(u, u.cursor.left, u.cursor.top, lines.concat(markLines(marksNear(u, u.cursor.left))));
      }],
    },
  }, [XS].concat(used.map(function (s) { return column(s.values); })), el);
  panels.push(u);
  watchHover(u);
}

function makeCharts() {
  if (S.t.length === 0) {
    document.getElementById('charts').innerHTML = '<p class="empty">No sampler data: memory tracking was off, or the run ended before the first sample.</p>';
    return;
  }
  makeChart('chart-memory', 'Memory', 'MB', [
    { label: 'rss', values: S.rss, color: '#1f6fb2', fill: 'rgba(31,111,178,0.06)' },
    { label: 'heap used', values: S.heap, color: '#2e7d32' },
    { label: 'post-GC heap floor', values: S.floor, color: '#0f9aa8', dash: [5, 3] },
    { label: 'floor trend', values: S.trend, color: '#c62828', dash: [8, 4], width: 2 },
  ]);
  makeChart('chart-cpu', 'CPU (percent of one core)', '%', [{ label: 'CPU', values: S.cpu, color: '#d97706', fill: 'rgba(217,119,6,0.08)' }]);
  makeChart('chart-loop', 'Event-loop delay and GC pauses (per sample)', 'ms', [
    { label: 'event-loop delay', values: S.loop, color: '#8c564b' },
    { label: 'GC pause', values: S.gc, color: '#c2549d', bars: true },
  ]);
}

makeGantt();
makeCharts();
panels.forEach(function (p) { p.setScale('x', { min: 0, max: DUR_S }); });
var resizeTimer = null;
window.addEventListener('resize', function () {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(function () { panels.forEach(function (p) { p.setSize({ width: panelWidth(), height: p.height }); }); }, 100);
});
var resetButton = document.getElementById('reset-zoom');
if (resetButton) resetButton.addEventListener('click', resetZoom);

/** Scripting hooks: zoom the timeline, and where call i's bar is on screen (viewport px). */
window.stagemeter = {
  model: model,
  zoomTo: zoomTo,
  reset: resetZoom,
  focus: function (tMs) {
    var span = Math.max(model.durationMs * 0.04, 20);
    focusT = tMs;
    zoomTo(tMs - span, tMs + span);
    panels.forEach(function (p) { p.redraw(false); });
  },
  barBox: function (i) {
    if (!gantt || i < 0 || i >= nCalls) return null;
    var g = barGeom(gantt, i), o = gantt.over.getBoundingClientRect();
    return { x: o.left + g.x, y: o.top + g.y, width: g.w, height: g.h };
  },
};
`;
