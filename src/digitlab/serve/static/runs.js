// The runs page: the table (as `digitlab compare`), and per run its curves, confusion matrix and mistakes.
"use strict";
const fmt = (v, d) => (v == null ? "-" : typeof v === "number" ? v.toFixed(d) : v);

async function load() {
  const body = await (await fetch("/api/runs")).json();
  const rows = body.runs.sort((a, b) => (b.best_test_acc || 0) - (a.best_test_acc || 0));
  const tbody = document.getElementById("rows");
  tbody.replaceChildren();
  if (!rows.length) document.getElementById("empty").textContent = "No runs yet: `digitlab train` makes one.";
  for (const r of rows) {
    const tr = document.createElement("tr");
    if (r.error) {  // a damaged run folder: listed, with what is wrong, and nothing to open
      for (const c of [r.run, r.error]) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
      tr.lastChild.colSpan = 11;
      tr.className = "damaged";
      tbody.append(tr);
      continue;
    }
    const cells = [r.run, r.status, r.recipe, r.model, r.params == null ? "-" : r.params.toLocaleString(), r.epochs,
      fmt(r.best_test_acc, 2), fmt(r.final_test_acc, 2), fmt(r.train_seconds, 1),
      r.images_per_second == null ? "-" : Math.round(r.images_per_second).toLocaleString(),
      r.data + (r.fallback ? " (sample)" : ""), r.date];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    tr.firstChild.className = "name";
    tr.firstChild.title = r.run;
    tr.addEventListener("click", () => detail(r.run, tr));
    tbody.append(tr);
  }
  const first = rows.find((r) => !r.error);
  if (first) detail(first.run, tbody.querySelector("tr:not(.damaged)"));
}

async function detail(name, tr) {
  document.querySelectorAll("tr.sel").forEach((t) => t.classList.remove("sel"));
  tr.classList.add("sel");
  const run = await (await fetch(`/api/runs/${encodeURIComponent(name)}`)).json();
  const box = document.getElementById("detail");
  box.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = `${run.run}: ${run.model}, best ${fmt(run.best_test_acc, 2)}%`;
  box.append(h);
  const names = { "loss.png": "training curves", "confusion-test.png": "confusion matrix", "mistakes-test.png": "worst mistakes" };
  for (const [file, url] of Object.entries(run.figures)) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = names[file] || file;
    const img = document.createElement("img");
    img.src = url;
    img.alt = names[file] || file;
    box.append(p, img);
  }
  if (!run.figures["confusion-test.png"]) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = `confusion matrix and worst mistakes: run \`digitlab eval ${run.run}\``;
    box.append(p);
  }
}
load();
