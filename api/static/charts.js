// Time-series charts with uPlot (vendored in /static/vendor/uplot, MIT): one metric over time
// against its reference lines (a model's limit, a rule's threshold), optionally with a shaded
// span (a breach), times in UTC. The chart follows its box's width (390 px phones included).
"use strict";

const CHART_COLOURS = { line: "#58a6ff", cap: "#f85149", target: "#d29922", span: "rgba(248,81,73,.18)",
  axis: "#8b98a5", grid: "#2b3640" };

// points: [[ms, value], ...]; refs: [{value, label, cls}]; opts: {span: [startMs, endMs] shaded,
// range: [startMs, endMs] of the time axis (default: the points'), height}
function timeChart(box, points, refs, unit, opts = {}) {
  const { span = null, range = null, height = 180 } = opts;
  if (box._resize) box._resize.disconnect();
  box.replaceChildren();
  if (points.length === 0) {
    box.appendChild(Object.assign(document.createElement("div"), { className: "muted", textContent: t("no data") }));
    return null;
  }
  const xs = points.map((p) => p[0] / 1000);
  const data = [xs, points.map((p) => p[1])];
  const series = [{}, { label: unit || t("value"), stroke: CHART_COLOURS.line, width: 2 }];
  for (const r of refs.filter((x) => x.value !== null && x.value !== undefined)) {
    series.push({ label: `${r.label} ${r.value} ${unit}`, stroke: CHART_COLOURS[r.cls || "cap"], dash: [6, 4], width: 1 });
    data.push(xs.map(() => r.value));
  }
  const axis = { stroke: CHART_COLOURS.axis, grid: { stroke: CHART_COLOURS.grid, width: 1 }, ticks: { stroke: CHART_COLOURS.grid } };
  const hooks = !span ? {} : { drawClear: [(u) => {
    const x0 = u.valToPos(span[0] / 1000, "x", true), x1 = u.valToPos((span[1] || points[points.length - 1][0]) / 1000, "x", true);
    u.ctx.save();
    u.ctx.fillStyle = CHART_COLOURS.span;
    u.ctx.fillRect(Math.max(x0, u.bbox.left), u.bbox.top, Math.min(x1, u.bbox.left + u.bbox.width) - Math.max(x0, u.bbox.left), u.bbox.height);
    u.ctx.restore();
  }] };
  const chart = new uPlot({
    width: box.clientWidth || 600, height, series, hooks, axes: [axis, axis],
    scales: range ? { x: { time: true, range: () => [range[0] / 1000, range[1] / 1000] } } : {},
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
  }, data, box);
  box._resize = new ResizeObserver(() => chart.setSize({ width: box.clientWidth, height }));
  box._resize.observe(box);
  return chart;
}
