// The pipeline graph of one run, drawn as SVG: teacher -> distilled templates -> per target size a lane of jobs
// (scalers -> fine-tune -> evaluations for WAVE; fine-tune -> evaluations for the baselines). Nodes are coloured by
// status; running ones carry a progress ring and bar.

import {
  svg, fitText, textWidth, fmtPct, fmtParams, fmtInt, fmtNum, fmtDuration, parseTime, jobTitle, methodLabel, methodColor,
  compareSizes, METHOD_ORDER, shortDigest,
} from './util.js';

export const TEACHER_KEY = '@teacher';

/** Sorts the jobs of a run into the places of the graph. */
export function graphModel(run) {
  const model = { teacherTrain: null, teacherEval: null, distill: [], lanes: new Map(), others: [] };
  const row = (target, method) => {
    if (!model.lanes.has(target)) model.lanes.set(target, new Map());
    const lane = model.lanes.get(target);
    if (!lane.has(method)) lane.set(method, {});
    return lane.get(method);
  };
  for (const j of run.jobs ?? []) {
    if (j.stage === 'distill') model.distill.push(j);
    else if (j.stage === 'finetune' && j.method === 'teacher') model.teacherTrain = j;
    else if (j.stage === 'evaluate' && j.phase === 'teacher') model.teacherEval = j;
    else if (j.stage === 'scalers' && j.target) row(j.target, 'wave').scalers = j;
    else if (j.stage === 'finetune' && j.target && j.method) row(j.target, j.method).finetune = j;
    else if (j.stage === 'evaluate' && j.target && j.method && (j.phase === 'init' || j.phase === 'final')) row(j.target, j.method)[j.phase] = j;
    else model.others.push(j);
  }
  // When WAVE is part of the plan (templates are distilled), every target has a WAVE branch, asked for or not yet.
  if (model.distill.length) for (const lane of model.lanes.values()) if (!lane.has('wave')) lane.set('wave', {});
  const methodRank = m => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : 99);
  model.lanes = new Map([...model.lanes.entries()].sort(([a], [b]) => compareSizes(a, b))
    .map(([t, lane]) => [t, new Map([...lane.entries()].sort(([a], [b]) => methodRank(a) - methodRank(b) || a.localeCompare(b)))]));
  return model;
}

/** Jobs of a run in the graph's reading order (used by other views so every list reads the same way). */
export function orderedJobs(run) {
  const m = graphModel(run);
  const out = [];
  const add = j => j && out.push(j);
  add(m.teacherTrain);
  add(m.teacherEval);
  m.distill.forEach(add);
  for (const lane of m.lanes.values()) for (const r of lane.values()) { add(r.scalers); add(r.finetune); add(r.init); add(r.final); }
  m.others.forEach(add);
  return out;
}

const NODE_H = 38, ROW_H = 46, LANE_HEAD = 23, LANE_GAP = 10, HEAD_H = 26, PAD = 10, GAP = 34;
const TITLE_FONT = '600 12px', SUB_FONT = '11px';

/**
 * Draws the graph into `container`. options: { selected: job key, highlight: Set of job keys or null,
 * parameters: Map target -> parameter count, onSelect(key) }.
 */
