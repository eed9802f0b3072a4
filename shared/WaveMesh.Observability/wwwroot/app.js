// The WaveMesh dashboard: runs of the ledger, live over server-sent events (polling when they fail), and for the
// selected run its pipeline graph, running jobs, failures, loss curves, accuracy against size and job details with
// the lineage of every artifact. Plain modules, no libraries, no build step.

import {
  el, setChildren, installTooltips, refreshTip, fmtInt, fmtNum, fmtPct, fmtParams, fmtRate, fmtDuration, fmtTime, fmtFullTime, fmtAgo,
  parseTime, shortDigest, shortId, jobTitle, methodLabel, methodColor, stageLabel, STATUSES, STAGE_ORDER,
} from './util.js';
import { renderGraph, TEACHER_KEY, orderedJobs } from './graph.js';
import { renderLoss, renderAccuracy, defaultLossSelection, trainingJobs, parametersByTarget } from './charts.js';
import { startRegistry } from './registry.js';

const $ = id => document.getElementById(id);
const POLL_MS = 2000;

const state = {
  loaded: false,
  summaries: [],
  runs: new Map(), // run id -> the run as the API returns it
  missing: new Set(), // run ids the server does not know
  selected: null,
  pinned: false, // chosen by a link or a click; otherwise the newest running run is followed
  job: null, // job key shown in the details panel (TEACHER_KEY for the teacher)
  lineage: null, // { digest, jobs, loading, error }
  loss: new Map(), // run id -> { manual, keys }
  lossHover: null,
  conn: 'connecting',
  lastUpdate: null,
};

// ---------------------------------------------------------------------------------------------- data

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${url}`);
  return response.json();
}

function summarize(run) {
  const counts = Object.fromEntries(STATUSES.map(s => [s, 0]));
  for (const j of run.jobs ?? []) counts[j.status] = (counts[j.status] ?? 0) + 1;
  return { run_id: run.run_id, pipeline: run.pipeline, teacher: run.teacher, started_at: run.started_at, ended_at: run.ended_at,
    status: run.status, jobs: (run.jobs ?? []).length, ...counts };
}

function setSummaries(list) {
  state.summaries = [...list].sort((a, b) => (parseTime(b.started_at) ?? 0) - (parseTime(a.started_at) ?? 0));
  state.loaded = true;
}

// A fetched answer may be older than an event that arrived while it was on its way: events are counted, and an
// answer to a request sent before a run's latest event is not applied to that run.
let eventSeq = 0;
const eventSeqOf = new Map(); // run id -> eventSeq of its latest event

function upsertRun(run, fromEvent = false) {
  if (fromEvent) eventSeqOf.set(run.run_id, ++eventSeq);
  state.runs.set(run.run_id, run);
  state.missing.delete(run.run_id);
  const summary = summarize(run);
  const rest = state.summaries.filter(s => s.run_id !== run.run_id);
  setSummaries([...rest, summary]);
  state.lastUpdate = Date.now();
}

async function loadRun(id) {
  const sent = eventSeq;
  const run = await getJson(`api/runs/${encodeURIComponent(id)}`);
  if ((eventSeqOf.get(id) ?? 0) > sent) return;
  if (run) upsertRun(run);
  else state.missing.add(id);
}

let refreshing = null;
/** Everything the page shows, fetched again: the list of runs and the selected run. */
function refresh() {
  refreshing ??= (async () => {
    try {
      const sent = eventSeq;
      const list = await getJson('api/runs') ?? [];
      const newer = state.summaries.filter(s => (eventSeqOf.get(s.run_id) ?? 0) > sent);
      setSummaries([...list.filter(s => !newer.some(n => n.run_id === s.run_id)), ...newer]);
      follow();
      if (state.selected) await loadRun(state.selected);
      state.lastUpdate = Date.now();
      if (state.conn === 'offline') setConn(streaming() ? 'live' : source ? 'reconnecting' : 'polling');
    } catch {
      if (!streaming()) setConn('offline');
    } finally {
      refreshing = null;
      scheduleRender();
    }
  })();
  return refreshing;
}

/** Without a choice of the user, show the newest running run (else the newest run). */
function follow() {
  if (state.pinned) return;
  const next = (state.summaries.find(s => s.status === 'running') ?? state.summaries[0])?.run_id ?? null;
  if (next !== state.selected) {
    state.selected = next;
    state.job = null;
    state.lineage = null;
    if (next && !state.runs.has(next)) loadRun(next).then(scheduleRender, () => {});
  }
}

// ---------------------------------------------------------------------------------------------- live updates

let source = null;
let pollTimer = null;
let retries = 0;
let reconnectTimer = null;

function connect() {
  reconnectTimer = null;
  if (typeof window.EventSource !== 'function') {
    setConn('polling');
    startPolling();
    return;
  }
  try {
    source = new EventSource('api/events');
  } catch {
    source = null;
    setConn('polling');
    startPolling();
    scheduleReconnect();
    return;
  }
  source.addEventListener('open', () => {
    retries = 0;
    stopPolling();
    setConn('live');
    refresh(); // catch up with whatever changed while we were not listening
  });
  source.addEventListener('run', e => {
    let run;
    try { run = JSON.parse(e.data); } catch { return; }
    upsertRun(run, true);
    follow();
    scheduleRender();
  });
  source.addEventListener('error', () => {
    // The browser retries by itself while the state is CONNECTING; poll meanwhile so nothing is missed.
    startPolling();
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      scheduleReconnect();
    }
    if (state.conn !== 'offline') setConn('reconnecting');
  });
}

const streaming = () => source !== null && source.readyState === EventSource.OPEN;

function scheduleReconnect() {
  if (reconnectTimer) return;
  const delay = Math.min(15000, 1000 * 2 ** retries++);
  reconnectTimer = setTimeout(connect, delay);
}

function startPolling() {
  pollTimer ??= setInterval(refresh, POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

function setConn(conn) {
  if (state.conn === conn) return;
  state.conn = conn;
  renderConn();
}

// ---------------------------------------------------------------------------------------------- navigation

function readHash() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  return { run: p.get('run'), job: p.get('job') };
}

function writeHash(push) {
  const p = new URLSearchParams();
  if (state.pinned && state.selected) p.set('run', state.selected);
  if (state.pinned && state.job) p.set('job', state.job);
  const hash = p.toString() ? `#${p}` : '';
  if (location.hash === hash || (!hash && !location.hash)) return;
  const url = `${location.pathname}${location.search}${hash}`;
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

