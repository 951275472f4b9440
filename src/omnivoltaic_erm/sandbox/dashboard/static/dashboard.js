// The ERM sandbox dashboard: plain JavaScript over the JSON admin API (/admin).
"use strict";

const $ = (sel) => document.querySelector(sel);
const reveal = () => ($("#reveal").checked ? "reveal=codes" : "");
let filters = {};
let selected = null;

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function send(path, method, body) {
  return api(path, {
    method: method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
}

function cells(row, values) {
  for (const value of values) {
    const td = document.createElement("td");
    td.textContent = text(value);
    row.appendChild(td);
  }
  return row;
}

function passes(row) {
  for (const [key, wanted] of Object.entries(filters)) {
    if (!wanted) continue;
    if (key === "since") { if (row.at < Number(wanted)) return false; continue; }
    if (text(row[key]) !== wanted) return false;
  }
  return true;
}

// -- requests ------------------------------------------------------------------------

function addRequest(row) {
  if (!passes(row) || document.querySelector(`#requests tr[data-id="${row.id}"]`)) return;
  const tr = document.createElement("tr");
  tr.dataset.id = row.id;
  tr.dataset.operation = row.operation;
  if (row.status !== 200 || row.errors.length) tr.classList.add("failed");
  if (row.fault) tr.classList.add("fault");
  const time = new Date(row.at * 1000).toISOString().slice(11, 23);
  cells(tr, [row.id, time, row.operation, row.type, row.item, row.codeType, row.status,
    row.latencyMs, row.fault, row.session, row.requestId, row.errors.join(" ")]);
  tr.addEventListener("click", () => showRequest(row.id));
  $("#requests tbody").prepend(tr);
}

async function loadRequests() {
  const query = new URLSearchParams(filters).toString();
  const body = await api("/admin/requests?" + query);
  $("#requests tbody").innerHTML = "";
  body.requests.forEach(addRequest);
  $("#export").href = "/admin/requests/export?" + [query, reveal()].filter(Boolean).join("&");
}

async function showRequest(id) {
  selected = id;
  const d = await api(`/admin/requests/${id}?${reveal()}`);
  $("#detail").hidden = false;
  $("#detail-id").textContent = `#${d.id} ${d.operation}`;
  const timeline = $("#detail-timeline");
  timeline.innerHTML = "";
  const steps = [["received", false]];
  if (d.fault) steps.push([`fault: ${d.fault}`, true]);
  if (d.trace) steps.push([d.event ? "code stored" : "code refused", false]);
  steps.push([d.status === 0 ? "no answer" : `answered ${d.status}`, false]);
  for (const [label, fault] of steps) {
    const span = document.createElement("span");
    span.textContent = label;
    if (fault) span.classList.add("fault");
    timeline.appendChild(span);
  }
  const body = $("#trace tbody");
  body.innerHTML = "";
  for (const step of d.trace || []) {
    const tr = cells(document.createElement("tr"),
      [step.rule, step.level, step.limit, step.value, step.verdict]);
    tr.lastChild.className = step.verdict === "refuse" ? "refuse" : step.verdict === "pass" ? "pass" : "";
    body.appendChild(tr);
  }
  $("#detail-errors").textContent = JSON.stringify(d.graphqlErrors, null, 2);
  $("#detail-event").textContent = JSON.stringify(d.event, null, 2);
  $("#detail-request").textContent = JSON.stringify(d.request, null, 2);
  $("#detail-response").textContent = JSON.stringify(d.response, null, 2);
  $("#detail-curl").textContent = d.curl || "";
}

function connect() {
  const events = new EventSource("/admin/stream");
  events.onopen = () => { $("#live").textContent = "live"; };
  events.onmessage = (message) => addRequest(JSON.parse(message.data));
  events.onerror = () => { $("#live").textContent = "reconnecting…"; };
}

$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  filters = Object.fromEntries(new FormData(event.target).entries());
  loadRequests();
});
$("#copy-curl").addEventListener("click", () => {
  const curl = $("#detail-curl").textContent;
  if (navigator.clipboard) navigator.clipboard.writeText(curl).catch(() => {});
});
$("#reveal").addEventListener("change", () => {
  sessionStorage.setItem("erm-reveal", $("#reveal").checked ? "1" : "");
  if (selected !== null) showRequest(selected);
  loadRequests();
});

// -- look-up -------------------------------------------------------------------------

$("#lookup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("#lookup-id").value.trim();
  const body = await api(`/admin/lookup/${encodeURIComponent(id)}?${reveal()}`);
  $("#lookup-alarm").hidden = !body.alarm;
  $("#lookup-events").textContent = JSON.stringify(body.events, null, 2);
  $("#lookup-requests").textContent = JSON.stringify(body.requests, null, 2);
});

// -- items, fleets, limits ----------------------------------------------------------

