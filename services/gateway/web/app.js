// The ragmesh page: ask (streamed answer, citations that open their source, feedback), documents (upload with a
// job's progress, list, delete) and, for admin keys, operators (review queue, costs, budgets, caches, quarantine,
// keys). Plain JavaScript against the public API with the key kept in this browser: no build step.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const params = new URLSearchParams(location.search);
const MIN_TYPING_MS = 800;
// How long the API may take to start answering before the page says it is offline (?timeout_ms= for tests).
const OFFLINE_AFTER_MS = Number(params.get("timeout_ms")) || 10000;
let key = localStorage.getItem("ragmesh.key") || "";
let lastAnswerId = "";

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, options = {}) {
  const headers = { "X-API-Key": key, ...(options.headers || {}) };
  let body = options.body;
  if (body && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const reply = await fetch(path, { ...options, headers, body });
  if (!reply.ok) {
    let detail = reply.statusText;
    try { detail = (await reply.json()).detail || detail; } catch (_) { /* not JSON */ }
    const error = new Error(`${reply.status}: ${detail}`);
    error.status = reply.status;
    throw error;
  }
  return reply.status === 204 ? null : reply.json();
}

// ---- tabs and key
function select(tab) {
  for (const button of document.querySelectorAll(".tab")) button.setAttribute("aria-selected", button.dataset.tab === tab);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== tab;
  if (tab === "documents") loadDocuments().catch((e) => showError(e.message));
  if (tab === "operators") loadOperators().catch((e) => showError(e.message));
}

async function useKey(value) {
  key = value;
  localStorage.setItem("ragmesh.key", key);
  showError("");
  // The operators' tab is for admin keys: the review queue answers them only.
  let admin = false;
  if (key) {
    try { await api("/v1/admin/reviews?limit=1"); admin = true; } catch (_) { admin = false; }
  }
  $('.tab[data-tab="operators"]').hidden = !admin;
}

// ---- ask
function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function* events(buffer) {
  // Complete server-sent events in `buffer.text`, leaving a partial one for the next read.
  let end;
  while ((end = buffer.text.indexOf("\n\n")) >= 0) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end + 2);
    let name = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) yield [name, data.join("\n")];
  }
}

function resetAnswer() {
  for (const id of ["#answer", "#citations", "#collection", "#feedback-note"]) $(id).replaceChildren();
  for (const id of ["#notice", "#rephrase", "#feedback", "#source"]) $(id).hidden = true;
  showError("");
}

async function ask(question) {
  resetAnswer();
  const started = Date.now();
  $("#typing").hidden = false;
  const controller = new AbortController();
  const offline = setTimeout(() => controller.abort(), OFFLINE_AFTER_MS);
  let reply;
  try {
    reply = await fetch("/v1/query", {
      method: "POST",
      headers: { "X-API-Key": key, "Content-Type": "application/json" },
      body: JSON.stringify({ question, stream: true }),
      signal: controller.signal,
    });
  } catch (_) {
    clearTimeout(offline);
    $("#typing").hidden = true;
    const seconds = Math.round(OFFLINE_AFTER_MS / 1000);
    showError(`The service did not answer within ${seconds} s. You may be offline; try again in a moment.`);
    return;
  }
  clearTimeout(offline);
  if (!reply.ok) {
    $("#typing").hidden = true;
    let detail = reply.statusText;
    try { detail = (await reply.json()).detail || detail; } catch (_) { /* not JSON */ }
    showError(`${reply.status}: ${detail}`);
    return;
  }
  const reader = reply.body.getReader();
  const decoder = new TextDecoder();
  const buffer = { text: "" };
  const answer = $("#answer");
  let typing = true;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    // sse-starlette ends lines with \r\n: one kind of line end from here on.
    buffer.text += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    for (const [name, data] of events(buffer)) {
      if (typing) {
        // The indicator stays at least MIN_TYPING_MS, however fast the first words come.
        await sleep(Math.max(0, MIN_TYPING_MS - (Date.now() - started)));
        $("#typing").hidden = true;
        typing = false;
      }
      const payload = JSON.parse(data);
      if (name === "token") answer.append(payload.text);
      else if (name === "citations") showCitations(payload);
      else if (name === "done") finish(payload);
      else if (name === "error") showError(payload.detail);
    }
  }
  $("#typing").hidden = true;
}

function finish(response) {
  lastAnswerId = response.answer_id;
  $("#feedback").hidden = !lastAnswerId;
  if (response.is_confused) {
    const notice = $("#notice");
    notice.textContent = "I'm not sure, but here is what I found…";
    notice.hidden = false;
  }
  if (response.collection) showCollection(response.collection);
  else if (!response.no_context && response.confidence < 0.4) $("#rephrase").hidden = false;
}

