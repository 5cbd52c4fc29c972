// The drawing page: pointer events (mouse, pen, touch) on a 280x280 canvas, debounced predictions while
// drawing, ten probability bars, and the 28x28 image the model actually sees.
"use strict";
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const answer = document.getElementById("answer");
const bars = document.getElementById("bars");
const errorBox = document.getElementById("error");
const input28 = document.getElementById("input28");
const modelSelect = document.getElementById("model");
const modelInfo = document.getElementById("modelinfo");
let drawing = false, last = null, timer = null, inFlight = null, dirty = false;
const EMPTY28 = input28.getAttribute("src");  // a black square until the model has seen something

// Long run names are shown shortened (start...end) so the menu keeps its width; the full name is its tooltip.
function shortName(name, max = 28) {
  return name.length <= max ? name : `${name.slice(0, max - 11)}...${name.slice(-8)}`;
}

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  answer.textContent = "?";
  bars.replaceChildren();
  errorBox.textContent = "";
  input28.src = EMPTY28;
  modelInfo.textContent = "";
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
}

function stroke(from, to, pressure) {
  ctx.strokeStyle = "#111";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = 18 * (pressure && pressure > 0 ? 0.6 + pressure * 0.8 : 1);
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  drawing = true;
  last = point(e);
  stroke(last, last, e.pressure);
  dirty = true;
  schedule();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  e.preventDefault();
  const p = point(e);
  stroke(last, p, e.pressure);
  last = p;
  schedule();
});
for (const ev of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(ev, () => { if (drawing) { drawing = false; schedule(0); } });
}

function schedule(delay = 120) {
  clearTimeout(timer);
  timer = setTimeout(() => { if (dirty) pad.toBlob((blob) => predict(blob), "image/png"); }, delay);
}

async function predict(blob) {
  if (inFlight) inFlight.abort();
  inFlight = new AbortController();
  const form = new FormData();
  form.append("file", blob, "drawing.png");
  const run = modelSelect.value ? `?run=${encodeURIComponent(modelSelect.value)}` : "";
  try {
    const res = await fetch(`/api/predict${run}`, { method: "POST", body: form, signal: inFlight.signal });
    const body = await res.json();
    if (!res.ok) { errorBox.textContent = body.detail || `error ${res.status}`; return; }
    show(body);
  } catch (err) {
    if (err.name !== "AbortError") errorBox.textContent = String(err);
  }
}

