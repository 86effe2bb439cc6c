// The history charts: the store's per-day, per-model figures (grouped in SQL) drawn with Chart.js.
"use strict";

(() => {
  const history = streamrec.data("history");
  const days = history.days;
  const models = history.models;
  const at = {};
  for (const row of history.rows) at[row.day + "\u0000" + row.model] = row;
  const cell = (day, model) => at[day + "\u0000" + model];
  const charts = {};

  function perModel(value, type) {
    return models.map((model, i) => ({
      label: model,
      data: days.map((day) => { const r = cell(day, model); return r ? value(r) : null; }),
      backgroundColor: streamrec.color(i),
      borderColor: streamrec.color(i),
      spanGaps: true,
      type,
    }));
  }

  function draw(id, type, datasets, options) {
    charts[id] = new Chart(document.getElementById(id), {
      type,
      data: {labels: days, datasets},
      options: Object.assign({animation: false, maintainAspectRatio: false}, options || {}),
    });
  }

  const stacked = {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}}};
  draw("cost", "bar", perModel((r) => (r.cost === null ? 0 : Number(r.cost)), "bar"), stacked);
  draw("tokens", "bar", perModel((r) => r.input_tokens + r.output_tokens, "bar"), stacked);
  draw("ttft", "line", perModel((r) => r.ttft_p50_ms ?? r.mean_ttft_ms, "line"),
       {scales: {y: {beginAtZero: true, title: {display: true, text: "ms"}}}});
  const failureRate = days.map((day) => {
    let n = 0, failed = 0;
    for (const model of models) { const r = cell(day, model); if (r) { n += r.streams; failed += r.failures; } }
    return n ? Math.round((1000 * failed) / n) / 10 : null;
  });
  draw("failures", "line", [{label: "failure rate %", data: failureRate, borderColor: "#c62828", backgroundColor: "#c62828"}],
       {scales: {y: {beginAtZero: true, suggestedMax: 10, title: {display: true, text: "%"}}}});
  draw("cache", "bar", perModel((r) => r.cached_tokens, "bar"), stacked);
  window.streamrecCharts = charts;
})();