function showCitations(citations) {
  const list = $("#citations");
  list.replaceChildren();
  for (const citation of citations) {
    const quote = citation.quotes.length ? citation.quotes[0] : { text: citation.quote, char_start: citation.char_start, char_end: citation.char_end };
    list.append(el("li", { "data-cited": citation.cited },
      el("strong", { text: `[${citation.index}] ${citation.title || citation.document_id}` }), " ",
      el("button", { class: "quote", text: `“${citation.quote || quote.text}”`, onclick: () => openSource(citation, quote) }),
    ));
  }
}

async function openSource(citation, quote) {
  try {
    const doc = await api(`/v1/documents/${encodeURIComponent(citation.document_id)}/text`);
    // Offsets count Unicode code points, as the API's do.
    const points = Array.from(doc.text);
    const before = points.slice(0, quote.char_start).join("");
    const marked = points.slice(quote.char_start, quote.char_end).join("");
    const after = points.slice(quote.char_end).join("");
    const mark = el("mark", { text: marked });
    $("#source-text").replaceChildren(before, mark, after);
    $("#source-title").textContent = citation.title || citation.document_id;
    $("#source").hidden = false;
    mark.scrollIntoView({ block: "center" });
  } catch (e) { showError(e.message); }
}

async function giveFeedback(thumb) {
  try {
    await api(`/v1/answers/${lastAnswerId}/feedback`, { method: "POST", body: { thumb } });
    $("#feedback-note").textContent = "Thanks, noted.";
  } catch (e) { showError(e.message); }
}

// ---- tables and charts
function table(columns, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { text: c })))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", { text: String(cell) }))))));
}

