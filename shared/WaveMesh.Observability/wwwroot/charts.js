// SVG charts of one run: training loss curves (chosen from a list of training jobs) and test accuracy against model
// size for WAVE and the baselines.

import {
  el, svg, fmtInt, fmtNum, fmtPct, fmtParams, fmtCompact, jobTitle, methodLabel, methodColor, isTraining,
  linearScale, logScale, niceTicks, logTicks, METHOD_ORDER,
} from './util.js';
import { orderedJobs } from './graph.js';

const PALETTE = ['#1d5fd1', '#d9601a', '#8a3fd1', '#0e9384', '#c0307a', '#6b7a12', '#4f6d8f', '#b7791f'];

// ---------------------------------------------------------------------------------------------- loss curves

/** Training jobs that have (or will have) a loss curve, in the graph's order. */
export function trainingJobs(run) {
  return orderedJobs(run).filter(j => isTraining(j) && (j.loss?.length || j.status === 'running'));
}

/** The jobs shown by default: those running now, else the one that finished last. */
export function defaultLossSelection(run) {
  const jobs = trainingJobs(run);
  const running = jobs.filter(j => j.status === 'running').map(j => j.job_key);
  if (running.length) return running;
  const last = [...jobs].filter(j => j.loss?.length).sort((a, b) => String(b.ended_at ?? '').localeCompare(String(a.ended_at ?? '')))[0];
  return last ? [last.job_key] : [];
}

/**
 * The loss chart and, under it, the list of training jobs (a legend: click to show or hide a curve).
 * selection: array of job keys; onToggle(key); hover: {step} or null, kept across re-renders by the caller.
 */
export function renderLoss(container, run, { selection, manual, onToggle, onAuto, hover, onHover }) {
  const jobs = trainingJobs(run);
  if (!jobs.length) {
    container.replaceChildren(el('p', { class: 'empty-note' }, 'No training job has reported a loss yet.'));
    return;
  }
  const chosen = selection.map(k => jobs.find(j => j.job_key === k)).filter(Boolean);
  const colors = new Map(chosen.map((j, i) => [j.job_key, PALETTE[i % PALETTE.length]]));

  const chartBox = el('div', { class: 'chart-box' });
  const list = el('ul', { class: 'series-list', 'aria-label': 'Training jobs' });
  // Newest activity first: running jobs, then the ones that finished last.
  const recency = j => (j.status === 'running' ? Infinity : Date.parse(j.ended_at ?? j.started_at ?? '') || 0);
  for (const j of [...jobs].sort((a, b) => recency(b) - recency(a))) {
    const on = colors.has(j.job_key);
    const last = j.loss?.length ? j.loss[j.loss.length - 1] : null;
    list.append(el('li', {},
      el('button', {
        class: `series${on ? ' on' : ''}`, type: 'button', 'aria-pressed': on ? 'true' : 'false', 'data-job': j.job_key,
        'data-tip': `${jobTitle(j)}\n${j.loss?.length ?? 0} points${last ? `, last: step ${fmtInt(last.step)}, loss ${fmtNum(last.loss)}` : ''}\nclick to ${on ? 'hide' : 'show'}`,
        onclick: () => onToggle(j.job_key),
      },
      el('span', { class: 'swatch', style: on ? `background:${colors.get(j.job_key)};border-color:${colors.get(j.job_key)}` : '' }),
      el('span', { class: `status-dot s-${j.status}` }),
      el('span', { class: 'series-name' }, jobTitle(j)),
      sparkline(j.loss ?? [], on ? colors.get(j.job_key) : '#9aa3ae'),
      el('span', { class: 'series-value' }, last ? fmtNum(last.loss, 3) : '—'))));
  }
  const head = el('div', { class: 'loss-tools' },
    el('span', { class: 'muted' }, manual ? `${chosen.length} shown`
      : jobs.some(j => j.status === 'running') ? 'following the running jobs' : 'showing the job that finished last'),
    manual ? el('button', { class: 'link-button', type: 'button', onclick: onAuto }, 'follow running jobs') : null);
  container.replaceChildren(chartBox, head, list);
  drawLoss(chartBox, chosen, colors, hover, onHover);
}

