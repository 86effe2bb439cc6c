// The streams list: rows from the JSON endpoint, sortable headers, pages, refreshed every 2 s.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  let listing = streamrec.data("listing");

  function link(changes) {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) next.delete(key); else next.set(key, value);
    }
    return "?" + next.toString();
  }

  function render() {
    const body = document.getElementById("rows");
    const rows = listing.rows.map((r) => streamrec.el("tr", {"data-id": r.stream_id, "data-status": r.status},
      streamrec.el("td", {}, streamrec.when(r.started_at)),
      streamrec.el("td", {class: "id"}, streamrec.el("a", {href: "/streams/" + r.stream_id}, r.stream_id.slice(0, 13) + "…")),
      streamrec.el("td", {}, streamrec.el("span", {class: "badge " + r.status}, r.status)),
      streamrec.el("td", {}, r.provider || ""),
      streamrec.el("td", {}, r.api || ""),
      streamrec.el("td", {}, r.model || ""),
      streamrec.el("td", {class: "num"}, streamrec.num(r.chunks)),
      streamrec.el("td", {class: "num"}, streamrec.num(r.input_tokens)),
      streamrec.el("td", {class: "num"}, streamrec.num(r.output_tokens)),
      streamrec.el("td", {class: "num", title: r.cost_reason || ""}, r.cost === null ? "—" : streamrec.cost(r.cost)),
      streamrec.el("td", {class: "num"}, r.ttft_ms === null ? "" : r.ttft_ms.toFixed(1)),
      streamrec.el("td", {class: "num"}, r.duration_ms === null ? "" : r.duration_ms.toFixed(1)),
      streamrec.el("td", {}, r.name || ""),
      streamrec.el("td", {}, (r.tags || []).join(", ")),
      streamrec.el("td", {class: "meta"}, Object.entries(r.meta || {}).map(([k, v]) => k + "=" + v).join(" ")),
    ));
    body.replaceChildren(...rows);
    document.getElementById("empty").hidden = rows.length > 0;
    document.getElementById("page").textContent = "page " + listing.page;
    const prev = document.getElementById("prev");
    const next = document.getElementById("next");
    prev.hidden = listing.page <= 1;
    prev.href = link({page: listing.page - 1});
    next.hidden = !listing.has_next;
    next.href = link({page: listing.page + 1});
    for (const th of document.querySelectorAll("th[data-sort]")) {
      const key = th.dataset.sort;
      const label = th.dataset.label || (th.dataset.label = th.textContent);
      const on = key === listing.sort;
      const order = on && listing.order === "desc" ? "asc" : "desc";
      th.classList.toggle("sorted", on);
      th.replaceChildren(streamrec.el("a", {href: link({sort: key, order: order, page: null})},
        label,
        on ? (listing.order === "desc" ? " ▼" : " ▲") : ""));
    }
  }

  async function refresh() {
    if (document.hidden) return;
    const response = await fetch("/api/streams" + location.search, {cache: "no-store"});
    if (!response.ok) return;
    listing = await response.json();
    render();
    document.getElementById("live").dataset.refreshed = String(Date.now());
  }

  render();
  setInterval(() => { refresh().catch(() => {}); }, 2000);
})();
