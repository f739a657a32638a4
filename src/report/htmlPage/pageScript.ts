/**
 * The page's own browser JavaScript besides the timeline: the embedded data, number formats,
 * stage colours and the tooltip (HELPERS_SCRIPT, first), and the stage table's sorting, the
 * links of findings to their stage row or moment, and the colour swatches (PAGE_SCRIPT, last).
 * Text from the report only ever reaches the page through textContent.
 *
 * Kept free of template literals and of the closing script tag: it is embedded verbatim.
 */
export const HELPERS_SCRIPT = String.raw`
var model = JSON.parse(document.getElementById('stagemeter-data').textContent);
var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#6b8e23', '#17becf', '#8c6bb1'];
function colorOf(nameIndex) { return PALETTE[nameIndex % PALETTE.length]; }

var intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
var smallFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
function fmtNum(v) {
  if (typeof v !== 'number' || !isFinite(v)) return '\u2013';
  return Math.abs(v) >= 100 ? intFormat.format(v) : smallFormat.format(v);
}
function fmtMs(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return '\u2013';
  var a = Math.abs(ms);
  if (a >= 1000) return (ms / 1000).toFixed(2) + ' s';
  if (a >= 100) return ms.toFixed(0) + ' ms';
  if (a >= 1 || a === 0) return ms.toFixed(2) + ' ms';
  return (ms * 1000).toFixed(0) + ' \u00b5s';
}
function fmtSeconds(s) {
  if (typeof s !== 'number' || !isFinite(s)) return '';
  var a = Math.abs(s);
  return a >= 100 ? s.toFixed(0) + ' s' : a >= 1 ? +s.toFixed(2) + ' s' : +(s * 1000).toFixed(a >= 0.01 ? 0 : 2) + ' ms';
}

var tooltipEl = document.getElementById('tooltip');
/** Shows lines ({title} | {label, text} | {text, cls}) next to the pointer over a panel. */
function showTooltip(u, left, top, lines) {
  while (tooltipEl.firstChild) tooltipEl.removeChild(tooltipEl.firstChild);
  lines.forEach(function (l) {
    var div = document.createElement('div');
    if (l.title !== undefined) { div.className = 'tt-title'; div.textContent = l.title; }
    else {
      div.className = 'tt-row' + (l.cls ? ' ' + l.cls : '');
      if (l.label !== undefined) { var span = document.createElement('span'); span.textContent = l.label + ': '; div.appendChild(span); }
      div.appendChild(document.createTextNode(l.text));
    }
    tooltipEl.appendChild(div);
  });
  tooltipEl.style.display = 'block';
  var rect = u.over.getBoundingClientRect();
  var x = rect.left + left + 14, y = rect.top + top + 14;
  var w = tooltipEl.offsetWidth, h = tooltipEl.offsetHeight;
  if (x + w > window.innerWidth - 4) x = Math.max(4, rect.left + left - w - 14);
  if (y + h > window.innerHeight - 4) y = Math.max(4, rect.top + top - h - 14);
  tooltipEl.style.left = x + 'px';
  tooltipEl.style.top = y + 'px';
}
function hideTooltip() { tooltipEl.style.display = 'none'; }

/** Scrolls to the table row of stage model.names[index] and flashes it. */
function highlightStage(index) {
  var table = document.getElementById('stage-table');
  if (!table) return;
  var rows = table.tBodies[0].rows;
  for (var k = 0; k < rows.length; k++) {
    if (rows[k].getAttribute('data-stage-index') !== String(index)) continue;
    var row = rows[k];
    row.classList.remove('flash');
    void row.offsetWidth;
    row.classList.add('flash');
    row.scrollIntoView({ block: 'center', behavior: 'smooth' });
    return;
  }
}
`;

export const PAGE_SCRIPT = String.raw`
(function setUpTable() {
  var table = document.getElementById('stage-table');
  if (!table) return;
  var tbody = table.tBodies[0];
  Array.prototype.forEach.call(tbody.rows, function (tr) {
    var swatch = tr.querySelector('.swatch');
    var n = Number(tr.getAttribute('data-stage-index'));
    if (swatch && n >= 0) swatch.style.background = colorOf(n);
  });
  var heads = table.tHead.rows[0].cells;
  function key(tr, col, numeric) {
    var cell = tr.cells[col];
    if (!numeric) return cell.textContent;
    var raw = cell.getAttribute('data-v');
    return raw === null || raw === '' ? NaN : Number(raw);
  }
  function sortBy(col) {
    var th = heads[col];
    var numeric = th.getAttribute('data-sort') === 'num';
    var current = th.getAttribute('aria-sort');
    // First click: numbers largest first, names A to Z; then it toggles.
    var ascending = current === 'ascending' ? false : current === 'descending' ? true : !numeric;
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      if (numeric) {
        var xn = isNaN(x), yn = isNaN(y);
        if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
        return ascending ? x - y : y - x;
      }
      return ascending ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener('click', function () { sortBy(col); });
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(col); } });
  });
})();

document.addEventListener('click', function (e) {
  var a = e.target && e.target.closest ? e.target.closest('a.to-stage, a.to-time') : null;
  if (!a) return;
  e.preventDefault();
  if (a.classList.contains('to-stage')) { highlightStage(Number(a.getAttribute('data-stage-index'))); return; }
  var t = Number(a.getAttribute('data-t'));
  if (!isFinite(t)) return;
  window.stagemeter.focus(t);
  timelineEl.scrollIntoView({ block: 'start', behavior: 'smooth' });
});

requestAnimationFrame(function () {
  requestAnimationFrame(function () {
    window.stagemeter.readyMs = performance.now();
    document.documentElement.setAttribute('data-ready', '1');
  });
});
`;
