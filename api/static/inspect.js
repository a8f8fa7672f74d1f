// The inspector's page: pick a period, read the compliance report rule by rule, download it as
// signed PDF, JSON or CSV. Everything is read from the API; nothing is computed here but layout.
"use strict";

const $ = (id) => document.getElementById(id);
let report = null;

function num(n, digits = 1) {
  return n === null || n === undefined ? t("no data") : Number(n).toLocaleString(I18N.lang, {
    minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function row(cells, labels) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = el("td", typeof c === "string" || typeof c === "number" ? String(c) : null);
    if (c instanceof Node) td.appendChild(c);
    td.dataset.label = labels[i];  // shown before the value when the table becomes cards (390 px)
    tr.appendChild(td);
  });
  return tr;
}

// Words used in several of the report's lines, looked up once per rendering.
function words() {
  return { energy: t("Energy"), substituted: t("substituted"), peakDemand: t("Peak demand"),
    licensed: t("Licensed capacity"), utilisation: t("Peak utilisation"), peak: t("peak"),
    limit: t("limit"), reached: t("target reached"), never: t("never"), compliant: t("compliant"),
    notCompliant: t("not compliant"), unregistered: t("Unregistered online"), none: t("none"),
    licence: t("Licence"), ledgerHead: t("Ledger head"), openEnd: t("open at period end") };
}

function verdictLabel(v) {
  return { compliant: t("compliant"), breached: t("breached"),
    insufficient_data: t("insufficient data"), not_applicable: t("not applicable") }[v] || v;
}

const VERDICT = { compliant: "compliant", breached: "breached", no_data: "insufficient_data",
  not_applicable: "not_applicable" };
const verdictOf = (r) => r.verdict || VERDICT[r.status] || r.status;

// The evidence of one breach against its threshold, the breach itself shaded (charts.js).
function evidenceChart(b) {
  const pts = ((b.evidence && b.evidence.points) || []).filter((p) => p[1] !== null)
    .map(([ts, v]) => [ts / 1e6, v]);  // report times are ns since the epoch
  const box = el("div", null, "uchart evidence");
  if (pts.length === 0) return el("div", t("no evidence recorded"), "muted small");
  // the chart needs its box in the page to take its width: drawn once the box is attached
  requestAnimationFrame(() => timeChart(box, pts, b.threshold !== null && b.unit ? [{ value: b.threshold, label: t("limit") }] : [],
    b.unit || "", { span: b.start_ns ? [b.start_ns / 1e6, b.end_ns ? b.end_ns / 1e6 : null] : null, height: 140 }));
  return box;
}

function renderReport() {
  if (!report) return;
  const w = words();
  const r = report;
  $("result").hidden = false;
  const s = $("summary");
  s.replaceChildren();
  const counts = { compliant: 0, breached: 0, insufficient_data: 0 };
  for (const rule of r.rules) counts[verdictOf(rule)] = (counts[verdictOf(rule)] || 0) + 1;
  for (const [k, cls] of [["compliant", "ok"], ["breached", "crit"], ["insufficient_data", "warn"]]) {
    const box = el("div");
    box.appendChild(el("div", String(counts[k] || 0), `value big-num ${cls}`));
    box.appendChild(el("div", verdictLabel(k), "muted"));
    s.appendChild(box);
  }
  const labels = [t("Rule"), t("Title"), t("Verdict"), t("Breaches"), t("Data coverage")];
  $("rules").replaceChildren(...r.rules.map((rule) => {
    const v = verdictOf(rule);
    const tr = row([rule.rule_id, ruleTitle(rule.rule_id, rule.title), verdictLabel(v),
      String(rule.breaches), rule.data_coverage_pct === null ? t("no data") : `${num(rule.data_coverage_pct)} %`], labels);
    tr.className = `verdict-${v}`;
    return tr;
  }));
  const e = r.energy;
  $("energy").replaceChildren(
    el("p", `${w.energy}: ${num(e.total_kwh)} kWh (${w.substituted}: ${num(e.substituted_kwh)} kWh)`),
    el("p", `${w.peakDemand}: ${num(e.peak_demand_kw)} kW · ${w.licensed}: ${num(e.licensed_capacity_kw)} kW · ${w.utilisation}: ${num(e.peak_utilisation_pct)} %`,
      e.peak_utilisation_pct > 100 ? "crit" : ""),
  );
  const br = $("breaches");
  br.replaceChildren();
  if (r.breaches.length === 0) br.appendChild(el("p", t("No breach in the period."), "muted"));
  for (const b of r.breaches.slice(0, 50)) {
    const title = ruleTitle(b.rule_id, (r.rules.find((x) => x.rule_id === b.rule_id) || {}).title || "");
    const box = el("div", null, "breach");
    box.appendChild(el("div", `${b.rule_id} ${title} — ${b.subject}`, "strong"));
    const measured = b.threshold !== null && b.unit ? ` · ${w.peak} ${num(b.peak, 2)} ${b.unit} (${w.limit} ${num(b.threshold, 2)} ${b.unit})` : "";
    box.appendChild(el("div", `${b.start} – ${b.end || w.openEnd} · ${tf("{n} s", { n: num(b.duration_s, 0) })}${measured}`, "small"));
    box.appendChild(evidenceChart(b));
    br.appendChild(box);
  }
  if (r.breaches.length > 50) br.appendChild(el("p", t("Further breaches are listed in the JSON and CSV downloads."), "muted"));
  const orders = $("orders");
  orders.replaceChildren(...(r.curtailment.length ? r.curtailment.map((o) => el("p",
    `#${o.order_id} ${num(o.target_kw)} kW ${o.start} – ${o.end} · ${w.reached}: ${o.reached_target_at || w.never} · ${o.compliant ? w.compliant : w.notCompliant}`,
    o.compliant ? "" : "crit")) : [el("p", t("No curtailment order in the period."), "muted")]));
  $("availability").replaceChildren(...(r.data_availability.length ? r.data_availability.slice(0, 50).map((a) =>
    el("p", `${a.month} ${a.device} ${a.metric}: ${num(a.availability_pct)} %`, "small")) : [el("p", t("no data"), "muted")]));
  const eq = r.equipment;
  $("equipment").replaceChildren(eq.registry_configured
    ? el("p", `${w.unregistered}: ${eq.unregistered_online.join(", ") || w.none}`, eq.unregistered_online.length ? "crit" : "")
    : el("p", t("No equipment registry configured: unregistered equipment cannot be identified."), "muted"));
}