function applyHash() {
  const { run, job } = readHash();
  if (run) {
    if (run !== state.selected) { state.lineage = null; state.lossHover = null; }
    state.selected = run;
    state.pinned = true;
    state.job = job;
    if (!state.runs.has(run)) loadRun(run).then(scheduleRender, () => {});
  } else {
    state.pinned = false;
    state.job = null;
    follow();
  }
  scheduleRender();
}

function selectRun(id) {
  if (id === state.selected && state.pinned) return;
  state.selected = id;
  state.pinned = true;
  state.job = null;
  state.lineage = null;
  state.lossHover = null;
  writeHash(true);
  if (!state.runs.has(id)) loadRun(id).then(scheduleRender, () => {});
  scheduleRender();
}

function openJob(key, runId = state.selected) {
  const switching = runId !== state.selected;
  if (switching) {
    state.selected = runId;
    state.lineage = null;
    if (!state.runs.has(runId)) loadRun(runId).then(scheduleRender, () => {});
  }
  state.pinned = true;
  state.job = key;
  writeHash(switching);
  scheduleRender();
}

function closeJob() {
  state.job = null;
  state.lineage = null;
  writeHash(false);
  scheduleRender();
}

async function showLineage(digest) {
  state.lineage = { digest, jobs: [], loading: true };
  scheduleRender();
  try {
    const graph = await getJson(`api/lineage/${encodeURIComponent(digest)}`);
    if (state.lineage?.digest === digest) state.lineage = { digest, jobs: graph?.jobs ?? [], loading: false };
  } catch (e) {
    if (state.lineage?.digest === digest) state.lineage = { digest, jobs: [], loading: false, error: String(e.message ?? e) };
  }
  scheduleRender();
}