async function loadItems() {
  const body = await api("/admin/items");
  const fleets = $("#fleets tbody");
  fleets.innerHTML = "";
  for (const f of body.fleets) {
    const tr = document.createElement("tr");
    cells(tr, [f.index, f.name]);
    for (const key of ["code_interval", "daily_limit", "total_limit", "free_limit", "reset_limit"]) {
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.size = 6;
      input.name = key;
      input.value = text(f[key]);
      td.appendChild(input);
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    const off = document.createElement("input");
    off.name = "disabled";
    off.value = f.disabled.join(",");
    td.appendChild(off);
    tr.appendChild(td);
    const save = document.createElement("button");
    save.textContent = "Save";
    save.className = "save-fleet";
    save.addEventListener("click", async () => {
      const change = {};
      for (const input of tr.querySelectorAll("input")) {
        if (input.name === "disabled") {
          change.disabled = input.value.split(",").map((s) => s.trim()).filter(Boolean);
        } else {
          change[input.name] = input.value === "" ? null : Number(input.value);
        }
      }
      await send(`/admin/fleets/${f.index}`, "PATCH", change);
      loadItems();
    });
    const cell = document.createElement("td");
    cell.appendChild(save);
    tr.appendChild(cell);
    fleets.appendChild(tr);
  }
  const items = $("#items tbody");
  items.innerHTML = "";
  for (const i of body.items) {
    const c = i.counts;
    const l = i.limits;
    items.appendChild(cells(document.createElement("tr"), [i.item, i.oemItemID, i.fleet,
      `${c.total}/${l.total}`, `${c.daily}/${l.daily}`, `${c.free}/${l.free}`,
      `${c.reset}/${l.reset}`, i.nextAllowedIn]));
  }
}

// -- sessions ------------------------------------------------------------------------

async function loadSessions() {
  const body = await api("/admin/sessions");
  const tbody = $("#sessions tbody");
  tbody.innerHTML = "";
  const when = (t) => new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ");
  for (const s of body.sessions) {
    const tr = cells(document.createElement("tr"), [s.session, s.email, when(s.issuedAt),
      when(s.accessExpiresAt), s.refreshId, s.parent, s.state]);
    const td = document.createElement("td");
    for (const action of ["expire", "revoke"]) {
      const button = document.createElement("button");
      button.textContent = action;
      button.addEventListener("click", async () => {
        await send(`/admin/sessions/${s.session}/${action}`, "POST");
        loadSessions();
      });
      td.appendChild(button);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

// -- faults --------------------------------------------------------------------------

async function loadFaults() {
  const body = await api("/admin/faults");
  const tbody = $("#faults tbody");
  tbody.innerHTML = "";
  for (const r of body.rules) {
    const tr = cells(document.createElement("tr"),
      [r.id, r.kind, r.operation, r.times, r.probability, r.seed, r.fired]);
    const button = document.createElement("button");
    button.textContent = "remove";
    button.addEventListener("click", async () => {
      await api(`/admin/faults/${r.id}`, { method: "DELETE" });
      loadFaults();
    });
    const td = document.createElement("td");
    td.appendChild(button);
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  $("#fault-spec").textContent = body.spec;
}

$("#fault-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const rule = Object.fromEntries(new FormData(event.target).entries());
  await send("/admin/faults", "POST", rule);
  loadFaults();
});

// -- clock ---------------------------------------------------------------------------

function showClock(body) {
  $("#clock-now").textContent = new Date(body.now * 1000).toISOString();
  $("#clock-offset").textContent = body.offset;
}

async function loadClock() {
  showClock(await api("/admin/clock"));
}

$("#clock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showClock(await send("/admin/clock", "POST", { advance: Number($("#clock-seconds").value) }));
});
$("#clock-reset").addEventListener("click", async () => {
  showClock(await send("/admin/clock", "POST", { reset: true }));
});

// -- state and errors ----------------------------------------------------------------

async function loadState() {
  const body = await api("/admin/errors");
  const tbody = $("#errors tbody");
  tbody.innerHTML = "";
  for (const e of body.errors) tbody.appendChild(cells(document.createElement("tr"), [e.code, e.operation, e.count]));
  const snaps = await api("/admin/snapshots");
  const span = $("#snapshots");
  span.innerHTML = "";
  for (const name of snaps.snapshots) {
    const button = document.createElement("button");
    button.textContent = `restore ${name}`;
    button.addEventListener("click", async () => {
      const done = await send(`/admin/snapshots/${encodeURIComponent(name)}/restore`, "POST");
      $("#state-message").textContent = `Restored ${name}: ${done.counts.code_events} code events.`;
    });
    span.appendChild(button);
  }
}

$("#reset").addEventListener("click", async () => {
  const done = await send("/admin/reset", "POST");
  $("#state-message").textContent = `Reset: ${done.counts.code_events} code events.`;
  $("#requests tbody").innerHTML = "";
  $("#detail").hidden = true;
  loadState();
});
$("#snapshot").addEventListener("click", async () => {
  await send("/admin/snapshots", "POST", { name: $("#snapshot-name").value || "snapshot" });
  loadState();
});

// -- views ---------------------------------------------------------------------------

const loaders = {
  requests: loadRequests, items: loadItems, sessions: loadSessions,
  faults: loadFaults, clock: loadClock, state: loadState, lookup: async () => {},
};

for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.classList.remove("active"));
    document.querySelectorAll(".view").forEach((v) => v.classList.remove("active"));
    button.classList.add("active");
    $(`#view-${button.dataset.view}`).classList.add("active");
    loaders[button.dataset.view]();
  });
}

$("#reveal").checked = sessionStorage.getItem("erm-reveal") === "1";
loadRequests().then(connect);
