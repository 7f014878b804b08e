// nommer's dashboard: the page feederd serves at `/`. Plain JavaScript with no build step of its own
// and no library. Its formatters are the CLI's (src/api/format.ts, compiled by the project's build,
// served as /assets/format.js), so the page and the terminal say a job's numbers alike. Views are
// functions from state to HTML (every value escaped by `html`), re-rendered at most once a frame.
// State comes from the /v1 API the CLI uses: every job's event stream (/v1/events: a snapshot,
// then each change) keeps the list live; a job's page reads its detail (tasks, events) again when
// one of its stored events arrives. Auth is the session cookie that /login set (HttpOnly: this
// script never sees it); a 401 means "log in with `nommer dashboard`".
// Routes are hashes: #/ (jobs, ?state= filter), #/jobs/<id>, #/new, #/watches (read-only: what
// `nommer watch list` shows, read again every few seconds while open).

import { formatBytes, formatDuration, formatUsd, loudnessText, qualityText, stateLabel } from './format.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const FINAL = new Set(['succeeded', 'failed', 'canceled']);
const LIST_LIMIT = 200;

const state = {
  /** @type {Map<string, any>} */
  jobs: new Map(),
  summary: null,
  presets: null,
  /** GET /v1/watches's list, while #/watches is open. */
  watches: null,
  /** The open job's detail ({job, tasks, events}) and its id. */
  detail: null,
  detailId: null,
  loggedOut: false,
  live: false,
  flash: null,
};

// --- HTML with escaping --------------------------------------------------------------------------

class Safe {
  constructor(s) {
    this.s = s;
  }
  toString() {
    return this.s;
  }
}
const esc = (v) =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const show = (v) => {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Safe) return v.s;
  if (Array.isArray(v)) return v.map(show).join('');
  return esc(v);
};
/** Tagged template: interpolations are escaped unless they are html`` results themselves. */
function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += show(values[i]) + strings[i + 1];
  return new Safe(out);
}

// --- Formatting ----------------------------------------------------------------------------------

const ago = (iso) => (iso ? `${formatDuration((Date.now() - Date.parse(iso)) / 1000)} ago` : '');
const baseName = (uri) => {
  const clean = String(uri).split(/[?#]/)[0];
  const name = clean.replace(/\/+$/, '').split('/').pop() || clean;
  // A plain path may hold a literal '%' ("50% off.mov"): only decode what decodes.
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
};
/** A cost's dollars, when it has a price. */
const money = (c) => (typeof c?.usd === 'number' ? formatUsd(c.usd) : '');

// --- API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.hint = e.hint;
  }
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    // Cancel and retry send {} too: the cookie counts for changes only with a JSON body.
    headers: method === 'GET' ? {} : { 'content-type': 'application/json' },
    body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (res.status === 401) {
    state.loggedOut = true;
    render();
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// --- Live updates --------------------------------------------------------------------------------

let stream = null;
function connect() {
  stream?.close();
  stream = new EventSource(`/v1/events?limit=${LIST_LIMIT}`);
  stream.addEventListener('open', () => {
    state.live = true;
    render();
  });
  stream.addEventListener('snapshot', (m) => {
    const { jobs } = JSON.parse(m.data);
    state.jobs = new Map(jobs.map((j) => [j.id, j]));
    render();
  });
  stream.addEventListener('job', (m) => {
    const { job, event } = JSON.parse(m.data);
    state.jobs.set(job.id, job);
    if (state.detail && job.id === state.detailId) {
      state.detail.job = job;
      // A stored event (a state change): the tasks and the history moved too.
      if (event && event.id !== null) loadDetailSoon(job.id);
    }
    if (event && event.id !== null) loadSummarySoon();
    render();
  });
  stream.addEventListener('error', () => {
    state.live = false;
    render();
    // EventSource reconnects by itself after a dropped connection; a refused one (401) stays
    // closed: find out which.
    if (stream.readyState === EventSource.CLOSED) {
      api('GET', '/v1/summary').then(
        () => setTimeout(connect, 2000),
        () => {
          if (!state.loggedOut) setTimeout(connect, 5000);
        },
      );
    }
  });
}

let summaryTimer = null;
async function loadSummary() {
  try {
    state.summary = await api('GET', '/v1/summary');
    render();
  } catch {
    /* shown as logged out, or tried again on the next tick */
  }
}
function loadSummarySoon() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => {
    summaryTimer = null;
    void loadSummary();
  }, 500);
}

