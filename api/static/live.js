// The live page: one EventSource on /api/v1/live; every "snapshot" event redraws the cards.
// Honest by construction: missing values read "no data", every reading shows its age, and the
// header says whether the stream is live, reconnecting, or stale.
"use strict";

const STALE_AFTER_MS = 10000;  // no snapshot for this long: the page greys out and says so
let lastSnapshotAt = 0;
let source = null;
// a tick may go out before the server has read the power trend ("trend": null): the page keeps the
// last one it got until the next arrives
let lastTrend = null;

const $ = (id) => document.getElementById(id);
// metric-name unit suffixes as people write them
const UNITS = { c: "°C", w: "W", kw: "kW", kwh: "kWh", v: "V", a: "A", hz: "Hz", pct: "%", rpm: "rpm", ths: "TH/s", kpa: "kPa" };
const unitLabel = (u) => UNITS[u] || u || "";

// numbers stay in one notation whatever the language (1,234.5), so readings compare at a glance
function fmt(n, digits = 1) {
  return n === null || n === undefined ? t("no data") : Number(n).toLocaleString("en-US", {
    minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ago(age) {
  if (age === null || age === undefined) return "–";
  const s = Math.max(0, Math.round(age));
  if (s < 90) return seconds(s);
  if (s < 5400) return minutes(Math.round(s / 60));
  return hours((s / 3600).toFixed(1));
}

const seconds = (n) => tf("{n} s", { n });
const minutes = (n) => tf("{n} min", { n });
const hours = (n) => tf("{n} h", { n });
// a store's bucket ("30s", "5m", "2h") as people write it
const duration = (code) => ({ s: seconds, m: minutes, h: hours })[code.slice(-1)](parseInt(code, 10));

function since(iso) {
  if (!iso) return "–";
  return tf("{time} ago", { time: ago((Date.now() - Date.parse(iso)) / 1000) });
}

function setConn(state, text) {
  const el = $("conn-state");
  // the stream's state from now on: a change of language must not put back the HTML's "connecting…"
  el.removeAttribute("data-i18n");
  el.dataset.state = state;
  el.className = "pill " + (state === "live" ? "pill-live" : state === "down" ? "pill-down" : "pill-wait");
  el.textContent = text;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// At 390 px a table shows each row as a card (live.css, table.cards): every cell is labelled with
// its column's heading.
function labelCells(tbody) {
  const heads = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const tr of tbody.rows) [...tr.cells].forEach((c, i) => { c.dataset.label = heads[i] || ""; });
}

function renderPower(p) {
  $("capacity-kw").textContent = fmt(p.licensed_capacity_kw, 0);
  $("power-kw").textContent = fmt(p.kw, 1);
  $("utilisation").textContent = p.utilisation_pct === null ? t("no data")
    // the % goes with the value: Babel reads "% o" in a message as a printf placeholder that every
    // translation would then have to repeat
    : tf("{pct} of licence", { pct: `${fmt(p.utilisation_pct, 1)} %` });
  const bar = $("power-bar");
  const pct = p.utilisation_pct === null ? 0 : Math.min(100, p.utilisation_pct);
  bar.style.width = pct + "%";
  bar.className = "fill" + (p.utilisation_pct >= 100 ? " crit" : p.utilisation_pct >= 80 ? " warn" : "");
  const sources = { revenue_meter: N_("revenue meter"), rigs_sum: N_("sum of rigs (no cooling; may include firmware estimates)") };
  $("power-source").textContent = p.source ? codeText(sources, p.source) : t("none");
  $("power-age").textContent = ago(p.age_s);
  const note = $("power-note");
  note.hidden = !p.note;
  note.textContent = p.note || "";
}

// A line chart of [ms, value] points over [t0, t1] with dashed reference lines (licence, limit,
// curtailment target): ``ref`` is one {value, label, cls} or a list of them.
function drawChart(svg, pts, t0, t1, ref, unit, span) {
  const refs = [].concat(ref || []).filter((r) => r.value !== null && r.value !== undefined);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const ns = "http://www.w3.org/2000/svg";
  const W = 600, H = 160;
  const text = (x, y, s, anchor) => {
    const el = document.createElementNS(ns, "text");
    el.setAttribute("x", x); el.setAttribute("y", y); el.textContent = s;
    if (anchor) el.setAttribute("text-anchor", anchor);
    svg.appendChild(el);
  };
  if (pts.length === 0) { text(W / 2, H / 2, t("no data"), "middle"); return; }
  const vals = pts.map((p) => p[1]);
  const vmax = Math.max(...refs.map((r) => r.value * 1.1), ...vals) || 1;
  const vmin = Math.min(0, ...vals);
  const x = (ms) => ((ms - t0) / (t1 - t0)) * W;
  const y = (v) => H - ((v - vmin) / (vmax - vmin || 1)) * (H - 10);
  for (const r of refs) {
    const cap = document.createElementNS(ns, "line");
    cap.setAttribute("class", r.cls || "cap");
    cap.setAttribute("x1", 0); cap.setAttribute("x2", W);
    cap.setAttribute("y1", y(r.value)); cap.setAttribute("y2", y(r.value));
    svg.appendChild(cap);
    text(W - 4, y(r.value) - 3, `${r.label} ${fmt(r.value, 0)} ${unit}`, "end");
  }
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("class", "line");
  line.setAttribute("points", pts.filter((p) => p[0] >= t0).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  svg.appendChild(line);
  text(4, 12, `${fmt(vmax, 0)} ${unit}`);
  text(4, H - 4, `−${span}`);
  text(W - 4, H - 4, t("now"), "end");
}

function renderTrend(trend, capacityKw, liveKw) {
  const pts = (trend && trend.points) ? trend.points.map(([ts, v]) => [Date.parse(ts), v]) : [];
  if (liveKw !== null && liveKw !== undefined) pts.push([Date.now(), liveKw]);
  $("trend-step").textContent = trend ? trend.step : "–";
  const t1 = Date.now();
  const refs = [{ value: capacityKw, label: t("licence") }];
  // the curtailment order in force (set by operator.js): the load must come down to this line
  if (window.activeOrder) refs.push({ value: window.activeOrder.target_kw, label: t("curtailment target"), cls: "target" });
  drawChart($("trend"), pts, t1 - 30 * 60 * 1000, t1, refs, "kW", minutes(30));
}

// Drill-down: a click on a rig or an alert opens its device page: one metric over 1 h … 30 d
// (bucketed by the store, maxima so a short spike is not averaged away) against its limit, with
// the device's state (error code, pool, age) from /api/v1/devices/<id>.
// range: [seconds, the store's bucket]
const RANGES = { "1h": [3600, "1m"], "6h": [21600, "2m"], "24h": [86400, "5m"], "7d": [604800, "30m"],
  "30d": [2592000, "2h"] };
const detail = { id: null, metric: null, limit: null, range: "1h" };

async function showDevice(id, metric, limit, range) {
  Object.assign(detail, { id, metric, limit, range: range || detail.range });
  const panel = $("detail");
  panel.hidden = false;
  $("detail-title").textContent = `${id} · ${metric}`;
  $("detail-note").textContent = t("loading…");
  for (const b of document.querySelectorAll("#detail-ranges button")) b.classList.toggle("on", b.dataset.range === detail.range);
  const [span, step] = RANGES[detail.range];
  const end = new Date(), start = new Date(end.getTime() - span * 1000);
  const q = new URLSearchParams({ metric, start: start.toISOString(), end: end.toISOString(), step, agg: "max" });
  const r = await fetch(`/api/v1/devices/${encodeURIComponent(id)}/series?${q}`, { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) {
    $("detail-note").textContent = body.error ? body.error.message : `HTTP ${r.status}`;
    timeChart($("detail-chart"), [], [], "");
    return;
  }
  const pts = body.points.map(([ts, v]) => [Date.parse(ts), v]);
  $("detail-note").textContent = tf("last {range}, {step} maxima, {n} points",
    { range: detail.range, step: duration(step), n: pts.length });
  timeChart($("detail-chart"), pts, limit ? [{ value: limit, label: t("limit") }] : [], unitLabel(body.unit),
    { range: [start.getTime(), end.getTime()] });
  document.dispatchEvent(new CustomEvent("minewatch:device", { detail: { id } }));
}

function renderDevices(d) {
  $("dev-online").textContent = d.online;
  $("dev-offline").textContent = d.offline;
  $("dev-offline").style.color = d.offline > 0 ? "var(--warn)" : "";
  $("offline-after").textContent = d.offline_after_s;
  const body = $("dev-roles");
  body.replaceChildren();
  for (const [role, c] of Object.entries(d.by_role)) {
    const tr = document.createElement("tr");
    cell(tr, role); cell(tr, c.online, "num"); cell(tr, c.offline, "num");
    body.appendChild(tr);
  }
  labelCells(body);
}

// "value / threshold unit"; facility-scale watts in kW, as the power card shows them
function valueText(value, threshold, unit) {
  const has = threshold !== undefined && threshold !== null;
  let scale = 1, label = unitLabel(unit);
  if (unit === "W" && Math.max(Math.abs(value), has ? Math.abs(threshold) : 0) >= 10000) { scale = 1000; label = "kW"; }
  return `${fmt(value / scale, 1)}${has ? " / " + fmt(threshold / scale, 1) : ""} ${label}`;
}

// the analyzer's words for an alert (minewatch/alerting.py), as the reader says them
const SEVERITIES = { info: N_("info"), warning: N_("warning"), major: N_("major"), critical: N_("critical") };
const STATES = { pending: N_("pending"), firing: N_("firing"), nodata: N_("nodata"), suppressed: N_("suppressed"),
  resolved: N_("resolved") };

function renderAlerts(alerts, counts) {
  const na = alerts === null || alerts === undefined;
  $("alerts-na").hidden = !na;
  // the list is capped; the count is not
  $("alert-count").textContent = na ? "–" : counts ? counts.firing + counts.pending + counts.nodata : alerts.length;
  const sev = $("alert-sev");
  sev.replaceChildren();
  if (counts) {
    for (const [s, n] of Object.entries(counts.firing_by_severity)) {
      if (!n) continue;
      const span = document.createElement("span");
      span.className = "sev sev-" + s;
      span.textContent = `${n} ${codeText(SEVERITIES, s)}`;
      sev.appendChild(span);
    }
  }
  const body = $("alert-rows");
  body.replaceChildren();
  $("alerts-empty").hidden = na || alerts.length > 0;
  if (na) return;
  for (const a of alerts) {
    const tr = document.createElement("tr");
    tr.dataset.rule = a.rule_id || "";
    tr.dataset.subject = a.subject || "";
    const metric = a.evidence && a.evidence.metric;
    if (metric && a.subject && a.subject !== "facility") {
      tr.className = "clickable";
      tr.addEventListener("click", () => showDevice(a.subject, metric, a.threshold));
    }
    const sevCell = cell(tr, a.severity || "–");
    sevCell.innerHTML = "";
    const badge = document.createElement("span");
    badge.className = "sev sev-" + (a.severity || "info");
    badge.textContent = a.severity ? codeText(SEVERITIES, a.severity) : "–";
    sevCell.appendChild(badge);
    cell(tr, a.state ? codeText(STATES, a.state) : "–");
    cell(tr, ruleTitle(a.rule_id, a.rule_title || a.rule_id || "–"), "wrap").title = a.rule_id || "";
    cell(tr, a.subject || "–");
    // a flag (smoke, leak, EPO ...) is on or off; "1.0 / 0.5" would be noise to an operator
    const flag = metric && metric.endsWith("_bool");
    const v = a.value === null || a.value === undefined ? "–" : flag ? (a.value >= 0.5 ? t("active") : t("clear")) :
      valueText(a.value, a.threshold, a.unit);
    cell(tr, v, "num");
    const at = a.fired_at || a.active_since;
    cell(tr, since(at)).title = at || "";
    if (a.ack_by) tr.classList.add("acked");
    const act = document.createElement("button");  // opens the action panel (operator.js)
    act.type = "button"; act.className = "act"; act.dataset.alertId = a.id; act.textContent = t("act…");
    cell(tr, "").appendChild(act);
    body.appendChild(tr);
  }
  labelCells(body);
}

function renderHottest(rows) {
  const body = $("hot-rows");
  body.replaceChildren();
  $("hot-empty").hidden = rows.length > 0;
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.device = r.id;
    tr.className = "clickable";
    tr.addEventListener("click", () => showDevice(r.id, "chip_temp_c", r.limit_c));
    cell(tr, r.id); cell(tr, r.model); cell(tr, r.zone || "–");
    cell(tr, fmt(r.chip_temp_c, 1), "num");
    const td = document.createElement("td");
    if (r.limit_c) {
      const bar = document.createElement("span");
      bar.className = "tbar";
      const fill = document.createElement("span");
      const frac = Math.min(1, r.chip_temp_c / r.limit_c);
      fill.style.width = (frac * 100).toFixed(0) + "%";
      fill.className = r.chip_temp_c >= r.limit_c ? "crit" : (r.warn_c && r.chip_temp_c >= r.warn_c) ? "warn" : "";
      bar.appendChild(fill);
      td.appendChild(bar);
      td.appendChild(document.createTextNode(" " + tf("limit {value}", { value: fmt(r.limit_c, 0) })));
    } else {
      td.textContent = t("no limit in profile");
    }
    tr.appendChild(td);
    cell(tr, ago(r.age_s));
    body.appendChild(tr);
  }
  labelCells(body);
}

const KINDS = { breach_opened: N_("breach opened"), breach_updated: N_("breach updated"),
  breach_resolved: N_("breach resolved"), curtailment_response: N_("curtailment response"),
  daily_report: N_("daily report"), heartbeat: N_("heartbeat") };

function renderRegulator(r) {
  if (!r) return;
  const state = $("reg-state");
  const stuck = r.dead > 0 || (r.oldest_queued && r.oldest_queued.attempts > 0);
  state.className = "pill " + (!r.enabled || stuck ? "pill-down" : r.queued > 0 ? "pill-wait" : "pill-live");
  state.textContent = r.dead > 0 ? t("messages dead") : !r.enabled ? t("disabled") : stuck ? t("delivery failing")
    : r.queued > 0 ? t("sending") : t("up to date");
  $("reg-delivered").textContent = r.delivered;
  $("reg-queued").textContent = r.queued;
  $("reg-dead").textContent = r.dead;
  $("reg-dead").style.color = r.dead > 0 ? "var(--crit)" : "";
  const last = r.last_delivered;
  $("reg-last").textContent = last ? `${codeText(KINDS, last.kind)}, ${since(last.at)}` : t("nothing yet");
  $("reg-last").title = last ? tf("{at} · message {id}", { at: last.at, id: last.message_id }) : "";
  const w = r.oldest_queued, waiting = $("reg-waiting");
  waiting.hidden = !(w && w.attempts > 0);
  waiting.textContent = w ? tf("{kind} waiting since {since}, {n} attempt(s): {error}",
    { kind: codeText(KINDS, w.kind), since: since(w.since), n: w.attempts, error: w.last_error || "" }) : "";
  $("reg-head").textContent = `#${r.ledger_head.seq} ${r.ledger_head.hash.slice(0, 12)}…`;
  $("reg-head").title = r.ledger_head.hash;
  $("reg-endpoint").textContent = r.endpoint || t("no URL configured");
}

function render(snap) {
  if (snap.trend) lastTrend = snap.trend; else snap.trend = lastTrend;
  const s = snap.summary;
  document.title = `minewatch — ${s.facility.name}`;
  $("facility-name").textContent = s.facility.name;
  $("licence").textContent = tf("licence {number}", { number: s.licence.number });
  renderPower(s.power);
  renderTrend(snap.trend, s.power.licensed_capacity_kw, s.power.kw);
  renderDevices(s.devices);
  renderAlerts(snap.alerts, s.alerts);
  renderHottest(snap.hottest);
  renderRegulator(snap.regulator);
  document.body.dataset.seq = snap.seq;
  document.dispatchEvent(new CustomEvent("minewatch:snapshot", { detail: snap }));
}

async function checkAuth() {
  // EventSource hides the HTTP status; ask once whether the login is still valid.
  try {
    const r = await fetch("/api/v1/facility", { credentials: "same-origin" });
    if (r.status === 401) window.location.href = "/login";
  } catch (e) { /* server unreachable: the header already says so */ }
}

function connect() {
  source = new EventSource("/api/v1/live");
  source.addEventListener("open", () => setConn("live", t("live")));
  source.addEventListener("snapshot", (ev) => {
    lastSnapshotAt = Date.now();
    setConn("live", t("live"));
    render(JSON.parse(ev.data));
  });
  source.addEventListener("error", (ev) => {
    if (ev.data) {  // the server's own "error" event: the store did not answer this tick
      setConn("wait", tf("server: {message}", { message: JSON.parse(ev.data).message }));
      return;
    }
    setConn(source.readyState === EventSource.CLOSED ? "down" : "wait",
      source.readyState === EventSource.CLOSED ? t("disconnected") : t("reconnecting…"));
    checkAuth();
  });
}

setInterval(() => {
  const age = lastSnapshotAt ? Date.now() - lastSnapshotAt : null;
  $("updated").textContent = age === null ? t("never") : tf("{time} ago", { time: ago(age / 1000) });
  const stale = age !== null && age > STALE_AFTER_MS;
  for (const card of document.querySelectorAll(".card")) card.classList.toggle("stale", stale);
  if (stale && $("conn-state").dataset.state === "live") setConn("wait", t("stale"));
}, 1000);

$("detail-close").addEventListener("click", () => { $("detail").hidden = true; });

$("logout").addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  window.location.href = "/login";
});

connect();