// ---------------------------------------------------------------------------------------------- rendering

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

const memo = new Map();
/** Runs draw() only when key changed since the last time for this section. */
function once(section, key, draw) {
  if (memo.get(section) === key) return;
  memo.set(section, key);
  draw();
}

function render() {
  renderConn();
  renderRuns();
  const run = state.selected ? state.runs.get(state.selected) : null;
  const view = $('run-view'), message = $('message');
  if (!run) {
    view.hidden = true;
    message.hidden = false;
    renderMessage();
    $('drawer').hidden = true;
    memo.delete('drawer');
    return;
  }
  message.hidden = true;
  view.hidden = false;
  const json = JSON.stringify(run);
  once('header', json, () => renderHeader(run));
  const params = parametersByTarget(run);
  const highlight = lineageKeys(run);
  once('graph', `${json}|${state.job}|${[...(highlight ?? [])].join(',')}|${$('graph').clientWidth}`, () =>
    renderGraph($('graph'), run, { selected: state.job, highlight, parameters: params, onSelect: key => openJob(key) }));
  once('progress', json, () => renderProgress(run));
  once('failures', json, () => renderFailures(run));
  const loss = lossSelection(run);
  once('loss', `${json}|${loss.manual}|${loss.keys.join(',')}|${$('loss').clientWidth}`, () =>
    renderLoss($('loss'), run, {
      selection: loss.keys, manual: loss.manual, hover: state.lossHover,
      onToggle: key => toggleLoss(run, key), onAuto: () => { state.loss.delete(run.run_id); scheduleRender(); },
      onHover: step => { state.lossHover = step; },
    }));
  once('accuracy', `${json}|${$('accuracy').clientWidth}`, () => renderAccuracy($('accuracy'), run, { onSelect: key => openJob(key) }));
  once('drawer', `${run.run_id}|${state.job}|${JSON.stringify(findJob(run, state.job) ?? null)}|${JSON.stringify(state.lineage)}`, () => renderDrawer(run));
  refreshTip();
}

function renderConn() {
  const c = $('conn');
  const labels = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting · polling every 2 s', polling: 'polling every 2 s', offline: 'server unreachable' };
  c.dataset.state = state.conn;
  c.textContent = labels[state.conn] ?? state.conn;
  c.setAttribute('data-tip', state.lastUpdate ? `last update ${fmtFullTime(state.lastUpdate)}` : 'no update yet');
}

function badge(status) {
  return el('span', { class: `badge s-${status}`, 'data-status': status }, status);
}

function countBar(counts, total) {
  const bar = el('div', { class: 'countbar', 'aria-hidden': 'true' });
  for (const s of ['succeeded', 'cached', 'running', 'failed', 'queued'])
    if (counts[s]) bar.append(el('span', { class: `seg s-${s}`, style: `flex-grow:${counts[s]}` }));
  if (!total) bar.append(el('span', { class: 'seg s-none', style: 'flex-grow:1' }));
  return bar;
}

function countsText(s) {
  const done = (s.succeeded ?? 0) + (s.cached ?? 0);
  const parts = [`${done}/${s.jobs} done`];
  if (s.cached) parts.push(`${s.cached} cached`);
  if (s.running) parts.push(`${s.running} running`);
  if (s.queued) parts.push(`${s.queued} queued`);
  if (s.failed) parts.push(`${s.failed} failed`);
  return parts.join(' · ');
}