function sparkline(points, color) {
  const w = 64, h = 16;
  const s = svg('svg', { class: 'spark', width: w, height: h, viewBox: `0 0 ${w} ${h}`, 'aria-hidden': 'true' });
  const finite = points.filter(p => typeof p.loss === 'number' && isFinite(p.loss));
  if (finite.length > 1) {
    const xs = linearScale(finite[0].step, finite[finite.length - 1].step, 1, w - 1);
    const max = Math.max(...finite.map(p => p.loss)), min = Math.min(...finite.map(p => p.loss));
    const ys = linearScale(min, max, h - 2, 2);
    s.append(svg('path', { d: path(finite.map(p => [xs(p.step), ys(p.loss)])), stroke: color, fill: 'none', 'stroke-width': 1.3 }));
  }
  return s;
}

const path = pts => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');

function drawLoss(box, jobs, colors, hover, onHover) {
  const width = Math.max(320, box.clientWidth || 460), height = 230;
  const m = { l: 52, r: 14, t: 12, b: 38 };
  const series = jobs.map(j => ({ job: j, points: (j.loss ?? []).filter(p => typeof p.loss === 'number' && isFinite(p.loss)) }));
  const all = series.flatMap(s => s.points);
  const root = svg('svg', { class: 'chart', id: 'loss-chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Training loss' });
  if (!all.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' },
      jobs.length ? 'No loss reported yet' : 'Choose a training job below'));
    box.replaceChildren(root);
    return;
  }
  const maxStep = Math.max(...series.map(s => Math.max(s.job.progress?.steps ?? 0, s.points.at(-1)?.step ?? 0)), 1);
  const xt = niceTicks(0, maxStep, 6);
  const maxLoss = Math.max(...all.map(p => p.loss)), minLoss = Math.min(...all.map(p => p.loss));
  const yt = niceTicks(minLoss > maxLoss * 0.5 ? minLoss * 0.9 : 0, maxLoss, 5);
  const x = linearScale(0, xt.hi, m.l, width - m.r), y = linearScale(yt.lo, yt.hi, height - m.b, m.t);

  axes(root, { width, height, m, xTicks: xt.ticks.map(v => [x(v), fmtInt(v)]), yTicks: yt.ticks.map(v => [y(v), fmtNum(v, yt.step < 0.1 ? 2 : 1)]),
    xLabel: 'step', yLabel: 'training loss' });
  for (const s of series) {
    const c = colors.get(s.job.job_key);
    root.append(svg('path', { class: 'series-line', d: path(s.points.map(p => [x(p.step), y(p.loss)])), stroke: c, 'data-job': s.job.job_key }));
    const last = s.points.at(-1);
    if (last && s.job.status === 'running')
      root.append(svg('circle', { class: 'live-dot', cx: x(last.step), cy: y(last.loss), r: 3.5, fill: c }));
  }
  // Hover: a vertical rule at the nearest step with every shown curve's value in the tooltip.
  const hoverLayer = svg('g', { class: 'hover' });
  const overlay = svg('rect', { class: 'overlay', x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b });
  const show = step => {
    hoverLayer.replaceChildren();
    if (step === null || step === undefined) { overlay.removeAttribute('data-tip'); return; }
    const lines = [`step ${fmtInt(step)}`];
    hoverLayer.append(svg('line', { class: 'rule', x1: x(step), x2: x(step), y1: m.t, y2: height - m.b }));
    for (const s of series) {
      const p = nearest(s.points, step);
      if (!p) continue;
      hoverLayer.append(svg('circle', { cx: x(p.step), cy: y(p.loss), r: 3.5, fill: colors.get(s.job.job_key), class: 'hover-dot' }));
      lines.push(`${jobTitle(s.job)}: ${fmtNum(p.loss)}${p.step !== step ? ` (step ${fmtInt(p.step)})` : ''}`);
    }
    overlay.setAttribute('data-tip', lines.join('\n'));
  };
  overlay.addEventListener('pointermove', e => {
    const r = root.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * width;
    const step = Math.round(Math.max(0, Math.min(xt.hi, linearScale(m.l, width - m.r, 0, xt.hi)(px))));
    const snapped = nearest(series.flatMap(s => s.points), step)?.step ?? step;
    onHover?.(snapped);
    show(snapped);
  });
  overlay.addEventListener('pointerleave', () => { onHover?.(null); show(null); });
  root.append(hoverLayer, overlay);
  if (hover !== null && hover !== undefined) show(hover);
  box.replaceChildren(root);
}