function show(result) {
  errorBox.textContent = "";
  answer.innerHTML = "";
  answer.append(result.label);
  const small = document.createElement("small");
  small.textContent = `${(100 * result.probability).toFixed(1)}%`;
  answer.append(small);
  bars.replaceChildren();
  result.probabilities.forEach((p, i) => {
    const label = document.createElement("div");
    label.textContent = result.classes[i];
    const bar = document.createElement("div");
    bar.className = "bar" + (i === result.prediction ? " best" : "");
    bar.dataset.testid = "bar";
    const fill = document.createElement("div");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const pct = document.createElement("div");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)}%`;
    bars.append(label, bar, pct);
  });
  input28.src = result.input;
  modelInfo.textContent = `model ${result.model} (run ${shortName(result.run, 40)})`;
  modelInfo.title = result.run;
}

async function loadRuns() {
  try {
    const res = await fetch("/api/runs");
    const body = await res.json();
    modelSelect.replaceChildren();
    if (!res.ok) { errorBox.textContent = body.detail || `error ${res.status}`; return; }
    for (const r of body.runs) {
      const opt = document.createElement("option");
      opt.value = r.run;
      const acc = r.best_test_acc == null ? "" : ` ${r.best_test_acc.toFixed(2)}%`;
      opt.textContent = `${shortName(r.run)} (${r.model || "?"}${acc})`;
      opt.title = r.run;
      if (r.error) { opt.disabled = true; opt.textContent = `${shortName(r.run)} (unreadable)`; }
      if (r.run === body.default) opt.selected = true;
      modelSelect.append(opt);
    }
    if (!body.runs.length) errorBox.textContent = body.default ? "" : "No trained runs yet: run `digitlab train` first.";
  } catch (err) { errorBox.textContent = String(err); }
}

function useFile(file) {
  if (!file) return;
  const img = new Image();
  img.onload = () => {
    clearPad();
    const s = Math.min(pad.width / img.width, pad.height / img.height);
    ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    URL.revokeObjectURL(img.src);
  };
  img.src = URL.createObjectURL(file);
  predict(file);
}

document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("file").addEventListener("change", (e) => useFile(e.target.files[0]));
modelSelect.addEventListener("change", () => { if (dirty) schedule(0); });
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); useFile(e.dataTransfer.files[0]); });
clearPad();
loadRuns();

// The Collect view (/collect, when the server runs with --collect DIR): press a digit to save the drawing as that
// digit (the server names the file by its content and writes it in DIR/<digit>/); counts per class; undo the last.
const collectCard = document.getElementById("collect");
const collectStatus = document.getElementById("collect-status");
const savePredicted = document.getElementById("save-predicted");
const undoButton = document.getElementById("undo");
let predictedIndex = null;

function showCounts(state) {
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  for (const c of state.classes) {
    const cell = document.createElement("div");
    cell.textContent = `${c}: ${state.counts[c] || 0}`;
    cell.dataset.cls = c;
    counts.append(cell);
  }
  document.getElementById("collect-where").textContent =
    `${state.total} saved (at most ${state.limits.max_per_class} a digit, ${state.limits.max_total} in all)`;
  undoButton.disabled = !state.can_undo;
}

function markPrediction(index) {
  predictedIndex = index;
  document.querySelectorAll("#labels button").forEach((b) => b.classList.toggle("predicted", Number(b.dataset.label) === index));
  document.getElementById("predicted-label").textContent = index == null ? "?" : String(index);
  savePredicted.disabled = index == null;
}

async function collectRequest(url, body) {
  const res = await fetch(url, { method: "POST", body });
  const answer = await res.json();
  if (!res.ok) { collectStatus.textContent = answer.detail || `error ${res.status}`; return null; }
  showCounts(answer);
  return answer;
}

function saveAs(label) {
  if (!dirty) { collectStatus.textContent = "draw a digit first"; return; }
  pad.toBlob(async (blob) => {
    const form = new FormData();
    form.append("file", blob, "drawing.png");
    const saved = await collectRequest(`/api/collect?label=${label}`, form);
    if (!saved) return;
    const moved = saved.relabelled_from != null ? `, relabelled from ${saved.relabelled_from}` : "";
    collectStatus.textContent = (saved.saved ? `saved as ${saved.label} (${saved.file})` : `already saved as ${saved.label}`) + moved;
    clearPad();
    markPrediction(null);
  }, "image/png");
}

async function loadCollect() {
  const onPage = location.pathname === "/collect";
  document.getElementById("nav-draw").classList.toggle("here", !onPage);
  document.getElementById("nav-collect").classList.toggle("here", onPage);
  if (!onPage) return;
  document.querySelector(".card.drawing").after(collectCard);  // beside the pad: draw, then press the digit
  collectCard.hidden = false;
  const res = await fetch("/api/collect");
  const state = await res.json();
  if (!state.enabled) {
    document.getElementById("collect-off").hidden = false;
    for (const id of ["labels", "save-predicted", "undo", "counts"]) document.getElementById(id).hidden = true;
    return;
  }
  const labels = document.getElementById("labels");
  state.classes.forEach((c, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = c;
    b.dataset.label = String(i);
    b.title = `save this drawing as ${c}`;
    b.addEventListener("click", () => saveAs(i));
    labels.append(b);
  });
  showCounts(state);
  // every answer the page shows marks the predicted digit: "Right" saves under it, any other digit corrects it
  const shown = show;
  show = (result) => { shown(result); markPrediction(result.prediction); };
}

savePredicted.addEventListener("click", () => { if (predictedIndex != null) saveAs(predictedIndex); });
undoButton.addEventListener("click", async () => {
  const undone = await collectRequest("/api/collect/undo", null);
  if (undone) collectStatus.textContent = undone.restored ? `moved ${undone.undone} back to ${undone.restored}` : `removed ${undone.undone}`;
});
loadCollect();