export function renderGraph(container, run, options) {
  const model = graphModel(run);
  const width = Math.max(container.clientWidth, 860);
  const weights = [1, 1.08, 1, 1.3, 1.25];
  const usable = width - 2 * PAD - GAP * (weights.length - 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const cols = [];
  let x = PAD;
  for (const w of weights) {
    const cw = (usable * w) / total;
    cols.push({ x, w: cw });
    x += cw + GAP;
  }
  const [cTeacher, cDistill, cScalers, cFinetune, cEval] = cols;
  const ended = run.status !== 'running';

  const edges = svg('g', { class: 'edges' });
  const nodes = svg('g', { class: 'nodes' });
  const lanesLayer = svg('g', { class: 'lanes' });

  // Column heads.
  const heads = svg('g', { class: 'col-heads' });
  [['Teacher', cTeacher], ['Stage 1 · templates', cDistill], ['Stage 2 · scalers', cScalers], ['Stage 3 · training', cFinetune],
    ['Evaluation · init | final', cEval]].forEach(([label, c]) =>
    heads.append(svg('text', { x: c.x, y: 14, class: 'col-head' }, label.toUpperCase())));

  const ctx = { options, nodes, ended };

  // Teacher column: training (embedded mode), the teacher artifact, its evaluation.
  let y = HEAD_H + 6;
  const teacherBox = { x: cTeacher.x, y: 0, w: cTeacher.w, h: NODE_H };
  if (model.teacherTrain) {
    const box = { x: cTeacher.x, y, w: cTeacher.w, h: NODE_H };
    jobNode(ctx, box, model.teacherTrain, 'Train teacher', trainingSub(model.teacherTrain, 'from scratch'));
    y += NODE_H + 22;
    edges.append(svg('path', { class: 'edge', d: `M${box.x + box.w / 2},${box.y + NODE_H} V${y}`, 'marker-end': 'url(#arrow)' }));
  }
  teacherBox.y = y;
  teacherNode(ctx, teacherBox, run);
  y += NODE_H + 22;
  if (model.teacherEval) {
    const box = { x: cTeacher.x, y, w: cTeacher.w, h: NODE_H };
    edges.append(svg('path', { class: 'edge', d: `M${box.x + box.w / 2},${teacherBox.y + NODE_H} V${y}`, 'marker-end': 'url(#arrow)' }));
    jobNode(ctx, box, model.teacherEval, 'Evaluate teacher', evalSub(model.teacherEval));
    y += NODE_H;
  }
  let leftBottom = y;

  // Stage 1 column.
  const distillBoxes = [];
  let dy = teacherBox.y;
  for (const d of model.distill) {
    const box = { x: cDistill.x, y: dy, w: cDistill.w, h: NODE_H };
    distillBoxes.push(box);
    edges.append(curve(teacherBox.x + teacherBox.w, teacherBox.y + NODE_H / 2, box.x, box.y + NODE_H / 2));
    jobNode(ctx, box, d, 'Distil templates', distillSub(d));
    dy += NODE_H + 14;
  }
  leftBottom = Math.max(leftBottom, dy);

  // Lanes: one per target size, one row per method.
  let ly = HEAD_H + 2;
  const laneX = cScalers.x - 12, laneW = cEval.x + cEval.w - laneX + 4;
  for (const [target, lane] of model.lanes) {
    const rows = [...lane.entries()];
    const laneH = LANE_HEAD + rows.length * ROW_H;
    lanesLayer.append(svg('rect', { class: 'lane', x: laneX, y: ly, width: laneW, height: laneH - 4, rx: 8 }));
    const params = options.parameters?.get(target);
    const head = svg('text', { x: laneX + 12, y: ly + 16, class: 'lane-head', 'data-lane': target },
      svg('tspan', { class: 'lane-target' }, target),
      params ? svg('tspan', { class: 'lane-params', dx: 8 }, `${fmtParams(params)} parameters`) : null);
    lanesLayer.append(head);
    const stage1Failed = model.distill.length > 0 && model.distill.every(d => d.status === 'failed');
    rows.forEach(([method, r], i) => {
      // What a job that was never asked for waits for, or why it will not run.
      const blocked = method === 'wave' && (stage1Failed || r.scalers?.status === 'failed') ? 'not run: upstream failed'
        : r.finetune?.status === 'failed' ? 'not run' : null;
      const waiting = text => blocked ?? (ended ? 'not run' : text);
      const ry = ly + LANE_HEAD + i * ROW_H + (ROW_H - NODE_H) / 2 - 2;
      const mid = ry + NODE_H / 2;
      const sBox = { x: cScalers.x, y: ry, w: cScalers.w, h: NODE_H };
      const fBox = { x: cFinetune.x, y: ry, w: cFinetune.w, h: NODE_H };
      const eBox = { x: cEval.x, y: ry, w: cEval.w, h: NODE_H };
      if (method === 'wave') {
        const from = distillBoxes[0];
        if (from) edges.append(bus(from.x + from.w, from.y + NODE_H / 2, cScalers.x - GAP / 2, sBox.x, mid, !r.scalers));
        if (r.scalers) jobNode(ctx, sBox, r.scalers, 'Scalers', scalersSub(r.scalers));
        else ghostNode(ctx, sBox, 'Scalers', stage1Failed ? 'not run: stage 1 failed' : waiting('after stage 1'));
        edges.append(svg('path', { class: `edge${r.finetune ? '' : ' pending'}`, d: `M${sBox.x + sBox.w},${mid} H${fBox.x}`, 'marker-end': 'url(#arrow)' }));
      } else {
        nodes.append(svg('text', { x: sBox.x + sBox.w - 4, y: mid + 4, class: 'init-note', 'text-anchor': 'end' },
          method === 'weight_selection' ? 'weights from teacher' : method === 'scratch' ? 'random init' : ''));
        if (method === 'weight_selection') edges.append(svg('path', { class: 'edge faint', d: `M${sBox.x + sBox.w},${mid} H${fBox.x}`, 'marker-end': 'url(#arrow)' }));
      }
      // The column says "training": a fine-tune is named by its method, in the method's colour (as in the charts).
      const title = [{ text: methodLabel(method), color: methodColor(method) }];
      if (r.finetune) jobNode(ctx, fBox, r.finetune, title, trainingSub(r.finetune));
      else ghostNode(ctx, fBox, title, waiting('waits for scalers'));
      edges.append(svg('path', { class: `edge${r.init || r.final ? '' : ' pending'}`, d: `M${fBox.x + fBox.w},${mid} H${eBox.x}`, 'marker-end': 'url(#arrow)' }));
      const half = (eBox.w - 6) / 2;
      for (const [phase, hx] of [['init', eBox.x], ['final', eBox.x + half + 6]]) {
        const box = { x: hx, y: ry, w: half, h: NODE_H };
        if (r[phase]) jobNode(ctx, box, r[phase], phase, evalSub(r[phase]), { compact: true });
        else ghostNode(ctx, box, phase, blocked ? 'not run' : waiting('after training'), { compact: true });
      }
    });
    ly += laneH + LANE_GAP;
  }
  let bottom = Math.max(leftBottom, ly);

  // Anything the graph has no place for (an unknown stage, a malformed subject) is still shown.
  if (model.others.length) {
    bottom += 8;
    heads.append(svg('text', { x: PAD, y: bottom + 12, class: 'col-head' }, 'OTHER JOBS'));
    bottom += 20;
    let ox = PAD;
    const w = cTeacher.w;
    for (const j of model.others) {
      if (ox + w > width - PAD) { ox = PAD; bottom += ROW_H; }
      jobNode(ctx, { x: ox, y: bottom, w, h: NODE_H }, j, jobTitle(j), statusSub(j));
      ox += w + 12;
    }
    bottom += ROW_H;
  }

  const height = bottom + PAD;
  const root = svg('svg', { class: 'graph-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Pipeline graph' },
    svg('defs', {},
      svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,1 L9,5 L0,9 z', class: 'arrow-head' }))),
    heads, lanesLayer, edges, nodes);
  container.replaceChildren(root);
}

// ---------------------------------------------------------------------------------------------- node texts

function progressOf(j) {
  const p = j.progress;
  return p && p.steps > 0 ? Math.min(1, p.step / p.steps) : null;
}

function runningSub(j) {
  const p = j.progress;
  if (!p) return 'starting…';
  const steps = `${fmtInt(p.step)}/${fmtInt(p.steps)}`;
  return [`${steps} · loss ${fmtNum(p.loss, 3)}`, steps];
}

function statusSub(j) {
  if (j.status === 'running') return runningSub(j);
  if (j.status === 'failed') return 'failed';
  if (j.status === 'queued') return 'queued';
  return j.status;
}

function distillSub(j) {
  if (j.status === 'succeeded' || j.status === 'cached') {
    const aux = `aux ${fmtPct(j.results?.accuracy, 1)}`, params = fmtParams(j.results?.parameters);
    return [`${aux} · ${params} params`, `${aux} · ${params}`, aux];
  }
  if (j.status === 'queued') return j.target ? `into ${j.target}` : 'queued';
  return statusSub(j);
}

function scalersSub(j) {
  if (j.status === 'succeeded' || j.status === 'cached') return `${fmtInt(j.results?.parameters)} scalers`;
  return statusSub(j);
}

function trainingSub(j, queuedText) {
  if (j.status === 'succeeded' || j.status === 'cached') {
    const took = durationOf(j);
    const full = [j.status === 'cached' ? 'cached' : null, j.results?.parameters ? `${fmtParams(j.results.parameters)} params` : null,
      j.status !== 'cached' && took !== null ? fmtDuration(took) : null].filter(Boolean);
    return [full.join(' · '), full.slice(0, 2).join(' · ')];
  }
  if (j.status === 'queued' && queuedText) return queuedText;
  return statusSub(j);
}

function durationOf(j) {
  const s = parseTime(j.started_at), e = parseTime(j.ended_at);
  return s !== null && e !== null ? (e - s) / 1000 : null;
}

function evalSub(j) {
  if (j.status === 'succeeded' || j.status === 'cached') return fmtPct(j.results?.accuracy);
  return statusSub(j);
}

function tipFor(j) {
  const lines = [jobTitle(j), j.description, `status: ${j.status}${j.worker ? ` on ${j.worker}` : ''}`];
  const p = j.progress;
  if (j.status === 'running' && p)
    lines.push(`step ${fmtInt(p.step)} of ${fmtInt(p.steps)} (${((p.step / Math.max(1, p.steps)) * 100).toFixed(1)}%)`,
      `loss ${fmtNum(p.loss)} · ${fmtInt(p.examples_per_second)} examples/s · ${fmtDuration(p.elapsed_seconds)}`);
  const started = parseTime(j.started_at), endedAt = parseTime(j.ended_at);
  if (started && endedAt) lines.push(`took ${fmtDuration((endedAt - started) / 1000)}`);
  const r = j.results;
  if (r?.accuracy !== null && r?.accuracy !== undefined) lines.push(`accuracy ${fmtPct(r.accuracy)}`);
  if (r?.loss !== null && r?.loss !== undefined) lines.push(`loss ${fmtNum(r.loss)}`);
  if (r?.parameters) lines.push(`${fmtInt(r.parameters)} ${j.stage === 'scalers' ? 'scalers' : 'parameters'}`);
  if (j.error) lines.push(`error: ${j.error}`);
  lines.push('click for details');
  return lines.filter(Boolean).join('\n');
}

// ---------------------------------------------------------------------------------------------- drawing

function classes(ctx, key, status) {
  const c = ['node', `s-${status}`];
  if (ctx.options.selected === key) c.push('selected');
  if (ctx.options.highlight) c.push(ctx.options.highlight.has(key) ? 'lit' : 'dim');
  return c.join(' ');
}

function interactive(ctx, g, key, label) {
  g.setAttribute('tabindex', '0');
  g.setAttribute('role', 'button');
  g.setAttribute('aria-label', label);
  g.addEventListener('click', () => ctx.options.onSelect?.(key));
  g.addEventListener('keydown', e => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ctx.options.onSelect?.(key); }
  });
}