function renderRuns() {
  $('run-count').textContent = state.loaded ? String(state.summaries.length) : '';
  once('runs', JSON.stringify([state.summaries, state.selected, state.loaded]), () => {
    const list = $('runs');
    if (!state.loaded) { setChildren(list, el('li', { class: 'runs-note' }, 'Loading…')); return; }
    if (!state.summaries.length) { setChildren(list, el('li', { class: 'runs-note' }, 'No runs yet.')); return; }
    setChildren(list, ...state.summaries.map(s => {
      const started = parseTime(s.started_at), ended = parseTime(s.ended_at);
      return el('li', {}, el('button', {
        type: 'button', class: `run-item${s.run_id === state.selected ? ' selected' : ''}`, 'data-run': s.run_id, 'data-status': s.status,
        'aria-current': s.run_id === state.selected ? 'true' : null,
        'data-tip': `run ${s.run_id}\nstarted ${fmtFullTime(started)}${ended ? `\nended ${fmtFullTime(ended)} (${fmtDuration((ended - started) / 1000)})` : ''}\n${countsText(s)}`,
        onclick: () => selectRun(s.run_id),
      },
      el('div', { class: 'run-line' }, badge(s.status), el('span', { class: 'run-pipeline' }, s.pipeline || 'run'),
        el('span', { class: 'run-when', 'data-ago': started ?? '' }, fmtAgo(started))),
      el('div', { class: 'run-teacher' }, s.teacher || '—'),
      countBar(s, s.jobs),
      el('div', { class: 'run-counts' }, countsText(s))));
    }));
  });
  // Relative times change with the clock, not with the data.
  document.querySelectorAll('[data-ago]').forEach(n => { if (n.dataset.ago) n.textContent = fmtAgo(+n.dataset.ago); });
}

function renderMessage() {
  const m = $('message');
  if (!state.loaded) setChildren(m, el('div', { class: 'message-box' }, el('h2', {}, 'Loading runs…')));
  else if (state.selected && state.missing.has(state.selected))
    setChildren(m, el('div', { class: 'message-box' }, el('h2', {}, 'Run not found'),
      el('p', {}, `The ledger has no run ${state.selected}.`),
      el('p', {}, el('a', { href: '#', onclick: e => { e.preventDefault(); history.replaceState(null, '', location.pathname); applyHash(); } }, 'Show the newest run'))));
  else if (!state.summaries.length)
    setChildren(m, el('div', { class: 'message-box' }, el('h2', {}, 'No runs yet'),
      el('p', {}, 'A run starts when a teacher version enters a pipeline: register a teacher with the Control service, or start ',
        el('code', {}, './wavemesh run --dashboard'), '. This page updates by itself.')));
  else setChildren(m, el('div', { class: 'message-box' }, el('h2', {}, 'Loading run…')));
}

// ---- header

function renderHeader(run) {
  const started = parseTime(run.started_at), ended = parseTime(run.ended_at);
  const s = summarize(run);
  const teacherEval = run.jobs.find(j => j.stage === 'evaluate' && j.phase === 'teacher');
  const bestWave = run.jobs.filter(j => j.stage === 'evaluate' && j.method === 'wave' && j.phase === 'final' && j.results?.accuracy != null)
    .sort((a, b) => b.results.accuracy - a.results.accuracy)[0];
  const tile = (label, value, cls, tip) => el('div', { class: `tile ${cls ?? ''}`, 'data-tip': tip ?? null },
    el('div', { class: 'tile-value' }, value), el('div', { class: 'tile-label' }, label));
  setChildren($('run-header'),
    el('div', { class: 'run-title' },
      el('h1', {}, run.pipeline || 'Run'), badge(run.status),
      el('span', { class: 'run-id mono', 'data-tip': `run id ${run.run_id}` }, `run ${shortId(run.run_id)}`)),
    el('div', { class: 'run-meta' },
      el('span', {}, 'Teacher ', el('button', { type: 'button', class: 'link-button strong', onclick: () => openJob(TEACHER_KEY) }, run.teacher || '—'),
        run.teacher_digest ? el('code', { class: 'digest', 'data-tip': run.teacher_digest }, shortDigest(run.teacher_digest)) : null),
      el('span', { 'data-tip': fmtFullTime(started) }, 'Started ', el('strong', {}, fmtTime(started)), ' (', el('span', { 'data-ago': started }, fmtAgo(started)), ')'),
      ended
        ? el('span', { 'data-tip': fmtFullTime(ended) }, `${run.status === 'failed' ? 'Failed' : 'Finished'} after `, el('strong', {}, fmtDuration((ended - started) / 1000)))
        : el('span', {}, 'Running for ', el('strong', { 'data-elapsed-from': started }, fmtDuration((Date.now() - started) / 1000)))),
    el('div', { class: 'tiles' },
      tile('jobs', fmtInt(s.jobs), 'plain'),
      tile('succeeded', fmtInt(s.succeeded), 's-succeeded'),
      tile('cached', fmtInt(s.cached), 's-cached', 'answered from the cache: the same job was done before'),
      tile('running', fmtInt(s.running), 's-running'),
      tile('queued', fmtInt(s.queued), 's-queued'),
      tile('failed', fmtInt(s.failed), 's-failed'),
      tile('teacher accuracy', teacherEval?.results ? fmtPct(teacherEval.results.accuracy) : '—', 'plain wide'),
      tile('best WAVE, trained', bestWave ? fmtPct(bestWave.results.accuracy) : '—', 'plain wide',
        bestWave ? `${bestWave.target}: ${fmtPct(bestWave.results.accuracy)}` : 'no WAVE model evaluated yet')));
}