async function loadWatches() {
  try {
    state.watches = (await api('GET', '/v1/watches')).watches;
  } catch (e) {
    state.watches = { error: e };
  }
  render();
}

const detailTimers = new Map();
function loadDetailSoon(id) {
  if (detailTimers.has(id)) return;
  detailTimers.set(
    id,
    setTimeout(() => {
      detailTimers.delete(id);
      void loadDetail(id);
    }, 200),
  );
}
async function loadDetail(id) {
  try {
    const d = await api('GET', `/v1/jobs/${encodeURIComponent(id)}`);
    if (state.detailId === id) state.detail = d;
  } catch (e) {
    if (state.detailId === id) state.detail = { error: e };
  }
  render();
}

// --- Routes --------------------------------------------------------------------------------------

function route() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = h.split('?');
  const params = new URLSearchParams(query);
  const m = /^\/jobs\/([^/]+)$/.exec(path);
  if (m) return { name: 'job', id: decodeURIComponent(m[1]) };
  if (path === '/new') return { name: 'new' };
  if (path === '/watches') return { name: 'watches' };
  return { name: 'list', state: params.get('state') || '' };
}

function onRoute() {
  const r = route();
  state.flash = null;
  if (r.name === 'job') {
    if (state.detailId !== r.id) {
      state.detailId = r.id;
      state.detail = null;
      void loadDetail(r.id);
    }
  } else {
    state.detailId = null;
    state.detail = null;
  }
  // The stream's snapshot holds the newest jobs; a filter also fetches older ones in that state.
  if (r.name === 'list' && r.state) {
    api('GET', `/v1/jobs?state=${encodeURIComponent(r.state)}&limit=${LIST_LIMIT}`).then(
      (page) => {
        for (const j of page.jobs) if (!state.jobs.has(j.id)) state.jobs.set(j.id, j);
        render();
      },
      () => undefined,
    );
  }
  if (r.name === 'watches') void loadWatches();
  if (r.name === 'new' && !state.presets) {
    api('GET', '/v1/presets').then(
      (p) => {
        state.presets = p;
        fillPresetPicker();
      },
      () => undefined,
    );
  }
  render(true);
}

// --- Views ---------------------------------------------------------------------------------------

function progressBar(j) {
  const pct = j.state === 'succeeded' ? 100 : Math.round((j.progress ?? 0) * 100);
  const facts = [];
  if (j.state === 'running') {
    if (j.fps) facts.push(`${Math.round(j.fps)} fps`);
    if (j.speed) facts.push(`${j.speed.toFixed(2)}×`);
    if (j.eta !== null && j.eta !== undefined) facts.push(`ETA ${formatDuration(j.eta)}`);
  }
  // A <progress> element: the page's CSP allows no inline style to draw a bar with.
  return html`<div class="progress"><progress class="state-${j.state}" max="100" value="${pct}">${pct}%</progress>
      <span class="pct">${pct}%</span>${facts.length ? html`<span class="facts">${facts.join(' · ')}</span>` : ''}</div>`;
}

// The job's page (full) also gives each output's loudness, whose line is too long for the list.
function outputsView(j, full) {
  if (!j.outputs.length) return '';
  return html`<ul class="outputs">
    ${j.outputs.map(
      (o) => html`<li>
        <span class="preset">${o.preset}</span>
        <span class="uri" title="${o.uri}">${full ? o.uri : baseName(o.uri)}</span>
        ${o.bytes !== undefined ? html`<span class="size">${formatBytes(o.bytes)}</span>` : ''}
        ${o.quality ? html`<span class="quality">${qualityText(o.quality)}</span>` : ''}
        ${full && o.loudness ? html`<span class="loudness">loudness ${loudnessText(o.loudness)}</span>` : ''}
      </li>`,
    )}
  </ul>`;
}