/** title: a string, or an array of strings and {text, color} parts. */
function titleText(x, y, title, maxWidth) {
  const parts = Array.isArray(title) ? title : [title];
  const plain = parts.map(p => (typeof p === 'string' ? p : p.text)).join('');
  const fitted = fitText(plain, maxWidth, TITLE_FONT);
  const t = svg('text', { x, y, class: 'node-title' });
  if (fitted !== plain && parts.length > 1) { t.textContent = fitted; return t; }
  if (parts.length === 1) {
    const p = parts[0];
    if (typeof p === 'string') t.textContent = fitted;
    else t.append(svg('tspan', { fill: p.color, class: 'method' }, fitted));
    return t;
  }
  for (const p of parts)
    t.append(typeof p === 'string' ? svg('tspan', {}, p) : svg('tspan', { fill: p.color, class: 'method' }, p.text));
  return t;
}

function jobNode(ctx, box, job, title, sub, { compact = false } = {}) {
  const status = job.status ?? 'queued';
  const g = svg('g', { class: classes(ctx, job.job_key, status), 'data-job': job.job_key, 'data-status': status, 'data-tip': tipFor(job) });
  if (job.stage) g.setAttribute('data-stage', job.stage);
  if (job.phase) g.setAttribute('data-phase', job.phase);
  if (job.method) g.setAttribute('data-method', job.method);
  if (job.target) g.setAttribute('data-target', job.target);
  g.append(svg('rect', { class: 'node-box', x: box.x, y: box.y, width: box.w, height: box.h, rx: 7 }));
  const iconX = box.x + (compact ? 12 : 15), mid = box.y + box.h / 2;
  g.append(statusIcon(status, iconX, mid, progressOf(job), compact ? 5.5 : 7));
  const tx = box.x + (compact ? 22 : 29), maxW = box.x + box.w - tx - 6;
  g.append(titleText(tx, box.y + 15, title, maxW));
  g.append(svg('text', { x: tx, y: box.y + 29, class: 'node-sub' }, fitFirst(sub, maxW)));
  const fraction = status === 'running' ? progressOf(job) : null;
  if (fraction !== null) {
    g.append(svg('rect', { class: 'node-bar-track', x: box.x + 6, y: box.y + box.h - 5, width: box.w - 12, height: 2.5, rx: 1.25 }));
    g.append(svg('rect', { class: 'node-bar', x: box.x + 6, y: box.y + box.h - 5, width: Math.max(2, (box.w - 12) * fraction), height: 2.5, rx: 1.25 }));
  }
  interactive(ctx, g, job.job_key, `${jobTitle(job)}: ${status}`);
  ctx.nodes.append(g);
  return g;
}