// ---- running now

function renderProgress(run) {
  const running = orderedJobs(run).filter(j => j.status === 'running');
  const queued = orderedJobs(run).filter(j => j.status === 'queued');
  $('queue-note').textContent = `${running.length} running · ${queued.length} queued`;
  const box = $('progress');
  const cards = running.map(j => {
    const p = j.progress;
    const fraction = p && p.steps > 0 ? Math.min(1, p.step / p.steps) : 0;
    const eta = p && p.step > 0 && p.steps > p.step ? (p.elapsed_seconds / p.step) * (p.steps - p.step) : null;
    return el('div', { class: 'progress-card', 'data-job': j.job_key, role: 'button', tabindex: 0, onclick: () => openJob(j.job_key),
      onkeydown: e => { if (e.key === 'Enter') openJob(j.job_key); } },
    el('div', { class: 'pc-head' }, el('span', { class: 'pc-title' }, titleWithMethod(j)), el('span', { class: 'pc-worker mono', 'data-tip': 'worker' }, j.worker ?? '')),
    el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': p?.steps ?? 0, 'aria-valuenow': p?.step ?? 0 },
      el('div', { class: 'bar-fill', style: `width:${(fraction * 100).toFixed(2)}%` })),
    el('div', { class: 'pc-stats' },
      p ? [
        el('span', { class: 'step', 'data-step': p.step, 'data-steps': p.steps }, el('b', {}, fmtInt(p.step)), ` / ${fmtInt(p.steps)} steps`),
        el('span', { class: 'pct' }, `${(fraction * 100).toFixed(1)}%`),
        el('span', {}, 'loss ', el('b', { class: 'loss' }, fmtNum(p.loss))),
        el('span', {}, el('b', {}, fmtRate(p.examples_per_second)), ' examples/s'),
        el('span', {}, 'elapsed ', el('b', {}, fmtDuration(p.elapsed_seconds))),
        eta !== null ? el('span', { 'data-tip': 'estimated from the pace so far' }, 'left ~', el('b', {}, fmtDuration(eta))) : null,
      ] : el('span', { class: 'muted' }, 'started, no progress reported yet')));
  });
  const queuedNote = queued.length
    ? el('div', { class: 'queued-list' }, el('span', { class: 'muted' }, 'Queued: '),
      queued.slice(0, 6).map(j => el('button', { type: 'button', class: 'chip', 'data-job': j.job_key, onclick: () => openJob(j.job_key) }, jobTitle(j))),
      queued.length > 6 ? el('span', { class: 'muted' }, ` and ${queued.length - 6} more`) : null)
    : null;
  if (!cards.length)
    setChildren(box, el('p', { class: 'empty-note' }, run.status === 'running' ? 'Nothing is running at this moment.' : `The run has ${run.status === 'failed' ? 'failed' : 'finished'}; nothing is running.`), queuedNote);
  else setChildren(box, cards, queuedNote);
}

function titleWithMethod(j) {
  const parts = jobTitle(j).split(' · ');
  const label = methodLabel(j.method);
  return parts.map((p, i) => [i ? ' · ' : '', p === label && j.method ? el('b', { style: `color:${methodColor(j.method)}` }, p) : p]);
}

// ---- failures