function actions(j) {
  const canCancel = !FINAL.has(j.state);
  const canRetry = j.state === 'failed' || j.state === 'canceled';
  if (!canCancel && !canRetry) return '';
  return html`<div class="row-actions">${canCancel ? html`<button class="act cancel" data-act="cancel" data-id="${j.id}">Cancel</button>` : ''}
    ${canRetry ? html`<button class="act retry" data-act="retry" data-id="${j.id}">Retry</button>` : ''}</div>`;
}

function jobRow(j) {
  const took = j.startedAt
    ? formatDuration(((j.finishedAt ? Date.parse(j.finishedAt) : Date.now()) - Date.parse(j.startedAt)) / 1000)
    : '';
  const cost = money(j.cost);
  return html`<li class="job" data-job-id="${j.id}" data-state="${j.state}">
    <div class="line1">
      <a class="name" href="#/jobs/${encodeURIComponent(j.id)}" title="${j.input}">${baseName(j.input)}</a>
      <span class="badge state-${j.state}">${stateLabel(j)}</span>
    </div>
    <div class="line2">
      <span class="presets">${j.outputs.map((o) => o.preset).join(', ')}</span>
      <span class="muted">${ago(j.createdAt)}${took ? ` · took ${took}` : ''}${j.worker ? ` · ${j.worker}` : ''}${
        j.attempt > 1 ? ` · attempt ${j.attempt}/${j.maxAttempts}` : ''
      }${cost ? ` · ${cost}` : ''}</span>
    </div>
    ${j.state === 'running' ? progressBar(j) : ''}
    ${j.state === 'succeeded' ? outputsView(j, false) : ''}
    ${j.error ? html`<div class="error-line">${j.error.code}: ${j.error.message}</div>` : ''}
    ${actions(j)}
  </li>`;
}

function listView(r) {
  const all = [...state.jobs.values()].sort((a, b) =>
    a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0,
  );
  const jobs = r.state ? all.filter((j) => j.state === r.state) : all;
  const counts = Object.fromEntries(STATES.map((s) => [s, all.filter((j) => j.state === s).length]));
  return html`<div class="filters" role="tablist" aria-label="Filter by state">
      <a href="#/" class="${r.state ? '' : 'on'}">all <small>${all.length}</small></a>
      ${STATES.map(
        (s) =>
          html`<a href="#/?state=${s}" class="${r.state === s ? 'on' : ''}" data-filter="${s}">${s} <small>${counts[s]}</small></a>`,
      )}
    </div>
    ${
      jobs.length
        ? html`<ul class="jobs" id="jobs">${jobs.map(jobRow)}</ul>`
        : html`<p class="empty">${r.state ? `No ${r.state} jobs.` : 'No jobs yet.'} <a href="#/new">Submit one</a>, or run <code>nommer submit FILE</code>.</p>`
    }`;
}

