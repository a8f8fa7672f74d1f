// The operator's tools around the live cards (live.js): fleet hashrate and efficiency, halls,
// the rack heat map, the rig list, alert actions and history, the fire banner, curtailment orders
// and the 15-minute demand. Reads the API every few seconds; nothing here needs a reload.
"use strict";

const FLEET_EVERY_MS = 10000;
const SLOW_EVERY_MS = 15000;
const QUARTER_MS = 15 * 60 * 1000;
let lastSnap = null;
let fleetRigs = [];
const listState = { key: "id", dir: 1 };

async function getJson(url, init) {
  const r = await fetch(url, { credentials: "same-origin", ...init });
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(body && body.error ? body.error.message : `HTTP ${r.status}`);
  return body;
}

// --- who is looking ---------------------------------------------------------------------------
const ROLES = { operator: N_("operator"), inspector: N_("inspector"), admin: N_("admin") };

async function loadRole() {
  const me = await getJson("/api/v1/me");
  $("role").textContent = codeText(ROLES, me.role);
  document.body.classList.toggle("can-act", me.may.includes("acknowledge"));
}

// --- fleet, halls, heat map, rig list ---------------------------------------------------------
function renderFleet(f) {
  const total = f.total;
  $("fleet-hashrate").textContent = total.hashrate_ths === null ? t("no data") : fmt(total.hashrate_ths / 1000, 2);
  $("fleet-jth").textContent = fmt(total.j_per_th, 1);
  $("fleet-online").textContent = `${total.online} / ${total.rigs}`;
  const rows = [...f.by_zone.map((g) => [g.zone, g]), ...f.by_model.map((g) => [g.model, g])];
  $("fleet-rows").replaceChildren(...rows.map(([name, g]) => {
    const tr = document.createElement("tr");
    cell(tr, name);
    cell(tr, `${g.online} / ${g.rigs}`, "num");
    cell(tr, g.hashrate_ths === null ? t("no data") : fmt(g.hashrate_ths / 1000, 2), "num");
    cell(tr, fmt(g.j_per_th, 1), "num");
    cell(tr, fmt(g.chip_temp_max_c, 1), "num");
    return tr;
  }));
  $("halls-empty").hidden = f.halls.length > 0;
  $("hall-rows").replaceChildren(...f.halls.map((h) => {
    const tr = document.createElement("tr");
    cell(tr, h.device); cell(tr, h.zone || "–");
    cell(tr, fmt(h.ambient_temp_c, 1), "num"); cell(tr, fmt(h.humidity_pct, 0), "num");
    cell(tr, h.online ? ago(h.age_s) : t("offline"), h.online ? "" : "warn");
    return tr;
  }));
  labelCells($("fleet-rows"));
  labelCells($("hall-rows"));
  $("cooling").textContent = f.cooling.length === 0 ? "" : f.cooling.map((c) =>
    `${c.device}: ${c.running === null ? t("no data") : c.running ? t("running") : t("STOPPED")}` +
    (c.coolant_out_temp_c === null ? "" : `, ${fmt(c.coolant_out_temp_c, 1)} °C`)).join(" · ");
  renderHeatmap(f.rigs);
  fleetRigs = f.rigs;
  const zones = [...new Set(f.rigs.map((r) => r.zone))].sort();
  const sel = $("dev-zone");
  if (sel.options.length - 1 !== zones.length) {
    const keep = sel.value;
    const all = new Option(t("all halls"));
    all.value = "";  // "any hall": an option's value defaults to its text
    sel.replaceChildren(all, ...zones.map((z) => new Option(z, z)));
    sel.value = keep;
  }
  sel.options[0].text = t("all halls");  // (again after a change of language)
  renderList();
}

function tempClass(r) {
  if (r.registered === false) return "t-unreg";
  if (!r.online || r.chip_temp_c === null) return "t-off";
  if (r.limit_c && r.chip_temp_c >= r.limit_c) return "t-crit";
  if (r.warn_c && r.chip_temp_c >= r.warn_c) return "t-warn";
  return "t-ok";
}