function renderFailures(run) {
  const failed = orderedJobs(run).filter(j => j.status === 'failed');
  $('failure-count').textContent = failed.length ? String(failed.length) : '';
  $('failures-card').classList.toggle('has-failures', failed.length > 0);
  const box = $('failures');
  if (!failed.length) {
    setChildren(box, el('p', { class: 'empty-note ok' }, 'No job has failed.'));
    return;
  }
  setChildren(box, ...failed.map(j => el('div', { class: 'failure', 'data-job': j.job_key, role: 'button', tabindex: 0, onclick: () => openJob(j.job_key),
    onkeydown: e => { if (e.key === 'Enter') openJob(j.job_key); } },
  el('div', { class: 'failure-head' }, el('span', { class: 'failure-title' }, titleWithMethod(j)),
    el('span', { class: 'muted' }, [j.worker, j.ended_at ? fmtTime(parseTime(j.ended_at)) : null].filter(Boolean).join(' · '))),
  el('div', { class: 'error' }, j.error || 'no reason given'),
  j.progress ? el('div', { class: 'muted small' }, `stopped at step ${fmtInt(j.progress.step)} of ${fmtInt(j.progress.steps)}, loss ${fmtNum(j.progress.loss)}`) : null)));
}

// ---- loss curves

function lossSelection(run) {
  const chosen = state.loss.get(run.run_id);
  const present = new Set(trainingJobs(run).map(j => j.job_key));
  if (chosen) return { manual: true, keys: chosen.filter(k => present.has(k)) };
  return { manual: false, keys: defaultLossSelection(run) };
}

function toggleLoss(run, key) {
  const { keys } = lossSelection(run);
  state.loss.set(run.run_id, keys.includes(key) ? keys.filter(k => k !== key) : [...keys, key]);
  scheduleRender();
}

// ---- job details

function findJob(run, key) {
  return key && key !== TEACHER_KEY ? run.jobs.find(j => j.job_key === key) : null;
}

function lineageKeys(run) {
  if (!state.lineage || state.lineage.loading) return null;
  const keys = new Set(state.lineage.jobs.filter(j => j.run_id === run.run_id).map(j => j.job_key));
  if (run.teacher_digest && (state.lineage.digest === run.teacher_digest ||
    state.lineage.jobs.some(j => Object.values(j.inputs ?? {}).includes(run.teacher_digest)))) keys.add(TEACHER_KEY);
  return keys;
}

