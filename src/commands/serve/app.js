"use strict";
// The dashboard: hash routes over the JSON of `optimize serve` (or, in a
// report.html, over the same answers stored in the page). Every text from a
// log goes into the page as text, never as markup.
(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const main = document.getElementById("main");
  const stored = config.views;
  // The run page's stream and the nodes it writes to, kept across redraws.
  let live = null;
  let refreshTimer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  // The page's content, with absent parts (null) left out.
  function put(...children) {
    main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  }
  const seg = encodeURIComponent;
  function withToken(path) {
    if (!config.token) return path;
    return path + (path.includes("?") ? "&" : "?") + "token=" + seg(config.token);
  }
  async function api(path) {
    if (stored) {
      if (!(path in stored)) throw new Error("not in this report: " + path);
      return stored[path];
    }
    const r = await fetch(withToken(path));
    const body = await r.json().catch(() => ({ error: r.statusText }));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  function chartSrc(path) {
    if (stored) return "data:image/svg+xml;charset=utf-8," + seg(stored[path.split("?")[0]] || "");
    return withToken(path);
  }
  function num(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(3);
    return String(Math.round(v * 1e4) / 1e4);
  }
  function usd(v) { return v === null || v === undefined ? "–" : "$" + v.toFixed(2); }
  function outcome(o) { return el("span", { class: "outcome-" + o }, o); }
  function runBase(spec, run) { return "/api/runs/" + seg(spec) + "/" + seg(run); }
  function fail(e) { put(el("p", { class: "error" }, String(e.message || e))); }

  // A table whose headers sort it; `rows` are objects, `columns` say how.
  function sortableTable(id, columns, rows, onRow) {
    const state = { key: null, down: false };
    const tbody = el("tbody");
    function draw() {
      const sorted = rows.slice();
      if (state.key) {
        const col = columns.find((c) => c.key === state.key);
        const value = col.sort || ((r) => r[col.key]);
        sorted.sort((a, b) => {
          const x = value(a), y = value(b);
          const c = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
          return state.down ? -c : c;
        });
      }
      tbody.replaceChildren(...sorted.map((r) => {
        const tr = el("tr", { class: onRow ? "clickable" : null, onclick: onRow ? () => onRow(r) : null },
          columns.map((c) => el("td", { class: c.num ? "num" : null }, c.show ? c.show(r) : r[c.key])));
        tr.dataset.key = JSON.stringify(r.iteration ?? r.run_id ?? "");
        return tr;
      }));
    }
    const head = el("tr", {}, columns.map((c) => el("th", {
      class: "sortable" + (c.num ? " num" : ""),
      onclick: () => { state.down = state.key === c.key ? !state.down : false; state.key = c.key; draw(); },
    }, c.label)));
    draw();
    return el("table", { id }, el("thead", {}, head), tbody);
  }

  async function runsPage() {
    const data = await api("/api/runs");
    const picked = [];
    const compareButton = el("button", { disabled: true, onclick: () => {
      const [a, b] = picked;
      location.hash = "#/compare/" + seg(a.spec) + "/" + seg(a.run_id) + "/" + seg(b.run_id);
    } }, "compare the two ticked runs");
    const columns = [
      { key: "pick", label: "", show: (r) => el("input", { type: "checkbox", onclick: (ev) => {
        ev.stopPropagation();
        const at = picked.indexOf(r);
        if (ev.target.checked && at < 0) picked.push(r); else if (!ev.target.checked && at >= 0) picked.splice(at, 1);
        compareButton.disabled = !(picked.length === 2 && picked[0].spec === picked[1].spec);
      } }) },
      { key: "spec", label: "spec" },
      { key: "run_id", label: "run", show: (r) => r.run_id + (r.archived ? " (archived)" : "") },
      { key: "started_at", label: "started" },
      { key: "status", label: "status" },
      { key: "experiments", label: "experiments", num: true },
      { key: "kept", label: "kept", num: true },
      { key: "primary", label: "primary: baseline → best", sort: (r) => r.primary.best,
        show: (r) => (r.primary.name || "primary") + ": " + num(r.primary.baseline) + " → " + num(r.primary.best) },
      { key: "cost_usd", label: "cost", num: true, show: (r) => usd(r.cost_usd) },
    ];
    const table = sortableTable("runs", columns, data.runs,
      (r) => { location.hash = "#/run/" + seg(r.spec) + "/" + seg(r.run_id); });
    put(
      el("h1", {}, "Runs"),
      data.runs.length ? table : el("p", { class: "muted" }, "no run is on record in this repository yet"),
      stored ? null : el("p", {}, compareButton, el("span", { class: "muted" }, "  (two runs of one spec)")),
      data.unreadable.length ? el("p", { class: "error" }, "logs that cannot be read: " + data.unreadable.join("; ")) : null,
    );
  }

  function metricsTable(status) {
    return el("table", { id: "metrics" },
      el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", {}, "role"), el("th", { class: "num" }, "baseline"),
        el("th", { class: "num" }, "best"), el("th", { class: "num" }, "change"))),
      el("tbody", {}, status.metrics.map((m) => {
        const change = m.baseline !== null && m.best !== null && m.baseline !== 0
          ? ((m.best - m.baseline) / Math.abs(m.baseline) * 100).toFixed(1) + "%" : "–";
        return el("tr", {}, el("td", {}, m.name), el("td", {}, m.role), el("td", { class: "num" }, num(m.baseline)),
          el("td", { class: "num" }, num(m.best)), el("td", { class: "num" }, change));
      })));
  }

  function stopConditions(stop) {
    return el("div", { id: "stop-conditions" }, Object.entries(stop).map(([name, s]) => {
      const ratio = typeof s.limit === "number" && s.limit > 0 && typeof s.current === "number"
        ? Math.min(1, s.current / s.limit) : null;
      return el("div", {}, el("strong", { class: s.met ? "met" : null }, name.replace(/_/g, " ")), ": ", s.text,
        s.met ? el("span", { class: "met" }, " (met)") : null,
        ratio === null ? null : el("div", { class: "bar" }, el("span", { style: "width:" + (ratio * 100).toFixed(1) + "%" })));
    }));
  }

  function approvalsBlock(spec, run, status) {
    const waiting = Object.entries(status.waiting_for_approval || {});
    if (!waiting.length) return el("p", { class: "muted", id: "approvals" }, "nothing waits for approval");
    const message = el("p", { id: "approval-result" });
    async function decide(dep, approve) {
      try {
        const r = await fetch(withToken(runBase(spec, run) + "/approvals"), {
          method: "POST",
          headers: { "content-type": "application/json", "x-optimize-token": config.token || "" },
          body: JSON.stringify({ deps: [dep], approve }),
        });
        const body = await r.json();
        if (!r.ok) throw new Error(body.error);
        message.className = "met";
        message.textContent = (approve ? "approved: " : "denied: ") + body.recorded.join(", ") + "; next: " + body.next;
        refreshSoon();
      } catch (e) { message.className = "error"; message.textContent = String(e.message || e); }
    }
    const canDecide = !stored && !status.archived;
    return el("div", { id: "approvals" }, waiting.map(([dep, who]) => el("div", { class: "card" },
      el("strong", {}, dep), " ",
      canDecide ? el("button", { class: "approve", "data-dep": dep, onclick: () => decide(dep, true) }, "approve") : null, " ",
      canDecide ? el("button", { class: "deny", "data-dep": dep, onclick: () => decide(dep, false) }, "deny") : null,
      el("ul", {}, who.map((w) => el("li", {}, w))))), message);
  }

  const filters = { outcome: "", category: "", variant: "", text: "" };
  function experimentsBlock(spec, run, rows) {
    const holder = el("div");
    const values = (key) => [...new Set(rows.map((r) => r[key]).filter((v) => v !== null && v !== undefined))].sort();
    const select = (key) => el("select", { id: "filter-" + key, onchange: (ev) => { filters[key] = ev.target.value; draw(); } },
      el("option", { value: "" }, "every " + key), values(key).map((v) => el("option", { value: v, selected: filters[key] === v }, v)));
    const text = el("input", { id: "filter-text", type: "search", placeholder: "hypothesis contains…", value: filters.text,
      oninput: (ev) => { filters.text = ev.target.value; draw(); } });
    const columns = [
      { key: "iteration", label: "#", num: true },
      { key: "batch", label: "batch", num: true },
      { key: "hypothesis", label: "hypothesis" },
      { key: "category", label: "category" },
      { key: "variant", label: "variant" },
      { key: "outcome", label: "outcome", show: (r) => outcome(r.outcome) },
      { key: "primary", label: "primary", num: true, show: (r) => num(r.primary) },
      { key: "primary_delta", label: "delta" },
      { key: "samples", label: "samples", num: true },
      { key: "cost_usd", label: "cost", num: true, show: (r) => usd(r.cost_usd) },
    ];
    function draw() {
      const needle = filters.text.toLowerCase();
      const shown = rows.filter((r) => (!filters.outcome || r.outcome === filters.outcome)
        && (!filters.category || r.category === filters.category)
        && (!filters.variant || r.variant === filters.variant)
        && (!needle || r.hypothesis.toLowerCase().includes(needle)));
      holder.replaceChildren(
        el("p", { class: "muted" }, shown.length + " of " + rows.length + " experiments"),
        sortableTable("experiments", columns, shown, (r) => {
          location.hash = "#/run/" + seg(spec) + "/" + seg(run) + "/" + r.iteration;
        }));
    }
    draw();
    return el("div", {}, el("div", { class: "filters" }, select("outcome"), select("category"), select("variant"), text), holder);
  }

  function variantsBlock(variants) {
    if (!variants || !variants.length) return null;
    return el("div", {}, el("h2", {}, "Variants"), el("table", { id: "variants" },
      el("thead", {}, el("tr", {}, ["variant", "tried", "chosen", "kept", "mean kept delta", "cost", "cost per kept"].map((h) => el("th", {}, h)))),
      el("tbody", {}, variants.map((v) => el("tr", {}, el("td", {}, v.name), el("td", { class: "num" }, v.tried),
        el("td", { class: "num" }, v.chosen), el("td", { class: "num" }, v.kept), el("td", { class: "num" }, num(v.mean_kept_delta)),
        el("td", { class: "num" }, usd(v.cost_usd)), el("td", { class: "num" }, usd(v.cost_per_kept_usd)))))));
  }

  function occupancyBlock(o) {
    if (!o) return el("p", { class: "muted" }, "no time spent yet");
    const use = (label, u) => el("div", {}, label + ": " + u.slots + " slots, " + (u.utilization * 100).toFixed(0) + "% busy",
      el("div", { class: "bar" }, el("span", { style: "width:" + (u.utilization * 100).toFixed(1) + "%" })));
    return el("div", { id: "occupancy" }, use("implement", o.implement), use("measure", o.measure),
      el("div", { class: "muted" }, "overall " + (o.utilization * 100).toFixed(0) + "% of capacity over " + (o.active_s / 3600).toFixed(2) + " h"));
  }

  async function runPage(spec, run) {
    const status = await api(runBase(spec, run));
    const p = status.primary;
    const counts = Object.entries(status.outcomes).map(([o, n]) => el("span", { class: "chip" }, outcome(o), " " + n));
    const same = live && live.spec === spec && live.run === run;
    const eventsBox = same ? live.box : el("div", { id: "events" });
    const statusLine = same ? live.line : el("div", { id: "status-line", class: "status-line" }, status.live_status_line || "");
    put(
      el("p", {}, el("a", { href: "#/" }, "← runs")),
      el("h1", {}, spec + " — run " + status.run_id),
      el("p", { id: "run-status" }, status.run_status, "  ·  started " + status.started_at),
      status.running || !stored ? statusLine : null,
      el("div", { class: "grid" },
        el("div", { class: "card" }, el("h2", {}, "Best vs baseline"),
          el("p", {}, el("strong", {}, p.name), " (" + p.direction + "): " + num(p.baseline) + " → " + num(p.best),
            p.best_iteration ? " at #" + p.best_iteration : ""),
          metricsTable(status)),
        el("div", { class: "card" }, el("h2", {}, "Outcomes"), el("div", { class: "chips", id: "outcomes" }, counts),
          el("h2", {}, "Cost"), el("p", { id: "cost" }, usd(status.cost_usd) + " — " + status.stop_conditions.budget.text),
          el("h2", {}, "Slots"), occupancyBlock(status.occupancy)),
        el("div", { class: "card" }, el("h2", {}, "Stop conditions"), stopConditions(status.stop_conditions),
          status.stopped_because ? el("p", { class: "muted" }, "stopped because: " + status.stopped_because) : null),
      ),
      el("h2", {}, "Progress"),
      el("div", { class: "chart" }, el("img", { id: "chart", alt: "progress of " + p.name, src: chartSrc(runBase(spec, run) + "/chart.svg?v=" + status.experiments) })),
      el("h2", {}, "Waiting for approval"), approvalsBlock(spec, run, status),
      el("h2", {}, "Experiments"), experimentsBlock(spec, run, status.experiment_rows),
      variantsBlock(status.variants),
      stored ? null : el("h2", {}, "Events"), stored ? null : eventsBox,
    );
    if (!stored && !same) follow(spec, run, eventsBox, statusLine);
  }

  // Server-sent events: new lines of events.jsonl, the status line, and a
  // nudge when the log changed (the tables are read again).
  function follow(spec, run, box, statusLine) {
    const source = new EventSource(withToken(runBase(spec, run) + "/events"));
    live = { spec, run, box, line: statusLine, source };
    source.addEventListener("event", (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (_) { return; }
      const clock = (e.time || "").slice(11, 19);
      const text = e.text || e.event + " " + JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => k !== "time" && k !== "event")));
      const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      box.append(el("div", { class: "event", "data-event": e.event }, "[" + clock + "] " + text));
      while (box.childElementCount > 500) box.firstElementChild.remove();
      if (stick) box.scrollTop = box.scrollHeight;
    });
    source.addEventListener("status", (m) => { statusLine.textContent = m.data; });
    source.addEventListener("log", refreshSoon);
    source.addEventListener("reset", () => { box.replaceChildren(); refreshSoon(); });
  }

  // Draws the run page on screen again from fresh answers; its events box
  // and stream stay as they are.
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      const r = parseRoute();
      if (r.page === "run") runPage(r.spec, r.run).catch(() => {});
    }, 300);
  }

  function highlight(code) {
    const parts = [];
    const re = /(\/\/.*$|#.*$|\/\*.*?\*\/)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|\b(\d+(?:\.\d+)?)\b|\b(fn|let|mut|pub|use|impl|struct|enum|match|if|else|for|while|loop|return|def|class|import|from|as|const|var|function|async|await|in|not|and|or|None|True|False|null|true|false|self|static|int|float|double|void|char|unsigned|include|lambda|with|yield|try|except|catch|throw|new)\b/gm;
    let last = 0, m;
    while ((m = re.exec(code)) !== null) {
      if (m.index > last) parts.push(code.slice(last, m.index));
      const cls = m[1] ? "tok-com" : m[2] ? "tok-str" : m[3] ? "tok-num" : "tok-kw";
      parts.push(el("span", { class: cls }, m[0]));
      last = m.index + m[0].length;
      if (m[0].length === 0) re.lastIndex++;
    }
    parts.push(code.slice(last));
    return parts;
  }

  function diffView(diff) {
    if (!diff) return el("p", { class: "muted" }, "no diff is on record");
    return el("pre", { class: "diff", id: "diff" }, diff.split("\n").map((line) => {
      if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) return el("span", { class: "file" }, line);
      if (line.startsWith("@@")) return el("span", { class: "hunk" }, line);
      const cls = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : null;
      return el("span", { class: cls, style: cls ? null : "display:block" }, line.slice(0, 1), highlight(line.slice(1)));
    }));
  }

  async function experimentPage(spec, run, n) {
    const base = runBase(spec, run) + "/experiments/" + n;
    const x = await api(base);
    const entry = x.entry || {};
    const samples = entry.samples ? Object.entries(entry.samples) : [];
    const outputBox = el("pre", { id: "output", hidden: true });
    const outputName = el("h3", { id: "output-name" });
    async function showFile(name) {
      outputName.textContent = name;
      try { outputBox.textContent = await text(base + "/files/" + seg(name)); } catch (e) { outputBox.textContent = String(e.message || e); }
      outputBox.hidden = false;
    }
    const files = (x.files || []).map((name) => el("button", { "data-file": name, onclick: () => showFile(name) }, name));
    // The measurement's own output first, as a person would look.
    const first = (x.files || []).find((n) => /^measure.*stdout/.test(n)) || (x.files || []).find((n) => n !== "diff.patch");
    put(
      el("p", {}, el("a", { href: "#/run/" + seg(spec) + "/" + seg(run) }, "← run " + x.run_id)),
      el("h1", {}, "#" + x.iteration + " " + x.hypothesis),
      el("dl", { class: "kv", id: "experiment" },
        el("dt", {}, "outcome"), el("dd", {}, outcome(x.outcome)),
        el("dt", {}, "reason"), el("dd", {}, x.reason || "–"),
        el("dt", {}, "category"), el("dd", {}, x.category),
        el("dt", {}, "batch"), el("dd", {}, x.batch + (x.batch_best_iteration ? " (its best: #" + x.batch_best_iteration + ")" : "")),
        entry.variant ? [el("dt", {}, "variant"), el("dd", {}, entry.variant)] : null,
        x.branch ? [el("dt", {}, "branch"), el("dd", {}, x.branch)] : null,
        entry.primary_ci ? [el("dt", {}, "interval"), el("dd", {}, "[" + num(entry.primary_ci[0]) + ", " + num(entry.primary_ci[1]) + "]")] : null,
        entry.sample_count ? [el("dt", {}, "samples"), el("dd", {}, entry.sample_count)] : null),
      el("h2", {}, "Metrics"),
      el("table", { id: "experiment-metrics" }, el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "this"),
        el("th", { class: "num" }, "best of its batch"), el("th", { class: "num" }, "baseline"))),
        el("tbody", {}, x.metrics.map((m) => el("tr", {}, el("td", {}, m.name), el("td", { class: "num" }, num(m.value)),
          el("td", { class: "num" }, num(m.batch_best)), el("td", { class: "num" }, num(m.baseline)))))),
      samples.length ? [el("h2", {}, "Samples"), el("dl", { class: "kv" }, samples.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v.map(num).join(", "))]))] : null,
      el("h2", {}, "Learnings"), el("p", {}, x.learnings || "–"),
      x.error_message ? [el("h2", {}, "Error"), el("pre", {}, x.error_message)] : null,
      el("h2", {}, "Diff"), diffView(x.diff),
      el("h2", {}, "Output and transcripts"),
      files.length ? el("div", { class: "chips" }, files) : el("p", { class: "muted" }, "no output is on record"),
      outputName, outputBox,
    );
    if (first) await showFile(first);
  }

  async function text(path) {
    if (stored) {
      if (!(path in stored)) throw new Error("not included in this report");
      return stored[path];
    }
    const r = await fetch(withToken(path));
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
    return r.text();
  }

  async function comparePage(spec, a, b) {
    const c = await api("/api/compare/" + seg(spec) + "/" + seg(a) + "/" + seg(b));
    const side = (label, r) => el("div", { class: "card" }, el("h2", {}, label + ": run " + r.run_id),
      el("p", {}, r.status + " · " + r.experiments + " experiments · " + usd(r.cost_usd)),
      el("p", {}, "kept: " + (r.kept.length ? r.kept.join("; ") : "nothing")));
    put(
      el("h1", {}, spec + ": " + a + " vs " + b),
      el("table", { id: "compare" }, el("thead", {}, el("tr", {}, ["metric", "A baseline", "A best", "B baseline", "B best", "B − A"].map((h) => el("th", {}, h)))),
        el("tbody", {}, c.metrics.map((m) => el("tr", {}, el("td", {}, m.name), el("td", { class: "num" }, num(m.a.baseline)),
          el("td", { class: "num" }, num(m.a.best)), el("td", { class: "num" }, num(m.b.baseline)), el("td", { class: "num" }, num(m.b.best)),
          el("td", { class: "num" }, num(m.best_difference)))))),
      el("div", { class: "grid" }, side("A", c.a), side("B", c.b)),
      c.chart_svg ? el("div", { class: "chart" }, el("img", { alt: "both runs", src: "data:image/svg+xml;charset=utf-8," + seg(c.chart_svg) })) : null,
    );
  }

  async function searchPage(q) {
    const r = await api("/api/search?q=" + seg(q));
    put(el("h1", {}, "Experiments matching “" + q + "”"),
      r.error ? el("p", { class: "error" }, r.error) : null,
      el("table", { id: "search-hits" }, el("tbody", {}, (r.hits || []).map((h) => el("tr", { class: "clickable",
        onclick: () => { location.hash = "#/run/" + seg(h.spec) + "/" + seg(h.run_id) + "/" + h.iteration; } },
        el("td", {}, h.spec + " " + h.run_id), el("td", {}, "#" + h.iteration), el("td", {}, h.hypothesis),
        el("td", {}, outcome(h.outcome)), el("td", {}, h.learnings || ""))))));
  }

  function parseRoute() {
    const parts = (location.hash || config.start || "#/").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    if (parts[0] === "run" && parts.length === 3) return { page: "run", spec: parts[1], run: parts[2] };
    if (parts[0] === "run" && parts.length === 4) return { page: "experiment", spec: parts[1], run: parts[2], n: parts[3] };
    if (parts[0] === "compare" && parts.length === 4) return { page: "compare", spec: parts[1], a: parts[2], b: parts[3] };
    if (parts[0] === "search") return { page: "search", q: parts.slice(1).join("/") };
    return { page: "runs" };
  }

  async function route() {
    const r = parseRoute();
    if (live && !(r.page === "run" && live.spec === r.spec && live.run === r.run)) { live.source.close(); live = null; }
    try {
      if (r.page === "run") await runPage(r.spec, r.run);
      else if (r.page === "experiment") await experimentPage(r.spec, r.run, r.n);
      else if (r.page === "compare") await comparePage(r.spec, r.a, r.b);
      else if (r.page === "search") await searchPage(r.q);
      else await runsPage();
      document.body.dataset.ready = r.page;
    } catch (e) { fail(e); document.body.dataset.ready = "error"; }
  }

  document.getElementById("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (stored) return;
    location.hash = "#/search/" + seg(document.getElementById("search-text").value);
  });
  if (stored) document.getElementById("search-text").disabled = true;
  window.addEventListener("hashchange", route);
  route();
})();
