// The history charts: Store.stats figures (per day and model, per day) drawn with Chart.js.
"use strict";

// The figures come from /api/history after the page shows: on a large store they take a
// moment, and the page (its filter form) should not wait for them.
async function drawHistory() {
  const response = await fetch("/api/history" + location.search, {cache: "no-store"});
  const history = await response.json();
  document.getElementById("computing").hidden = true;
  if (!response.ok) {
    document.getElementById("empty").hidden = false;
    document.getElementById("empty").textContent = history.error;
    return;
  }
  document.getElementById("empty").hidden = history.rows.length > 0;
  const days = history.days;
  const models = history.models;
  const at = {};
  for (const row of history.rows) at[row.day + "\u0000" + row.model] = row;
  const cell = (day, model) => at[day + "\u0000" + model];
  const daily = {};
  for (const row of history.by_day) daily[row.day] = row;
  const charts = {};
  const number = (value) => (value === null || value === undefined ? null : Number(value));

  function perModel(value, extra) {
    return models.map((model, i) => Object.assign({
      label: model,
      data: days.map((day) => { const r = cell(day, model); return r ? value(r) : null; }),
      backgroundColor: streamrec.color(i),
      borderColor: streamrec.color(i),
      spanGaps: true,
    }, extra || {}));
  }

  function draw(id, type, datasets, options) {
    charts[id] = new Chart(document.getElementById(id), {
      type,
      data: {labels: days, datasets},
      options: Object.assign({animation: false, maintainAspectRatio: false}, options || {}),
    });
  }

  const stacked = {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}};
  draw("cost", "bar", perModel((r) => number(r.cost) || 0), stacked);
  draw("tokens", "bar", perModel((r) => (r.input_tokens || 0) + (r.output_tokens || 0)), stacked);
  const p50 = perModel((r) => r.ttft_ms_p50, {role: "p50"});
  const p95 = perModel((r) => r.ttft_ms_p95, {role: "p95", borderDash: [6, 4], pointStyle: "triangle"});
  for (const d of p95) d.label += " p95";
  draw("ttft", "line", [...p50, ...p95],
       {scales: {y: {beginAtZero: true, title: {display: true, text: "ms"}}}});
  const rate = (key) => days.map((day) => {
    const r = daily[day];
    return r && r.streams ? Math.round((1000 * r[key]) / r.streams) / 10 : null;
  });
  draw("failures", "line", [
    {label: "failed %", data: rate("failures"), borderColor: "#c62828", backgroundColor: "#c62828"},
    {label: "interrupted %", data: rate("interrupted"), borderColor: "#ef6c00", backgroundColor: "#ef6c00"},
  ], {scales: {y: {beginAtZero: true, suggestedMax: 10, title: {display: true, text: "%"}}}});
  const savings = perModel((r) => number(r.cache_savings) || 0, {type: "bar", yAxisID: "y", stack: "savings"});
  savings.push({
    label: "cache hit ratio", type: "line", yAxisID: "ratio",
    data: days.map((day) => (daily[day] ? number(daily[day].cache_hit_ratio) : null)),
    borderColor: "#333", backgroundColor: "#333", spanGaps: true,
  });
  draw("cache", "bar", savings, {scales: {
    x: {stacked: true},
    y: {stacked: true, beginAtZero: true, title: {display: true, text: "USD"}},
    ratio: {position: "right", min: 0, max: 1, grid: {drawOnChartArea: false}},
  }});
  window.streamrecCharts = charts;
}

drawHistory().catch((err) => {
  document.getElementById("computing").textContent = "The figures could not be read: " + err;
});