/** The first of the texts that fits (texts from the most to the least detailed), else the last one shortened. */
function fitFirst(texts, maxW) {
  const options = Array.isArray(texts) ? texts : [texts];
  return options.find(t => textWidth(t, SUB_FONT) <= maxW) ?? fitText(options[options.length - 1], maxW, SUB_FONT);
}

function ghostNode(ctx, box, title, sub, { compact = false } = {}) {
  const g = svg('g', { class: 'node ghost', 'data-tip': `${Array.isArray(title) ? title.map(p => p.text ?? p).join('') : title}\nnot asked for yet: ${sub}` });
  g.append(svg('rect', { class: 'node-box', x: box.x, y: box.y, width: box.w, height: box.h, rx: 7 }));
  const tx = box.x + (compact ? 10 : 14), maxW = box.x + box.w - tx - 6;
  g.append(titleText(tx, box.y + 15, Array.isArray(title) ? title.map(p => (typeof p === 'string' ? p : p.text)).join('') : title, maxW));
  g.append(svg('text', { x: tx, y: box.y + 29, class: 'node-sub' }, fitText(sub, maxW, SUB_FONT)));
  ctx.nodes.append(g);
}

function teacherNode(ctx, box, run) {
  const status = run.teacher_digest ? 'artifact' : 'queued';
  const g = svg('g', {
    class: classes(ctx, TEACHER_KEY, status), 'data-job': TEACHER_KEY, 'data-status': status,
    'data-tip': `Teacher: ${run.teacher || '—'}\ndigest ${run.teacher_digest ?? '—'}\nclick for details and lineage`,
  });
  g.append(svg('rect', { class: 'node-box', x: box.x, y: box.y, width: box.w, height: box.h, rx: 7 }));
  // A small "model" glyph: three stacked layers.
  const ix = box.x + 9, iy = box.y + box.h / 2;
  for (let i = 0; i < 3; i++) g.append(svg('rect', { class: 'teacher-glyph', x: ix, y: iy - 7 + i * 5, width: 12, height: 3.2, rx: 1 }));
  const tx = box.x + 29, maxW = box.x + box.w - tx - 6;
  g.append(titleText(tx, box.y + 15, run.teacher || 'Teacher', maxW));
  g.append(svg('text', { x: tx, y: box.y + 29, class: 'node-sub mono' }, fitText(run.teacher_digest ? shortDigest(run.teacher_digest) : 'no digest yet', maxW, SUB_FONT)));
  interactive(ctx, g, TEACHER_KEY, `Teacher ${run.teacher}`);
  ctx.nodes.append(g);
}