function jobView() {
  const d = state.detail;
  if (!d) return html`<p class="muted">Loading…</p>`;
  if (d.error) return html`<p class="error-line">${d.error.message}</p><p><a href="#/">All jobs</a></p>`;
  const j = d.job;
  const err = j.error;
  return html`<article class="detail" data-job-id="${j.id}" data-state="${j.state}">
    <p><a href="#/">← All jobs</a></p>
    <h1 title="${j.input}">${baseName(j.input)} <span class="badge state-${j.state}">${stateLabel(j)}</span></h1>
    ${actions(j)}
    ${progressBar(j)}
    <dl class="facts-table">
      <dt>Job</dt><dd><code>${j.id}</code></dd>
      <dt>Input</dt><dd class="uri">${j.input}</dd>
      <dt>Attempt</dt><dd>${j.attempt} of ${j.maxAttempts}</dd>
      <dt>Worker</dt><dd>${j.worker ?? '—'}</dd>
      <dt>Created</dt><dd>${j.createdAt}</dd>
      ${j.startedAt ? html`<dt>Started</dt><dd>${j.startedAt}</dd>` : ''}
      ${j.finishedAt ? html`<dt>Finished</dt><dd>${j.finishedAt}</dd>` : ''}
      ${money(j.cost) ? html`<dt>Cost</dt><dd>${money(j.cost)}</dd>` : ''}
    </dl>
    ${
      err
        ? html`<div class="error-box" role="alert"><strong>${err.code}</strong>: ${err.message}
          ${err.hint ? html`<div class="hint">${err.hint}</div>` : ''}
          ${err.retriable ? html`<div class="muted">A retry may help.</div>` : ''}</div>`
        : ''
    }
    <h2>Outputs</h2>${outputsView(j, true)}
    <h2>Tasks</h2>
    <div class="scroll"><table class="tasks">
      <thead><tr><th>Task</th><th>Type</th><th>State</th><th>Progress</th><th>Attempt</th><th>Worker</th></tr></thead>
      <tbody>${d.tasks.map(
        (t) => html`<tr data-task-state="${t.state}">
          <td><code>${t.id.startsWith(`${j.id}.`) ? t.id.slice(j.id.length + 1) : t.id}</code></td>
          <td>${t.type}</td><td><span class="badge state-${t.state}">${t.phase ? `${t.state} · ${t.phase}` : t.state}</span></td>
          <td>${Math.round((t.progress ?? 0) * 100)}%</td><td>${t.attempt}</td><td>${t.worker ?? ''}</td></tr>
          ${t.error ? html`<tr><td colspan="6" class="error-line">${t.error.code}: ${t.error.message}</td></tr>` : ''}`,
      )}</tbody>
    </table></div>
    <h2>Events</h2>
    <ol class="events">${d.events.map(
      (e) => html`<li><time datetime="${e.at}">${e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>
        <span class="etype">${e.type}</span> ${e.message}</li>`,
    )}</ol>
  </article>`;
}

function watchesView() {
  const ws = state.watches;
  if (!ws) return html`<p class="muted">Loading…</p>`;
  if (ws.error) return html`<p class="error-line">${ws.error.message}</p>`;
  const intro = html`<h1>Watches</h1>
    <p class="muted">Each file that arrives under a watched folder or S3 prefix becomes one job. Add and remove
    watches with <code>nommer watch add|remove</code>.</p>`;
  if (!ws.length)
    return html`${intro}<p class="empty">No watches. Try <code>nommer watch add ~/incoming -p webm -o ~/encoded</code>.</p>`;
  return html`${intro}<div class="scroll"><table class="watches" id="watches">
    <thead><tr><th>Watch</th><th>Source</th><th>Presets → destination</th><th>State</th><th>Files</th></tr></thead>
    <tbody>${ws.map(
      (w) => html`<tr data-watch-id="${w.id}" data-state="${w.state}">
        <td><code>${w.id}</code></td><td class="uri">${w.source}${w.recursive ? ' (recursive)' : ''}${w.pattern ? html` <small>${w.pattern}</small>` : ''}</td>
        <td>${w.presets.join(', ')} → <span class="uri">${w.dest}</span></td>
        <td>${w.state === 'ok' ? html`<span class="badge state-succeeded">ok</span>` : html`<span class="badge state-failed">error</span> ${w.error}`}</td>
        <td>${w.files}</td></tr>`,
    )}</tbody></table></div>`;
}

function presetOptions() {
  const p = state.presets;
  if (!p) return html`<option value="">loading…</option>`;
  const def = p.defaultPreset;
  return p.presets.map(
    (x) =>
      html`<option value="${x.name}" ${x.name === (formPreset ?? def) ? html`selected` : ''}>${x.name} — ${x.description || `.${x.extension}`}</option>`,
  );
}
const presetDescription = () =>
  state.presets?.presets.find((x) => x.name === (formPreset ?? state.presets.defaultPreset))?.description ?? '';

/**
 * The presets arrive after the form is drawn: only the picker and its description change, never
 * the form, so what is being typed into an input (and its focus) stays where it is.
 */
function fillPresetPicker() {
  const picker = document.getElementById('f-preset');
  if (!picker) return;
  picker.innerHTML = show(presetOptions());
  document.getElementById('preset-description').textContent = presetDescription();
}

function newView() {
  const options = presetOptions();
  return html`<form id="submit-form" class="submit" autocomplete="off">
    <h1>New job</h1>
    <label for="f-input">Input</label>
    <input id="f-input" name="input" required placeholder="/path/on/feederd/host.mov, https://… or s3://…">
    <label for="f-preset">Preset</label>
    <select id="f-preset" name="preset">${options}</select>
    <p class="muted" id="preset-description">${presetDescription()}</p>
    <label for="f-output">Output <span class="muted">(optional; default: beside the input)</span></label>
    <input id="f-output" name="output" placeholder="/path/out.webm or s3://bucket/key.webm">
    <label for="f-set">--set <span class="muted">(optional; one key=value per line, e.g. video.crf=36)</span></label>
    <textarea id="f-set" name="set" rows="3"></textarea>
    ${state.flash ? html`<div class="error-box" role="alert">${state.flash.message}${state.flash.hint ? html`<div class="hint">${state.flash.hint}</div>` : ''}</div>` : ''}
    <button type="submit" class="primary">Submit</button>
  </form>`;
}
let formPreset = null;

function throughputPlot(jobs) {
  // Jobs finished in the last hour, in 12 bins of 5 minutes (from the jobs the page holds).
  const now = Date.now();
  const bins = new Array(12).fill(0);
  let any = 0;
  for (const j of jobs) {
    if (j.state !== 'succeeded' || !j.finishedAt) continue;
    const age = now - Date.parse(j.finishedAt);
    if (age < 0 || age >= 3600_000) continue;
    bins[11 - Math.floor(age / 300_000)]++;
    any++;
  }
  if (!any) return '';
  const max = Math.max(...bins);
  const bars = bins.map((n, i) => {
    const h = Math.round((n / max) * 28);
    return `<rect x="${i * 10}" y="${30 - h}" width="8" height="${h}"><title>${n}</title></rect>`;
  });
  return html`<figure class="plot" title="jobs finished per 5 minutes, last hour">
    <svg viewBox="0 0 120 30" width="120" height="30" aria-label="jobs finished per 5 minutes in the last hour">${new Safe(bars.join(''))}</svg>
    <figcaption>${any} done in the last hour</figcaption></figure>`;
}

function fleetView() {
  const s = state.summary;
  if (!s) return '';
  const by = s.jobs?.byState ?? {};
  const workers = s.fleet ?? [];
  const q = s.queue ?? {};
  return html`<div class="stat"><b>${q.waiting >= 0 ? q.waiting : '?'}</b> waiting</div>
    <div class="stat"><b>${q.inFlight >= 0 ? q.inFlight : '?'}</b> in flight</div>
    <div class="stat"><b>${by.running ?? 0}</b> running</div>
    <div class="stat"><b>${by.failed ?? 0}</b> failed</div>
    ${
      s.spend
        ? html`<div class="stat" title="estimated from aws.ec2.prices${s.spend.unpriced?.length ? `; no price for ${s.spend.unpriced.join(', ')}` : ''}"><b>${s.spend.upperBound ? '≤ ' : ''}${money(s.spend)}</b> fleet cost so far</div>`
        : ''
    }
    <details class="workers"><summary><b>${workers.length}</b> worker${workers.length === 1 ? '' : 's'}
      (${workers.filter((w) => w.busy).length} busy)</summary>
      <ul>${workers.map(
        (w) =>
          html`<li data-worker="${w.id}"><code>${w.id}</code> ${w.kind === 'ec2' ? (w.instanceType ?? 'ec2') : 'local'}${
            w.spot ? ' spot' : ''
          } · ${w.state}${w.busy ? ' · busy' : ' · idle'}${w.launchedAt ? ` · up ${formatDuration((Date.now() - Date.parse(w.launchedAt)) / 1000)}` : ''}</li>`,
      )}</ul></details>
    ${throughputPlot([...state.jobs.values()])}`;
}

function loggedOutView() {
  return html`<div class="notice"><h1>Not logged in</h1>
    <p>Run <code>nommer dashboard</code> on the machine that runs feederd: it opens this page with a one-time
    login link (<code>nommer dashboard --print</code> prints the link instead).</p></div>`;
}

// --- Render --------------------------------------------------------------------------------------

let frame = 0;
function render(now = false) {
  if (now) return paint();
  if (frame) return;
  frame = requestAnimationFrame(paint);
}
function paint() {
  frame = 0;
  const view = document.getElementById('view');
  const live = document.getElementById('live');
  const fleet = document.getElementById('fleet');
  if (state.loggedOut) {
    setHtml(view, loggedOutView().s);
    setHtml(fleet, '');
    live.textContent = 'logged out';
    live.className = 'live off';
    document.getElementById('logout').hidden = true;
    stream?.close();
    return;
  }
  live.textContent = state.live ? 'live' : 'reconnecting…';
  live.className = `live ${state.live ? 'on' : 'off'}`;
  setHtml(fleet, fleetView().toString());
  const r = route();
  if (r.name === 'new') {
    // Keep what the user typed: the form is drawn once per visit (and again for its messages).
    const form = document.getElementById('submit-form');
    if (form && !state.formDirty) return;
    const kept = form ? Object.fromEntries(new FormData(form)) : null;
    setHtml(view, newView().s);
    if (kept)
      for (const [k, v] of Object.entries(kept)) if (v !== '') document.querySelector(`[name="${k}"]`).value = v;
    state.formDirty = false;
    return;
  }
  setHtml(view, (r.name === 'job' ? jobView() : r.name === 'watches' ? watchesView() : listView(r)).toString());
}

/**
 * Replace an element's content only when it changed: a repaint that changes nothing must not
 * swap the links under a pointer (a click whose mousedown and mouseup land on different elements
 * is no click on either).
 */
const painted = new WeakMap();
function setHtml(el, markup) {
  if (painted.get(el) === markup) return;
  el.innerHTML = markup;
  painted.set(el, markup);
}

// --- Actions -------------------------------------------------------------------------------------

document.addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-act]');
  if (!b) return;
  ev.preventDefault();
  b.disabled = true;
  const { act, id } = b.dataset;
  try {
    const r = await api('POST', `/v1/jobs/${encodeURIComponent(id)}/${act}`);
    state.jobs.set(r.job.id, r.job);
    if (state.detailId === id) await loadDetail(id);
  } catch (e) {
    alert(`${e.message}${e.hint ? `\n${e.hint}` : ''}`);
  }
  b.disabled = false;
  render();
});

