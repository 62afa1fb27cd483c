/* genejobs console, step 2's samples: pairing FASTQ files by name, and sample sheets.
 * Loaded before console.js; plain functions, no state of their own.
 *
 * The naming rules mirror src/genejobs/jobs/request/fastq_names.py (the CLI's); both must
 * give the answers in tests/data/pairing_cases.json. A sample in the form is
 * {name, group, r1, r2, runs: [[r1, r2], ...] or [[r]], covariates?}: r1/r2 are its first
 * run's files (r2 '' when single-end), runs all of them. */
'use strict';

const FASTQ_SUFFIX = /\.(fastq|fq)(\.gz)?$/i;
const FASTQ_NAME = /^(.+?)(?:_S(\d+))?(?:_L(\d{3}))?[._-](?:([RI])([12])|([12]))(?:_(\d{3}))?$/i;

function isFastq(uri) { return FASTQ_SUFFIX.test(uri); }
function baseName(uri) { return uri.slice(uri.lastIndexOf('/') + 1); }

function readName(uri) {
  const slash = uri.lastIndexOf('/');
  const base = uri.slice(slash + 1);
  if (!isFastq(base)) return null;
  const bare = base.replace(FASTQ_SUFFIX, '');
  const suffix = base.slice(bare.length);
  const folder = uri.slice(0, Math.max(slash, 0));
  const m = bare.match(FASTQ_NAME);
  if (!m) return { uri, folder, stem: bare, read: null, index: false, lane: '', chunk: '', snum: '', style: '', suffix };
  const kind = (m[4] || '').toUpperCase();
  return {
    uri, folder, stem: m[1], read: Number(m[5] || m[6]), index: kind === 'I', lane: m[3] || '',
    chunk: m[7] || '', snum: m[2] || '', style: kind, suffix,
  };
}
function mateName(n) {
  const other = n.read === 1 ? 2 : 1;
  return n.stem + (n.snum ? `_S${n.snum}` : '') + (n.lane ? `_L${n.lane}` : '') +
    (n.style === 'R' ? `_R${other}` : `_${other}`) + (n.chunk ? `_${n.chunk}` : '') + n.suffix;
}
function guessGroup(sample) {
  const g = sample.replace(/\d+$/, '').replace(/([_.-](rep|r|s|sample)?|rep|sample)$/i, '');
  return g && g !== sample ? sanitizeName(g) : 'A';
}
function sampleOf(name, group, runs, covariates) {
  const first = runs[0] || [];
  const s = { name, group, r1: first[0] || '', r2: first[1] || '', runs: runs.map(r => r.slice()) };
  if (covariates && Object.keys(covariates).length) s.covariates = { ...covariates };
  return s;
}

