/* genejobs console: a client of the public REST API only (same token, same checks).
 * No framework, no build step: hash routes (#/jobs, #/jobs/ID, #/create, #/pipeline). */
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const STATUSES = ['LAUNCHING', 'RUNNING', 'CANCELING', 'FINISHED', 'FAILED', 'CANCELLED'];
const ACTIVE = ['LAUNCHING', 'RUNNING', 'CANCELING'];
const PAGE = 20;
const BROWSER_DOWNLOAD_LIMIT = 500e6; // bytes; larger outputs are fetched with the CLI
const ADAPTERS = [
  ['', 'None (reads already trimmed)'],
  ['AGATCGGAAGAGCACACGTCTGAACTCCAGTCA', 'Illumina TruSeq (AGATCGGAAGAGC…)'],
  ['CTGTCTCTTATACACATCT', 'Illumina Nextera (CTGTCTCTTATACACATCT)'],
  ['TGGAATTCTCGGGTGCCAAGG', 'Illumina small RNA (TGGAATTCTCGGGTGCCAAGG)'],
  ['custom', 'Other sequence…'],
];
const LIBRARY_HELP = {
  'fr-unstranded': 'unstranded: a read pair counts for a gene on either strand',
  'fr-firststrand': 'first strand (dUTP, TruSeq stranded): read 1 is antisense to the gene',
  'fr-secondstrand': 'second strand (ligation, SOLiD): read 1 is sense to the gene',
  'auto': 'auto: the reads decide; pairs are counted under all three rules and the one the reads support is used',
};

const state = {
  expanded: new Set(), filters: { status: '', from: '', to: '', text: '' }, page: 0,
  refs: null, roots: null, schema: null, draft: null, step: 1, timer: null, jobsCache: {},
};

// -- API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, msg) { super(`${code}: ${msg}`); this.status = status; this.code = code; this.msg = msg; }
}
function token() { return localStorage.getItem('genejobs.token') || ''; }
function project() { return localStorage.getItem('genejobs.project') || 'default'; }
function base() { return '/v2.0/' + encodeURIComponent(project()) + '/gene'; }
async function failure(r) {
  const data = await r.json().catch(() => ({}));
  const e = new ApiError(r.status, data.error_code || String(r.status), data.error_msg || r.statusText);
  // a refused token is not a page that is still loading: say so, and how to get one
  if (r.status === 401 || (r.status === 403 && e.code === 'DLI.0013')) { state.refused = e; viewSignIn(); }
  return e;
}
async function api(method, path, body) {
  const r = await fetch(base() + path, {
    method, headers: { 'X-Auth-Token': token(), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw await failure(r);
  return r.json();
}
async function apiBlob(path) {
  const r = await fetch(base() + path, { headers: { 'X-Auth-Token': token() } });
  if (!r.ok) throw await failure(r);
  return r.blob();
}
function setText(sel, text) { const el = $(sel); if (el) el.textContent = text; }

// -- formatting -------------------------------------------------------------------------

function esc(s) { return String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c])); }
function pad(n) { return String(n).padStart(2, '0'); }
function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fmtDur(ms) {
  if (ms == null) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}
function fmtBytes(n) {
  if (n == null) return '—';
  const u = ['B', 'kB', 'MB', 'GB', 'TB']; let i = 0; let v = n;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${v < 10 && i ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}
function pct(x) { return x == null || isNaN(x) ? '—' : `${(100 * x).toFixed(1)}%`; }
function badge(status) { return `<span class="badge s-${esc(status)}">${esc(status)}</span>`; }
function bar(fraction, cls) {
  const w = Math.max(0, Math.min(100, Math.round(100 * (fraction || 0))));
  return `<span class="bar ${esc(cls || '')}"><span style="width:${w}%"></span></span>`;
}
function progressOf(job) { const [k, n] = job.progress.split('/').map(Number); return n ? k / n : 0; }
function parseCsv(text) {
  // the service's own CSVs: a header row, no quoted commas in these columns
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = head.split(',');
  return lines.map(l => { const v = l.split(','); return Object.fromEntries(cols.map((c, i) => [c, v[i]])); });
}
function parseRequest(job) { try { return JSON.parse(job.request); } catch (e) { return {}; } }
function toast(text) {
  const t = $('#toast'); t.textContent = text; t.classList.remove('hidden');
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.add('hidden'), 4000);
}

// -- routing ------------------------------------------------------------------------------

