// The chunk timeline: time on x, cumulative output on y, one point per chunk (Chart.js).
"use strict";

streamrec.timeline = function (canvas, views) {
  const datasets = [];
  views.forEach((view, i) => {
    const t = view.timeline;
    const color = streamrec.color(i);
    const label = views.length > 1 ? (i === 0 ? "A " : "B ") : "";
    datasets.push({
      label: label + "chunks",
      role: "chunks",
      data: t.points,
      borderColor: color,
      backgroundColor: color,
      stepped: true,
      pointRadius: t.points.length > 3000 ? 1 : 2.5,
      borderWidth: 1.5,
    });
    if (t.first_chunk) {
      datasets.push({
        label: label + "first chunk (" + t.first_chunk.x.toFixed(1) + " ms)",
        role: "first_chunk",
        type: "scatter",
        order: -2,
        data: [t.first_chunk],
        pointStyle: "rectRot",
        pointRadius: 8,
        borderColor: "#222",
        backgroundColor: "#ffd54f",
      });
    }
    if (t.client_messages && t.client_messages.length) {
      datasets.push({
        label: label + "client messages",
        role: "client_messages",
        type: "scatter",
        order: -2,
        data: t.client_messages,
        pointStyle: "triangle",
        pointRadius: 7,
        borderColor: "#6a1b9a",
        backgroundColor: "#ce93d8",
      });
    }
    if (t.end && t.end.kind !== "completed") {
      datasets.push({
        label: label + t.end.kind + " (" + t.end.x.toFixed(1) + " ms)",
        role: "failure",
        type: "scatter",
        order: -2,
        data: [t.end],
        pointStyle: "crossRot",
        pointRadius: 10,
        borderWidth: 3,
        borderColor: "#c62828",
        backgroundColor: "#c62828",
      });
    } else if (t.end) {
      datasets.push({
        label: label + "completed",
        role: "end",
        type: "scatter",
        data: [t.end],
        pointStyle: "line",
        pointRadius: 8,
        borderWidth: 2,
        borderColor: color,
      });
    }
  });
  return new Chart(canvas, {
    type: "line",
    data: {datasets},
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: true,
      interaction: {mode: "nearest", intersect: false},
      scales: {
        x: {type: "linear", title: {display: true, text: "ms since the request"}, min: 0},
        y: {title: {display: true, text: "output so far (characters)"}, beginAtZero: true},
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const p = item.raw;
              const seq = p.seq === undefined ? "" : "seq " + p.seq + " · ";
              return item.dataset.label + ": " + seq + p.x.toFixed(1) + " ms · " + p.y + " chars";
            },
          },
        },
      },
    },
  });
};
