// The live page: stats and stream from the API's WebSocket snapshots, watched entities updated
// the moment the processor writes them, and the loan form. Everything shown is built from
// /live/contract (the feature contract), never from a list typed here.
"use strict";

const state = {
  contract: null,
  ws: null,
  watched: new Map(), // "entity|key" -> {entity, key, views: {view: {values, event_ts}}, pending: []|null}
  connected: false,
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const watchId = (entity, key) => `${entity}|${key}`;
const clock = (ms) => (ms ? new Date(ms).toISOString().slice(11, 23) : "–");
const stamp = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) + "Z" : "no row");
const millis = (v) => (v === null || v === undefined ? "–" : `${v >= 100 ? Math.round(v) : v.toFixed(1)} ms`);
function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(0)} h`;
  return `${(seconds / 86400).toFixed(0)} d`;
}

// -- WebSocket --------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/live/ws`);
  state.ws = ws;
  ws.onopen = () => {
    sendWatches();
    // Updates may have been missed while disconnected: read the watched values again.
    if (state.connected === false && state.watched.size) resyncAll();
  };
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => {
    state.connected = false;
    setStatus(false, "disconnected, retrying…");
    setTimeout(connect, 1000);
  };
}

function sendWatches() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  const watch = [...state.watched.values()].map((w) => ({ entity: w.entity, key: w.key }));
  state.ws.send(JSON.stringify({ watch }));
}

function onMessage(msg) {
  if (msg.type === "tick") onTick(msg);
  else if (msg.type === "update") onUpdate(msg, performance.timeOrigin + performance.now());
  else if (msg.type === "resync") resyncAll();
  else if (msg.type === "disabled") setStatus(false, "live feed disabled (CREDIT_ONLINE_UPDATES_CHANNEL is empty)");
}

function setStatus(ok, text) {
  const pill = $("status");
  pill.className = `pill ${ok ? "on" : "off"}`;
  pill.textContent = text;
}

// -- stats, chart, stream ---------------------------------------------------------------------

function onTick(msg) {
  state.connected = true;
  setStatus(msg.subscribed, msg.subscribed ? "live" : "API up, Redis feed unreachable");
  const s = msg.summary;
  $("rate").textContent = s.rate.toFixed(s.rate >= 100 ? 0 : 1);
  $("rate-by-view").textContent = Object.entries(s.rate_by_view)
    .map(([view, rate]) => `${view} ${rate.toFixed(1)}/s`).join(" · ");
  $("lag-p50").textContent = millis(s.lag_p50_ms);
  $("lag-p99").textContent = millis(s.lag_p99_ms);
  $("total").textContent = s.total.toLocaleString();
  drawChart($("chart"), msg.series);
  for (const [view, rows] of Object.entries(msg.recent)) renderStream(view, rows);
}

function renderStream(view, rows) {
  const body = document.querySelector(`#stream-views tbody[data-view="${view}"]`);
  if (!body) return;
  body.replaceChildren(...rows.map((r) => {
    const values = Object.entries(r.values).map(([k, v]) => `${k}=${v}`).join(" ");
    return el("tr", { "data-event-id": r.event_id },
      el("td", {}, clock(r.written_at)), el("td", { class: "key" }, r.key),
      el("td", { class: "num" }, millis(r.lag_ms)), el("td", { class: "values", title: values }, values));
  }));
}

function buildStream() {
  const root = $("stream-views");
  for (const view of state.contract.views) {
    const head = el("tr", {}, el("th", {}, "written"), el("th", {}, view.entity), el("th", {}, "lag"), el("th", {}, "values"));
    root.append(el("div", {}, el("h3", {}, view.name),
      el("table", {}, el("thead", {}, head), el("tbody", { "data-view": view.name }))));
  }
}

// -- watched entities -------------------------------------------------------------------------

async function watch(entity, keyText) {
  $("watch-error").hidden = true;
  const spec = state.contract.entities.find((e) => e.name === entity);
  const key = spec.kind === "int64" ? Number(keyText) : keyText.trim();
  const id = watchId(entity, key);
  if (state.watched.has(id)) return;
  // Subscribed before the read: an update landing meanwhile is buffered, then applied if newer.
  const item = { entity, key, views: null, pending: [] };
  state.watched.set(id, item);
  sendWatches();
  try {
    await readEntity(item);
  } catch (err) {
    state.watched.delete(id);
    sendWatches();
    $("watch-error").textContent = err.message;
    $("watch-error").hidden = false;
    return;
  }
  renderEntity(item);
}

async function readEntity(item) {
  const response = await fetch("/live/entities", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ entity: item.entity, key: item.key }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  const pending = item.pending || [];
  item.views = body.views;
  item.pending = null;
  for (const update of pending) applyUpdate(item, update.msg, update.at);
}

async function resyncAll() {
  for (const item of state.watched.values()) {
    if (item.views === null) continue;
    const before = JSON.stringify(item.views);
    await readEntity(item).catch(() => {});
    if (JSON.stringify(item.views) !== before) renderEntity(item);
  }
}