function chart(kind, labels, values) {
  // Bars for categories, a line for time; plain SVG, scaled to the largest value.
  const ns = "http://www.w3.org/2000/svg";
  const height = 160, top = Math.max(1, ...values), step = Math.min(90, 600 / Math.max(1, values.length));
  const width = Math.max(step * values.length, 200);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 30}`);
  svg.setAttribute("width", width);
  const points = [];
  values.forEach((value, i) => {
    const h = (value / top) * height, x = i * step;
    if (kind === "bar") {
      const bar = document.createElementNS(ns, "rect");
      for (const [k, v] of Object.entries({ x: x + 4, y: height - h, width: Math.max(2, step - 8), height: h })) bar.setAttribute(k, v);
      svg.append(bar);
    } else points.push(`${x + step / 2},${height - h}`);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x + 4);
    label.setAttribute("y", height + 16);
    label.textContent = `${labels[i]} (${value})`;
    svg.append(label);
  });
  if (kind !== "bar") {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }
  return svg;
}

function showCollection(found) {
  const box = $("#collection");
  box.replaceChildren(table(found.columns, found.rows));
  const c = found.chart;
  if (c.kind === "bar" || c.kind === "line") box.append(chart(c.kind, c.labels, c.series[0].values));
}

// ---- documents
async function loadDocuments() {
  const listed = await api("/v1/documents?limit=200");
  $("#document-list tbody").replaceChildren(...listed.documents.map((d) => el("tr", { "data-id": d.document_id },
    el("td", { text: d.metadata.title || d.filename }), el("td", { text: d.metadata.source }),
    el("td", { text: d.chunk_count }), el("td", { text: d.created_at.slice(0, 19).replace("T", " ") }),
    el("td", {}, el("button", { text: "Delete", onclick: () => removeDocument(d.document_id) })))));
}

async function removeDocument(documentId) {
  try {
    await api(`/v1/documents/${encodeURIComponent(documentId)}`, { method: "DELETE" });
    await loadDocuments();
  } catch (e) { showError(e.message); }
}

async function upload() {
  const form = new FormData();
  for (const file of $("#files").files) form.append("file", file);
  const urls = $("#urls").value.trim();
  if (urls) form.append("urls", urls);
  if (!urls && !$("#files").files.length) return showError("Choose files or give URLs to upload.");
  form.append("tags", $("#tags").value);
  form.append("batch", "true");
  try {
    const job = await api("/v1/documents", { method: "POST", body: form });
    $("#job").hidden = false;
    await follow(job.job_id);
    await loadDocuments();
  } catch (e) { showError(e.message); }
}

async function follow(jobId) {
  for (;;) {
    const job = await api(`/v1/jobs/${jobId}`);
    $("#job-progress").max = Math.max(1, job.total);
    $("#job-progress").value = job.finished;
    const counts = Object.entries(job.counts).map(([state, n]) => `${n} ${state}`).join(", ");
    $("#job-state").textContent = `${job.finished} of ${job.total} finished${counts ? ` (${counts})` : ""}`;
    if (job.done) return job;
    await sleep(400);
  }
}

// ---- operators
async function loadOperators() {
  const [reviews, usage, own, caches, held, keys] = await Promise.all([
    api("/v1/admin/reviews?status=open"), api("/v1/admin/usage"), api("/v1/usage"),
    api("/v1/admin/cache"), api("/v1/admin/quarantine"), api("/v1/admin/keys"),
  ]);
  $("#reviews").replaceChildren(...reviews.items.map((item) => el("li", { "data-answer": item.answer_id },
    el("div", { text: `Q: ${item.question ?? "(hashed)"}` }), el("div", { text: `A: ${item.answer}` }),
    el("small", { text: `${item.reasons.join(", ")} · confidence ${item.confidence ?? "–"}` }), " ",
    el("button", { text: "Right", onclick: (e) => label(item.answer_id, true, e.target) }),
    el("button", { text: "Wrong", onclick: (e) => label(item.answer_id, false, e.target) }))));
  const spenders = usage.top_spenders;
  $("#costs").replaceChildren(
    table(["tenant", "spender", "requests", "model calls", "cost (USD)"],
      spenders.map((s) => [s.tenant, s.spender || "(bootstrap)", s.requests, s.model_calls, s.cost_usd.toFixed(4)])),
    chart("bar", spenders.map((s) => s.spender || "(bootstrap)"), spenders.map((s) => s.requests)));
  $("#budgets tbody").replaceChildren(...own.budgets.map((b) => el("tr", {}, el("td", { text: b.scope }),
    el("td", { text: b.limit_usd }), el("td", { text: b.spent_usd.toFixed(4) }), el("td", { text: b.remaining_usd.toFixed(4) }))));
  // Hit rates from the usage ledger (requests answered from the answer cache), sizes from the caches themselves.
  const rates = usage.tenants.map((t) => [t.tenant, t.requests, t.cached, t.requests ? `${Math.round((100 * t.cached) / t.requests)}%` : "–"]);
  $("#caches").replaceChildren(table(["tenant", "requests", "from the cache", "hit rate"], rates),
    table(["layer", "entries"], Object.entries(caches.entries)));
  $("#quarantine").replaceChildren(...held.entries.map((q) => el("li", {},
    `${q.filename}: ${q.reason} (${q.kind}) `,
    q.kind === "held" ? el("button", { text: "Release", onclick: () => release(q.id) }) : "")));
  $("#keys tbody").replaceChildren(...keys.keys.map((k) => el("tr", {}, el("td", { text: k.name }),
    el("td", { text: k.prefix }), el("td", { text: k.scopes.join(" ") }), el("td", { text: k.user }),
    el("td", {}, el("button", { text: "Revoke", onclick: () => revoke(k.id) })))));
}

async function createKey() {
  const scopes = [...document.querySelectorAll("#key-create input[type=checkbox]:checked")].map((box) => box.value);
  try {
    const created = await api("/v1/admin/keys", { method: "POST", body: { name: $("#key-name").value.trim(), scopes } });
    $("#key-created").textContent = `New key (shown once): ${created.key}`;
    await loadOperators();
  } catch (e) { showError(e.message); }
}

async function label(answerId, correct, button) {
  try {
    await api(`/v1/admin/reviews/${answerId}/label`, { method: "POST", body: { correct } });
    button.parentElement.append(el("em", { text: " labelled" }));
  } catch (e) { showError(e.message); }
}

async function release(entryId) {
  try { await api(`/v1/admin/quarantine/${entryId}/release`, { method: "POST" }); await loadOperators(); } catch (e) { showError(e.message); }
}

async function revoke(keyId) {
  try { await api(`/v1/admin/keys/${keyId}`, { method: "DELETE" }); await loadOperators(); } catch (e) { showError(e.message); }
}

// ---- wiring
document.addEventListener("DOMContentLoaded", () => {
  $("#key").value = key;
  for (const button of document.querySelectorAll(".tab")) button.addEventListener("click", () => select(button.dataset.tab));
  $("#key-form").addEventListener("submit", (e) => { e.preventDefault(); useKey($("#key").value.trim()); });
  $("#ask-form").addEventListener("submit", (e) => { e.preventDefault(); ask($("#question").value.trim()); });
  $("#upload-form").addEventListener("submit", (e) => { e.preventDefault(); upload(); });
  $("#key-create").addEventListener("submit", (e) => { e.preventDefault(); createKey(); });
  for (const button of document.querySelectorAll("#feedback button")) button.addEventListener("click", () => giveFeedback(button.dataset.thumb));
  $("#source-close").addEventListener("click", () => { $("#source").hidden = true; });
  useKey(key);
});