function period() {
  return { from: `${$("from").value}T00:00:00Z`, to: `${$("to").value}T00:00:00Z` };
}

async function show(ev) {
  if (ev) ev.preventDefault();
  $("status").textContent = t("Building the report…");
  const r = await fetch(`/api/v1/reports?${new URLSearchParams(period())}`, { credentials: "same-origin" });
  const body = await r.json();
  if (!r.ok) { $("status").textContent = body.error ? body.error.message : `HTTP ${r.status}`; return; }
  $("status").textContent = "";
  report = body;
  $("sigs").replaceChildren();
  renderReport();
}

async function download(format) {
  $("status").textContent = t("Preparing the file…");
  const q = new URLSearchParams({ ...period(), format, lang: I18N.lang });
  const r = await fetch(`/api/v1/reports/file?${q}`, { credentials: "same-origin" });
  if (!r.ok) {
    const body = await r.json();
    $("status").textContent = body.error ? body.error.message : `HTTP ${r.status}`;
    return;
  }
  $("status").textContent = "";
  const name = (r.headers.get("content-disposition") || "").split('filename="')[1].replace('"', "");
  const a = el("a", name);
  a.href = URL.createObjectURL(await r.blob());
  a.download = name;
  a.id = `file-${format}`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  const sig = el("a", `${name}.sig`);
  sig.href = `/api/v1/reports/signatures/${r.headers.get("x-report-sha256")}`;
  sig.download = `${name}.sig`;
  const line = el("div", `SHA-256 ${r.headers.get("x-report-sha256")} · `, "mono");
  line.appendChild(sig);
  $("sigs").appendChild(line);
}

async function init() {
  const today = new Date();
  const first = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
  const prev = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1));
  $("from").value = prev.toISOString().slice(0, 10);
  $("to").value = first.toISOString().slice(0, 10);
  $("period").addEventListener("submit", show);
  for (const b of document.querySelectorAll("button.dl")) b.addEventListener("click", () => download(b.dataset.format));
  $("logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", credentials: "same-origin" });
    window.location.replace("/login");
  });
  await initLanguage(() => { renderReport(); renderSite(); });
  const fac = await fetch("/api/v1/facility", { credentials: "same-origin" });
  if (fac.ok) site.facility = await fac.json();
  const led = await fetch("/api/v1/ledger", { credentials: "same-origin" });
  if (led.ok) site.ledger = await led.json();
  renderSite();
}

// The facility's name and the ledger head, redrawn when the language changes.
const site = { facility: null, ledger: null };
function renderSite() {
  const w = words();
  if (site.facility) {
    const f = site.facility;
    $("facility-name").textContent = `${f.facility.name} · ${w.licence} ${f.licence.number}`;
  }
  if (site.ledger) {
    const g = site.ledger;
    $("ledger").replaceChildren(
      el("p", `${t("Ledger verification")}: ${g.ok ? t("intact") : t("BROKEN")} · ${g.entries} ${t("entries")}`, g.ok ? "" : "crit"),
      el("p", `${w.ledgerHead}: #${g.head.seq} ${g.head.hash}`, "mono small"),
      ...g.problems.slice(0, 20).map((p) => el("p", `#${p.seq} ${p.what}: ${p.detail}`, "crit small")));
  }
}

init();