// hall → rack → position; each rig a square coloured by its chip temperature
function renderHeatmap(rigs) {
  const halls = new Map();
  for (const r of rigs) {
    const hall = halls.get(r.zone) || new Map();
    const rack = hall.get(r.rack) || [];
    rack.push(r);
    hall.set(r.rack, rack);
    halls.set(r.zone, hall);
  }
  const root = $("heatmap");
  root.replaceChildren();
  for (const [zone, racks] of [...halls].sort()) {
    const box = document.createElement("div");
    box.className = "hall";
    const h = document.createElement("div");
    h.className = "hall-name";
    h.textContent = zone || t("unassigned");
    box.appendChild(h);
    const grid = document.createElement("div");
    grid.className = "racks";
    for (const [rack, list] of [...racks].sort()) {
      const col = document.createElement("div");
      col.className = "rack";
      col.title = `${zone} / ${rack}`;
      const name = document.createElement("div");
      name.className = "rack-name";
      name.textContent = rack || "–";
      col.appendChild(name);
      for (const r of list.sort((a, b) => a.position - b.position)) {
        const c = document.createElement("button");
        c.type = "button";
        c.className = `cell ${tempClass(r)}`;
        c.dataset.device = r.id;
        c.title = `${r.id} · ${r.model} · ${r.online ? fmt(r.chip_temp_c, 1) + " °C" : t("offline")}` +
          (r.degraded ? ` · ${t("degraded")}` : "") +
          (r.generic_limits ? ` · ${t("generic limits")}` : "") +
          (r.registered === false ? ` · ${t("unregistered")}` : "");
        c.setAttribute("aria-label", c.title);
        c.addEventListener("click", () => showDevice(r.id, "chip_temp_c", r.limit_c));
        col.appendChild(c);
      }
      grid.appendChild(col);
    }
    box.appendChild(grid);
    root.appendChild(box);
  }
}

function renderList() {
  const q = $("dev-search").value.trim().toLowerCase();
  const zone = $("dev-zone").value, status = $("dev-status").value;
  const rows = fleetRigs.filter((r) =>
    (!q || `${r.id} ${r.model} ${r.rack}`.toLowerCase().includes(q)) &&
    (!zone || r.zone === zone) &&
    (!status || (status === "online") === r.online));
  const { key, dir } = listState;
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return a.id < b.id ? -1 : 1;
    if (x === null || x === undefined) return 1;  // no data sorts last either way
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  $("dev-count").textContent = `${rows.length} / ${fleetRigs.length}`;
  $("dev-list").replaceChildren(...rows.slice(0, 500).map((r) => {
    const tr = document.createElement("tr");
    tr.className = "clickable";
    tr.dataset.device = r.id;
    tr.addEventListener("click", () => showDevice(r.id, "chip_temp_c", r.limit_c));
    cell(tr, r.id); cell(tr, r.generic_limits ? `${r.model} (${t("generic limits")})` : r.model);
    cell(tr, r.zone || "–");
    cell(tr, r.rack || "–");
    cell(tr, fmt(r.chip_temp_c, 1), `num ${tempClass(r)}-text`);
    cell(tr, fmt(r.hashrate_ths, 1), "num"); cell(tr, fmt(r.power_w, 0), "num");
    cell(tr, r.registered === false ? t("unregistered") : r.degraded ? t("degraded")
      : r.online ? t("online") : t("offline"));
    return tr;
  }));
  labelCells($("dev-list"));
}

async function pollFleet() {
  try { renderFleet(await getJson("/api/v1/fleet")); } catch (e) { /* the header shows the stream's state */ }
}

// --- device page: ranges, metric, state ---------------------------------------------------------
async function loadDeviceState(id) {
  const d = await getJson(`/api/v1/devices/${encodeURIComponent(id)}`);
  const sel = $("detail-metric");
  sel.replaceChildren(...Object.keys(d.metrics).sort().map((m) => new Option(m, m)));
  sel.value = detail.metric;
  const m = d.metrics;
  const parts = [`${d.online ? t("online") : t("offline")} · ${t("age")} ${ago(d.age_s)}`];
  if (m.error_code) parts.push(`${t("error code")} ${m.error_code.value}`);
  for (const [name, v] of Object.entries(m)) if (name.startsWith("pool")) parts.push(`${name} ${v.value}`);
  if (d.profile && d.profile.limits.chip_temp_c) parts.push(`${t("chip limit")} ${d.profile.limits.chip_temp_c.max_above} °C`);
  $("detail-state").textContent = parts.join(" · ");
}

// --- alert actions and history ------------------------------------------------------------------
let acting = null;

