// Helpers shared by the dashboard's modules: DOM and SVG builders, number and time formats, labels, scales,
// text measurement and the one tooltip of the page.

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** An HTML element: el('div', {class: 'x', onclick: f}, child, 'text', [more]). Null/false children are skipped. */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same calling convention as el(). */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

/** Replaces the children of node; null, undefined and false are skipped, arrays flattened (unlike replaceChildren). */
export function setChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// ---------------------------------------------------------------------------------------------- labels

export const STATUSES = ['queued', 'running', 'succeeded', 'cached', 'failed'];
export const METHOD_ORDER = ['wave', 'weight_selection', 'scratch'];
export const METHOD_COLORS = { wave: '#1d5fd1', weight_selection: '#8a3fd1', scratch: '#d9601a', teacher: '#343a46' };
const METHOD_LABELS = { wave: 'WAVE', scratch: 'scratch', weight_selection: 'weight selection', teacher: 'teacher' };
const STAGE_LABELS = { distill: 'Distil templates', scalers: 'Scalers', finetune: 'Fine-tune', evaluate: 'Evaluate' };
export const STAGE_ORDER = { distill: 0, scalers: 1, finetune: 2, evaluate: 3 };

export const methodLabel = m => METHOD_LABELS[m] ?? m ?? '';
export const methodColor = m => METHOD_COLORS[m] ?? '#5b6472';
export const stageLabel = s => STAGE_LABELS[s] ?? s;

/** A job in one line: "Fine-tune · L6 D160 H5 · WAVE", "Evaluate · L4 D64 H2 · scratch · final", "Evaluate teacher". */
export function jobTitle(job) {
  if (!job) return '';
  if (job.stage === 'evaluate' && job.phase === 'teacher') return 'Evaluate teacher';
  if (job.stage === 'finetune' && job.method === 'teacher') return `Train teacher · ${job.target ?? ''}`.trim();
  const parts = [stageLabel(job.stage)];
  if (job.target) parts.push(job.target);
  if (job.method && job.stage !== 'scalers') parts.push(methodLabel(job.method));
  if (job.stage === 'evaluate' && job.phase) parts.push(job.phase);
  return parts.join(' · ');
}

/** Parses "L6 D160 H5"; null for anything else. */
export function parseSize(text) {
  const m = /^L(\d+) D(\d+) H(\d+)$/.exec(text ?? '');
  return m ? { depth: +m[1], width: +m[2], heads: +m[3] } : null;
}

/** Orders target sizes by (roughly) their parameter count, then by name. */
export function compareSizes(a, b) {
  const sa = parseSize(a), sb = parseSize(b);
  const ka = sa ? sa.depth * sa.width * sa.width : Infinity, kb = sb ? sb.depth * sb.width * sb.width : Infinity;
  return ka - kb || String(a).localeCompare(String(b));
}

export const isTraining = j => j.stage === 'distill' || j.stage === 'scalers' || j.stage === 'finetune';

// ---------------------------------------------------------------------------------------------- numbers

export const fmtInt = n => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
export const fmtPct = (x, digits = 2) => (x === null || x === undefined || !isFinite(x) ? '—' : `${(x * 100).toFixed(digits)}%`);

export function fmtNum(x, digits = 4) {
  if (x === null || x === undefined) return '—';
  if (typeof x === 'string') return x; // NaN / Infinity as the server writes them
  if (!isFinite(x)) return String(x);
  return x.toFixed(digits);
}

/** 1,868,490 -> "1.87 M"; 196,170 -> "196 k". */
export function fmtParams(n) {
  if (n === null || n === undefined) return '—';
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)} G`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)} k`;
  return String(n);
}

/** Short tick labels for a parameter axis: 200k, 1M, 2M. */
export function fmtCompact(n) {
  if (n >= 1e9) return `${+(n / 1e9).toPrecision(3)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k`;
  return String(n);
}

export function fmtRate(x) {
  if (x === null || x === undefined || !isFinite(x)) return '—';
  return x >= 100 ? fmtInt(x) : x.toFixed(1);
}

// ---------------------------------------------------------------------------------------------- time

/** Dates from the server are UTC; a value without a zone designator is read as UTC too. */
export function parseTime(s) {
  if (!s) return null;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
  return isNaN(t) ? null : t;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60), rs = Math.round(s % 60);
  if (m < 60) return `${m} m ${String(rs).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const pad2 = n => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "14:02:31" today, "3 Mar 14:02" otherwise (local time). */
export function fmtTime(t, { seconds = true } = {}) {
  if (t === null || t === undefined) return '—';
  const d = new Date(t), now = new Date();
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}${seconds ? `:${pad2(d.getSeconds())}` : ''}`;
  if (d.toDateString() === now.toDateString()) return hm;
  return `${d.getDate()} ${MONTHS[d.getMonth()]}${d.getFullYear() !== now.getFullYear() ? ` ${d.getFullYear()}` : ''} ${hm}`;
}