function onUpdate(msg, receivedAt) {
  const item = state.watched.get(watchId(msg.entity, msg.key));
  if (!item) return;
  if (item.pending) { item.pending.push({ msg, at: receivedAt }); return; }
  applyUpdate(item, msg, receivedAt);
}

function applyUpdate(item, msg, receivedAt) {
  const view = item.views[msg.view];
  // Feast keeps the newer row: an announcement not newer than what is shown changed nothing.
  if (!view || (view.event_ts !== null && msg.event_ts <= view.event_ts)) return;
  const old = view.values;
  view.values = msg.values;
  view.event_ts = msg.event_ts;
  view.last = { written_at: msg.written_at, lag_ms: msg.lag_ms, received_at: receivedAt, event_id: msg.event_id, old };
  renderEntity(item, msg.view);
}

function renderEntity(item, changedView) {
  const id = watchId(item.entity, item.key);
  let card = document.querySelector(`.entity[data-watch="${CSS.escape(id)}"]`);
  const remove = el("button", { class: "link", type: "button", onclick: () => unwatch(id) }, "stop watching");
  const fresh = el("div", { class: "entity", "data-watch": id, "data-entity": item.entity, "data-key": String(item.key) },
    el("div", { class: "entity-head" }, el("b", {}, `${item.entity} ${item.key}`), remove));
  for (const [name, view] of Object.entries(item.views)) {
    const meta = [`${name} · as of ${stamp(view.event_ts)}`];
    if (view.last) {
      meta.push(`written ${millis(view.last.lag_ms)} after the event`);
      meta.push(`on screen ${millis(view.last.received_at - view.last.written_at)} after the write`);
    }
    const rows = Object.entries(view.values).map(([feature, value]) => {
      const changed = view.last && name === changedView && view.last.old[feature] !== value;
      const cell = el("td", { class: changed ? "num changed" : "num", "data-view": name, "data-feature": feature },
        ...(changed ? [el("span", { class: "old" }, String(view.last.old[feature]))] : []), String(value ?? "–"));
      return el("tr", {}, el("td", {}, feature), cell);
    });
    const section = el("div", { "data-view": name }, el("div", { class: "meta" }, meta.join(" · ")),
      el("table", {}, el("tbody", {}, ...rows)));
    if (view.last) {
      section.setAttribute("data-event-id", view.last.event_id);
      section.setAttribute("data-written-at", String(view.last.written_at));
      section.setAttribute("data-received-at", String(view.last.received_at));
    }
    fresh.append(section);
  }
  if (card) card.replaceWith(fresh); else $("watched").prepend(fresh);
  // Stamped after the DOM holds the new value: what a test measures against the write time.
  if (changedView) fresh.querySelector(`[data-view="${changedView}"]`)
    .setAttribute("data-shown-at", String(performance.timeOrigin + performance.now()));
}

function unwatch(id) {
  state.watched.delete(id);
  document.querySelector(`.entity[data-watch="${CSS.escape(id)}"]`)?.remove();
  sendWatches();
}

function buildWatchForm() {
  const select = $("watch-entity");
  for (const e of state.contract.entities) select.append(el("option", { value: e.name }, e.name));
  $("watch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    watch(select.value, $("watch-key").value);
  });
}

// -- loan form --------------------------------------------------------------------------------

function fieldKind(spec) {
  const options = spec.anyOf ? spec.anyOf.filter((s) => s.type !== "null") : [spec];
  const main = options[0] || {};
  return { type: main.type, values: main.enum || spec.enum, nullable: !!spec.anyOf };
}

function buildLoanForm() {
  const form = $("loan-form");
  const { schema, example } = state.contract.loan_form;
  for (const [name, spec] of Object.entries(schema.properties)) {
    const kind = fieldKind(spec);
    let input;
    if (kind.values) {
      input = el("select", { name }, ...kind.values.map((v) => el("option", { value: v }, v)));
      input.value = example[name];
    } else {
      const numeric = kind.type === "integer" || kind.type === "number";
      input = el("input", { name, type: numeric ? "number" : "text", value: example[name] ?? "" });
      if (numeric) input.step = kind.type === "integer" ? "1" : "any";
      if (!kind.nullable) input.required = true;
    }
    input.dataset.kind = kind.type;
    form.append(el("label", { htmlFor: name }, name), input);
    input.id = name;
  }
  const watchBoth = el("button", { type: "button", class: "link" }, "watch this applicant");
  watchBoth.addEventListener("click", () => {
    for (const e of state.contract.entities) watch(e.name, String(form.elements[e.name].value));
  });
  form.append(el("span"), el("div", {}, el("button", { type: "submit", id: "loan-submit" }, "Decide"), watchBoth));
  form.addEventListener("submit", (event) => { event.preventDefault(); decide(form); });
}

