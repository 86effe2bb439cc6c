// The stream page: timeline chart, event list with raw payloads on demand, in-page replay.
"use strict";

(() => {
  const view = streamrec.data("view");
  const chart = streamrec.timeline(document.getElementById("timeline"), [view]);
  window.streamrecTimeline = chart;

  function deltaText(delta) {
    const parts = [];
    if (delta.content !== undefined) parts.push(JSON.stringify(delta.content));
    if (delta.thinking !== undefined) parts.push("thinking " + JSON.stringify(delta.thinking));
    if (delta.refusal !== undefined) parts.push("refusal " + JSON.stringify(delta.refusal));
    for (const t of delta.tool_calls || []) parts.push("tool " + (t.name || "?") + " " + t.args);
    if (delta.usage) parts.push("usage " + Object.entries(delta.usage).map(([k, v]) => k.replace("_tokens", "") + "=" + v).join(" "));
    if (delta.finish_reasons) parts.push("finish " + delta.finish_reasons.join(","));
    return parts.join("  ");
  }

  // -- events ---------------------------------------------------------------------------
  const body = document.querySelector("#events tbody");
  let previous = 0;
  const rows = view.events.map((e) => {
    const gap = e.t_ms - previous;
    previous = e.t_ms;
    const button = streamrec.el("button", {type: "button", class: "raw", "data-seq": e.seq}, "raw");
    return streamrec.el("tr", {"data-seq": e.seq, class: e.kind.replace(".", "-")},
      streamrec.el("td", {class: "num"}, e.seq),
      streamrec.el("td", {}, e.kind),
      streamrec.el("td", {}, e.event || ""),
      streamrec.el("td", {class: "num"}, e.t_ms.toFixed(1)),
      streamrec.el("td", {class: "num" + (gap > 250 ? " gap" : "")}, gap.toFixed(1)),
      streamrec.el("td", {class: "num"}, e.bytes),
      streamrec.el("td", {class: "delta"}, deltaText(e.delta)),
      streamrec.el("td", {}, button));
  });
  body.replaceChildren(...rows);

  body.addEventListener("click", async (event) => {
    const button = event.target.closest("button.raw");
    if (!button) return;
    const row = button.closest("tr");
    const shown = row.nextElementSibling;
    if (shown && shown.classList.contains("payload")) {
      shown.remove();
      return;
    }
    const response = await fetch("/api/streams/" + view.stream_id + "/events/" + button.dataset.seq);
    const found = await response.json();
    let text = found.payload;
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (err) { /* not JSON: as stored */ }
    row.after(streamrec.el("tr", {class: "payload"},
      streamrec.el("td", {colSpan: 8}, streamrec.el("pre", {}, text))));
  });

  // -- replay ---------------------------------------------------------------------------
  const play = document.getElementById("play");
  const stop = document.getElementById("stop");
  const output = document.getElementById("replay-output");
  const progress = document.getElementById("replay-progress");
  const replayed = {
    label: "replayed", role: "replayed", type: "scatter", data: [], order: -1,
    pointRadius: 6, borderWidth: 2, borderColor: "#2e7d32", backgroundColor: "rgba(46,125,50,0.35)",
  };
  chart.data.datasets.push(replayed);
  chart.update("none");
  let source = null;
  let pending = false;

  function finish(text) {
    if (source) source.close();
    source = null;
    play.disabled = false;
    stop.disabled = true;
    progress.textContent = text;
    document.getElementById("replay").dataset.state = "done";
    chart.update("none");
  }

  play.addEventListener("click", () => {
    const speed = document.getElementById("speed").value;
    output.textContent = "";
    replayed.data = [];
    chart.update("none");
    play.disabled = true;
    stop.disabled = false;
    const section = document.getElementById("replay");
    section.dataset.state = "playing";
    section.dataset.played = "0";
    const started = performance.now();
    source = new EventSource("/api/streams/" + view.stream_id + "/replay?speed=" + speed);
    source.addEventListener("chunk", (message) => {
      const {index, text} = JSON.parse(message.data);
      output.textContent += text;
      if (index < view.timeline.points.length) replayed.data.push(view.timeline.points[index]);
      section.dataset.played = String(index + 1);
      progress.textContent = "chunk " + (index + 1) + " / " + view.timeline.points.length
        + " · " + ((performance.now() - started) / 1000).toFixed(2) + " s";
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => { pending = false; chart.update("none"); });
      }
    });
    source.addEventListener("end", (message) => {
      const {chunks: n} = JSON.parse(message.data);
      finish("replayed " + n + " chunks in " + ((performance.now() - started) / 1000).toFixed(2) + " s");
    });
    source.onerror = () => { if (source) finish("replay stopped: the connection closed"); };
  });
  stop.addEventListener("click", () => finish("stopped"));

  // a stream still recording: reload as it grows
  if (view.state.status === "recording") {
    const poll = async () => {
      const response = await fetch("/api/streams/" + view.stream_id, {cache: "no-store"});
      if (!response.ok) return;
      const now = await response.json();
      if (now.events_total !== view.events_total || now.state.status !== view.state.status) location.reload();
    };
    // a poll cut short by the reload itself (or a server gone) is not an error to report
    setInterval(() => { poll().catch(() => {}); }, 1000);
  }
})();