function signInFromFragment() {
  const raw = location.hash.replace(/^#\/?/, '');
  if (!raw.includes('token=')) return false;
  const q = new URLSearchParams(raw);
  localStorage.setItem('genejobs.token', q.get('token'));
  localStorage.setItem('genejobs.project', q.get('project') || 'default');
  history.replaceState(null, '', location.pathname + '#/jobs');
  return true;
}
function showWho() {
  $('#who').textContent = token() ? `project ${project()}` : 'not signed in';
  $('#signin-link').textContent = token() ? 'change token' : 'sign in';
}
function route() {
  clearInterval(state.timer); state.timer = null;
  const h = location.hash.replace(/^#/, '') || '/jobs';
  const parts = h.split('/').filter(Boolean);
  $$('header nav a').forEach(a => a.classList.toggle('active', a.dataset.nav === parts[0]));
  if (parts[0] === 'signin' || !token()) return viewSignIn();
  if (parts[0] === 'jobs' && parts[1]) return viewJob(decodeURIComponent(parts[1]));
  if (parts[0] === 'create') return viewCreate();
  if (parts[0] === 'pipeline') return viewPipeline();
  return viewJobs();
}

// -- sign in ---------------------------------------------------------------------------------

function viewSignIn() {
  clearInterval(state.timer); state.timer = null;
  const e = state.refused;
  const why = e ? `<div class="message" id="refused"><b>The service refused this token</b> (${esc(e.code)}): ${esc(e.msg)}.</div>`
    : (token() ? '' : '<p>This console needs a token to talk to the service.</p>');
  $('#view').innerHTML = `<div class="card signin-card" id="signin">
    <h1>Sign in</h1>${why}
    <div class="form">
      <label for="token">Token</label><div><input id="token" type="password" autocomplete="off" placeholder="gj_…" value="${esc(e ? '' : token())}"></div>
      <label for="project">Project</label><div><input id="project" value="${esc(project())}"></div>
      <span></span><div><button id="signin-save" type="button" class="primary">Sign in</button> <span class="err-text" id="signin-error"></span></div>
    </div>
    <h2>Where a token comes from</h2>
    <ul class="token-help">
      <li>Ask whoever runs the service: on the server, <code>genejobs token create --user YOUR_NAME --project PROJECT</code> prints a new token (<code>gj_…</code>).</li>
      <li>On the machine that runs <code>genejobs serve</code>, the administrator token it created when it first started is in the token file <code>$GENEJOBS_HOME/token</code> (by default <code>~/.genejobs/token</code>); its first line printed a link that signs you in.</li>
      <li><code>genejobs demo --keep</code> prints such a link, and the <code>export GENEJOBS_URL=… GENEJOBS_TOKEN=…</code> lines for the command line.</li>
    </ul>
    <p class="hint">A link like <code>/console#token=…&amp;project=…</code> signs in too; the part after # never reaches the server.</p></div>`;
  $('#signin-save').onclick = signIn;
  $('#token').onkeydown = ev => { if (ev.key === 'Enter') signIn(); };
}
async function signIn() {
  const t = $('#token').value.trim(), p = $('#project').value.trim() || 'default';
  if (!t) { setText('#signin-error', 'Paste a token first.'); return; }
  // try it before keeping it: a refused token shows why, here
  const r = await fetch(`/v2.0/${encodeURIComponent(p)}/gene/jobs?limit=1`, { headers: { 'X-Auth-Token': t } });
  if (!r.ok) {
    const data = await r.json().catch(() => ({}));
    setText('#signin-error', `Refused (${data.error_code || r.status}): ${data.error_msg || r.statusText}`);
    return;
  }
  localStorage.setItem('genejobs.token', t);
  localStorage.setItem('genejobs.project', p);
  state.refused = null; state.refs = state.roots = null; state.draft = null;
  showWho();
  if (location.hash.startsWith('#/signin')) location.hash = '#/jobs'; else route();
}

// -- jobs list ------------------------------------------------------------------------------

function viewJobs() {
  const f = state.filters;
  $('#view').innerHTML = `
    <div class="toolbar">
      <h1 style="margin:0">Jobs</h1><span class="grow"></span>
      <a href="#/create"><button class="primary" type="button">New job</button></a>
    </div>
    <div class="toolbar card" style="padding:10px 14px">
      <label>Status <select id="f-status"><option value="">all</option>${STATUSES.map(s => `<option value="${s}" ${s === f.status ? 'selected' : ''}>${s}</option>`).join('')}</select></label>
      <label>From <input id="f-from" type="date" value="${esc(f.from)}"></label>
      <label>To <input id="f-to" type="date" value="${esc(f.to)}"></label>
      <label class="grow">Search <input id="f-text" type="search" value="${esc(f.text)}" placeholder="job id, name, sample or user" style="flex:1"></label>
      <span class="muted small-text" id="refreshed"></span>
    </div>
    <div class="table-wrap"><table id="jobs">
      <thead><tr><th>Created</th><th>Name</th><th>Status</th><th>Job id</th><th>User</th><th class="num">Run time</th><th>Progress</th></tr></thead>
      <tbody><tr><td colspan="7" class="empty">loading…</td></tr></tbody></table></div>
    <div class="pager"><span id="count"></span><button id="prev" class="small" type="button">‹ newer</button><button id="next" class="small" type="button">older ›</button></div>
    <div class="err-text" id="list-error"></div>`;
  const reload = () => { state.page = 0; loadJobs(); };
  $('#f-status').onchange = e => { f.status = e.target.value; reload(); };
  $('#f-from').onchange = e => { f.from = e.target.value; reload(); };
  $('#f-to').onchange = e => { f.to = e.target.value; reload(); };
  $('#f-text').oninput = e => {
    f.text = e.target.value;
    clearTimeout(viewJobs.typing); viewJobs.typing = setTimeout(reload, 300);
  };
  $('#prev').onclick = () => { state.page = Math.max(0, state.page - 1); loadJobs(); };
  $('#next').onclick = () => { state.page += 1; loadJobs(); };
  loadJobs();
  state.timer = setInterval(loadJobs, 3000);
}

async function loadJobs() {
  const f = state.filters;
  const q = new URLSearchParams();
  if (f.from) q.set('start', String(new Date(f.from + 'T00:00:00').getTime()));
  if (f.to) q.set('end', String(new Date(f.to + 'T23:59:59.999').getTime()));
  let rows, total;
  try {
    // status and text are filtered by the server (additions to the list call)
    if (f.status) q.set('status', f.status);
    if (f.text.trim()) q.set('q', f.text.trim());
    q.set('limit', String(PAGE)); q.set('offset', String(state.page * PAGE));
    const page = await api('GET', '/jobs?' + q);
    total = page.job_count; rows = page.jobs;
    $('#list-error').textContent = '';
  } catch (e) { setText('#list-error', e.message); return; }
  if (!$('#jobs')) return;
  const details = {};
  await Promise.all(rows.filter(j => state.expanded.has(j.job_id)).map(async j => {
    try { details[j.job_id] = await loadDetail(j.job_id); } catch (e) { /* shown on next refresh */ }
  }));
  const body = $('#jobs tbody');
  body.innerHTML = rows.length ? rows.map(j => {
    const open = state.expanded.has(j.job_id);
    const row = `<tr class="job ${open ? 'expanded' : ''}" data-job="${esc(j.job_id)}">
      <td>${fmtTime(j.start_time)}</td><td>${esc(j.name || '')}</td><td>${badge(j.status)}</td>
      <td class="mono"><a href="#/jobs/${esc(j.job_id)}">${esc(j.job_id.slice(0, 8))}</a></td><td>${esc(j.owner)}</td>
      <td class="num">${fmtDur(j.duration)}</td>
      <td>${bar(j.status === 'FAILED' ? Math.max(progressOf(j), 0.02) : progressOf(j), j.status)}<span class="muted small-text">${esc(j.progress)}</span></td></tr>`;
    const more = open && details[j.job_id] ? `<tr class="detail-row"><td colspan="7" class="detail">${jobPanel(details[j.job_id].detail, details[j.job_id].outputs, true)}</td></tr>` : '';
    return row + more;
  }).join('') : `<tr><td colspan="7" class="empty">No jobs ${f.status || f.text || f.from || f.to ? 'match these filters' : 'yet — <a href="#/create">create one</a>'}.</td></tr>`;
  const from = total ? state.page * PAGE + 1 : 0;
  $('#count').textContent = total ? `${from}–${state.page * PAGE + rows.length} of ${total}` : '';
  $('#prev').disabled = state.page === 0;
  $('#next').disabled = (state.page + 1) * PAGE >= total;
  $('#refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
  bindJobPanels(body);
}

async function loadDetail(jobId) {
  const detail = await api('GET', '/jobs/' + encodeURIComponent(jobId));
  let outputs = [];
  if (!ACTIVE.includes(detail.status)) {
    outputs = (await api('GET', `/jobs/${encodeURIComponent(jobId)}/outputs`).catch(() => ({ outputs: [] }))).outputs;
  }
  // the rRNA share per sample is in assignment.csv (when the annotation has rRNA genes)
  if (outputs.some(o => o.path === 'assignment.csv')) {
    if (!state.jobsCache[jobId]) {
      state.jobsCache[jobId] = await apiBlob(outputPath(jobId, 'assignment.csv')).then(b => b.text()).then(parseCsv).catch(() => null);
    }
    const table = state.jobsCache[jobId];
    if (table) {
      for (const s of detail.samples || []) {
        const row = table.find(r => r.sample === s.sample_name);
        s.rrna = row ? ('rrna_share' in row ? Number(row.rrna_share) : 'none') : null;
      }
    }
  }
  return { detail, outputs };
}

// The reference step with no reference: an administrator starts `ref fetch` on the server.
document.addEventListener('click', async ev => {
  if (!ev.target.closest('#fetch-ref')) return;
  const out = $('#fetch-ref-state');
  try {
    const st = await api('POST', '/references', { name: $('#f-fetch-name').value.trim() });
    out.textContent = `Fetching ${st.name} release ${st.release} on the server; it appears here when it is registered (reload).`;
  } catch (e) { out.textContent = e.msg || e.message; }
});

document.addEventListener('click', ev => {
  const tr = ev.target.closest('tr.job');
  if (!tr || ev.target.closest('a,button')) return;
  const id = tr.dataset.job;
  if (state.expanded.has(id)) state.expanded.delete(id); else state.expanded.add(id);
  loadJobs();
});

// -- one job ------------------------------------------------------------------------------

function strand(stats, libraryType) {
  const a = (stats.counts || {}).assigned || {};
  const fs = a['fr-firststrand'] || 0, ss = a['fr-secondstrand'] || 0;
  if (!fs && !ss) return '—';
  if (libraryType === 'fr-firststrand') return `${pct(fs / (fs + ss))} first`;
  if (libraryType === 'fr-secondstrand') return `${pct(ss / (fs + ss))} second`;
  return fs >= ss ? `${pct(fs / (fs + ss))} first` : `${pct(ss / (fs + ss))} second`;
}
function assigned(stats, libraryType) {
  const a = (stats.counts || {}).assigned || {};
  const pairs = (stats.reads || {}).pairs_in;
  if (!pairs) return null;
  const n = libraryType && a[libraryType] != null ? a[libraryType] : Math.max(0, ...Object.values(a));
  return n / pairs;
}

function settingsTable(req, job) {
  const lt = req.library_type || 'fr-unstranded';
  const rows = [
    ['Name', esc(req.name || '—')],
    ['Reference', esc(req.ref)], ['Annotation', esc(req.gtf)],
    ['Library type', `${esc(lt)}<div class="muted small-text">${esc(LIBRARY_HELP[lt] || '')}</div>`],
    ['Adapter', req.adapt ? `<span class="mono">${esc(req.adapt)}</span>` : 'none (already trimmed)'],
    ['QC report', req.is_export_qc ? `yes — gene model <span class="mono">${esc(req.bed)}</span>` : 'no'],
    ['Results table', `<span class="mono">${esc(req.output)}</span>`],
    ['Groups', (req.inputs || []).map(g => `${esc(g.group_name)} (${(g.group_inputs || []).length})`).join(', ')],
    ['Comparisons', (req.comparisons || []).length
      ? req.comparisons.map(c => `${esc(c.treatment)} vs ${esc(c.control)}`).join(', ')
      : (req.inputs || []).slice(1).map(g => `${esc(g.group_name)} vs ${esc(req.inputs[0].group_name)}`).join(', ') + ' <span class="muted">(default)</span>'],
  ];
  if (req.gene_sets) rows.push(['Gene sets', `<span class="mono">${esc(req.gene_sets)}</span>`]);
  rows.push(['Input size', fmtBytes(job.input_size)]);
  return `<table class="kv">${rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('')}</table>`;
}

function samplesTable(job, req) {
  const lt = req.library_type;
  return `<div class="table-wrap"><table class="sample-table"><thead><tr><th>Sample</th><th>Group</th><th>State</th><th>Step</th><th>Progress</th>
    <th class="num">Pairs</th><th class="num">Assigned</th><th class="num">rRNA</th><th>Strand agreement</th><th>Cache</th><th class="num">Duration</th></tr></thead><tbody>
    ${(job.samples || []).map(s => {
      const st = s.stats || {};
      const rrna = s.rrna === 'none' ? null : s.rrna;
      const rrnaCell = s.rrna === 'none' ? '<span class="muted" title="the annotation has no rRNA genes">n/a</span>' : pct(rrna);
      return `<tr data-sample="${esc(s.sample_name)}"><td>${esc(s.sample_name)}</td><td>${esc(s.group_name)}</td><td>${badge(s.state)}</td>
        <td>${esc(s.step || '—')}</td><td>${bar(s.fraction_done, s.state)}${pct(s.fraction_done)}</td>
        <td class="num">${(s.pairs_done || (st.reads || {}).pairs_in || 0).toLocaleString()}</td>
        <td class="num">${pct(assigned(st, lt === 'auto' ? null : lt))}</td><td class="num">${rrnaCell}</td>
        <td>${strand(st, lt)}</td><td>${s.from_cache ? 'reused' : '—'}</td><td class="num">${fmtDur(s.duration_ms)}</td></tr>`;
    }).join('')}</tbody></table></div>`;
}

function outputsCard(job, outputs) {
  if (!outputs.length) {
    return ACTIVE.includes(job.status) ? '<p class="muted">Results appear here when the job finishes.</p>'
      : `<p class="muted">No outputs were written${job.status === 'CANCELLED' ? ': the job was cancelled before it finished' : ''}.</p>`;
  }
  const has = p => outputs.some(o => o.path === p);
  const table = outputs.find(o => o.path.endsWith('.csv') && !o.path.includes('/') && o.path.includes(job.job_id)) || outputs[0];
  const main = [];
  // The report opens at its share link (a real URL: its relative links work, it can be sent)
  if (has('report.html')) main.push(`<button class="primary" data-share-open>Open report</button>`);
  main.push(`<button data-share-copy>Copy share link (valid ${SHARE_DAYS} days)</button>`);
  if (has('qc/multiqc_report.html')) main.push(`<button data-open="qc/multiqc_report.html">Open MultiQC</button>`);
  // saved under the job's name when it has one (the stored file is <job id>.csv)
  const saveAs = job.name ? `${job.name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || job.job_id}.csv` : '';
  if (table && table.path.endsWith('.csv')) main.push(`<button data-download="${esc(table.path)}" data-save-as="${esc(saveAs)}">Download results table</button>`);
  if (has('counts.csv')) main.push(`<button data-download="counts.csv">Download counts</button>`);
  const rows = outputs.map(o => {
    const html = o.path.endsWith('.html');
    if (o.size > BROWSER_DOWNLOAD_LIMIT) {
      // the browser would hold the whole file in memory: the CLI streams it to disk
      return `<div class="out-row"><span class="mono" title="too large to download through the browser">${esc(o.path)}
        <br><code class="muted">genejobs outputs ${esc(job.job_id)} ${esc(o.path)}</code></span><span class="muted">${fmtBytes(o.size)}</span></div>`;
    }
    return `<div class="out-row"><a href="#" data-${html ? 'open' : 'download'}="${esc(o.path)}" class="mono">${esc(o.path)}</a><span class="muted">${fmtBytes(o.size)}</span></div>`;
  }).join('');
  return `<div class="out-main">${main.join('')}</div><div class="share-link" hidden></div>
    <details class="outputs" open><summary>All ${outputs.length} files</summary><div class="out-list">${rows}</div></details>`;
}

function jobPanel(job, outputs, compact) {
  const req = parseRequest(job);
  const title = job.name || req.name || `Job ${job.job_id.slice(0, 8)}`;
  const left = job.status === 'RUNNING' ? timeLeft(job.job_id, job.remaining_ms) : null;
  const eta = job.status === 'RUNNING' ? (left != null ? fmtDur(left) : 'estimating…') : null;
  const actions = [
    compact ? `<a href="#/jobs/${esc(job.job_id)}"><button class="small">Open job page</button></a>` : '',
    `<button class="small" data-rerun="${esc(job.job_id)}">Run again with changes</button>`,
    ['LAUNCHING', 'RUNNING'].includes(job.status) ? `<button class="small danger" data-cancel="${esc(job.job_id)}">Cancel job</button>` : '',
    ['FINISHED', 'FAILED', 'CANCELLED'].includes(job.status) ? `<button class="small danger" data-purge="${esc(job.job_id)}">Delete job and outputs</button>` : '',
  ].join(' ');
  const message = job.message
    ? `<div class="message"><b>${job.status === 'FAILED' ? 'The job failed' : 'Note'}:</b> ${esc(job.message)}</div>` : '';
  // the run's notes in plain words: what it decided is information, not a warning
  const notes = job.notes || (job.warnings || []).map(w => ({ text: typeof w === 'string' ? w : JSON.stringify(w), plain: '', level: 'warning' }));
  const noteList = list => `<ul>${list.map(n => `<li>${n.plain ? `${esc(n.plain)} <span class="muted small-text" title="as the run wrote it">(${esc(n.text)})</span>` : esc(n.text)}</li>`).join('')}</ul>`;
  const infos = notes.filter(n => n.level === 'info'), warns = notes.filter(n => n.level !== 'info');
  const warnings = (infos.length ? `<div class="notes" id="notes"><b>Notes</b>${noteList(infos)}</div>` : '') +
    (warns.length ? `<div class="warnings" id="warnings"><b>Warnings</b>${noteList(warns)}</div>` : '');
  return `<div class="job-panel" data-panel="${esc(job.job_id)}">
    <div class="job-head">${compact ? `<b>${esc(title)}</b>` : `<h1>${esc(title)}</h1>`} ${badge(job.status)}<span class="grow"></span>${actions}</div>
    <div class="facts">
      <div class="fact"><div class="k">Job id</div><div class="v mono">${esc(job.job_id)}</div></div>
      <div class="fact"><div class="k">Owner</div><div class="v">${esc(job.owner)}</div></div>
      <div class="fact"><div class="k">Submitted</div><div class="v">${fmtTime(job.start_time)}</div></div>
      <div class="fact"><div class="k">Run time</div><div class="v">${fmtDur(job.duration)}</div></div>
      <div class="fact"><div class="k">Progress</div><div class="v">${bar(progressOf(job), job.status)}${esc(job.progress)} steps</div></div>
      ${eta ? `<div class="fact"><div class="k">Time left</div><div class="v" id="eta">${eta}</div></div>` : ''}
    </div>
    ${message}${warnings}
    <div class="grid2">
      <div class="card"><h2 style="margin-top:0">Settings</h2>${settingsTable(req, job)}</div>
      <div class="card"><h2 style="margin-top:0">Results</h2>${outputsCard(job, outputs)}</div>
    </div>
    <h2>Samples</h2>${samplesTable(job, req)}</div>`;
}

// The service re-estimates the time left at each poll; shown raw it jumps (18, 27, 15, 8 s).
// Between polls it counts down, and it moves only part of the way to each new estimate
// (the same rule as the CLI's textui.TimeLeft).
const etas = {};
function timeLeft(jobId, estimate) {
  const now = Date.now() / 1000;
  if (estimate == null) { delete etas[jobId]; return null; }
  const e = etas[jobId];
  if (!e) { etas[jobId] = { value: estimate, at: now }; return estimate; }
  const counted = Math.max(0, e.value - (now - e.at) * 1000);
  const weight = estimate < counted ? 0.3 : 0.1;
  e.value = counted + weight * (estimate - counted); e.at = now;
  return Math.round(e.value);
}

function bindJobPanels(root) {
  $$('[data-open]', root).forEach(b => b.onclick = ev => { ev.preventDefault(); openOutput(b.closest('[data-panel]').dataset.panel, b.dataset.open); });
  $$('[data-download]', root).forEach(b => b.onclick = ev => { ev.preventDefault(); downloadOutput(b.closest('[data-panel]').dataset.panel, b.dataset.download, b.dataset.saveAs); });
  $$('[data-share-open]', root).forEach(b => b.onclick = () => openShared(b.closest('[data-panel]').dataset.panel));
  $$('[data-share-copy]', root).forEach(b => b.onclick = () => copyShared(b.closest('[data-panel]')));
  $$('[data-cancel]', root).forEach(b => b.onclick = () => cancelJob(b.dataset.cancel));
  $$('[data-purge]', root).forEach(b => b.onclick = () => purgeJob(b.dataset.purge));
  $$('[data-rerun]', root).forEach(b => b.onclick = () => rerun(b.dataset.rerun));
}

// -- share links: signed, expiring URLs to a job's outputs (no token in them) --
const SHARE_DAYS = 7;
async function shareLink(jobId) {
  const link = await api('POST', `/jobs/${encodeURIComponent(jobId)}/share?days=${SHARE_DAYS}`);
  return { ...link, href: location.origin + link.path };  // as this console reaches the server
}
async function openShared(jobId) {
  const win = window.open('', '_blank');  // opened within the click, so no popup blocker stops it
  try { const link = await shareLink(jobId); win.opener = null; win.location.href = link.href; }
  catch (e) { win.close(); toast(e.message); }
}
async function copyShared(panel) {
  try {
    const link = await shareLink(panel.dataset.panel);
    const box = $('.share-link', panel);
    box.innerHTML = `<input readonly class="mono" value="${esc(link.href)}" aria-label="share link">
      <span class="muted"><span class="copied"></span>anyone with this link can open the report until ${fmtTime(link.expires)}</span>`;
    box.hidden = false;
    $('input', box).select();
    let copied = 'Copied. ';
    try { await navigator.clipboard.writeText(link.href); }
    catch (e) { copied = 'Copy the selected link. '; }  // no clipboard outside https/localhost
    $('.copied', box).textContent = copied;
  } catch (e) { toast(e.message); }
}

function outputPath(jobId, path) {
  return `/jobs/${encodeURIComponent(jobId)}/outputs/${path.split('/').map(encodeURIComponent).join('/')}`;
}
async function openOutput(jobId, path) {
  // A new tab cannot send the token header: fetch here, then show the file from memory.
  // It is shown in a sandboxed frame (an opaque origin, no allow-same-origin): a script in
  // an output file, which anyone who can write the job's folder could have put there,
  // can then never read this console's token.
  const win = window.open('', '_blank');
  try {
    const html = withStorageShim(await (await apiBlob(outputPath(jobId, path))).text());
    const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
    win.document.title = path.split('/').pop();
    win.document.body.style.margin = '0';
    const frame = win.document.createElement('iframe');
    frame.setAttribute('sandbox', 'allow-scripts allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals');
    frame.style.cssText = 'border:0;width:100vw;height:100vh;display:block';
    frame.src = url;
    win.document.body.appendChild(frame);
  } catch (e) { win.close(); toast(e.message); }
}
// An opaque origin has no localStorage: reading it throws, and MultiQC's theme code does
// so outside any try. A page-local, in-memory stand-in keeps such pages working.
const STORAGE_SHIM = '<script>try { window.localStorage.length; } catch (e) { const m = new Map(); ' +
  'Object.defineProperty(window, "localStorage", { configurable: true, value: { get length() { return m.size; }, ' +
  'key: i => [...m.keys()][i] ?? null, getItem: k => m.has(k) ? m.get(k) : null, setItem: (k, v) => m.set(k, String(v)), ' +
  'removeItem: k => m.delete(k), clear: () => m.clear() } }); }<' + '/script>';
function withStorageShim(html) {
  const head = /<head[^>]*>/i.exec(html);
  return head ? html.slice(0, head.index + head[0].length) + STORAGE_SHIM + html.slice(head.index + head[0].length)
    : STORAGE_SHIM + html;
}
async function downloadOutput(jobId, path, saveAs) {
  try {
    const blob = await apiBlob(outputPath(jobId, path));
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = saveAs || path.split('/').pop();
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  } catch (e) { toast(e.message); }
}
async function cancelJob(jobId) {
  if (!confirm(`Cancel job ${jobId}?\nIts work stops and it cannot be resumed.`)) return;
  try { await api('DELETE', '/jobs/' + encodeURIComponent(jobId)); toast('Cancel requested'); }
  catch (e) { toast(e.message); }
  route();
}
async function purgeJob(jobId) {
  // name exactly what DELETE ?purge=true removes: the table, the job's folder, the record
  const job = await api('GET', '/jobs/' + encodeURIComponent(jobId));
  const table = parseRequest(job).output || '';
  const folder = table.slice(0, table.lastIndexOf('/') + 1) + jobId + '/';
  let files = '';
  try { files = ` (${(await api('GET', outputPath(jobId, '').replace(/\/$/, ''))).outputs.length} files in all)`; } catch (e) { /* listed best effort */ }
  const what = `Delete job ${job.name ? `"${job.name}" ` : ''}${jobId} and its data?\n\nThis deletes from storage the files the job wrote${files}:\n` +
    `  • the results table ${table}\n  • its files under ${folder}\nand then the job's record (its share links stop working).\n\n` +
    `Nothing it did not write is touched (inputs, other files in those folders). This cannot be undone.`;
  if (!confirm(what)) return;
  try {
    await api('DELETE', '/jobs/' + encodeURIComponent(jobId) + '?purge=true');
    toast('Job and outputs deleted');
    location.hash = '#/jobs';
  } catch (e) { toast(e.message); }
  route();
}
async function rerun(jobId) {
  const job = await api('GET', '/jobs/' + encodeURIComponent(jobId));
  const req = parseRequest(job);
  const suffix = `/${job.job_id}.csv`;
  if (req.output && req.output.endsWith(suffix)) req.output = req.output.slice(0, -suffix.length);
  if (req.name) req.name = req.name + ' (again)';
  state.draft = draftFromRequest(req);
  state.step = 1;
  location.hash = '#/create';
}

// A short id (any unique prefix of 6+ characters, as lists show ids) opens its job; the
// service looks the prefix up among this token's own jobs.
async function resolveJobId(given) {
  const wanted = given.trim().toLowerCase();
  if (wanted.length === 36) return wanted;
  if (wanted.length < 6) throw new Error(`'${given}' is too short for a job id: give the whole id or at least its first 6 characters.`);
  const page = await api('GET', '/jobs?' + new URLSearchParams({ id_prefix: wanted, limit: '3' }));
  if (!page.jobs.length) throw new Error(`No job in project ${project()} has an id starting '${wanted}'.`);
  if (page.jobs.length > 1) {
    const more = page.job_count - page.jobs.length;
    const err = new Error(`'${wanted}' is ambiguous: it starts the ids of ${page.job_count} jobs (${page.jobs.map(j => j.job_id).join(', ')}${more > 0 ? ` and ${more} more` : ''}); give more characters.`);
    err.jobs = page.jobs; throw err;
  }
  return page.jobs[0].job_id;
}

async function viewJob(given) {
  $('#view').innerHTML = '<p class="muted">loading…</p>';
  let jobId;
  try { jobId = await resolveJobId(given); } catch (e) {
    if (e instanceof ApiError && state.refused) return;
    const links = (e.jobs || []).map(j => `<li><a class="mono" href="#/jobs/${esc(j.job_id)}">${esc(j.job_id)}</a> ${esc(j.name || '')}</li>`).join('');
    $('#view').innerHTML = `<p><a href="#/jobs">‹ all jobs</a></p><div class="message" id="job-error">${esc(e.message)}${links ? `<ul>${links}</ul>` : ''}</div>`;
    return;
  }
  if (jobId !== given) history.replaceState(null, '', '#/jobs/' + jobId);
  const refresh = async () => {
    let data;
    try { data = await loadDetail(jobId); } catch (e) {
      if (state.refused) return;
      $('#view').innerHTML = `<p><a href="#/jobs">‹ all jobs</a></p><div class="message">${esc(e.message)}</div>`; return;
    }
    const open = $$('details.outputs').map(d => d.open);
    $('#view').innerHTML = `<p><a href="#/jobs">‹ all jobs</a></p>` + jobPanel(data.detail, data.outputs, false);
    $$('details.outputs').forEach((d, i) => { if (open[i] !== undefined) d.open = open[i]; });
    bindJobPanels($('#view'));
    const active = ACTIVE.includes(data.detail.status);
    if (!active) { clearInterval(state.timer); state.timer = null; }
    return active;
  };
  // follow the job while it is active (and while this page is shown)
  if (await refresh() && location.hash.includes(jobId)) state.timer = setInterval(refresh, 2000);
}

// -- create --------------------------------------------------------------------------------

function sanitizeName(s) {
  let n = String(s).replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  if (!/^[A-Za-z]/.test(n)) n = 'S' + n;
  return n.slice(0, 128);
}
// pairing by name (guessGroup, pairFiles) and sample sheets: samples.js

function emptyDraft() {
  const ref = (state.refs || [])[0];
  const root = (state.roots || [])[0] || '';
  return {
    name: '', ref: ref ? ref.name : '', gtf: ref ? ref.annotations[0] : '', library_type: 'fr-unstranded',
    adapt: '', adapterPreset: '', qc: false, bed: ref && ref.beds.length ? ref.beds[0] : '',
    output: root ? root + 'out' : '', prefix: root, listing: null, samples: [], groups: [],
    comparisons: null, gene_sets: null, covariates: [], shrink: false, lfc_threshold: 0,
    extra: {}, jsonEdit: null, errors: [], dry: null,
  };
}
// The form's state is the one source of truth; the request is built from it. Fields the
// form has no control for (quantifier, notify, ...) ride along unchanged in `extra`.
const FORM_FIELDS = ['job_type', 'name', 'ref', 'gtf', 'library_type', 'adapt', 'is_export_qc', 'bed', 'output',
  'inputs', 'comparisons', 'gene_sets', 'shrink', 'lfc_threshold'];
const SAMPLE_FIELDS = ['sample_name', 'files', 'runs', 'covariates'];
function pick(obj, skip) { return Object.fromEntries(Object.entries(obj || {}).filter(([k]) => !skip.includes(k))); }
function draftSample(s, group) {
  // samples.js's shape {name, r1, r2, group, runs, covariates}, plus the fields the form
  // has no control for (kept as they are)
  const out = sampleFromRequest(s && typeof s === 'object' ? s : {}, group);
  out.covariates = { ...(out.covariates || {}) };
  out.extra = pick(s, SAMPLE_FIELDS);
  return out;
}
function draftFromRequest(req) {
  const d = emptyDraft();
  if (!req || typeof req !== 'object' || Array.isArray(req)) req = {};
  Object.assign(d, {
    name: req.name || '', ref: req.ref || '', gtf: req.gtf || '', library_type: req.library_type || 'fr-unstranded',
    adapt: req.adapt || '', qc: !!req.is_export_qc, bed: req.bed || '', output: req.output || '', gene_sets: req.gene_sets || null,
    shrink: !!req.shrink, lfc_threshold: req.lfc_threshold ?? 0, extra: pick(req, FORM_FIELDS),
  });
  d.adapterPreset = ADAPTERS.some(([v]) => v === d.adapt) ? d.adapt : 'custom';
  const inputs = Array.isArray(req.inputs) ? req.inputs : [];
  d.groups = inputs.map(g => g.group_name);
  d.samples = inputs.flatMap(g => (Array.isArray(g.group_inputs) ? g.group_inputs : []).map(s => draftSample(s, g.group_name)));
  d.covariates = [...new Set(d.samples.flatMap(s => Object.keys(s.covariates)))];
  d.comparisons = Array.isArray(req.comparisons) ? req.comparisons.map(c => [c.control, c.treatment]) : null;
  const first = d.samples[0];
  if (first && first.r1) d.prefix = first.r1.slice(0, first.r1.lastIndexOf('/') + 1);
  return d;
}
function comparisonsOf(d) {
  const used = d.groups.filter(g => d.samples.some(s => s.group === g));
  if (d.comparisons) return d.comparisons.filter(([c, t]) => used.includes(c) && used.includes(t));
  return used.slice(1).map(t => [used[0], t]);
}
function buildRequest(d) {
  // covariates a sample brought (a sample sheet's columns) are the form's columns too
  for (const smp of d.samples) for (const c of Object.keys(smp.covariates || {})) if (!d.covariates.includes(c)) d.covariates.push(c);
  const paths = { samples: [], groups: {} };
  const used = d.groups.filter(g => d.samples.some(s => s.group === g));
  const inputs = used.map((g, gi) => {
    paths.groups[g] = `inputs[${gi}]`;
    const members = d.samples.filter(s => s.group === g);
    members.forEach((s, si) => { paths.samples[d.samples.indexOf(s)] = `inputs[${gi}].group_inputs[${si}]`; });
    return { group_name: g, group_inputs: members.map(s => requestSample(d, s)) };
  });
  const req = { job_type: 'RNA_DIFF_EXPR' };
  if (d.name) req.name = d.name;
  Object.assign(req, { inputs, ref: d.ref, gtf: d.gtf, library_type: d.library_type });
  if (d.adapt) req.adapt = d.adapt;
  req.is_export_qc = d.qc;
  if (d.qc) req.bed = d.bed;
  const comps = comparisonsOf(d);
  if (comps.length) req.comparisons = comps.map(([control, treatment]) => ({ control, treatment }));
  if (d.gene_sets) req.gene_sets = d.gene_sets;
  // additions are sent only when chosen, so the request stays the contract's when not
  if (d.shrink) req.shrink = true;
  if (Number(d.lfc_threshold) > 0 || (d.lfc_threshold !== '' && isNaN(Number(d.lfc_threshold)))) req.lfc_threshold = isNaN(Number(d.lfc_threshold)) ? d.lfc_threshold : Number(d.lfc_threshold);
  req.output = d.output;
  Object.assign(req, d.extra || {});
  return { req, paths };
}
function requestSample(d, s) {
  // samples.js builds files/runs; every sample carries every covariate the form has
  const out = sampleRequest(s);
  delete out.covariates;
  if (d.covariates.length) out.covariates = Object.fromEntries(d.covariates.map(c => [c, (s.covariates || {})[c] ?? '']));
  return Object.assign(out, s.extra || {});
}

async function loadCatalogue() {
  if (!state.refs) state.refs = (await api('GET', '/references')).references;
  if (!state.roots) state.roots = (await api('GET', '/files')).folders;
  if (!state.schema) state.schema = await fetch('/openapi.json').then(r => r.json()).catch(() => null);
}
function schemaField(name) {
  const s = state.schema && state.schema.components && state.schema.components.schemas.SubmitRequest;
  return (s && s.properties && s.properties[name]) || {};
}
function enumOf(prop) {
  if (prop.enum) return prop.enum;
  for (const alt of prop.anyOf || prop.allOf || []) if (alt.enum) return alt.enum;
  return null;
}

async function viewCreate() {
  $('#view').innerHTML = '<p class="muted">loading…</p>';
  try { await loadCatalogue(); } catch (e) { $('#view').innerHTML = `<div class="message">${esc(e.message)}</div>`; return; }
  if (!state.draft) state.draft = emptyDraft();
  renderCreate();
}

function stepHeader() {
  const errs = state.draft.errors || [];
  const names = ['Basic settings', 'Samples and groups', 'Review and submit'];
  return `<div class="steps">${names.map((n, i) => `<div class="step ${state.step === i + 1 ? 'active' : ''} ${errs.some(er => er.step === i + 1) ? 'has-error' : ''}" data-goto="${i + 1}"><b>${i + 1}</b><span class="step-name">${n}</span></div>`).join('')}</div>`;
}
// Every problem the service named, at once, each linking to its step and field.
function problemsHtml() {
  const errs = state.draft.errors || [];
  if (!errs.length) return '';
  return `<div class="problems" id="problems"><b>${errs.length === 1 ? 'One thing to fix' : `${errs.length} things to fix`}</b><ul>${errs.map((er, k) =>
    `<li><a href="#" data-problem="${k}">Step ${er.step}${er.where ? ` · ${esc(er.where)}` : ''}</a>: ${esc(er.message)}</li>`).join('')}</ul></div>`;
}
function refreshProblems() {
  // after a fix: the list and the step header lose what was fixed, without a re-render
  const box = $('#problems'), html = problemsHtml();
  if (box) box.outerHTML = html || '<div id="problems" class="hidden"></div>';
  const errs = state.draft.errors || [];
  $$('.steps .step').forEach((el, i) => el.classList.toggle('has-error', errs.some(er => er.step === i + 1)));
  bindProblems();
}
function bindProblems() {
  $$('[data-problem]').forEach(a => a.onclick = ev => {
    ev.preventDefault();
    const er = state.draft.errors[Number(a.dataset.problem)];
    if (er.step !== state.step) goStep(er.step); else showFieldError(er);
  });
}

function renderCreate() {
  const d = state.draft;
  const body = state.step === 1 ? step1(d) : state.step === 2 ? step2(d) : step3(d);
  $('#view').innerHTML = `<div class="toolbar"><h1 style="margin:0">Create job</h1><span class="grow"></span>
      <button class="small" id="reset" type="button">Start over</button></div>
    ${stepHeader()}${problemsHtml() || '<div id="problems" class="hidden"></div>'}<div class="card" data-step="${state.step}">${body}</div>
    <div class="actions">${state.step > 1 ? '<button id="back" type="button">‹ Back</button>' : ''}
      ${state.step < 3 ? '<button id="forward" class="primary" type="button">Next ›</button>' : ''}</div>`;
  $$('[data-goto]').forEach(el => el.onclick = () => goStep(Number(el.dataset.goto)));
  $('#reset').onclick = () => { state.draft = emptyDraft(); state.step = 1; renderCreate(); };
  if ($('#back')) $('#back').onclick = () => goStep(state.step - 1);
  if ($('#forward')) $('#forward').onclick = () => goStep(state.step + 1);
  // a field's error goes as soon as the field is changed: a fixed step is no longer red
  const card = $('.card[data-step]');
  const fixed = ev => {
    const host = ev.target.closest('[data-path], tr[data-row]');
    if (!host || ev.target.id === 'json') return;
    const before = (state.draft.errors || []).length;
    clearError(host.dataset.row !== undefined ? 'row:' + host.dataset.row : host.dataset.path);
    if (state.draft.errors.length !== before) { showFieldError(); refreshProblems(); }
  };
  card.addEventListener('change', fixed); card.addEventListener('input', fixed);
  if (state.step === 1) bindStep1(d);
  if (state.step === 2) bindStep2(d);
  if (state.step === 3) bindStep3(d);
  bindProblems();
  showFieldError();
}
function goStep(n) {
  // hand-edited JSON is never dropped or applied silently: the person chooses
  if (jsonPending()) { askAboutJson(() => goStep(n)); return; }
  state.step = Math.max(1, Math.min(3, n));
  renderCreate();
  if (state.step === 3) runDryRun();
}

function fieldRow(label, path, control, help) {
  // help is written for the person filling the form; the API's field name is the anchor
  // errors are shown at (data-path)
  return `<label>${label}</label><div data-path="${esc(path)}">${control}${help ? `<div class="help">${help}</div>` : ''}</div>`;
}
function maxLength(path) {
  const p = schemaField(path);
  const n = p.maxLength || ((p.anyOf || []).find(a => a.maxLength) || {}).maxLength;
  return n ? ` maxlength="${n}"` : '';
}
function step1(d) {
  const ref = (state.refs || []).find(r => r.name === d.ref);
  // a value the server does not offer (typed into the JSON) is shown as it is, marked
  const refOptions = (state.refs || []).map(r => `<option value="${esc(r.name)}" ${r.name === d.ref ? 'selected' : ''}>${esc(r.name)}${r.genome_size ? ` — ${fmtBytes(r.genome_size).replace('B', 'b')}` : ''}</option>`).join('') +
    (d.ref && !ref ? `<option value="${esc(d.ref)}" selected>${esc(d.ref)} (not on this server)</option>` : '');
  const annotations = ref ? (ref.annotations.includes(d.gtf) || !d.gtf ? ref.annotations : ref.annotations.concat([d.gtf])) : (d.gtf ? [d.gtf] : []);
  const ltProp = schemaField('library_type');
  const lts = enumOf(ltProp) || Object.keys(LIBRARY_HELP);
  const ltOptions = (lts.includes(d.library_type) ? lts : lts.concat([d.library_type]))
    .map(v => `<option value="${esc(v)}" ${v === d.library_type ? 'selected' : ''}>${esc(v)}${lts.includes(v) ? '' : ' (not valid)'}</option>`).join('');
  const beds = new Set([...(ref ? ref.beds : []), ...((d.listing && d.listing.files) || []).map(f => f.uri).filter(u => /\.bed(12)?$/i.test(u))]);
  return `<div class="form">
    ${fieldRow('Job name', 'name', `<input type="text" id="f-name"${maxLength('name')} value="${esc(d.name)}" placeholder="e.g. liver KO vs WT">`, 'Optional; shown in the job list and the report.')}
    ${fieldRow('Reference genome', 'ref', (state.refs || []).length ? `<select id="f-ref">${refOptions}</select>` : '<div class="err-text">No reference is registered on this server: add one with <code>genejobs ref add</code>, or (administrators) fetch one by name: <input id="f-fetch-name" value="GRCh38" size="14" aria-label="catalogue name"> <button type="button" id="fetch-ref">Fetch</button> <span id="fetch-ref-state"></span></div>', 'The genome the reads are aligned to. These are the genomes this server has; an administrator adds one with <code>genejobs ref add</code> or <code>genejobs ref fetch</code>.')}
    ${fieldRow('Annotation', 'gtf', `<select id="f-gtf">${annotations.map(a => `<option ${a === d.gtf ? 'selected' : ''}>${esc(a)}</option>`).join('')}</select>`, 'The genes reads are counted on' + (ref && ref.genes ? ` (${ref.genes.toLocaleString()} genes).` : '.'))}
    ${fieldRow('Library type', 'library_type', `<select id="f-lt">${ltOptions}</select>`, esc(LIBRARY_HELP[d.library_type] || 'How the library was made: which strand read 1 comes from. Not sure? Choose auto.'))}
    ${fieldRow('Adapter', 'adapt', `<select id="f-adapter">${ADAPTERS.map(([v, l]) => `<option value="${v}" ${v === d.adapterPreset ? 'selected' : ''}>${esc(l)}</option>`).join('')}</select>
      <input type="text" id="f-adapt"${maxLength('adapt')} class="mono ${d.adapterPreset === 'custom' ? '' : 'hidden'}" value="${esc(d.adapt)}" placeholder="ACGT…" style="margin-top:6px">`, 'The 3′ adapter cutadapt trims from read 1 (read 2 gets its TruSeq partner).')}
    ${fieldRow('QC report', 'is_export_qc', `<label style="font-weight:normal"><input type="checkbox" id="f-qc" ${d.qc ? 'checked' : ''}> BAM files, RSeQC and MultiQC</label>`, 'Adds about a third to the run time; needs a gene-model BED.')}
    <label class="${d.qc ? '' : 'hidden'}">Gene model (BED)</label><div data-path="bed" class="${d.qc ? '' : 'hidden'}"><input type="text" id="f-bed" list="bed-list" value="${esc(d.bed)}" placeholder="s3a://bucket/genes.bed or /data/genes.bed">
      <datalist id="bed-list">${Array.from(beds).map(b => `<option value="${esc(b)}">`).join('')}</datalist><div class="help">BED12 of the annotation's genes; files seen while browsing are offered.</div></div>
    ${fieldRow('Output location', 'output', `<input type="text" id="f-output" class="mono" value="${esc(d.output)}">`, 'A folder: the table goes to &lt;folder&gt;/&lt;job id&gt;.csv and everything else to &lt;folder&gt;/&lt;job id&gt;/.')}
  </div>`;
}
function bindStep1(d) {
  // text fields update the draft as typed; selects and boxes re-render once, on change
  const on = (id, fn) => {
    const el = $(id);
    if (!el) return;
    if (el.tagName === 'INPUT' && el.type === 'text') el.oninput = fn; else el.onchange = fn;
  };
  on('#f-name', e => { d.name = e.target.value; });
  on('#f-ref', e => { d.ref = e.target.value; const r = state.refs.find(x => x.name === d.ref); d.gtf = r ? r.annotations[0] : ''; clearError('gtf'); renderCreate(); });
  on('#f-gtf', e => { d.gtf = e.target.value; });
  on('#f-lt', e => { d.library_type = e.target.value; clearError('library_type'); renderCreate(); });
  on('#f-adapter', e => { d.adapterPreset = e.target.value; if (d.adapterPreset !== 'custom') d.adapt = d.adapterPreset; renderCreate(); });
  on('#f-adapt', e => { d.adapt = e.target.value.trim(); });
  on('#f-qc', e => { d.qc = e.target.checked; renderCreate(); });
  on('#f-bed', e => { d.bed = e.target.value.trim(); });
  on('#f-output', e => { d.output = e.target.value.trim(); });
}

function step2(d) {
  buildRequest(d); // brings a sample sheet's covariate columns into the form
  const listing = d.listing;
  const fastq = listing ? listing.files.filter(f => isFastq(f.uri)) : [];
  const files = listing ? `<div class="listing" id="listing">
      ${listing.folders.map(u => `<div class="folder" data-folder="${esc(u)}"><span>📁 ${esc(u.replace(/\/$/, '').split('/').pop())}/</span></div>`).join('')}
      ${listing.files.map(f => `<div><span class="mono">${esc(f.uri.split('/').pop())}</span><span class="muted">${fmtBytes(f.size)}</span></div>`).join('')}
      ${!listing.folders.length && !listing.files.length ? '<div class="muted">empty</div>' : ''}</div>` : '';
  const samples = d.samples.map((s, i) => `<tr data-row="${i}">
      <td><input class="sname" data-i="${i}" value="${esc(s.name)}" aria-label="sample name"></td>
      <td><select data-group="${i}" aria-label="group">${d.groups.map(g => `<option ${g === s.group ? 'selected' : ''}>${esc(g)}</option>`).join('')}</select></td>
      ${d.covariates.map(c => `<td><input class="cov" data-cov="${i}" data-name="${esc(c)}" value="${esc((s.covariates || {})[c] ?? '')}" size="6" aria-label="${esc(c)}"></td>`).join('')}
      ${runsCell(s)}
      <td><button class="small" data-drop="${i}" type="button">remove</button></td></tr>`).join('');
  const used = d.groups.filter(g => d.samples.some(s => s.group === g));
  const comps = comparisonsOf(d).map(([c, t]) => c + '|' + t);
  const pairs = [];
  for (const c of used) for (const t of used) if (c !== t) pairs.push([c, t]);
  return `
    <h2 style="margin-top:0">Find the reads</h2>
    <div class="browser">
      <div class="path"><button class="small" id="up" type="button" title="parent folder">↑</button><input id="prefix" class="mono" value="${esc(d.prefix)}"><button id="browse" type="button">Browse</button>
        <label class="small-text" title="one file per run (no read 2)"><input type="checkbox" id="single-end" ${d.singleEnd ? 'checked' : ''}> single-end</label>
        <button id="pair" class="primary" type="button" ${fastq.length ? '' : 'disabled'}>Pair ${fastq.length} FASTQ files</button></div>
      <div class="err-text" id="browse-error"></div>${files}
    </div>${orphansHtml(d)}${sheetPanel(d)}
    <h2>Samples <span class="muted small-text">${d.samples.length} — read 1 and read 2 paired by name (Illumina _S1_L001_R1_001, _R1/_R2, _1/_2; .fastq.gz, .fq.gz, .fastq, .fq); a sample's lanes are its runs</span></h2>
    <div data-path="inputs">${d.samples.length ? `<div class="table-wrap samples"><table><thead><tr><th>Sample name</th><th>Group</th>${d.covariates.map(c => `<th>${esc(c)}</th>`).join('')}<th>Reads</th><th></th></tr></thead><tbody>${samples}</tbody></table></div>` : '<p class="muted">Browse to a folder of FASTQ files and pair them.</p>'}</div>
    <h2>Groups <span class="muted small-text">click a name to rename it</span></h2>
    <div class="groups" data-path="groups">${d.groups.map((g, gi) => {
      const n = d.samples.filter(s => s.group === g).length;
      return `<span class="chip" data-chip="${gi}"><input class="gname" data-rename="${gi}" value="${esc(g)}" style="width:${Math.max(2, g.length) + 0.5}ch" aria-label="group name"> · ${n}
        <button class="chip-x" data-delgroup="${gi}" type="button" title="delete group ${esc(g)}${n ? ` (its ${n} sample${n === 1 ? '' : 's'} move to another group)` : ''}">×</button></span>`;
    }).join('')}
      <span class="add"><input id="new-group" placeholder="new group name" size="14"><button class="small" id="add-group" type="button">Add group</button></span></div>
    <h2>Covariates <span class="muted small-text">optional</span></h2>
    <div data-path="covariates">
      <div class="groups">${d.covariates.map((c, ci) => `<span class="chip">${esc(c)} <button class="chip-x" data-delcov="${ci}" type="button" title="remove covariate ${esc(c)}">×</button></span>`).join('')}
        <span class="add"><input id="new-cov" list="cov-names" placeholder="e.g. batch or donor" size="16"><datalist id="cov-names"><option value="batch"><option value="donor"></datalist><button class="small" id="add-cov" type="button">Add covariate</button></span></div>
      <div class="help">Other things that differ between samples, such as the batch they were prepared in, or the donor in a paired design (each donor gives a sample to every group). Each becomes a column in the samples table above; every sample needs a value. The comparison between groups is then made within batches or donors.</div>
    </div>
    <h2>Comparisons <span class="muted small-text">treatment vs control; default: every group against the first</span></h2>
    <div class="comparisons" data-path="comparisons">${pairs.length ? pairs.map(([c, t]) => `<label><input type="checkbox" data-comp="${esc(c)}|${esc(t)}" ${comps.includes(c + '|' + t) ? 'checked' : ''}> <b>${esc(t)}</b> vs <b>${esc(c)}</b> <span class="muted">(control ${esc(c)})</span></label>`).join('') : '<p class="muted">Put samples into at least two groups.</p>'}</div>
    <h2>Statistics</h2>
    <div class="form">
      ${fieldRow('Fold-change threshold', 'lfc_threshold', `<input type="number" id="f-lfc" min="0" step="0.1" value="${esc(d.lfc_threshold)}" style="width:7em"> <span class="muted">log2</span>`, 'Call a gene changed only when its change is larger than this: 0 tests any change; 1 tests for more than a two-fold change (up or down), and the volcano plot draws its lines there.')}
      ${fieldRow('Shrunken fold changes', 'shrink', `<label style="font-weight:normal"><input type="checkbox" id="f-shrink" ${d.shrink ? 'checked' : ''}> also report fold changes shrunk towards 0</label>`, 'Genes with few reads get noisy, exaggerated fold changes; shrinking tames them for ranking and plots (column lfc_shrunk). The p-values do not change.')}
    </div>`;
}
function renameGroup(d, gi, value) {
  const old = d.groups[gi], name = sanitizeName(value.trim() || old);
  if (name === old) { if (value !== old) renderCreate(); return; }
  if (name !== old && d.groups.includes(name)) { toast(`There is already a group ${name}`); renderCreate(); return; }
  d.groups[gi] = name;
  d.samples.forEach(s => { if (s.group === old) s.group = name; });
  if (d.comparisons) d.comparisons = d.comparisons.map(([c, t]) => [c === old ? name : c, t === old ? name : t]);
  clearError('comparisons'); renderCreate();
}
function deleteGroup(d, gi) {
  const g = d.groups[gi], members = d.samples.filter(s => s.group === g);
  const others = d.groups.filter(x => x !== g);
  if (members.length) {
    if (!others.length) { toast(`${g} is the only group: add another before deleting it, or remove its samples`); return; }
    if (!confirm(`Delete group ${g}?\nIts ${members.length} sample${members.length === 1 ? '' : 's'} (${members.map(s => s.name).join(', ')}) move to group ${others[0]}.`)) return;
    members.forEach(s => { s.group = others[0]; });
  }
  d.groups.splice(gi, 1);
  if (d.comparisons) d.comparisons = d.comparisons.filter(([c, t]) => c !== g && t !== g);
  clearError('comparisons'); renderCreate();
}
async function browse(d, prefix) {
  d.prefix = prefix;
  try {
    const q = new URLSearchParams({ prefix, limit: '1000' });
    d.listing = await api('GET', '/files?' + q);
    if (!d.prefix.endsWith('/') && d.listing) { /* a name prefix: keep as typed */ }
  } catch (e) { d.listing = null; renderCreate(); $('#browse-error').textContent = e.message; return; }
  renderCreate();
}
function bindStep2(d) {
  $('#browse').onclick = () => browse(d, $('#prefix').value.trim());
  $('#prefix').onkeydown = e => { if (e.key === 'Enter') browse(d, e.target.value.trim()); };
  $('#up').onclick = () => { const p = d.prefix.replace(/\/$/, ''); browse(d, p.slice(0, p.lastIndexOf('/') + 1) || '/'); };
  $$('[data-folder]').forEach(el => el.onclick = () => browse(d, el.dataset.folder));
  $('#pair').onclick = () => { pairListing(d); clearError('inputs'); renderCreate(); };
  $('#single-end').onchange = e => { d.singleEnd = e.target.checked; };
  bindSheetPanel(d);
  $$('input.sname').forEach(el => el.onchange = () => { d.samples[Number(el.dataset.i)].name = el.value.trim(); clearError('row:' + el.dataset.i); });
  $$('input.cov').forEach(el => el.onchange = () => {
    const smp = d.samples[Number(el.dataset.cov)];
    smp.covariates = { ...(smp.covariates || {}), [el.dataset.name]: el.value.trim() };
    clearError('row:' + el.dataset.cov); clearError('covariates'); showFieldError();
  });
  $$('[data-rename]').forEach(el => el.onchange = () => renameGroup(d, Number(el.dataset.rename), el.value));
  $$('[data-delgroup]').forEach(el => el.onclick = () => deleteGroup(d, Number(el.dataset.delgroup)));
  $('#add-cov').onclick = () => {
    const c = sanitizeName($('#new-cov').value.trim());
    if (!$('#new-cov').value.trim()) { toast('Type a covariate name first, e.g. batch'); return; }
    if (c === 'group') { toast("'group' is the groups' own factor: choose another name"); return; }
    if (!d.covariates.includes(c)) d.covariates.push(c);
    clearError('covariates'); renderCreate();
  };
  $('#new-cov').onkeydown = e => { if (e.key === 'Enter') $('#add-cov').click(); };
  $$('[data-delcov]').forEach(el => el.onclick = () => {
    const c = d.covariates.splice(Number(el.dataset.delcov), 1)[0];
    d.samples.forEach(smp => { if (smp.covariates) delete smp.covariates[c]; });
    clearError('covariates'); renderCreate();
  });
  $('#f-lfc').oninput = e => { d.lfc_threshold = e.target.value === '' ? 0 : e.target.value; clearError('lfc_threshold'); showFieldError(); };
  $('#f-shrink').onchange = e => { d.shrink = e.target.checked; clearError('shrink'); showFieldError(); };
  $$('[data-group]').forEach(el => el.onchange = () => { d.samples[Number(el.dataset.group)].group = el.value; renderCreate(); });
  $$('[data-drop]').forEach(el => el.onclick = () => { d.samples.splice(Number(el.dataset.drop), 1); renderCreate(); });
  $('#add-group').onclick = () => {
    const g = sanitizeName($('#new-group').value.trim() || `G${d.groups.length + 1}`);
    if (!d.groups.includes(g)) d.groups.push(g);
    renderCreate();
  };
  $('#new-group').onkeydown = e => { if (e.key === 'Enter') $('#add-group').click(); };
  $$('[data-comp]').forEach(el => el.onchange = () => {
    d.comparisons = $$('[data-comp]').filter(x => x.checked).map(x => x.dataset.comp.split('|'));
    renderCreate();
  });
}

function step3(d) {
  const { req } = buildRequest(d);
  const generated = JSON.stringify(req, null, 2);
  const editing = d.jsonEdit !== null;
  return `<h2 style="margin-top:0">Estimate</h2><div id="dry">${dryHtml(d)}</div>
    <h2>Request <span class="muted small-text">what is sent to the service, built from steps 1 and 2; save it to submit again with <code>genejobs submit request.json</code></span></h2>
    ${editing ? `<div class="json-note" id="json-note">You are editing the request by hand. <b>Apply to the form</b> makes it the form's settings (the form is what is submitted); <b>Discard</b> goes back to the form's request.
        <div class="actions" style="justify-content:flex-start;margin-top:8px"><button id="json-apply" class="primary" type="button">Apply to the form</button><button id="json-discard" type="button">Discard my edits</button></div>
        <div class="err-text" id="json-error"></div></div>` : ''}
    <textarea id="json" spellcheck="false" ${editing ? '' : 'readonly'} aria-label="request JSON">${esc(editing ? d.jsonEdit : generated)}</textarea>
    <div class="err-text" id="submit-error"></div>
    <div class="actions" style="justify-content:flex-start">${editing ? '' : '<button id="json-edit" type="button">Edit as JSON</button>'}<button id="check" type="button">Check again</button><button id="submit" class="primary" type="button">Submit job</button></div>`;
}
function dryHtml(d) {
  const r = d.dry;
  if (!r) return '<p class="muted">checking…</p>';
  if (r.error) return `<p class="err-text">The service found ${r.count === 1 ? 'a problem' : `${r.count || 'some'} problems`}: see the list above.</p>`;
  const cached = r.samples.filter(s => s.cached).length;
  // what the run will do with a sample that is not in the cache
  const req = buildRequest(d).req;
  const work = req.counts ? 'read from the counts table' : req.quantifier === 'transcripts' ? 'will be quantified'
    : req.is_export_qc ? 'will be aligned (QC jobs always are)' : 'will be aligned';
  return `<div class="estimate" id="estimate">
      <div><div class="muted small-text">EXPECTED RUN TIME</div><div class="big">${r.estimate_ms != null ? '≈ ' + fmtDur(r.estimate_ms) : 'not known yet'}</div>
        <div class="muted small-text">${r.estimate_ms != null ? `from the speed of ${r.measured_jobs} finished job${r.measured_jobs === 1 ? '' : 's'} on this server` : 'this server has not finished a job to measure its speed'}</div></div>
      <div><div class="muted small-text">INPUT</div><div class="big">${fmtBytes(r.input_bytes)}</div><div class="muted small-text">${r.samples.length} samples</div></div>
      <div><div class="muted small-text">REUSED FROM CACHE</div><div class="big">${cached} / ${r.samples.length}</div><div class="muted small-text">samples processed before with the same settings</div></div>
      <div>${readChecksHtml(r)}</div></div>
    <div class="table-wrap" style="margin-top:12px"><table id="dry-samples"><thead><tr><th>Sample</th><th>Group</th><th class="num">Input</th><th>Cache</th></tr></thead><tbody>
    ${r.samples.map(s => `<tr><td>${esc(s.sample_name)}</td><td>${esc(s.group_name)}</td><td class="num">${fmtBytes(s.input_bytes)}</td><td>${s.cached ? 'reused (done before)' : `<span class="muted">not cached: ${work}</span>`}</td></tr>`).join('')}</tbody></table></div>`;
}
function bindStep3(d) {
  $('#json').oninput = e => { d.jsonEdit = e.target.value; };
  if ($('#json-edit')) $('#json-edit').onclick = () => { d.jsonEdit = $('#json').value; renderCreate(); $('#json').focus(); };
  if ($('#json-apply')) $('#json-apply').onclick = () => { if (applyJson()) { renderCreate(); runDryRun(); } };
  if ($('#json-discard')) $('#json-discard').onclick = () => {
    const then = d.afterJson; d.jsonEdit = null; d.afterJson = null; renderCreate();
    if (then) setTimeout(then, 0);
  };
  $('#check').onclick = () => { if (jsonPending()) askAboutJson(runDryRun); else runDryRun(); };
  $('#submit').onclick = () => { if (jsonPending()) askAboutJson(submitDraft); else submitDraft(); };
}
function jsonPending() {
  const d = state.draft;
  return !!d && d.jsonEdit !== null && d.jsonEdit !== JSON.stringify(buildRequest(d).req, null, 2);
}
function askAboutJson(then) {
  // the choice bar says what is pending; the buttons do the rest
  const note = $('#json-note');
  if (!note) return;
  note.classList.add('asking');
  setText('#json-error', 'Apply or discard your JSON edits first.');
  note.scrollIntoView({ block: 'center' });
  state.draft.afterJson = then;
}
function applyJson() {
  // hand-edited JSON becomes the form's state (then the form is the request again)
  const d = state.draft;
  let req;
  try { req = JSON.parse(d.jsonEdit); } catch (e) { setText('#json-error', 'This is not valid JSON: ' + e.message + '. Fix it, or discard your edits.'); return false; }
  if (!req || typeof req !== 'object' || Array.isArray(req)) { setText('#json-error', 'The request must be a JSON object { ... }.'); return false; }
  const nd = draftFromRequest(req);
  nd.listing = d.listing; nd.prefix = nd.prefix || d.prefix;
  state.draft = nd;
  toast('Your edits are now the form\'s settings');
  const then = d.afterJson;
  if (then) setTimeout(then, 0);
  return true;
}
function currentRequest() { return buildRequest(state.draft).req; }
async function runDryRun() {
  const d = state.draft;
  const req = currentRequest();
  d.dry = null; if ($('#dry')) $('#dry').innerHTML = dryHtml(d);
  try {
    d.dry = await api('POST', '/jobs?dry_run=true', req);
    d.errors = [];
    if (state.draft !== d || state.step !== 3) return;
    refreshProblems();
    if ($('#dry')) $('#dry').innerHTML = dryHtml(d);
  } catch (e) {
    if (state.refused) return;
    if (e instanceof ApiError) { reportError(e, false); d.dry = { error: e.message, count: d.errors.length }; }
    else d.dry = { error: e.message };
    if ($('#dry')) $('#dry').innerHTML = dryHtml(d);
  }
}
async function submitDraft() {
  const req = currentRequest();
  $('#submit').disabled = true;
  try {
    const r = await api('POST', '/jobs', req);
    state.draft = null; state.step = 1;
    toast('Submitted job ' + r.job_id);
    location.hash = '#/jobs/' + r.job_id;
  } catch (e) {
    if ($('#submit')) $('#submit').disabled = false;
    if (e instanceof ApiError) reportError(e, true); else setText('#submit-error', e.message);
  }
}

// A DLI message starts with the field path: "inputs[1].group_inputs[0].files[1]: ...";
// several problems come at once, joined by "; ".
const FIELD = '[A-Za-z_][A-Za-z0-9_]*(?:\\[\\d+\\]|\\.[A-Za-z_][A-Za-z0-9_]*)*';
function splitProblems(msg) {
  return msg.split(new RegExp(`; (?=${FIELD}: )`)).map(part => {
    const m = new RegExp(`^(${FIELD}): ([\\s\\S]*)$`).exec(part);
    return m ? { path: m[1], text: m[2] } : { path: null, text: part };
  });
}
function reportError(e, jump) {
  const d = state.draft;
  const problems = splitProblems(e.msg || e.message);
  d.errors = problems.map(p => {
    const where = p.path ? locateField(p.path) : { step: 3, anchor: null };
    return { path: p.path, where: p.path ? describePath(p.path) : '', message: `${p.text} (${e.code})`, step: where.step, anchor: where.anchor };
  });
  // every problem is listed above the form; a submit goes to the first one's step
  const first = d.errors[0];
  if (jump && first.step !== state.step) { state.step = first.step; renderCreate(); showFieldError(first); return; }
  refreshProblems(); showFieldError(jump ? first : undefined);
}
const FIELD_LABELS = { name: 'Job name', ref: 'Reference genome', gtf: 'Annotation', library_type: 'Library type', adapt: 'Adapter',
  is_export_qc: 'QC report', bed: 'Gene model (BED)', output: 'Output location', inputs: 'Samples', comparisons: 'Comparisons',
  covariates: 'Covariates', shrink: 'Shrunken fold changes', lfc_threshold: 'Fold-change threshold', gene_sets: 'Gene sets' };
function describePath(path) {
  // "inputs[1].group_inputs[0].files[1]" -> "sample W1, read 2": where, in the form's words
  const d = state.draft;
  const sm = /^inputs\[(\d+)\]\.group_inputs\[(\d+)\](.*)$/.exec(path);
  if (sm) {
    const i = buildRequest(d).paths.samples.indexOf(`inputs[${sm[1]}].group_inputs[${sm[2]}]`);
    const smp = d.samples[i];
    const rest = sm[3].replace(/^\.files\[(\d)\].*/, (_, k) => `, read ${Number(k) + 1}`).replace(/^\.covariates\.?/, ', covariate ').replace(/^\.sample_name.*/, ', name').replace(/^\.runs.*/, ', runs');
    return smp ? `sample ${smp.name}${rest.startsWith(',') ? rest : ''}` : path;
  }
  const top = path.split(/[.[]/)[0];
  const cov = /^covariates\.(\w+)/.exec(path);
  if (cov) return `covariate ${cov[1]}`;
  return FIELD_LABELS[top] || path;
}
function locateField(path) {
  const step1 = ['name', 'ref', 'gtf', 'library_type', 'adapt', 'is_export_qc', 'bed', 'output'];
  const step2 = ['shrink', 'lfc_threshold', 'covariates', 'comparisons'];
  const top = path.split(/[.[]/)[0];
  if (step1.includes(top)) return { step: 1, anchor: top };
  if (step2.includes(top)) return { step: 2, anchor: top };
  if (top === 'inputs') {
    const { paths } = buildRequest(state.draft);
    const sm = /^(inputs\[\d+\]\.group_inputs\[\d+\])/.exec(path);
    if (sm) {
      const i = paths.samples.indexOf(sm[1]);
      if (i >= 0) return { step: 2, anchor: `row:${i}` };
    }
    return { step: 2, anchor: 'inputs' };
  }
  return { step: 3, anchor: null };
}
function clearError(anchor) {
  const d = state.draft;
  if (d && d.errors) d.errors = d.errors.filter(er => !(er.anchor === anchor || (anchor === 'inputs' && (er.anchor || '').startsWith('row:'))));
}
function showFieldError(focus) {
  $$('.field-error, tr.error-row').forEach(el => el.remove());
  $$('.has-field-error').forEach(el => el.classList.remove('has-field-error'));
  const errors = ((state.draft && state.draft.errors) || []).filter(er => er.step === state.step);
  let firstShown = null, focused = null;
  for (const err of errors) {
    const div = document.createElement('div');
    div.className = 'field-error'; div.dataset.field = err.path || '';
    div.textContent = err.message;
    if (err.path) div.title = err.path; // the API's name of the field, for whoever reads the JSON
    let host = null;
    if (err.anchor && err.anchor.startsWith('row:')) {
      const row = $(`tr[data-row="${err.anchor.slice(4)}"]`);
      if (row) {
        row.classList.add('has-field-error');
        row.insertAdjacentHTML('afterend', `<tr class="error-row has-field-error"><td colspan="${row.cells.length}"></td></tr>`);
        host = row.nextElementSibling.firstElementChild;
        div.textContent = `${err.where}: ${err.message}`;
      }
    } else if (err.anchor) host = $(`[data-path="${err.anchor}"]`);
    if (host) { host.classList.add('has-field-error'); host.appendChild(div); }
    else if ($('#submit-error')) $('#submit-error').appendChild(div);
    else continue;
    firstShown = firstShown || div;
    if (err === focus) focused = div;
  }
  const target = focused || (focus !== undefined ? firstShown : null);
  if (target) target.scrollIntoView({ block: 'center' });
}

// -- pipeline --------------------------------------------------------------------------------

function viewPipeline() {
  $('#view').innerHTML = `<h1>Pipeline</h1><div class="card"><ol class="pipeline">
    <li><b>Reads</b>: paired FASTQ streamed from storage (dnaio), mates checked pair by pair.</li>
    <li><b>Trimming</b>: the 3′ adapter removed with cutadapt; read-level QC collected on the way.</li>
    <li><b>Alignment</b>: minimap2 (mappy, <code>splice:sr</code>) against the reference genome.</li>
    <li><b>Counting</b>: htseq-count's union rules under all three strand rules at once; each sample cached.</li>
    <li><b>Statistics</b>: DESeq2 (pydeseq2), design <code>~group</code>, Wald tests per comparison, BH.</li>
    <li><b>Outputs</b>: the results table, counts, an HTML report; with QC also BAMs, RSeQC and MultiQC.</li></ol></div>`;
}

// -- start -----------------------------------------------------------------------------------

window.addEventListener('hashchange', () => { if (signInFromFragment()) { state.refused = null; showWho(); } route(); });
signInFromFragment();
showWho();
route();
