/* genejobs report: draws every plot and the gene table from the embedded data block. */
(async function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const t0 = performance.now();
  const timings = { start: Math.round(t0) }; // ms from navigation to this script running
  const mark = (name) => (timings[name] = Math.round(performance.now() - t0));

  async function bytes(id) {
    const b64 = $(id).textContent.trim();
    try { // the browser's own base64 decoder, much faster than a loop over 20 MB
      return new Uint8Array(await (await fetch("data:application/octet-stream;base64," + b64)).arrayBuffer());
    } catch (e) {
      const s = atob(b64), out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
      return out;
    }
  }
  async function inflate(id) {
    const stream = new Blob([await bytes(id)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const D = JSON.parse(new TextDecoder().decode(await inflate("gj-data")));
  const COUNTS = await inflate("gj-counts");
  mark("decoded");
  const G = D.genes, N = G.id.length, S = D.samples.length, CMP = D.comparisons;
  const lowId = G.id.map((s) => s.toLowerCase()), lowName = G.name.map((s) => s.toLowerCase());
  const state = { cmp: 0, gene: -1, sample: -1, subset: null }; // subset: sample indices shown
  // Above this many samples the sample plots are unreadable whole: views of a subset are offered.
  const SUBSET_ABOVE = 60;
  const CFG = { displaylogo: false, responsive: true, toImageButtonOptions: { format: "svg", scale: 2 } };
  const FONT = { family: "system-ui, sans-serif", size: 12 };
  const UP = "#c0392b", DOWN = "#2471a3", GREY = "#b3b3b3", HI = "#f1c40f";

  const fmt = (v, d = 3) =>
    v === null || v === undefined ? "NA"
      : v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : String(+v.toPrecision(d));
  const nlog = (p) => -Math.log10(Math.max(p, 1e-300));
  const xOf = (c) => c.shrunk || c.lfc;
  const gname = (g) => (G.name[g] && G.name[g] !== G.id[g] ? `${G.name[g]} (${G.id[g]})` : G.id[g]);
  const hoverText = (c, g) =>
    `<b>${gname(g)}</b><br>log2FC ${fmt(c.lfc[g])}${c.shrunk ? ` (shrunk ${fmt(c.shrunk[g])})` : ""}` +
    `<br>padj ${fmt(c.padj[g])}<br>baseMean ${fmt(G.baseMean[g])}`;
  const base = (title, extra) =>
    Object.assign({ title: { text: title, font: { size: 14 }, x: 0.01, xanchor: "left" }, font: FONT, margin: { l: 60, r: 20, t: 50, b: 50 },
      height: 460, hovermode: "closest", plot_bgcolor: "#fff", showlegend: true,
      legend: { orientation: "h", y: -0.16 } }, extra);

  /* -- volcano and MA: three WebGL traces (n.s., up, down) and one highlight trace -- */
  function split(c, xy) {
    const parts = { ns: [], up: [], down: [] };
    for (let g = 0; g < N; g++) {
      const p = xy(g);
      if (!p) continue;
      const sig = c.padj[g] !== null && c.padj[g] < D.padj;
      parts[sig ? (c.lfc[g] > 0 ? "up" : "down") : "ns"].push(g);
    }
    return parts;
  }
  function hover(c, g) { // built once per gene and comparison, shared by the volcano and MA plot
    if (!c.hover) c.hover = new Array(N);
    return c.hover[g] || (c.hover[g] = hoverText(c, g));
  }
  function scatterTraces(c, parts, xy, names) {
    const mk = (idx, color, name, size) => {
      const x = new Float32Array(idx.length), y = new Float32Array(idx.length), text = new Array(idx.length);
      idx.forEach((g, k) => { const p = xy(g); x[k] = p[0]; y[k] = p[1]; text[k] = hover(c, g); });
      return { type: "scattergl", mode: "markers", name, x, y, customdata: idx, text,
        hovertemplate: "%{text}<extra></extra>", marker: { color, size, opacity: 0.75 } };
    };
    return [mk(parts.ns, GREY, names[0], 4), mk(parts.up, UP, names[1], 5), mk(parts.down, DOWN, names[2], 5),
      { type: "scatter", mode: "markers+text", name: "selected", x: [], y: [], text: [], textposition: "top center",
        marker: { size: 14, color: "rgba(0,0,0,0)", line: { color: "#111", width: 2.5 } }, hoverinfo: "skip",
        showlegend: false, textfont: { size: 13, color: "#111" } }];
  }
  function volcano(i) {
    const c = CMP[i], x = xOf(c);
    const xy = (g) => (c.padj[g] === null || x[g] === null ? null : [x[g], nlog(c.padj[g])]);
    const parts = split(c, xy);
    const names = [`not significant (${parts.ns.length})`, `up (${c.up})`, `down (${c.down})`];
    const yl = nlog(D.padj), line = { color: "#777", width: 1, dash: "dash" };
    const L = c.lfcLine ?? D.lfcLine; // the tested lfc_threshold, else a two-fold guide
    const layout = base(`${c.label.replace("_vs_", " vs ")}: ${c.up} up, ${c.down} down (padj < ${D.padj})`, {
      xaxis: { title: { text: c.lfcLabel }, range: c.xr, zeroline: false },
      yaxis: { title: { text: "-log10 adjusted p-value" }, range: c.yr },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: yl, y1: yl, line },
        ...[-L, L].map((v) => ({ type: "line", yref: "paper", y0: 0, y1: 1, x0: v, x1: v,
          line: { color: c.lfcTested ? "#777" : "#aaa", width: 1, dash: "dot" } }))],
      annotations: (c.lfcTested ? [{ x: L, y: 1, yref: "paper", text: `tested |log2FC| > ${L}`, showarrow: false,
        xanchor: "left", yanchor: "top", font: { size: 10, color: "#555" } }] : []).concat(c.labels.map((l) => ({ x: x[l.i], y: nlog(c.padj[l.i]), text: G.name[l.i], ax: l.dx, ay: -l.dy,
        showarrow: true, arrowhead: 0, arrowwidth: 0.8, arrowcolor: "#555", font: { size: 11 } }))),
    });
    return Plotly.react("plot-volcano", scatterTraces(c, parts, xy, names), layout, CFG);
  }
  function ma(i) {
    const c = CMP[i], x = xOf(c);
    const xy = (g) => (x[g] === null || !(G.baseMean[g] > 0) ? null : [G.baseMean[g], x[g]]);
    const parts = split(c, xy);
    const layout = base(`MA plot ${c.label.replace("_vs_", " vs ")}`, {
      xaxis: { title: { text: "mean of normalised counts" }, type: "log" },
      yaxis: { title: { text: c.lfcLabel }, zeroline: true, zerolinecolor: "#333" },
    });
    return Plotly.react("plot-ma", scatterTraces(c, parts, xy, ["not significant", "up", "down"]), layout, CFG);
  }

  /* -- samples: PCA (coloured by group or by any covariate) and the clustered distance heatmap -- */
  const shown = () => state.subset || D.samples.map((_, i) => i);
  function pca() {
    if (!D.pca) { $("plot-pca").textContent = "No PCA: the variance-stabilised counts are missing (see Notes)."; return; }
    const keep = new Set(shown()), n = keep.size;
    const label = n <= 30, pal = ["#1f77b4", "#e6550d", "#31a354", "#756bb1", "#d62728", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    // One set of traces per factor (group first, then each covariate); a menu shows one set.
    const factors = [["group", D.groups]].concat(Object.entries(D.covariates || {}));
    const traces = [], sets = [];
    factors.forEach(([factor, values], f) => {
      const levels = [...new Set(values)], first = traces.length;
      levels.forEach((lv, k) => {
        const idx = D.samples.map((_, i) => i).filter((i) => values[i] === lv && keep.has(i));
        const color = f === 0 ? D.colors[lv] : pal[k % pal.length];
        traces.push({ type: "scatter", mode: label ? "markers+text" : "markers", name: lv, visible: f === 0,
          legendgrouptitle: { text: factor }, legendgroup: factor,
          x: idx.map((i) => D.pca.x[i]), y: idx.map((i) => D.pca.y[i]), text: idx.map((i) => D.samples[i]),
          textposition: "top center", textfont: { size: 10 },
          marker: { color, size: 10, line: { color: "#fff", width: 1 } },
          hovertemplate: "<b>%{text}</b><br>" + factor + ": " + lv + "<extra></extra>" });
      });
      sets.push([factor, first, traces.length]);
    });
    // a searched gene: the samples coloured by its expression (shown when a gene is chosen)
    const idx = [...keep];
    const g = state.gene;
    if (g >= 0) {
      const vals = geneCounts(g);
      traces.push({ type: "scatter", mode: label ? "markers+text" : "markers", name: G.name[g], visible: false,
        x: idx.map((i) => D.pca.x[i]), y: idx.map((i) => D.pca.y[i]), text: idx.map((i) => D.samples[i]),
        textposition: "top center", textfont: { size: 10 }, showlegend: false,
        marker: { size: 11, color: idx.map((i) => Math.log2(vals[i] + 1)), colorscale: "Viridis", showscale: true,
          colorbar: { title: { text: `${G.name[g]}<br>log2(count+1)` }, thickness: 10 }, line: { color: "#fff", width: 1 } },
        hovertemplate: "<b>%{text}</b><br>" + G.name[g] + " log2(count+1) %{marker.color:.2f}<extra></extra>" });
      sets.push([G.name[g], traces.length - 1, traces.length]);
    }
    // a searched sample: a ring around it
    const s = state.sample;
    if (s >= 0 && keep.has(s)) {
      traces.push({ type: "scatter", mode: "markers", name: "selected sample", x: [D.pca.x[s]], y: [D.pca.y[s]], showlegend: false,
        hoverinfo: "skip", marker: { size: 22, color: "rgba(0,0,0,0)", line: { color: "#111", width: 2.5 } } });
    }
    const ring = s >= 0 && keep.has(s) ? [traces.length - 1] : [];
    const show = (a, b) => traces.map((_, i) => (i >= a && i < b) || ring.includes(i));
    const active = g >= 0 ? sets.length - 1 : 0;
    traces.forEach((t, i) => (t.visible = show(sets[active][1], sets[active][2])[i]));
    const e = D.pca.explained;
    const layout = base(`PCA (500 most variable genes, VST)${n < S ? ` · ${n} of ${S} samples` : ""}${g >= 0 ? ` · coloured by ${G.name[g]}` : ""}`, {
      xaxis: { title: { text: `PC1 (${(100 * e[0]).toFixed(0)}% of variance)` } },
      yaxis: { title: { text: `PC2 (${(100 * (e[1] || 0)).toFixed(0)}% of variance)` } },
    });
    if (sets.length > 1) {
      layout.updatemenus = [{ type: "dropdown", x: 1, xanchor: "right", y: -0.22, yanchor: "top", active,
        buttons: sets.map(([factor, a, b]) => ({ label: "colour by " + factor, method: "restyle",
          args: ["visible", show(a, b)] })) }];
    }
    return Plotly.react("plot-pca", traces, layout, CFG);
  }
  function distances() {
    if (!D.dist) { $("plot-dist").textContent = "No sample distances (see Notes)."; return; }
    const keep = new Set(shown());
    const o = D.dist.order.filter((i) => keep.has(i)), names = o.map((i) => `${D.samples[i]} · ${D.groups[i]}`);
    const z = o.map((i) => o.map((j) => D.dist.z[i][j]));
    const k = o.indexOf(state.sample), n = o.length;
    // a searched sample: its row and column outlined
    const shapes = k < 0 ? [] : [
      { type: "rect", xref: "x", yref: "paper", x0: k - 0.5, x1: k + 0.5, y0: 0, y1: 1, line: { color: "#111", width: 2 } },
      { type: "rect", xref: "paper", yref: "y", x0: 0, x1: 1, y0: k - 0.5, y1: k + 0.5, line: { color: "#111", width: 2 } }];
    return Plotly.react("plot-dist", [{ type: "heatmap", z, x: names, y: names, colorscale: "Viridis", reversescale: true,
      colorbar: { title: { text: "distance" }, thickness: 12 },
      hovertemplate: "%{y}<br>%{x}<br>distance %{z:.3g}<extra></extra>" }],
    base(`Sample distances (clustered)${n < S ? ` · ${n} of ${S} samples` : ""}`, { showlegend: false, margin: { l: 110, r: 10, t: 50, b: 110 }, shapes,
      xaxis: { tickfont: { size: 9 }, showticklabels: n <= 60 }, yaxis: { tickfont: { size: 9 }, autorange: "reversed", showticklabels: n <= 60 } }), CFG);
  }
  function subsets() {
    // Many samples: views of one group or one covariate level at a time, each readable.
    if (S <= SUBSET_ABOVE) return;
    const opts = [["all", `all ${S} samples`, null]];
    const add = (factor, values) => [...new Set(values)].forEach((lv) => {
      const idx = values.map((v, i) => (v === lv ? i : -1)).filter((i) => i >= 0);
      opts.push([`${factor}=${lv}`, `${factor} ${lv} (${idx.length} samples)`, idx]);
    });
    add("group", D.groups);
    Object.entries(D.covariates || {}).forEach(([f, v]) => add(f, v));
    const sel = $("sample-subset");
    opts.forEach(([v, text]) => { const o = document.createElement("option"); o.value = v; o.textContent = text; sel.append(o); });
    $("subset-why").textContent = ` — ${S} samples are too many to label in one plot; choose a group or a covariate level to see it alone.`;
    $("subset-bar").hidden = false;
    sel.addEventListener("change", () => {
      state.subset = opts.find((o) => o[0] === sel.value)[2];
      pca(); distances(); heatmap();
    });
  }
  /* -- top DE genes heatmap -- */
  function heatmap() {
    const H = D.heat;
    $("plot-heat").style.minHeight = "0";
    if (!H) { $("plot-heat").textContent = "No gene is significant in any comparison, so there is no heatmap of top genes."; $("plot-heat").style.minHeight = "0"; return; }
    const keep = new Set(shown()), rows = H.rowOrder, cols = H.colOrder.filter((c) => keep.has(c)), n = cols.length;
    const y = rows.map((r) => G.name[H.genes[r]]), x = cols.map((c) => `${D.samples[c]} · ${D.groups[c]}`);
    const z = rows.map((r) => cols.map((c) => H.z[r][c]));
    return Plotly.react("plot-heat", [{ type: "heatmap", z, x, y, zmid: 0, colorscale: "RdBu",
      colorbar: { title: { text: "z-score" }, thickness: 12 }, hovertemplate: "%{y}<br>%{x}<br>z %{z:.2f}<extra></extra>" }],
    base(`Top ${rows.length} genes by adjusted p-value${n < S ? ` · ${n} of ${S} samples` : ""}`, { showlegend: false, height: Math.max(300, (n <= 80 ? 170 : 80) + 14 * rows.length),
      margin: { l: 130, r: 10, t: 50, b: n <= 80 ? 120 : 30 }, xaxis: { tickfont: { size: 9 }, showticklabels: n <= 80 },
      yaxis: { tickfont: { size: 10 }, autorange: "reversed" } }), CFG).then(() => {
      if (!heatmap.bound) $("plot-heat").on("plotly_click", (ev) => select(H.genes[H.rowOrder[ev.points[0].pointIndex[0]]]));
      heatmap.bound = true;
    });
  }

  /* -- one gene: normalised counts per sample by group -- */
  function geneCounts(g) {
    const vals = new Float64Array(S);
    for (let s = 0; s < S; s++) vals[s] = Math.pow(2, COUNTS[g * S + s] / 10) - 1;
    return vals;
  }
  function genePlot(g) {
    const vals = geneCounts(g), groups = [...new Set(D.groups)];
    const traces = groups.map((grp) => {
      const idx = D.samples.map((_, i) => i).filter((i) => D.groups[i] === grp);
      return { type: "box", name: grp, y: idx.map((i) => vals[i] + 0.5), text: idx.map((i) => D.samples[i]),
        boxpoints: "all", jitter: 0.4, pointpos: 0, fillcolor: "rgba(0,0,0,0)", line: { color: D.colors[grp] },
        marker: { color: D.colors[grp], size: 8 }, hovertemplate: "<b>%{text}</b><br>%{y:.4g}<extra>" + grp + "</extra>" };
    });
    const stats = (g === state.gene ? "" : "The most significant gene; search another above. ") + CMP.map((c) => `${c.label.replace("_vs_", " vs ")}: log2FC ${fmt(c.lfc[g])}, padj ${fmt(c.padj[g])}`).join(" · ");
    $("gene-hint").innerHTML = "";
    $("gene-hint").append(document.createTextNode(stats));
    // A log scale when the counts span more than a 20-fold range, as DESeq2's plotCounts.
    const lo = Math.min(...vals) + 0.5, hi = Math.max(...vals) + 0.5, log = hi / lo > 20;
    const yaxis = log ? { type: "log", title: { text: "normalised count + 0.5 (log scale)" } }
      : { rangemode: "tozero", title: { text: "normalised count + 0.5" } };
    return Plotly.react("plot-gene", traces, base(`${gname(g)}: normalised counts`, { showlegend: false, yaxis }), CFG);
  }

  /* -- selecting a gene: every plot and the table follow -- */
  function highlight(div, c, g, xy, labelled) {
    const p = g >= 0 ? xy(g) : null, name = labelled ? "" : G.name[g]; // no second label
    Plotly.restyle(div, { x: [p ? [p[0]] : []], y: [p ? [p[1]] : []], text: [p ? [name] : []] }, [3]);
  }
  function select(g) {
    state.gene = g;
    const c = CMP[state.cmp], x = xOf(c);
    highlight("plot-volcano", c, g, (k) => (c.padj[k] === null || x[k] === null ? null : [x[k], nlog(c.padj[k])]),
      c.labels.some((l) => l.i === g));
    highlight("plot-ma", c, g, (k) => (x[k] === null || !(G.baseMean[k] > 0) ? null : [G.baseMean[k], x[k]]));
    if (D.heat) {
      const r = D.heat.rowOrder.findIndex((row) => D.heat.genes[row] === g);
      Plotly.relayout("plot-heat", { shapes: r < 0 ? [] : [{ type: "rect", xref: "paper", x0: 0, x1: 1,
        y0: r - 0.5, y1: r + 0.5, line: { color: "#111", width: 2.5 } }] });
    }
    $("gene-search").value = G.name[g];
    document.querySelectorAll("#genes tbody tr").forEach((tr) => tr.classList.toggle("hit", tr.dataset.gene === G.id[g]));
    genePlot(g);
    state.sample = -1;
    pca(); distances(); // the samples coloured by this gene's expression
    document.body.dataset.selected = G.id[g];
  }
  function selectSample(s) {
    state.sample = s;
    $("gene-search").value = D.samples[s];
    pca(); distances(); // ringed in the PCA, outlined in the distance heatmap
    document.body.dataset.selectedSample = D.samples[s];
  }
  function matches(q, limit) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    const exact = [], prefix = [], inside = [];
    for (let g = 0; g < N && exact.length + prefix.length < limit; g++) {
      const a = lowId[g], b = lowName[g];
      if (a === q || b === q || a.split(".")[0] === q) exact.push(g);
      else if (a.startsWith(q) || b.startsWith(q)) prefix.push(g);
      else if (inside.length < limit && (a.includes(q) || b.includes(q))) inside.push(g);
    }
    return [...exact, ...prefix, ...inside].slice(0, limit);
  }
  function sampleMatches(q) {
    q = q.trim().toLowerCase();
    if (!q) return [];
    const exact = D.samples.findIndex((s) => s.toLowerCase() === q);
    if (exact >= 0) return [exact];
    return D.samples.map((s, i) => (s.toLowerCase().startsWith(q) ? i : -1)).filter((i) => i >= 0).slice(0, 5);
  }
  function searchBox() {
    const box = $("gene-search"), list = $("gene-suggest"), msg = $("search-msg");
    let hits = [];
    const say = (text) => { msg.textContent = text; msg.hidden = !text; };
    const nothing = () => `No gene or sample matches "${box.value.trim()}" in this report (${N.toLocaleString()} genes of the annotation, ${S} samples).`;
    box.addEventListener("input", () => {
      const samples = sampleMatches(box.value);
      hits = matches(box.value, 12 - samples.length).map((g) => ["gene", g]).concat(samples.map((s) => ["sample", s]));
      list.innerHTML = "";
      hits.forEach(([kind, i], k) => {
        const li = document.createElement("li");
        li.className = k === 0 ? "on" : "";
        li.append(kind === "gene" ? G.name[i] : D.samples[i]);
        const sm = document.createElement("small");
        sm.textContent = kind === "gene" ? G.id[i] : `sample · ${D.groups[i]}`;
        li.append(sm);
        li.addEventListener("mousedown", () => { list.hidden = true; pick(kind, i); });
        list.append(li);
      });
      list.hidden = hits.length === 0;
      say(box.value.trim() && !hits.length ? nothing() : "");
    });
    const pick = (kind, i) => {
      say("");
      if (kind === "gene") { select(i); $("gene").scrollIntoView({ behavior: "smooth" }); }
      else { selectSample(i); $("samples").scrollIntoView({ behavior: "smooth" }); }
    };
    box.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      const hit = hits[0] ?? (matches(box.value, 1).map((g) => ["gene", g])[0] || sampleMatches(box.value).map((s) => ["sample", s])[0]);
      list.hidden = true;
      if (hit) pick(hit[0], hit[1]);
      else say(nothing());
    });
    box.addEventListener("blur", () => setTimeout(() => (list.hidden = true), 150));
  }

  /* -- the full table: every gene of every comparison -- */
  function cell(v, isId) { // a table cell; Ensembl ids link to Ensembl
    const td = document.createElement("td");
    if (isId && /^ENS[A-Z]*G\d+/.test(v)) {
      const a = document.createElement("a");
      a.href = "https://www.ensembl.org/id/" + v.split(".")[0];
      a.target = "_blank"; a.rel = "noopener"; a.textContent = v;
      a.addEventListener("click", (e) => e.stopPropagation());
      td.append(a);
    } else if (typeof v === "number" || v === null) { td.className = "num"; td.textContent = fmt(v, 4); }
    else td.textContent = v;
    return td;
  }
  const table = (() => {
    const single = CMP.length === 1, hasShrunk = CMP.some((c) => c.shrunk);
    const cols = [["gene", (c, g) => G.id[g]], ["name", (c, g) => G.name[g]]];
    if (!single) cols.push(["comparison", (c) => c.label.replace("_vs_", " vs ")]);
    cols.push(["baseMean", (c, g) => G.baseMean[g]], ["log2FC", (c, g) => c.lfc[g]]);
    if (hasShrunk) cols.push(["log2FC shrunk", (c, g) => (c.shrunk ? c.shrunk[g] : null)]);
    cols.push(["lfcSE", (c, g) => c.lfcSE[g]], ["stat", (c, g) => c.stat[g]], ["pvalue", (c, g) => c.pvalue[g]],
      ["padj", (c, g) => c.padj[g]]);
    const PAGE = 50, t = { page: 0, sort: cols.length - 1, dir: 1, rows: new Int32Array(0) };
    const head = $("genes").tHead.rows[0];
    cols.forEach(([name], k) => {
      const th = document.createElement("th");
      th.textContent = name;
      th.addEventListener("click", () => { t.dir = t.sort === k ? -t.dir : 1; t.sort = k; t.page = 0; t.refresh(); });
      head.append(th);
    });
    const value = (r, k) => cols[k][1](CMP[Math.floor(r / N)], r % N);
    function filtered() {
      const which = +$("t-comparison").value, q = $("t-search").value.trim().toLowerCase();
      const pmax = parseFloat($("t-padj").value), lmin = parseFloat($("t-lfc").value);
      const out = [];
      CMP.forEach((c, ci) => {
        if (which >= 0 && ci !== which) return;
        for (let g = 0; g < N; g++) {
          if (q && !lowId[g].includes(q) && !lowName[g].includes(q)) continue;
          if (!isNaN(pmax) && !(c.padj[g] !== null && c.padj[g] <= pmax)) continue;
          if (!isNaN(lmin) && !(c.lfc[g] !== null && Math.abs(c.lfc[g]) >= lmin)) continue;
          out.push(ci * N + g);
        }
      });
      return Int32Array.from(out);
    }
    function sortRows(rows) {
      const k = t.sort, d = t.dir, keys = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) keys[i] = value(rows[i], k);
      const order = Array.from(rows.keys());
      order.sort((a, b) => {
        const x = keys[a], y = keys[b];
        if (x === y) return 0;
        if (x === null || x === undefined) return 1; // NA last, whichever the direction
        if (y === null || y === undefined) return -1;
        return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * d;
      });
      return Int32Array.from(order, (i) => rows[i]);
    }
    function draw() {
      const body = $("genes").tBodies[0], n = t.rows.length, pages = Math.max(1, Math.ceil(n / PAGE));
      t.page = Math.min(Math.max(0, t.page), pages - 1);
      body.innerHTML = "";
      for (let i = t.page * PAGE; i < Math.min(n, (t.page + 1) * PAGE); i++) {
        const r = t.rows[i], g = r % N, c = CMP[Math.floor(r / N)], tr = document.createElement("tr");
        if (c.padj[g] !== null && c.padj[g] < D.padj) tr.className = "sig";
        if (g === state.gene) tr.classList.add("hit");
        tr.dataset.gene = G.id[g];
        cols.forEach((_, k) => tr.append(cell(value(r, k), k === 0)));
        tr.addEventListener("click", () => select(g));
        body.append(tr);
      }
      [...head.cells].forEach((th, k) => (th.className = k === t.sort ? (t.dir > 0 ? "asc" : "desc") : ""));
      $("t-info").textContent = n ? `rows ${(t.page * PAGE + 1).toLocaleString()}–${Math.min(n, (t.page + 1) * PAGE).toLocaleString()} of ${n.toLocaleString()} · page ${t.page + 1} of ${pages}` : "no rows match";
      $("t-prev").disabled = t.page === 0;
      $("t-next").disabled = t.page >= pages - 1;
    }
    t.refresh = () => { t.rows = sortRows(filtered()); draw(); };
    $("t-prev").addEventListener("click", () => { t.page--; draw(); });
    $("t-next").addEventListener("click", () => { t.page++; draw(); });
    ["t-comparison", "t-search", "t-padj", "t-lfc"].forEach((id) =>
      $(id).addEventListener("input", () => { t.page = 0; t.refresh(); }));
    return t;
  })();

  /* -- enrichment: a dot plot of one comparison x gene sets x test, and a searchable table -- */

  function enrichment() {
    const E = D.enrichment;
    if (!E || !E.term.length || !$("enr-pick")) return;
    const keys = [...new Set(E.term.map((_, i) => `${E.cmp[i]} | ${E.coll[i]} | ${E.kind[i]}`))];
    const pick = $("enr-pick"), search = $("enr-search");
    for (const k of keys) { const o = document.createElement("option"); o.value = o.textContent = k.replace("_vs_", " vs "); o.dataset.k = k; pick.appendChild(o); }
    const rowsOf = (k) => E.term.map((_, i) => i).filter((i) => `${E.cmp[i]} | ${E.coll[i]} | ${E.kind[i]}` === k);
    function plot() {
      const k = pick.selectedOptions[0].dataset.k;
      const rows = rowsOf(k).slice(0, 20).reverse();
      const gsea = k.endsWith("GSEA");
      const x = rows.map((i) => nlog(E.fdr[i] === null ? 1 : E.fdr[i]));
      const color = rows.map((i) => (gsea ? (E.score[i] > 0 ? UP : DOWN) : k.endsWith("down") ? DOWN : UP));
      const size = rows.map((i) => 8 + 4 * Math.min(6, Math.log2(1 + Math.abs(E.score[i] || 0))));
      return Plotly.react("plot-enrichment", [{ type: "scatter", mode: "markers", x, y: rows.map((i) => E.term[i].slice(0, 60)),
        marker: { color, size, line: { width: 0 } }, customdata: rows,
        hovertext: rows.map((i) => `<b>${E.term[i]}</b><br>FDR ${fmt(E.fdr[i])}<br>${gsea ? "NES" : "odds ratio"} ${fmt(E.score[i])}<br>overlap ${E.overlap[i]}`),
        hoverinfo: "text" }],
        base(`${k.replace("_vs_", " vs ")}: top sets`, { showlegend: false, height: 150 + 26 * rows.length,
          margin: { l: 330, r: 20, t: 50, b: 60 }, xaxis: { title: { text: "-log10 FDR (dot size: " + (gsea ? "|NES|" : "odds ratio") + ")" } } }), CFG);
    }
    function rows() {
      const q = search.value.trim().toLowerCase();
      const body = $("enr-table").querySelector("tbody");
      body.textContent = "";
      let shown = 0;
      for (let i = 0; i < E.term.length && shown < 300; i++) {
        if (q && !E.term[i].toLowerCase().includes(q) && !E.genes[i].toLowerCase().includes(q)) continue;
        const tr = document.createElement("tr");
        const genes = E.genes[i].split(";"), shortList = genes.slice(0, 8).join(", ") + (genes.length > 8 ? ` … (${genes.length})` : "");
        for (const v of [E.cmp[i].replace("_vs_", " vs "), E.coll[i], E.kind[i], E.term[i], fmt(E.score[i]), fmt(E.fdr[i]), E.overlap[i], shortList]) {
          const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        }
        body.appendChild(tr);
        shown++;
      }
    }
    pick.addEventListener("change", plot);
    search.addEventListener("input", rows);
    rows();
    return plot();
  }

  function showComparison(i) {
    state.cmp = i;
    document.querySelectorAll("#comparison-tabs button").forEach((b) => b.classList.toggle("on", +b.dataset.i === i));
    return Promise.all([volcano(i), ma(i)]).then(() => { if (state.gene >= 0) select(state.gene); });
  }
  document.querySelectorAll("#comparison-tabs button").forEach((b) =>
    b.addEventListener("click", () => showComparison(+b.dataset.i)));

  searchBox();
  subsets();
  table.refresh();
  mark("table");
  await pca();
  await distances();
  await heatmap();
  mark("samples");
  if (CMP.length) await showComparison(0);
  mark("volcano");
  const top = CMP.length ? CMP[0].padj.reduce((b, p, g) => (p !== null && (b < 0 || p < CMP[0].padj[b]) ? g : b), -1) : -1;
  if (top >= 0) await genePlot(top);
  mark("gene");
  for (const id of ["plot-volcano", "plot-ma"]) {
    $(id).on("plotly_click", (ev) => { const g = ev.points[0].customdata; if (g !== undefined) select(g); });
  }
  await enrichment();
  mark("enrichment");
  window.genejobs = { data: D, select, selectSample, matches, table, geneCounts, timings, state };
  document.body.dataset.drawnMs = String(Math.round(performance.now() - t0));
  document.body.dataset.ready = "1";
})().catch((err) => {
  document.body.dataset.error = String(err);
  const p = document.createElement("p");
  p.style.color = "#a33";
  p.textContent = "The interactive part of this report could not start: " + err;
  document.querySelector("main").prepend(p);
});