document.addEventListener('change', (ev) => {
  if (ev.target.id === 'f-preset') {
    formPreset = ev.target.value;
    const p = state.presets?.presets.find((x) => x.name === formPreset);
    document.getElementById('preset-description').textContent = p?.description ?? '';
  }
});

document.addEventListener('submit', async (ev) => {
  if (ev.target.id !== 'submit-form') return;
  ev.preventDefault();
  const f = new FormData(ev.target);
  const output = String(f.get('output') ?? '').trim();
  const body = {
    input: String(f.get('input') ?? '').trim(),
    outputs: [
      { preset: String(f.get('preset') || state.presets?.defaultPreset || ''), ...(output ? { uri: output } : {}) },
    ],
    set: String(f.get('set') ?? '')
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean),
  };
  const button = ev.target.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const r = await api('POST', '/v1/jobs', body);
    state.jobs.set(r.job.id, r.job);
    location.hash = `#/jobs/${encodeURIComponent(r.job.id)}`;
  } catch (e) {
    state.flash = { message: e.message, hint: e.hint };
    state.formDirty = true;
    button.disabled = false;
    render(true);
  }
});

document.getElementById('logout').addEventListener('click', async () => {
  await api('POST', '/v1/dashboard/logout').catch(() => undefined);
  state.loggedOut = true;
  render(true);
});

window.addEventListener('hashchange', onRoute);
// Ages and ETAs move with the clock.
setInterval(() => render(), 10_000);
setInterval(() => {
  void loadSummary();
  if (route().name === 'watches') void loadWatches();
}, 5_000);
onRoute();
void loadSummary();
connect();
