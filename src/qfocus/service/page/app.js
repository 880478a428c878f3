// qfocus web page: ask a question about a pasted or uploaded document, stream the answer from
// POST /v1/summarize?stream=true (server-sent events over fetch), and highlight in the document the
// passages the model read (with page numbers for PDFs). No framework, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("ask-form"), fileInput = $("document-file"), drop = $("drop-zone");
let controller = null, strategies = {};

$("token").value = sessionStorage.getItem("qfocus-token") || "";

function headers() {
  const token = $("token").value.trim();
  sessionStorage.setItem("qfocus-token", token);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function loadStrategies() {
  try {
    const response = await fetch("/v1/strategies", { headers: headers() });
    if (!response.ok) throw await problem(response);
    const data = await response.json();
    const select = $("strategy");
    select.replaceChildren();
    for (const s of data.strategies) {
      strategies[s.name] = s.description;
      const option = new Option(s.name === data.default ? `${s.name} (default)` : s.name, s.name, false, s.name === data.default);
      select.append(option);
    }
    showStrategyHelp();
  } catch (error) {
    showError(`Could not list the strategies: ${error.message}`);
  }
}

function showStrategyHelp() { $("strategy-help").textContent = strategies[$("strategy").value] || ""; }
$("strategy").addEventListener("change", showStrategyHelp);
$("token").addEventListener("change", loadStrategies);

fileInput.addEventListener("change", () => {
  $("file-name").textContent = fileInput.files[0] ? `Selected: ${fileInput.files[0].name}` : "";
});
for (const kind of ["dragenter", "dragover"]) {
  drop.addEventListener(kind, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
for (const kind of ["dragleave", "drop"]) {
  drop.addEventListener(kind, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length) {
    fileInput.files = event.dataTransfer.files;
    fileInput.dispatchEvent(new Event("change"));
  }
});

async function problem(response) {
  let detail = `${response.status} ${response.statusText}`;
  try { const body = await response.json(); detail = `${body.detail} (${response.status} ${body.error})`; } catch (_) { /* not JSON */ }
  if (response.status === 429) detail += `; retry after ${response.headers.get("Retry-After")} s`;
  return new Error(detail);
}

function showError(message) { $("error").textContent = message; $("error").hidden = !message; }
function setStatus(text, done, total) {
  $("status-text").textContent = text;
  const bar = $("progress");
  bar.hidden = total === undefined;
  if (total !== undefined) { bar.max = Math.max(total, 1); bar.value = done; }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const query = $("query").value.trim();
  const file = fileInput.files[0];
  const text = $("document-text").value;
  if (!file && !text.trim()) { showError("Paste a document or choose a file first."); return; }
  if (!query) { showError("Write a query first."); $("query").focus(); return; }

  let body, extra = {};
  if (file) {
    body = new FormData();
    body.append("file", file);
    body.append("query", query);
    body.append("strategy", $("strategy").value);
    body.append("return_document", "true");
  } else {
    body = JSON.stringify({ document: text, query, strategy: $("strategy").value, return_document: true });
    extra = { "Content-Type": "application/json" };
  }
  $("answer").textContent = "";
  $("facts").replaceChildren();
  $("sources").replaceChildren();
  $("ask").disabled = true;
  $("stop").disabled = false;
  setStatus("sending ...");
  controller = new AbortController();
  let documentText = file ? "" : text, pages = null, finished = false;
  try {
    const response = await fetch("/v1/summarize?stream=true", { method: "POST", body, headers: { ...headers(), ...extra }, signal: controller.signal });
    if (!response.ok) throw await problem(response);
    for await (const [kind, data] of serverEvents(response.body)) {
      if (kind === "document") { documentText = data.text; pages = data.pages; renderDocument(documentText, pages, []); }
      else if (kind === "queued") setStatus(data.ahead ? `waiting: ${data.ahead} request(s) ahead` : "starting ...");
      else if (kind === "progress") setStatus(`${data.stage}: ${data.done.toLocaleString()} / ${data.total.toLocaleString()}`, data.done, data.total);
      else if (kind === "token") { $("answer").textContent += data.text; setStatus("writing the answer ..."); }
      else if (kind === "summary") { finished = true; showSummary(data, documentText, pages); }
      else if (kind === "error") { finished = true; showError(`${data.detail} (${data.status} ${data.error})`); setStatus(""); }
    }
    if (!finished) showError("The connection ended before the answer was complete.");
  } catch (error) {
    if (error.name === "AbortError") setStatus("stopped"); else { showError(error.message); setStatus(""); }
  } finally {
    $("ask").disabled = false;
    $("stop").disabled = true;
    controller = null;
  }
});

$("stop").addEventListener("click", () => controller && controller.abort());

// Server-sent events from a fetch body: yields [event, data] pairs.
async function* serverEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield [kind, JSON.parse(data)];
    }
  }
}

function showSummary(summary, text, pages) {
  $("answer").textContent = summary.summary;
  setStatus(`done in ${summary.seconds} s`);
  const facts = [
    ["strategy", summary.strategy], ["model", summary.model],
    ["read", `${summary.prompt_tokens.toLocaleString()} prompt tokens of a ${summary.document_tokens.toLocaleString()}-token document`],
    ["answer", `${summary.answer_tokens} tokens`],
  ];
  for (const [name, value] of facts) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = name; dd.textContent = value;
    $("facts").append(dt, dd);
  }
  const passages = summary.passages || [];
  renderDocument(text, pages, passages);
  passages.forEach((passage, index) => {
    const item = document.createElement("li");
    const where = passage.page ? `page ${[...new Set([passage.page[0], passage.page.at(-1)])].join("-")}` : `characters ${passage.start.toLocaleString()}-${passage.end.toLocaleString()}`;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "show";
    button.setAttribute("aria-label", `show passage ${index + 1} in the document`);
    button.addEventListener("click", () => focusMark(index));
    item.append(`${passage.reason || "passage"}, ${where} `, button);
    $("sources").append(item);
  });
}

// The document with <mark> around each passage read and a label at each page start.
function renderDocument(text, pages, passages) {
  const view = $("document-view");
  view.replaceChildren();
  const cuts = new Set([0, text.length]);
  for (const p of passages) { cuts.add(p.start); cuts.add(p.end); }
  for (const start of pages || []) cuts.add(start);
  const points = [...cuts].filter((x) => x >= 0 && x <= text.length).sort((a, b) => a - b);
  const pageAt = new Map((pages || []).map((start, i) => [start, i + 1]));
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i], points[i + 1]];
    if (pageAt.has(from)) {
      const label = document.createElement("span");
      label.className = "page-label";
      label.textContent = `page ${pageAt.get(from)}`;
      view.append(label);
    }
    const index = passages.findIndex((p) => p.start <= from && to <= p.end);
    const piece = text.slice(from, to);
    if (index >= 0) {
      const mark = document.createElement("mark");
      mark.dataset.passage = index;
      mark.title = `${passages[index].reason || "passage"} ${index + 1}`;
      mark.textContent = piece;
      view.append(mark);
    } else {
      view.append(piece);
    }
  }
}

function focusMark(index) {
  for (const m of document.querySelectorAll("mark.current")) m.classList.remove("current");
  const mark = document.querySelector(`mark[data-passage="${index}"]`);
  if (mark) { mark.classList.add("current"); mark.scrollIntoView({ block: "center" }); }
}

loadStrategies();