function renderDrawer(run) {
  const drawer = $('drawer');
  if (!state.job) {
    drawer.hidden = true;
    setChildren(drawer);
    document.body.classList.remove('drawer-open');
    return;
  }
  drawer.hidden = false;
  document.body.classList.add('drawer-open');
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close details', 'data-tip': 'close (Esc)', onclick: closeJob }, '×');
  if (state.job === TEACHER_KEY) {
    setChildren(drawer, 
      el('div', { class: 'drawer-head' }, el('div', {}, el('div', { class: 'eyebrow' }, 'Teacher'), el('h2', {}, run.teacher || '—')), close),
      el('section', {}, el('dl', { class: 'props' },
        prop('Pipeline', run.pipeline), prop('Run', el('code', {}, run.run_id)))),
      digestSection('Artifact', { teacher: run.teacher_digest }),
      lineageSection(run));
    return;
  }
  const j = findJob(run, state.job);
  if (!j) {
    setChildren(drawer, el('div', { class: 'drawer-head' }, el('h2', {}, 'Job not in this run'), close),
      el('p', { class: 'empty-note' }, `No job ${state.job} in run ${shortId(run.run_id)}.`));
    return;
  }
  const queued = parseTime(j.queued_at), started = parseTime(j.started_at), ended = parseTime(j.ended_at);
  const r = j.results;
  const p = j.progress;
  setChildren(drawer, 
    el('div', { class: 'drawer-head' },
      el('div', {}, el('div', { class: 'eyebrow' }, stageLabel(j.stage)), el('h2', {}, titleWithMethod(j)), badge(j.status)), close),
    el('p', { class: 'description' }, j.description),
    j.error ? el('div', { class: 'error drawer-error' }, el('strong', {}, 'Failed: '), j.error) : null,
    j.status === 'running' && p ? el('section', {}, el('h3', {}, 'Progress'),
      el('div', { class: 'bar' }, el('div', { class: 'bar-fill', style: `width:${((p.step / Math.max(1, p.steps)) * 100).toFixed(2)}%` })),
      el('dl', { class: 'props' }, prop('Step', `${fmtInt(p.step)} of ${fmtInt(p.steps)}`), prop('Loss', fmtNum(p.loss)),
        prop('Examples/s', fmtRate(p.examples_per_second)), prop('Elapsed', fmtDuration(p.elapsed_seconds)))) : null,
    r ? el('section', {}, el('h3', {}, 'Results'), el('dl', { class: 'props' },
      r.accuracy != null ? prop(j.stage === 'distill' ? 'Auxiliary accuracy' : 'Test accuracy', el('strong', {}, fmtPct(r.accuracy))) : null,
      r.loss != null ? prop('Test loss', fmtNum(r.loss)) : null,
      r.parameters != null ? prop(j.stage === 'scalers' ? 'Scalers' : j.stage === 'distill' ? 'Template parameters' : 'Parameters', `${fmtInt(r.parameters)} (${fmtParams(r.parameters)})`) : null),
    r.curve?.length ? curveTable(r.curve) : null) : null,
    el('section', {}, el('h3', {}, 'Job'), el('dl', { class: 'props' },
      prop('Status', j.status), j.target ? prop('Target', j.target) : null, j.method ? prop('Method', methodLabel(j.method)) : null,
      j.phase ? prop('Measures', j.phase === 'init' ? 'the model before training (init)' : j.phase === 'final' ? 'the trained model (final)' : j.phase) : null,
      prop('Worker', j.worker ? el('code', {}, j.worker) : '—'),
      prop('Asked for', queued ? el('span', { 'data-tip': fmtFullTime(queued) }, fmtTime(queued)) : '—'),
      prop('Started', started ? el('span', { 'data-tip': fmtFullTime(started) }, fmtTime(started), queued && started >= queued ? ` (waited ${fmtDuration((started - queued) / 1000)})` : '') : '—'),
      prop('Ended', ended ? el('span', { 'data-tip': fmtFullTime(ended) }, fmtTime(ended), started ? ` (took ${fmtDuration((ended - started) / 1000)})` : '') : '—'),
      prop('Job key', el('code', { class: 'wrap' }, j.job_key)))),
    digestSection('Inputs', j.inputs),
    digestSection('Outputs', r?.outputs),
    lineageSection(run));
}

function prop(name, value) {
  return value === null || value === undefined ? null : [el('dt', {}, name), el('dd', {}, value)];
}

function curveTable(curve) {
  return el('table', { class: 'curve' }, el('caption', {}, 'Accuracy during training (test subset)'),
    el('tr', {}, el('th', {}, 'step'), curve.map(c => el('td', {}, fmtInt(c.step)))),
    el('tr', {}, el('th', {}, 'accuracy'), curve.map(c => el('td', {}, fmtPct(c.accuracy, 1)))));
}

function digestSection(title, digests) {
  const entries = Object.entries(digests ?? {}).filter(([, d]) => d);
  if (!entries.length) return null;
  return el('section', { class: 'digests' }, el('h3', {}, title),
    el('ul', {}, entries.map(([name, d]) => el('li', { class: `digest-row${state.lineage?.digest === d ? ' active' : ''}` },
      el('span', { class: 'digest-name' }, name),
      el('code', { class: 'digest', 'data-tip': d, title: null }, shortDigest(d)),
      el('button', { type: 'button', class: 'lineage-button', 'data-digest': d, onclick: () => showLineage(d), 'data-tip': 'where it came from and what used it' }, 'lineage')))));
}