function statusIcon(status, cx, cy, fraction, r) {
  const g = svg('g', { class: 'icon' });
  if (status === 'running') {
    g.append(svg('circle', { class: 'ring-track', cx, cy, r }));
    const f = fraction ?? 0.05;
    if (f >= 0.999) g.append(svg('circle', { class: 'ring', cx, cy, r }));
    else {
      const a = f * 2 * Math.PI - Math.PI / 2;
      const x1 = cx, y1 = cy - r, x2 = cx + r * Math.cos(a), y2 = cy + r * Math.sin(a);
      g.append(svg('path', { class: 'ring', d: `M${x1},${y1} A${r},${r} 0 ${f > 0.5 ? 1 : 0} 1 ${x2.toFixed(2)},${y2.toFixed(2)}` }));
    }
    return g;
  }
  if (status === 'queued') {
    g.append(svg('circle', { class: 'dot-queued', cx, cy, r: r - 1 }));
    return g;
  }
  g.append(svg('circle', { class: `dot-${status}`, cx, cy, r }));
  const s = r / 7;
  if (status === 'succeeded')
    g.append(svg('path', { class: 'glyph', d: `M${cx - 3.2 * s},${cy + 0.2 * s} l${2.2 * s},${2.2 * s} l${4.2 * s},${-4.6 * s}` }));
  else if (status === 'failed')
    g.append(svg('path', { class: 'glyph', d: `M${cx - 2.6 * s},${cy - 2.6 * s} l${5.2 * s},${5.2 * s} M${cx + 2.6 * s},${cy - 2.6 * s} l${-5.2 * s},${5.2 * s}` }));
  else if (status === 'cached') {
    // A circular arrow: reused, not recomputed.
    const rr = 3.4 * s;
    g.append(svg('path', { class: 'glyph', d: `M${cx + rr},${cy} A${rr},${rr} 0 1 1 ${cx},${cy - rr}` }));
    g.append(svg('path', { class: 'glyph-fill', d: `M${cx - 0.6 * s},${cy - rr - 2 * s} l${2.6 * s},${2 * s} l${-2.6 * s},${2 * s} z` }));
  }
  return g;
}

function curve(x1, y1, x2, y2) {
  const mx = (x1 + x2) / 2;
  return svg('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' });
}

/** From a node's right side along a vertical bus at x = trunk, then right into the target. */
function bus(x1, y1, trunk, x2, y2, pending) {
  const r = Math.min(8, Math.abs(y2 - y1) / 2);
  let d;
  if (Math.abs(y2 - y1) < 1) d = `M${x1},${y1} H${x2}`;
  else {
    const dir = y2 > y1 ? 1 : -1;
    d = `M${x1},${y1} H${trunk - r} Q${trunk},${y1} ${trunk},${y1 + dir * r} V${y2 - dir * r} Q${trunk},${y2} ${trunk + r},${y2} H${x2}`;
  }
  return svg('path', { class: `edge${pending ? ' pending' : ''}`, d, 'marker-end': 'url(#arrow)' });
}
