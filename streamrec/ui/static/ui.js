// What every page shares: reading embedded data, formatting, copy to clipboard.
"use strict";

const streamrec = {
  data(id) {
    return JSON.parse(document.getElementById(id).textContent);
  },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  },
  num(value) {
    return value === null || value === undefined ? "" : Number(value).toLocaleString("en-US");
  },
  cost(value) {
    if (value === null || value === undefined) return "";
    const n = Number(value);
    return "$" + (n !== 0 && Math.abs(n) < 0.01 ? n.toFixed(6) : n.toFixed(4));
  },
  when(iso) {
    return iso ? iso.replace("T", " ").slice(0, 19) : "";
  },
  async copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      // no clipboard permission (a headless browser, an insecure origin): select and copy
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    if (button) {
      const label = button.textContent;
      button.textContent = "copied";
      button.dataset.copied = text;
      setTimeout(() => { button.textContent = label; }, 1200);
    }
  },
  palette: ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac"],
  color(i) {
    return this.palette[i % this.palette.length];
  },
};

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button) streamrec.copy(button.dataset.copy, button);
});