function nearest(points, step) {
  let best = null;
  for (const p of points) if (!best || Math.abs(p.step - step) < Math.abs(best.step - step)) best = p;
  return best;
}

function axes(root, { width, height, m, xTicks, yTicks, xLabel, yLabel }) {
  const g = svg('g', { class: 'axes' });
  for (const [py, label] of yTicks) {
    g.append(svg('line', { class: 'grid', x1: m.l, x2: width - m.r, y1: py, y2: py }));
    g.append(svg('text', { class: 'tick', x: m.l - 7, y: py + 3.5, 'text-anchor': 'end' }, label));
  }
  for (const [px, label] of xTicks) {
    g.append(svg('line', { class: 'tick-mark', x1: px, x2: px, y1: height - m.b, y2: height - m.b + 4 }));
    g.append(svg('text', { class: 'tick', x: px, y: height - m.b + 16, 'text-anchor': 'middle' }, label));
  }
  g.append(svg('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b }));
  g.append(svg('text', { class: 'axis-label', x: (m.l + width - m.r) / 2, y: height - 4, 'text-anchor': 'middle' }, xLabel));
  g.append(svg('text', { class: 'axis-label', x: 0, y: 0, transform: `translate(13 ${(m.t + height - m.b) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, yLabel));
  root.append(g);
}

// ---------------------------------------------------------------------------------------------- accuracy vs size

/** Parameter count of each target, from whichever fine-tune of it finished (every method has the same count). */
export function parametersByTarget(run) {
  const map = new Map();
  for (const j of run.jobs ?? [])
    if (j.stage === 'finetune' && j.target && j.results?.parameters) map.set(j.target, j.results.parameters);
  return map;
}

/** The points of the accuracy chart: one per (method, target, phase) with a finished evaluation and a known size. */
export function accuracyPoints(run) {
  const params = parametersByTarget(run);
  const points = [];
  for (const j of run.jobs ?? []) {
    if (j.stage !== 'evaluate' || !j.target || !j.method || (j.phase !== 'init' && j.phase !== 'final')) continue;
    const acc = j.results?.accuracy;
    const p = params.get(j.target);
    if (acc === null || acc === undefined || !p) continue;
    points.push({ method: j.method, target: j.target, phase: j.phase, parameters: p, accuracy: acc, job: j });
  }
  return points;
}

/**
 * Accuracy against size: x = parameters (log), one series per method. Two panels share the x axis: trained models
 * above (filled markers, on a range that shows their differences) and the same models at initialisation below
 * (hollow markers, 0-100%), where WAVE and the baselines differ most. The teacher is a dashed line in both.
 */
export function renderAccuracy(container, run, { onSelect }) {
  const points = accuracyPoints(run);
  const teacherEval = (run.jobs ?? []).find(j => j.stage === 'evaluate' && j.phase === 'teacher' && j.results?.accuracy !== undefined && j.results?.accuracy !== null);
  const teacherAcc = teacherEval?.results.accuracy ?? null;
  const teacherTrain = (run.jobs ?? []).find(j => j.stage === 'finetune' && j.method === 'teacher' && j.results?.parameters);
  const methods = [...new Set(points.map(p => p.method))].sort((a, b) => rank(a) - rank(b));

  const swatch = (c, hollow) => svg('svg', { width: 22, height: 10, 'aria-hidden': 'true' },
    svg('line', { x1: 1, x2: 21, y1: 5, y2: 5, stroke: c, 'stroke-width': 2 }),
    svg('circle', { cx: 11, cy: 5, r: 3.5, fill: hollow ? '#fff' : c, stroke: c, 'stroke-width': 1.5 }));
  const legend = el('div', { class: 'legend chart-legend' },
    methods.map(m => el('span', { class: 'legend-item', 'data-method': m }, swatch(methodColor(m)), methodLabel(m))),
    teacherAcc !== null ? el('span', { class: 'legend-item muted' }, svg('svg', { width: 22, height: 10, 'aria-hidden': 'true' },
      svg('line', { x1: 1, x2: 21, y1: 5, y2: 5, class: 'teacher-line' })), 'teacher') : null,
    el('span', { class: 'legend-item muted' }, 'filled: trained · hollow: at initialisation'));

  const box = el('div', { class: 'chart-box' });
  container.replaceChildren(legend, box);
  const width = Math.max(320, box.clientWidth || 460), height = 356;
  const m = { l: 64, r: 16, t: 24, b: 40 };
  const root = svg('svg', { class: 'chart', id: 'accuracy-chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Accuracy against model size' });
  box.append(root);
  if (!points.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' },
      'No evaluated fine-tune yet: points appear as evaluations finish'));
    return;
  }

  // x: parameters, log scale, with room around the extreme sizes.
  const allParams = points.map(p => p.parameters).concat(teacherTrain ? [teacherTrain.results.parameters] : []);
  const pmin = Math.min(...allParams) / 1.5, pmax = Math.max(...allParams) * 1.5;
  const x = logScale(pmin, pmax, m.l, width - m.r);
  let xt = logTicks(pmin, pmax);
  if (xt.length > 9) xt = xt.filter(v => String(v)[0] === '1' || String(v)[0] === '5');
  // Methods at the same size are drawn a few pixels apart so that none hides another.
  const dodge = new Map(methods.map((mm, i) => [mm, (i - (methods.length - 1) / 2) * 9]));
  const px = p => x(p.parameters) + (dodge.get(p.method) ?? 0);

  // Two panels.
  const gap = 30, plotH = height - m.t - m.b - gap;
  const finals = points.filter(p => p.phase === 'final'), inits = points.filter(p => p.phase === 'init');
  const topH = inits.length ? Math.round(plotH * 0.58) : plotH + gap;
  const topAccs = finals.map(p => p.accuracy).concat(teacherAcc !== null ? [teacherAcc] : []);
  // The trained panel spans at least 6 points of accuracy, so that one or two models do not look far apart.
  let lo = Math.min(...topAccs, 1) - 0.01, hi = Math.max(...topAccs, 0) + 0.008;
  if (hi - lo < 0.06) { const mid = (lo + hi) / 2; lo = mid - 0.03; hi = mid + 0.03; }
  if (hi > 1) { lo -= hi - 1; hi = 1; }
  const yt = topAccs.length ? niceTicks(Math.max(0, lo), hi, 4) : niceTicks(0, 1, 4);
  const yTop = linearScale(yt.lo, yt.hi, m.t + topH, m.t);
  const bTop = m.t + topH + gap, bBottom = height - m.b;
  const bt = niceTicks(0, 1, 2);
  const yBottom = linearScale(0, 1, bBottom, bTop);

  const g = svg('g', { class: 'axes' });
  const pct = v => `${+(v * 100).toFixed(yt.step < 0.01 ? 1 : 0)}%`;
  const yAxis = (ticks, scale, fmt) => ticks.forEach(v => {
    g.append(svg('line', { class: 'grid', x1: m.l, x2: width - m.r, y1: scale(v), y2: scale(v) }));
    g.append(svg('text', { class: 'tick', x: m.l - 7, y: scale(v) + 3.5, 'text-anchor': 'end' }, fmt(v)));
  });
  yAxis(yt.ticks, yTop, pct);
  if (inits.length) yAxis(bt.ticks, yBottom, v => `${Math.round(v * 100)}%`);
  for (const v of xt) {
    g.append(svg('line', { class: 'tick-mark', x1: x(v), x2: x(v), y1: bBottom, y2: bBottom + 4 }));
    g.append(svg('text', { class: 'tick', x: x(v), y: bBottom + 16, 'text-anchor': 'middle' }, fmtCompact(v)));
  }
  g.append(svg('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: bBottom, y2: bBottom }));
  if (inits.length) g.append(svg('line', { class: 'axis', x1: m.l, x2: width - m.r, y1: m.t + topH, y2: m.t + topH }));
  g.append(svg('text', { class: 'axis-label', x: (m.l + width - m.r) / 2, y: height - 4, 'text-anchor': 'middle' }, 'parameters (log scale)'));
  // Each panel says what it shows along its own y axis.
  const vlabel = (text, top, bottom, x, cls) => g.append(svg('text', { class: cls, x: 0, y: 0, transform: `translate(${x} ${(top + bottom) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, text));
  vlabel('test accuracy', m.t, bBottom, 11, 'axis-label');
  if (inits.length) {
    vlabel('trained', m.t, m.t + topH, 25, 'panel-title');
    vlabel('at initialisation', bTop, bBottom, 25, 'panel-title');
  }
  root.append(g);

  // Target names along the top, at their sizes.
  const targets = [...new Map(points.map(p => [p.target, p.parameters])).entries()].sort((a, b) => a[1] - b[1]);
  let lastX = -Infinity;
  for (const [t, p] of targets) {
    const tx = x(p);
    root.append(svg('line', { class: 'target-rule', x1: tx, x2: tx, y1: m.t, y2: bBottom }));
    if (tx - lastX > 62) {
      root.append(svg('text', { class: 'target-label', x: tx, y: m.t - 8, 'text-anchor': 'middle' }, t));
      lastX = tx;
    }
  }

  if (teacherAcc !== null) {
    const tip = `Teacher ${run.teacher}\ntest accuracy ${fmtPct(teacherAcc)}`;
    const panels = inits.length ? [[yTop, true], [yBottom, false]] : [[yTop, true]];
    for (const [scale, labelled] of panels) {
      const ty = scale(teacherAcc);
      root.append(svg('line', { class: 'teacher-line', x1: m.l, x2: width - m.r, y1: ty, y2: ty, 'data-tip': tip }));
      if (labelled) root.append(svg('text', { class: 'teacher-label', x: m.l + 6, y: ty - 5 }, `teacher ${fmtPct(teacherAcc, 1)}`));
    }
    if (teacherTrain) {
      const tx = x(teacherTrain.results.parameters), ty = yTop(teacherAcc);
      root.append(svg('path', {
        class: 'teacher-point', d: `M${tx},${ty - 6} L${tx + 6},${ty} L${tx},${ty + 6} L${tx - 6},${ty} z`,
        'data-tip': `Teacher ${run.teacher}\n${fmtInt(teacherTrain.results.parameters)} parameters\ntest accuracy ${fmtPct(teacherAcc)}`,
      }));
    }
  }

  const scaleOf = p => (p.phase === 'final' ? yTop : yBottom);
  for (const method of methods) {
    const c = methodColor(method);
    for (const phase of ['init', 'final']) {
      const ps = points.filter(p => p.method === method && p.phase === phase).sort((a, b) => a.parameters - b.parameters);
      if (ps.length > 1)
        root.append(svg('path', { class: `acc-line ${phase}`, stroke: c, d: path(ps.map(p => [px(p), scaleOf(p)(p.accuracy)])), 'data-method': method }));
    }
  }
  const byKey = new Map(points.map(p => [`${p.method}|${p.target}|${p.phase}`, p]));
  for (const p of [...points].sort((a, b) => rank(a.method) - rank(b.method))) {
    const c = methodColor(p.method);
    const other = byKey.get(`${p.method}|${p.target}|${p.phase === 'init' ? 'final' : 'init'}`);
    const fin = p.phase === 'final' ? p : other, ini = p.phase === 'init' ? p : other;
    const tip = [`${methodLabel(p.method)} · ${p.target}`, `${fmtInt(p.parameters)} parameters (${fmtParams(p.parameters)})`,
      fin ? `after training: ${fmtPct(fin.accuracy)}` : 'after training: not evaluated yet',
      ini ? `at initialisation: ${fmtPct(ini.accuracy)}` : null,
      teacherAcc !== null ? `teacher: ${fmtPct(teacherAcc)}` : null].filter(Boolean).join('\n');
    root.append(svg('circle', {
      class: `point ${p.phase}`, cx: px(p), cy: scaleOf(p)(p.accuracy), r: p.phase === 'final' ? 5 : 4.5,
      fill: p.phase === 'final' ? c : '#fff', stroke: p.phase === 'final' ? '#fff' : c,
      'data-method': p.method, 'data-phase': p.phase, 'data-target': p.target, 'data-accuracy': p.accuracy.toFixed(4),
      'data-tip': tip, tabindex: 0, role: 'button', 'aria-label': tip.replaceAll('\n', ', '),
      onclick: () => onSelect?.(p.job.job_key),
    }));
  }
}

function rank(method) {
  const i = METHOD_ORDER.indexOf(method);
  return i < 0 ? 99 : i;
}