/** Jobs that led to the artifact (following inputs upward) and jobs that used it (following outputs downward). */
function lineageSides(digest, jobs) {
  const produced = (j, d) => Object.values(j.outputs ?? {}).includes(d);
  const consumed = (j, d) => Object.values(j.inputs ?? {}).includes(d);
  const walk = (start, step, next) => {
    const seen = new Set(), out = [], queue = [start];
    while (queue.length) {
      const d = queue.shift();
      for (const j of jobs) if (step(j, d) && !seen.has(j.job_key)) { seen.add(j.job_key); out.push(j); queue.push(...Object.values(next(j) ?? {})); }
    }
    return out;
  };
  const up = walk(digest, produced, j => j.inputs);
  const down = walk(digest, consumed, j => j.outputs).filter(j => !up.includes(j));
  const order = (a, b) => (STAGE_ORDER[a.stage] ?? 9) - (STAGE_ORDER[b.stage] ?? 9) || a.description.localeCompare(b.description);
  return { up: up.sort(order), down: down.sort(order) };
}

function lineageSection(run) {
  const l = state.lineage;
  if (!l) return null;
  const head = el('div', { class: 'lineage-head' }, el('h3', {}, 'Lineage of ', el('code', { 'data-tip': l.digest }, shortDigest(l.digest))),
    el('button', { type: 'button', class: 'link-button', onclick: () => { state.lineage = null; scheduleRender(); } }, 'clear'));
  if (l.loading) return el('section', { class: 'lineage' }, head, el('p', { class: 'muted' }, 'Loading…'));
  if (l.error) return el('section', { class: 'lineage' }, head, el('p', { class: 'error' }, l.error));
  const { up: upJobs } = lineageSides(l.digest, l.jobs);
  const isTeacher = l.digest === run.teacher_digest || upJobs.some(j => Object.values(j.inputs ?? {}).includes(run.teacher_digest));
  const { up, down } = lineageSides(l.digest, l.jobs);
  const item = j => {
    const local = run.run_id === j.run_id ? run.jobs.find(x => x.job_key === j.job_key) : null;
    return el('li', {}, el('button', { type: 'button', class: 'lineage-job', 'data-job': j.job_key, onclick: () => openJob(j.job_key, j.run_id) },
      el('span', { class: `status-dot s-${j.status}` }),
      el('span', { class: 'lj-title' }, local ? jobTitle(local) : j.description),
      j.accuracy != null ? el('span', { class: 'lj-acc' }, fmtPct(j.accuracy)) : null,
      j.run_id !== run.run_id ? el('span', { class: 'lj-run muted', 'data-tip': `run ${j.run_id}` }, `run ${shortId(j.run_id)}`) : null));
  };
  return el('section', { class: 'lineage' }, head,
    el('p', { class: 'muted small' }, 'Highlighted in the graph. Jobs of every run in the ledger.'),
    el('h4', {}, 'Came from'),
    up.length || isTeacher
      ? el('ul', {}, isTeacher ? el('li', { class: 'lineage-root' }, el('span', { class: 'status-dot s-artifact' }), `teacher ${run.teacher}`) : null, up.map(item))
      : el('p', { class: 'muted small' }, 'No job in the ledger produced it (an uploaded file).'),
    el('h4', {}, 'Used by'),
    down.length ? el('ul', {}, down.map(item)) : el('p', { class: 'muted small' }, 'No job has read it yet.'));
}

// ---------------------------------------------------------------------------------------------- start

function tick() {
  const now = Date.now();
  document.querySelectorAll('[data-elapsed-from]').forEach(n => { n.textContent = fmtDuration((now - +n.dataset.elapsedFrom) / 1000); });
  document.querySelectorAll('[data-ago]').forEach(n => { if (n.dataset.ago) n.textContent = fmtAgo(+n.dataset.ago, now); });
}

function start() {
  installTooltips($('tooltip'));
  window.addEventListener('hashchange', applyHash);
  window.addEventListener('popstate', applyHash);
  window.addEventListener('keydown', e => { if (e.key === 'Escape' && state.job) closeJob(); });
  let resizeTimer = null;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(scheduleRender, 120); });
  setInterval(tick, 1000);
  const { run, job } = readHash();
  if (run) { state.selected = run; state.pinned = true; state.job = job; }
  refresh().then(connect);
  scheduleRender();
  startRegistry($('registry-card'), $('registry'));
}

start();

// For tests and the curious: the state as the page sees it.
window.wavemesh = { state };
