"""``GET /console``: the original service's three tabs, over the public REST API.

The page is static and self-contained (no CDN): it keeps the token in the
browser's localStorage and calls the same ``/v2.0/{project}/gene/`` endpoints as
any client, so the console can never do what the API would refuse.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>genejobs console</title>
<style>
body{font-family:sans-serif;margin:0;color:#222}header{background:#24476b;color:#fff;padding:.6em 1em}
header input{width:22em}nav button{margin-right:.4em}main{padding:1em}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}
.bar{background:#eee;width:120px;height:10px;display:inline-block}.bar>span{background:#3a7;height:10px;display:block}
.FAILED{color:#b00}.FINISHED{color:#070}.RUNNING,.CANCELING{color:#a60}pre{background:#f6f6f6;padding:.5em;max-height:20em;overflow:auto}
textarea{width:100%;height:22em;font-family:monospace}.err{color:#b00;white-space:pre-wrap}.hidden{display:none}
</style></head><body>
<header><b>genejobs</b> &nbsp; token <input id="token" type="password"> project <input id="project" value="default" style="width:8em">
<button onclick="save()">use</button></header>
<main>
<nav><button onclick="tab('list')">Jobs</button><button onclick="tab('create')">Create job</button><button onclick="tab('pipeline')">Pipeline</button></nav>
<section id="list"><h2>Jobs</h2>
from <input id="from" type="date"> to <input id="to" type="date"> <button onclick="load()">filter</button>
<span id="count"></span>
<table><thead><tr><th>created</th><th>status</th><th>job id</th><th>user</th><th>run time</th><th>progress</th><th></th></tr></thead>
<tbody id="jobs"></tbody></table><div id="detail"></div><div class="err" id="listerr"></div></section>
<section id="create" class="hidden"><h2>Create job</h2>
<p>The request body of <code>POST /v2.0/{project}/gene/jobs</code>; groups compared with the first (control)
unless <code>comparisons</code> says otherwise.</p>
<textarea id="body"></textarea><br><button onclick="submitJob()">submit</button><div class="err" id="createerr"></div></section>
<section id="pipeline" class="hidden"><h2>Pipeline</h2><ol>
<li>Reads: paired FASTQ streamed from storage (dnaio), pairs checked.</li>
<li>Trimming: the 3' adapter removed with cutadapt.</li>
<li>Alignment: minimap2 (mappy, splice:sr) to the reference genome.</li>
<li>Counting: htseq-count rules (union) under the declared library type.</li>
<li>Statistics: DESeq2 (pydeseq2), design ~group, Wald tests, BH.</li>
<li>Outputs: CSV table, counts, QC (RSeQC, MultiQC) and an HTML report.</li></ol></section>
</main>
<script>
const $ = id => document.getElementById(id);
const TEMPLATE = {job_type:"RNA_DIFF_EXPR", inputs:[
 {group_name:"K", group_inputs:[{sample_name:"K1", files:["s3a://bucket/K1_R1.fastq.gz","s3a://bucket/K1_R2.fastq.gz"]},
                                {sample_name:"K2", files:["s3a://bucket/K2_R1.fastq.gz","s3a://bucket/K2_R2.fastq.gz"]}]},
 {group_name:"W", group_inputs:[{sample_name:"W1", files:["s3a://bucket/W1_R1.fastq.gz","s3a://bucket/W1_R2.fastq.gz"]},
                                {sample_name:"W2", files:["s3a://bucket/W2_R1.fastq.gz","s3a://bucket/W2_R2.fastq.gz"]}]}],
 adapt:"", ref:"hg38", gtf:"gencode.v28.annotation.gtf", is_export_qc:false, library_type:"fr-unstranded", output:"s3a://bucket/out"};
function save(){localStorage.token=$('token').value; localStorage.project=$('project').value; load();}
function tab(name){for (const s of ['list','create','pipeline']) $(s).classList.toggle('hidden', s!==name);}
function base(){return '/v2.0/'+encodeURIComponent(localStorage.project||'default')+'/gene';}
async function api(method, path, body){
  const r = await fetch(base()+path, {method, headers:{'X-Auth-Token':localStorage.token||'','Content-Type':'application/json'},
                                      body: body===undefined?undefined:JSON.stringify(body)});
  const data = await r.json().catch(()=>({}));
  if (!r.ok) throw new Error((data.error_code||r.status)+': '+(data.error_msg||r.statusText));
  return data;
}
function esc(s){const d=document.createElement('div'); d.textContent=String(s); return d.innerHTML;}
async function load(){
  $('listerr').textContent='';
  const q = new URLSearchParams({limit:'100'});
  if ($('from').value) q.set('start', Date.parse($('from').value));
  if ($('to').value) q.set('end', Date.parse($('to').value)+86399999);
  try {
    const data = await api('GET','/jobs?'+q);
    $('count').textContent = data.job_count+' job(s)';
    $('jobs').innerHTML = data.jobs.map(j => {
      const [k,n] = j.progress.split('/').map(Number);
      const pct = n ? Math.round(100*k/n) : 0;
      const cancel = ['LAUNCHING','RUNNING'].includes(j.status) ? `<button data-cancel="${esc(j.job_id)}">cancel</button>` : '';
      return `<tr><td>${new Date(j.start_time).toLocaleString()}</td><td class="${esc(j.status)}">${esc(j.status)}</td>
        <td><a href="#" data-show="${esc(j.job_id)}">${esc(j.job_id)}</a></td><td>${esc(j.owner)}</td>
        <td>${(j.duration/1000).toFixed(1)} s</td><td><span class="bar"><span style="width:${pct}%"></span></span> ${esc(j.progress)}</td>
        <td>${cancel}</td></tr>` + (j.message ? `<tr><td></td><td colspan="6" class="err">${esc(j.message)}</td></tr>` : '');
    }).join('');
  } catch (e) { $('listerr').textContent = e.message; }
}
document.addEventListener('click', async ev => {
  const show = ev.target.dataset.show, cancel = ev.target.dataset.cancel;
  try {
    if (show) { ev.preventDefault(); const d = await api('GET','/jobs/'+show);
      $('detail').innerHTML = '<h3>'+esc(show)+'</h3><h4>settings and samples</h4><pre>'+esc(JSON.stringify(JSON.parse(d.request),null,2))+
        '</pre><h4>progress per sample</h4><pre>'+esc(JSON.stringify(d.samples,null,2))+'</pre><h4>outputs</h4><pre>'+esc(JSON.stringify(d.outputs,null,2))+'</pre>'; }
    if (cancel) { await api('DELETE','/jobs/'+cancel); load(); }
  } catch (e) { $('listerr').textContent = e.message; }
});
async function submitJob(){
  $('createerr').textContent='';
  let body; try { body = JSON.parse($('body').value); } catch (e) { $('createerr').textContent = 'not valid JSON: '+e.message; return; }
  try { const r = await api('POST','/jobs', body); tab('list'); load(); $('createerr').textContent='submitted '+r.job_id; }
  catch (e) { $('createerr').textContent = e.message; }
}
// a link like /console#token=...&project=... signs in (the fragment never reaches the server)
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('token')) { localStorage.token = hash.get('token'); localStorage.project = hash.get('project') || 'default';
  history.replaceState(null, '', location.pathname); }
$('token').value = localStorage.token||''; $('project').value = localStorage.project||'default';
$('body').value = JSON.stringify(TEMPLATE, null, 2);
load(); setInterval(load, 5000);
</script></body></html>"""


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> HTMLResponse:
    return HTMLResponse(PAGE)