/** Full local date and time, for tooltips. */
export function fmtFullTime(t) {
  if (t === null || t === undefined) return '—';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

export function fmtAgo(t, now = Date.now()) {
  if (t === null || t === undefined) return '';
  const s = Math.max(0, (now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 90) return '1 min ago';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 5400) return '1 hour ago';
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`;
  if (s < 172800) return 'yesterday';
  return `${Math.round(s / 86400)} days ago`;
}

export const shortDigest = d => (d ? `${d.slice(0, 12)}…` : '—');
export const shortId = id => (id ? id.slice(0, 8) : '');

// ---------------------------------------------------------------------------------------------- scales

export function linearScale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  const f = v => r0 + ((v - d0) / span) * (r1 - r0);
  f.invert = p => d0 + ((p - r0) / (r1 - r0)) * span;
  return f;
}

export function logScale(d0, d1, r0, r1) {
  const l0 = Math.log10(d0), l1 = Math.log10(d1);
  const f = v => r0 + ((Math.log10(v) - l0) / (l1 - l0 || 1)) * (r1 - r0);
  return f;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}

/** Round ticks covering [lo, hi]; returns {lo, hi, step, ticks}. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep(hi - lo, count);
  const nlo = Math.floor(lo / step + 1e-9) * step, nhi = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = nlo; v <= nhi + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { lo: nlo, hi: nhi, step, ticks };
}

/** 1-2-5 ticks of a log axis within [lo, hi]. */
export function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  return ticks;
}

// ---------------------------------------------------------------------------------------------- text

let measureContext = null;
export const FONT_FAMILY = '-apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", system-ui, sans-serif';

export function textWidth(text, font) {
  measureContext ??= document.createElement('canvas').getContext('2d');
  measureContext.font = `${font} ${FONT_FAMILY}`;
  return measureContext.measureText(text).width;
}

/** The text, shortened with an ellipsis to fit maxWidth pixels in the given font ("600 12px"). */
export function fitText(text, maxWidth, font) {
  text = String(text ?? '');
  if (textWidth(text, font) <= maxWidth) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (textWidth(`${text.slice(0, mid)}…`, font) <= maxWidth) lo = mid; else hi = mid - 1;
  }
  return lo > 0 ? `${text.slice(0, lo)}…` : '';
}

// ---------------------------------------------------------------------------------------------- tooltip

let tip = null;
let tipOwner = null;
let tipUpdate = null;

/** One tooltip for the page: any element (HTML or SVG) with data-tip shows it on hover; \n breaks lines. */
export function installTooltips(element) {
  tip = element;
  let last = null;
  const update = (target, x, y) => {
    const owner = target instanceof Element ? target.closest('[data-tip]') : null;
    if (owner) {
      tipOwner = owner;
      showTip(owner.getAttribute('data-tip'), x, y);
    } else if (tipOwner) {
      tipOwner = null;
      hideTip();
    }
  };
  tipUpdate = () => {
    if (last) update(document.elementFromPoint(last.x, last.y), last.x, last.y);
    else hideTip();
  };
  document.addEventListener('pointermove', e => {
    last = { x: e.clientX, y: e.clientY };
    update(e.target, e.clientX, e.clientY);
  });
  document.documentElement.addEventListener('pointerleave', () => { last = null; tipOwner = null; hideTip(); });
  // When the page scrolls under a still pointer, show what is under it now.
  document.addEventListener('scroll', () => tipUpdate(), true);
}

export function showTip(text, x, y) {
  if (!tip) return;
  tip.textContent = '';
  const lines = String(text).split('\n');
  lines.forEach((line, i) => tip.append(el(i === 0 && lines.length > 1 ? 'strong' : 'div', {}, line)));
  tip.style.left = '0px';
  tip.style.top = '0px';
  tip.hidden = false;
  const r = tip.getBoundingClientRect();
  let left = x + 14, top = y + 16;
  if (left + r.width > window.innerWidth - 8) left = Math.max(8, x - r.width - 14);
  if (top + r.height > window.innerHeight - 8) top = Math.max(8, y - r.height - 12);
  tip.style.left = `${left}px`;
  tip.style.top = `${top}px`;
}

export function hideTip() {
  if (tip) tip.hidden = true;
}

/** After a re-render: the element under a still pointer may be a new one (or none); show its tooltip. */
export function refreshTip() {
  if (tipOwner && !tipOwner.isConnected) tipUpdate?.();
}
