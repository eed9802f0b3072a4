// The model registry panel: per teacher, each size's promoted model (method, accuracy, when) and the candidates the
// gate turned down, and the teacher report drawn as accuracy against size, one line per method and teacher version.
// Shown where the host says it serves the registry (dashboard/features.json: the control service and `wavemesh
// serve`); the embedded run's dashboard has none and never asks.

import { el, svg, setChildren, fmtPct, fmtTime, parseTime, shortDigest, methodLabel, methodColor, linearScale, niceTicks, METHOD_ORDER } from './util.js';

const POLL_MS = 5000;

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!response.ok) {
    const error = new Error(`${url}: ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

const bySize = (a, b) => {
  const pa = a.split('x').map(Number), pb = b.split('x').map(Number);
  return pa[0] * pa[1] * pa[1] - pb[0] * pb[1] * pb[1] || a.localeCompare(b);
};
const rank = m => { const i = METHOD_ORDER.indexOf(m); return i < 0 ? 99 : i; };

/** Accuracy against size (categorical x, sizes ordered by rough parameter count) for every version and method of one teacher. */
function reportChart(report) {
  const series = [];
  for (const v of report.versions)
    for (const method of [...new Set(v.accuracy.map(a => a.method))].sort((a, b) => rank(a) - rank(b)))
      series.push({ version: v.version, method, points: v.accuracy.filter(a => a.method === method) });
  const sizes = [...new Set(series.flatMap(s => s.points.map(p => p.size)))].sort(bySize);
  const width = 520, height = 220, m = { l: 48, r: 16, t: 14, b: 34 };
  const root = svg('svg', { class: 'chart registry-chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Accuracy against size for teacher ${report.teacher}` });
  if (!sizes.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'No evaluated model of this teacher yet'));
    return root;
  }
  const accs = series.flatMap(s => s.points.map(p => p.accuracy));
  const t = niceTicks(Math.max(0, Math.min(...accs) - 0.02), Math.min(1, Math.max(...accs) + 0.01), 4);
  const y = linearScale(t.lo, t.hi, height - m.b, m.t);
  const step = (width - m.l - m.r) / Math.max(1, sizes.length);
  const x = size => m.l + step * (sizes.indexOf(size) + 0.5);
  for (const v of t.ticks) {
    root.append(svg('line', { class: 'grid', x1: m.l, x2: width - m.r, y1: y(v), y2: y(v) }));
    root.append(svg('text', { class: 'tick', x: m.l - 6, y: y(v) + 3.5, 'text-anchor': 'end' }, `${Math.round(v * 1000) / 10}%`));
  }
  for (const s of sizes) root.append(svg('text', { class: 'tick', x: x(s), y: height - m.b + 16, 'text-anchor': 'middle' }, s));
  const newest = Math.max(...report.versions.map(v => v.version));
  for (const s of series) {
    const c = methodColor(s.method);
    const pts = [...s.points].sort((a, b) => bySize(a.size, b.size));
    if (pts.length > 1)
      root.append(svg('path', {
        class: 'acc-line', stroke: c, fill: 'none', 'stroke-dasharray': s.version === newest ? null : '4 3',
        d: pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.size)},${y(p.accuracy)}`).join(' '), 'data-method': s.method, 'data-version': s.version,
      }));
    for (const p of pts)
      root.append(svg('circle', {
        class: 'point final', cx: x(p.size), cy: y(p.accuracy), r: s.version === newest ? 4.5 : 3.5, fill: s.version === newest ? c : '#fff', stroke: c,
        'data-method': s.method, 'data-version': s.version, 'data-size': p.size,
        'data-tip': `${report.teacher} v${s.version} · ${methodLabel(s.method)} · ${p.size}\ntest accuracy ${fmtPct(p.accuracy)}`,
      }));
  }
  return root;
}

function modelRows(teacher, models, decisions) {
  return models.filter(m => m.teacher === teacher).sort((a, b) => bySize(a.size, b.size)).map(m => {
    const history = decisions.get(`${teacher}/${m.size}`)?.history ?? [];
    const rejected = history.filter(h => !h.promoted && h.reason && h.reason !== 'already the promoted model');
    const last = rejected[rejected.length - 1];
    return el('tr', { 'data-size': m.size, 'data-method': m.method },
      el('td', {}, m.size),
      el('td', {}, el('span', { class: 'method-dot', style: `background:${methodColor(m.method)}` }), methodLabel(m.method)),
      el('td', { class: 'num' }, fmtPct(m.accuracy)),
      el('td', { class: 'mono', title: m.digest }, el('a', { href: `api/models/${encodeURIComponent(teacher)}/${m.size}`, download: '' }, shortDigest(m.digest))),
      el('td', { class: 'muted' }, fmtTime(parseTime(m.promoted_at), { seconds: false })),
      el('td', { class: rejected.length ? 'rejections' : 'muted', title: last ? last.reason : '' },
        rejected.length ? `${rejected.length} rejected: ${last.reason}` : '—'));
  });
}

async function load() {
  const models = await getJson('api/models');
  const teachers = await getJson('api/teachers');
  const decisions = new Map();
  await Promise.all(models.map(async m => {
    try { decisions.set(`${m.teacher}/${m.size}`, await getJson(`api/models/${encodeURIComponent(m.teacher)}/${m.size}/decisions`)); } catch { /* shown without */ }
  }));
  const reports = [];
  for (const t of teachers) {
    try { reports.push(await getJson(`api/teachers/${encodeURIComponent(t.name)}/report`)); } catch { /* a teacher removed meanwhile */ }
  }
  return { models, reports, decisions };
}

function render(container, { models, reports, decisions }) {
  if (!reports.length) {
    setChildren(container, el('p', { class: 'muted' }, 'No teacher registered yet: upload one (POST /api/teachers/{name}).'));
    return;
  }
  setChildren(container, reports.map(report => {
    const rows = modelRows(report.teacher, models, decisions);
    return el('div', { class: 'registry-teacher', 'data-teacher': report.teacher },
    el('h4', {}, report.teacher, el('span', { class: 'muted' }, ` · ${report.versions.length} version${report.versions.length === 1 ? '' : 's'}`)),
    el('div', { class: 'registry-grid' },
      el('table', { class: 'registry-table' },
        el('thead', {}, el('tr', {}, ['size', 'promoted', 'accuracy', 'model', 'since', 'rejections'].map(h => el('th', {}, h)))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'nothing promoted yet')))),
      el('div', { class: 'registry-report' },
        el('div', { class: 'legend chart-legend' },
          [...new Set(report.versions.flatMap(v => v.accuracy.map(a => a.method)))].sort((a, b) => rank(a) - rank(b))
            .map(mm => el('span', { class: 'legend-item' }, el('span', { class: 'method-dot', style: `background:${methodColor(mm)}` }), methodLabel(mm))),
          el('span', { class: 'legend-item muted' }, 'solid: newest version · dashed: earlier')),
        reportChart(report))));
  }));
}

/** Shows the registry in `card` (its body in `body`), refreshed every few seconds, where the host serves one. */
export async function startRegistry(card, body) {
  try {
    if (!(await getJson('dashboard/features.json')).registry) return;   // the embedded run's dashboard: no registry
  } catch { return; }
  const poll = async () => {
    try {
      const data = await load();
      card.hidden = false;
      render(body, data);
    } catch { /* starting, or a request failed: the next poll tries again */ }
    setTimeout(poll, POLL_MS);
  };
  poll();
}