function openActions(alert) {
  acting = alert;
  $("actions").hidden = false;
  $("act-title").textContent = `${alert.rule_id} · ${alert.subject} (${codeText(STATES, alert.state)})`;
  $("act-msg").textContent = alert.ack_by ? `${t("acknowledged by")} ${alert.ack_by}: ${alert.ack_comment || ""}` : "";
  const end = new Date(Date.now() + 4 * 3600 * 1000);
  end.setMinutes(end.getMinutes() - end.getTimezoneOffset());
  $("sil-end").value = end.toISOString().slice(0, 16);
  $("actions").scrollIntoView({ block: "nearest" });
}

async function acknowledge(ev) {
  ev.preventDefault();
  try {
    await getJson(`/api/v1/alerts/${acting.id}/ack`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: $("ack-comment").value.trim(), expires_in: $("ack-for").value }) });
    $("act-msg").textContent = `${t("Acknowledged")}: ${acting.rule_id} · ${acting.subject}`;
  } catch (e) { $("act-msg").textContent = e.message; }
}

const SILENCE_KINDS = { silence: N_("silence"), maintenance: N_("maintenance window") };

async function silence(ev) {
  ev.preventDefault();
  try {
    const s = await getJson("/api/v1/silences", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ matchers: { rule_id: acting.rule_id, subject: acting.subject }, kind: $("sil-kind").value,
        reason: $("sil-reason").value.trim(), ends_at: new Date($("sil-end").value).toISOString() }) });
    $("act-msg").textContent = `${codeText(SILENCE_KINDS, s.kind)} #${s.id} ${t("until")} ${s.ends_at}`;
  } catch (e) { $("act-msg").textContent = e.message; }
}

async function pollHistory() {
  let body;
  try { body = await getJson("/api/v1/alerts?state=resolved&limit=20"); } catch (e) { return; }
  $("history-empty").hidden = body.items.length > 0;
  $("history-rows").replaceChildren(...body.items.map((a) => {
    const tr = document.createElement("tr");
    cell(tr, `${a.rule_id} ${ruleTitle(a.rule_id, a.rule_title || "")}`, "wrap"); cell(tr, a.subject);
    cell(tr, codeText(SEVERITIES, a.severity)); cell(tr, a.fired_at || a.active_since || "–");
    cell(tr, a.resolved_at || "–"); cell(tr, a.ack_by || "–");
    return tr;
  }));
  labelCells($("history-rows"));
}

// --- fire banner with sound: no silence or acknowledgement hides it ----------------------------
let audio = null, beeping = null;

function beep() {
  if (!audio || audio.state !== "running") return;
  const osc = audio.createOscillator(), gain = audio.createGain();
  osc.frequency.value = 880; gain.gain.value = 0.2;
  osc.connect(gain); gain.connect(audio.destination);
  osc.start(); osc.stop(audio.currentTime + 0.4);
}

function startSound() {
  audio = audio || new AudioContext();
  audio.resume().then(() => { $("fire-sound").hidden = audio.state === "running"; });
  if (!beeping) beeping = setInterval(beep, 1200);
}

// ``fires``: the snapshot's firing fire alarms, silenced ones included (see api/live.py)
function renderFire(fires) {
  const banner = $("fire-banner");
  banner.hidden = fires.length === 0;
  document.body.classList.toggle("fire", fires.length > 0);
  if (fires.length === 0) {
    if (beeping) { clearInterval(beeping); beeping = null; }
    return;
  }
  $("fire-text").textContent = fires.map((a) => `${ruleTitle(a.rule_id, a.rule_title || a.rule_id)} — ${a.subject} (${since(a.fired_at)})`).join(" · ");
  startSound();  // browsers may hold sound until a click: the button asks for one
}

// --- curtailment and the 15-minute demand -------------------------------------------------------
async function pollOrders() {
  const now = Date.now();
  const q = new URLSearchParams({ start: new Date(now - 86400000).toISOString(), end: new Date(now + 86400000).toISOString() });
  let body;
  try { body = await getJson(`/api/v1/curtailment/orders?${q}`); } catch (e) { return; }
  window.activeOrder = body.items.find((o) => Date.parse(o.starts_at) <= now && now < Date.parse(o.ends_at)) || null;
  $("target-legend").hidden = !window.activeOrder;
}