// Samples from file names, and every FASTQ file left over with the reason (never dropped).
function pairFiles(uris, singleEnd) {
  const names = Array.from(new Set(uris)).sort().map(readName).filter(Boolean);
  const orphans = [];
  const runs = new Map();
  for (const n of names) {
    if (n.index) { orphans.push({ uri: n.uri, reason: `an index read (I${n.read}): not used by the analysis` }); continue; }
    let read = n.read;
    if (read === null) {
      if (!singleEnd) {
        orphans.push({ uri: n.uri, reason: 'no read 1/read 2 marker in the name (_R1/_R2, _1/_2, _S1_L001_R1_001): cannot pair it (single-end reads: pair as single-end)' });
        continue;
      }
      read = 1;
    }
    if (singleEnd && read === 2) { orphans.push({ uri: n.uri, reason: 'a read 2 file: single-end samples use read 1 only' }); continue; }
    const key = JSON.stringify([n.folder, n.stem, n.snum, n.lane, n.chunk, n.style]);
    const slot = runs.get(key) || {};
    if (slot[read]) { orphans.push({ uri: n.uri, reason: `same sample, lane and read as '${baseName(slot[read].uri)}'` }); continue; }
    slot[read] = n;
    runs.set(key, slot);
  }
  const samples = new Map();
  for (const key of Array.from(runs.keys()).sort(byKey)) {
    const slot = runs.get(key);
    const first = slot[1] || slot[2];
    const lane = first.lane ? ` (lane ${Number(first.lane)})` : '';
    let run;
    if (singleEnd) run = [slot[1].uri];
    else if (slot[1] && slot[2]) run = [slot[1].uri, slot[2].uri];
    else {
      const have = slot[1] ? 1 : 2;
      orphans.push({ uri: slot[have].uri, reason: `read ${have} without its read ${3 - have}${lane}: no '${mateName(slot[have])}'` });
      continue;
    }
    const sampleKey = JSON.stringify([first.folder, first.stem, first.snum]);
    if (!samples.has(sampleKey)) {
      const name = sanitizeName(first.stem);
      samples.set(sampleKey, { name, group: guessGroup(name), runs: [] });
    }
    samples.get(sampleKey).runs.push(run);
  }
  orphans.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return { samples: Array.from(samples.values()).map(s => sampleOf(s.name, s.group, s.runs)), orphans };
}
// the Python side sorts tuples of strings: compare the keys' parts in turn
function byKey(a, b) {
  const x = JSON.parse(a), y = JSON.parse(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

// A sample as the request writes it: one paired run keeps the contract's `files`.
function sampleRequest(s) {
  const runs = s.runs && s.runs.length ? s.runs : [[s.r1, s.r2]];
  const out = { sample_name: s.name };
  if (runs.length === 1 && runs[0].length === 2) out.files = runs[0].slice();
  else out.runs = runs.map(r => r.slice());
  if (s.covariates && Object.keys(s.covariates).length) out.covariates = { ...s.covariates };
  return out;
}
function sampleFromRequest(s, group) {
  const runs = s.runs || (s.files ? [s.files] : [['', '']]);
  return sampleOf(s.sample_name, group, runs, s.covariates);
}
function runsCell(s) {
  const runs = s.runs && s.runs.length ? s.runs : [[s.r1, s.r2]];
  const kind = runs[0].length === 1 ? 'single-end' : 'paired';
  const label = runs.length === 1 ? kind : `${runs.length} runs, ${kind}`;
  const files = runs.map((r, i) => `<div class="mono small-text" title="${esc(r.join('\n'))}">${runs.length > 1 ? `<span class="muted">${i + 1}.</span> ` : ''}${r.map(u => esc(baseName(u))).join(' + ')}</div>`).join('');
  return `<td><span class="muted small-text">${label}</span>${files}</td>`;
}

// -- leftovers and the sheet -------------------------------------------------------------

function orphansHtml(d) {
  const list = d.orphans || [];
  if (!list.length) return '';
  return `<div class="orphans" id="orphans"><b>${list.length} file${list.length === 1 ? '' : 's'} not used</b>
    <ul>${list.map(o => `<li><span class="mono">${esc(baseName(o.uri))}</span>: ${esc(o.reason)}</li>`).join('')}</ul></div>`;
}
function sheetPanel(d) {
  const r = d.sheetResult;
  const problems = r && r.problems.length ? `<div class="sheet-problems" id="sheet-problems"><b>${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in the sheet</b><ul>${r.problems.map(p => `<li>${esc(p)}</li>`).join('')}</ul></div>` : '';
  const groups = r ? new Set(r.samples.map(s => s.group_name)).size : 0;
  const made = !r ? '' : r.problems.length
    ? `<div class="muted" id="sheet-summary">The samples below are unchanged: fix the sheet's problems and make the samples again.</div>`
    : `<div class="ok-text" id="sheet-summary">${r.samples.length} sample${r.samples.length === 1 ? '' : 's'} in ${groups} group${groups === 1 ? '' : 's'} from the sheet${r.library_type ? `; library type ${esc(r.library_type)} (from its strandedness)` : ''}${r.ignored_columns.length ? `; columns not used: ${esc(r.ignored_columns.join(', '))}` : ''}</div>`;
  return `<details class="sheet" id="sheet" ${d.sheetOpen ? 'open' : ''}><summary>Or use a sample sheet <span class="muted small-text">nf-core/rnaseq: sample, fastq_1, fastq_2, strandedness and a condition or group column (CSV or TSV)</span></summary>
    <div class="sheet-body">
      <label class="small-text">Upload <input type="file" id="sheet-file" accept=".csv,.tsv,.txt,text/csv,text/tab-separated-values"></label>
      <textarea id="sheet-text" spellcheck="false" placeholder="sample,fastq_1,fastq_2,strandedness,condition&#10;WT1,s3a://lab/WT1_L001_R1_001.fastq.gz,s3a://lab/WT1_L001_R2_001.fastq.gz,reverse,WT">${esc(d.sheetText || '')}</textarea>
      <div class="sheet-actions"><label class="small-text">Group column <input id="sheet-group" size="12" placeholder="condition" value="${esc(d.sheetGroup || '')}"></label>
        <button id="sheet-read" type="button" class="primary">Make samples from the sheet</button></div>
      ${made}${problems}</div></details>`;
}
async function readSheet(d) {
  const body = { text: d.sheetText || '' };
  if (d.sheetGroup) body.group_column = d.sheetGroup;
  try {
    d.sheetResult = await api('POST', '/samplesheet', body);
  } catch (e) {
    d.sheetResult = { samples: [], problems: [e.msg || e.message], library_type: null, ignored_columns: [] };
  }
  const r = d.sheetResult;
  if (r.samples.length && !r.problems.length) {
    // the sheet's samples replace the form's (they are editable below, as paired ones are)
    d.samples = r.samples.map(s => sampleOf(s.sample_name, s.group_name, s.runs, s.covariates));
    d.groups = Array.from(new Set(d.samples.map(s => s.group)));
    d.comparisons = null; d.orphans = [];
    if (r.library_type) d.library_type = r.library_type;
    clearError('inputs');
  }
  d.sheetOpen = true;
  renderCreate();
}
function bindSheetPanel(d) {
  $('#sheet').addEventListener('toggle', e => { d.sheetOpen = e.target.open; });
  $('#sheet-text').oninput = e => { d.sheetText = e.target.value; };
  $('#sheet-group').oninput = e => { d.sheetGroup = e.target.value.trim(); };
  $('#sheet-file').onchange = async e => {
    const file = e.target.files[0];
    if (!file) return;
    if (file.size > 2 * 1024 * 1024) { toast('A sample sheet may have at most 2 MiB'); return; }
    d.sheetText = (await file.text()).replace(/^\ufeff/, '');
    $('#sheet-text').value = d.sheetText;
    readSheet(d);
  };
  $('#sheet-read').onclick = () => readSheet(d);
}
function pairListing(d) {
  const found = pairFiles(d.listing.files.map(f => f.uri), !!d.singleEnd);
  const have = new Set(d.samples.flatMap(s => (s.runs || [[s.r1]]).map(r => r[0])));
  for (const s of found.samples) if (!have.has(s.runs[0][0])) d.samples.push(s);
  for (const s of d.samples) if (!d.groups.includes(s.group)) d.groups.push(s.group);
  d.orphans = found.orphans;
  if (!found.samples.length) toast(found.orphans.length ? 'No samples: see the files not used' : 'No FASTQ files here');
}

// -- the dry run's look at the files (step 3) ------------------------------------------------

function readChecksHtml(r) {
  const problems = r.read_problems || [], warnings = r.read_warnings || [];
  const ok = r.reads_ok !== false;
  const items = [...problems.map(p => `<li class="err-text">${esc(p)}</li>`), ...warnings.map(w => `<li class="muted">${esc(w)}</li>`)];
  const head = ok ? '<div class="ok-text">✓ every check passed, and the head of every file looks right</div>'
    : `<div class="err-text" id="read-problems-title">${problems.length ? `${problems.length} file problem${problems.length === 1 ? ': fix it' : 's: fix them'} before submitting` : 'some files could not be checked'}</div>`;
  return head + (items.length ? `<ul class="read-checks" id="read-checks">${items.join('')}</ul>` : '');
}