async function decide(form) {
  const body = {};
  for (const input of form.querySelectorAll("input, select")) {
    const raw = input.value.trim();
    const numeric = input.dataset.kind === "integer" || input.dataset.kind === "number";
    body[input.name] = raw === "" ? null : numeric ? Number(raw) : raw;
  }
  $("loan-error").hidden = true;
  let response, result;
  try {
    response = await fetch(state.contract.loan_form.path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    result = await response.json();
  } catch (err) {  // the API is away, or answered something that is not JSON
    showLoanError([response ? `${response.status} ${response.statusText}` : `the API did not answer (${err.message})`]);
    return;
  }
  if (!response.ok) {
    showLoanError(errorLines(result.error || {}));
    return;
  }
  showDecision(result);
  // The log is appended by the stream processor a moment after the answer.
  setTimeout(loadRecentDecisions, RECENT_AFTER_DECISION_MS);
}

// -- recent decisions (the decision log) --------------------------------------------------------

const RECENT_REFRESH_MS = 5000;
const RECENT_AFTER_DECISION_MS = 1500;

async function loadRecentDecisions() {
  let response, result;
  try {
    response = await fetch("/live/decisions?limit=15");
    result = await response.json();
  } catch (err) {
    $("recent-error").textContent = `the decision log did not answer (${err.message})`;
    $("recent-error").hidden = false;
    return;
  }
  if (!response.ok) {
    $("recent-error").textContent = (result.error || {}).message || `${response.status}`;
    $("recent-error").hidden = false;
    return;
  }
  $("recent-error").hidden = true;
  const rows = result.decisions.map((d) => el("tr", { "data-request": d.request_id },
    el("td", {}, d.decided_at.replace("T", " ").slice(0, 23)),
    el("td", {}, d.request_id),
    el("td", {}, el("span", { class: `badge ${d.decision}` }, d.decision)),
    el("td", { class: "num" }, `${(d.probability_of_default * 100).toFixed(1)} %`),
    el("td", { class: "dim" }, d.model_version),
    el("td", {}, Object.entries(d.applicant).map(([k, v]) => `${k} ${v}`).join(", ")),
    el("td", {}, d.reasons === null ? "(needs features:read)" : (d.reasons[0] || "–"))));
  $("recent-decisions").querySelector("tbody").replaceChildren(...rows);
}

const STATUS_WORDS = { missing: "no row", stale: "only a stale row" };

// An API error as sentences: its message, then one line per detail; never raw JSON.
function errorLines(error) {
  const lines = [error.message || "the request failed"];
  for (const d of error.details || []) {
    if (d.field) lines.push(`${d.field}: ${d.message}`);
    else if (d.view) lines.push(`${d.view}: ${STATUS_WORDS[d.status] || d.status} for ${d.entity} ${d.key}`);
    else lines.push(Object.entries(d).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => `${k} ${v}`).join(", "));
  }
  return lines;
}

function showLoanError(lines) {
  $("decision-box").hidden = true;
  $("loan-error").replaceChildren(...lines.map((line) => el("li", {}, line)));
  $("loan-error").hidden = false;
}

function showDecision(result) {
  const badge = $("decision");
  badge.textContent = result.decision;
  badge.className = `badge ${result.decision}`;
  $("probability").textContent = `P(default) ${(result.probability_of_default * 100).toFixed(1)} % (reject at ≥ ${(result.decision_threshold * 100).toFixed(0)} %)`;
  $("decision-meta").textContent = `model ${result.model_version} · request ${result.request_id}`;
  $("warnings").replaceChildren(...result.warnings.map((w) => el("li", { class: "error" }, w)));
  // The principal reasons towards default (null when the session lacks features:read).
  $("reasons").replaceChildren(...(result.reasons || []).map((r) =>
    el("li", { "data-feature": r.feature }, `${r.phrase} `, el("span", { class: "dim" }, `+${r.contribution.toFixed(3)} log-odds`))));
  $("reasons-box").hidden = !(result.reasons && result.reasons.length);
  const rows = [];
  for (const [view, f] of Object.entries(result.features)) {
    if (f.values === null) {  // the key lacks features:read: statuses and ages only
      rows.push(el("tr", {}, el("td", {}, `${view} (${f.status})`), el("td", {}, "(values need features:read)"),
        el("td", { class: "num" }, "–"), el("td", { class: "num", title: f.event_timestamp || "" }, age(f.age_seconds))));
      continue;
    }
    for (const [feature, value] of Object.entries(f.values)) {
      rows.push(el("tr", {}, el("td", {}, `${view} (${f.status})`), el("td", {}, feature),
        el("td", { class: "num" }, String(value ?? "–")), el("td", { class: "num", title: f.event_timestamp || "" }, age(f.age_seconds))));
    }
  }
  $("decision-features").querySelector("tbody").replaceChildren(...rows);
  $("decision-box").hidden = false;
}

// -- start ------------------------------------------------------------------------------------

async function main() {
  const response = await fetch("/live/contract");
  if (response.status === 401) {  // the session ended: the server shows the sign-in page
    location.reload();
    return;
  }
  state.contract = await response.json();
  buildStream();
  buildWatchForm();
  buildLoanForm();
  loadRecentDecisions();
  setInterval(loadRecentDecisions, RECENT_REFRESH_MS);
  fetch("/readyz").then((r) => r.json()).then((r) => {
    if (r.checks) $("model").textContent = `model ${r.checks.model.detail}`;
  }).catch(() => {});
  connect();
}

main();