function renderOrder(kw) {
  const o = window.activeOrder, note = $("order-note");
  note.hidden = !o;
  if (!o) return;
  const due = Date.parse(o.starts_at) + o.response_s * 1000;
  const reached = kw !== null && kw <= o.target_kw;
  const left = Math.round((due - Date.now()) / 1000);
  note.className = "small " + (reached ? "ok-text" : left < 0 ? "crit-text" : "note");
  note.textContent = `${t("Curtailment order")}: ${fmt(o.target_kw, 0)} kW · ${t("now")} ${fmt(kw, 0)} kW · ` +
    (reached ? t("target reached") : left >= 0 ? `${fmt(kw - o.target_kw, 0)} kW ${t("to shed within")} ${ago(left)}` :
      `${t("response time passed")} ${tf("{time} ago", { time: ago(-left) })}`);
}

function renderDemand(snap) {
  const p = snap.summary.power, cap = p.licensed_capacity_kw;
  const pts = ((snap.trend && snap.trend.points) || []).map(([ts, v]) => [Date.parse(ts), v]);
  const now = Date.now(), q0 = Math.floor(now / QUARTER_MS) * QUARTER_MS;
  const mean = (xs) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  const last15 = mean(pts.filter(([ts]) => ts >= now - QUARTER_MS).map(([, v]) => v));
  const sofar = mean(pts.filter(([ts]) => ts >= q0).map(([, v]) => v));
  const el = $("demand");
  if (p.kw === null || last15 === null) { el.textContent = `${t("15-min demand")}: ${t("no data")}`; return; }
  // the quarter's mean if the load stays where it is now until the quarter ends
  const elapsed = now - q0;
  const projected = ((sofar === null ? p.kw : sofar) * elapsed + p.kw * (QUARTER_MS - elapsed)) / QUARTER_MS;
  const end = new Date(q0 + QUARTER_MS).toISOString().slice(11, 16);
  const over = projected > cap;
  el.className = "small " + (over ? "crit-text" : projected > 0.9 * cap ? "warn-text" : "");
  el.textContent = `${t("15-min demand")} ${fmt(last15, 1)} kW · ${t("this quarter to")} ${end} UTC ${t("projected")} ${fmt(projected, 1)} kW` +
    (over ? ` — ${t("pending: above the licensed")} ${fmt(cap, 0)} kW; ${t("reduce load before")} ${end}` : "");
}

document.addEventListener("minewatch:snapshot", (ev) => {
  lastSnap = ev.detail;
  renderFire(lastSnap.fire || []);
  renderDemand(lastSnap);
  renderOrder(lastSnap.summary.power.kw);
});
document.addEventListener("minewatch:device", (ev) => { loadDeviceState(ev.detail.id).catch(() => {}); });

$("alert-rows").addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.act");
  if (!btn || !lastSnap) return;
  ev.stopPropagation();  // the row itself opens the device page
  const alert = (lastSnap.alerts || []).find((a) => String(a.id) === btn.dataset.alertId);
  if (alert) openActions(alert);
});
$("ack-form").addEventListener("submit", acknowledge);
$("silence-form").addEventListener("submit", silence);
$("act-close").addEventListener("click", () => { $("actions").hidden = true; });
$("fire-sound").addEventListener("click", startSound);
$("detail-ranges").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-range]");
  if (b && detail.id) showDevice(detail.id, detail.metric, detail.limit, b.dataset.range);
});
$("detail-metric").addEventListener("change", () => showDevice(detail.id, $("detail-metric").value, null));
for (const b of document.querySelectorAll("button.sort")) {
  b.addEventListener("click", () => {
    listState.dir = listState.key === b.dataset.key ? -listState.dir : 1;
    listState.key = b.dataset.key;
    renderList();
  });
}
for (const id of ["dev-search", "dev-zone", "dev-status"]) $(id).addEventListener("input", renderList);

// everything drawn from data is drawn again in the language just loaded (the first snapshots may
// have come before the catalog)
function redraw() {
  if (lastSnap) render(lastSnap);
  if (detail.id && !$("detail").hidden) showDevice(detail.id, detail.metric, detail.limit);
  pollFleet(); pollHistory(); loadRole().catch(() => {});
}
initLanguage(redraw).catch(() => {}).then(redraw);  // no catalog: the page stays in English
pollOrders();
setInterval(pollFleet, FLEET_EVERY_MS);
setInterval(() => { pollHistory(); pollOrders(); }, SLOW_EVERY_MS);
