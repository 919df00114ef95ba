// A figure as a file: SVG or PNG with its title, what it counts (filters,
// period), the chart, its legend, notes, the suppression legend and the
// source drawn in, so an image copied into a report still says what it is;
// and CSV with the same context as `#` comment lines above labelled columns.
//
// The PNG is the SVG drawn on a canvas (an <img> of a blob: URL, which the
// console's CSP allows for images only).

import { saveBlob } from "./api.js";

const NS = "http://www.w3.org/2000/svg";
/// Rules the chart needs outside the page (console.css carries them there).
const STYLE = `text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;font-size:10px;fill:#1b1f24}
.t-title{font-size:16px;font-weight:700}.t-sub{font-size:12px;fill:#59636e}.t-note{font-size:11px;fill:#1b1f24}.t-src{font-size:11px;fill:#59636e}
.t-sup{font-size:11px;fill:#9a6700;font-style:italic}`;

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
}

/// Lines of at most about `width` pixels of `size`-pixel text.
function wrap(text, width, size) {
  const max = Math.max(20, Math.floor(width / (size * 0.55)));
  const out = [];
  for (const para of String(text).split("\n")) {
    let line = "";
    for (const word of para.split(/\s+/)) {
      if (!word) continue;
      if ((line + " " + word).trim().length > max && line) {
        out.push(line);
        line = word;
      } else line = (line + " " + word).trim();
      while (line.length > max) {
        out.push(line.slice(0, max));
        line = line.slice(max);
      }
    }
    if (line) out.push(line);
  }
  return out;
}

function sizeOf(svg) {
  const vb = svg.viewBox?.baseVal;
  const w = Number(svg.getAttribute("width")) || vb?.width || svg.getBoundingClientRect().width || 640;
  const h = Number(svg.getAttribute("height")) || vb?.height || svg.getBoundingClientRect().height || 400;
  return [w, h];
}

/// A standalone SVG document of `chart` (an <svg> in the page) with the
/// figure's context. `ctx`: {title, subtitle, notes: [text], legend:
/// [[label, colour]], suppression, source}.
export function composeSvg(chart, ctx) {
  const [cw, ch] = sizeOf(chart);
  const width = Math.max(cw + 32, 560);
  const pad = 16;
  const doc = el("svg", { xmlns: NS, width });
  doc.append(el("style", {}, STYLE), el("rect", { x: 0, y: 0, width, height: 1, fill: "#ffffff", class: "bg" }));
  let y = pad;
  const text = (lines, cls, size, gap = 4) => {
    for (const line of lines) {
      y += size;
      doc.append(el("text", { x: pad, y, class: cls }, line));
      y += gap;
    }
  };
  text(wrap(ctx.title, width - 2 * pad, 16), "t-title", 16);
  if (ctx.subtitle) text(wrap(ctx.subtitle, width - 2 * pad, 12), "t-sub", 12);
  y += 6;
  if (ctx.legend?.length) {
    let x = pad;
    y += 12;
    for (const [label, colour] of ctx.legend) {
      const w = 18 + String(label).length * 6.2;
      if (x + w > width - pad) {
        x = pad;
        y += 16;
      }
      doc.append(el("rect", { x, y: y - 9, width: 10, height: 10, fill: colour }), el("text", { x: x + 14, y, class: "t-note" }, label));
      x += w + 12;
    }
    y += 10;
  }
  const inner = chart.cloneNode(true);
  inner.removeAttribute("class");
  inner.setAttribute("x", pad);
  inner.setAttribute("y", y);
  inner.setAttribute("width", cw);
  inner.setAttribute("height", ch);
  if (!inner.getAttribute("viewBox")) inner.setAttribute("viewBox", `0 0 ${cw} ${ch}`);
  doc.append(inner);
  y += ch + 10;
  for (const n of ctx.notes ?? []) text(wrap(n, width - 2 * pad, 11), "t-note", 11, 3);
  if (ctx.suppression) text(wrap(ctx.suppression, width - 2 * pad, 11), "t-sup", 11, 3);
  if (ctx.source) text(wrap(ctx.source, width - 2 * pad, 11), "t-src", 11, 3);
  y += pad;
  doc.setAttribute("height", Math.ceil(y));
  doc.setAttribute("viewBox", `0 0 ${width} ${Math.ceil(y)}`);
  doc.querySelector("rect.bg").setAttribute("height", Math.ceil(y));
  return doc;
}

function serialize(doc) {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(doc);
}

export function saveSvg(chart, ctx, name) {
  saveBlob(new Blob([serialize(composeSvg(chart, ctx))], { type: "image/svg+xml" }), `${name}.svg`);
}

/// The composed SVG drawn at twice its size on a canvas, saved as PNG.
export async function savePng(chart, ctx, name) {
  const doc = composeSvg(chart, ctx);
  const [w, hgt] = [Number(doc.getAttribute("width")), Number(doc.getAttribute("height"))];
  const url = URL.createObjectURL(new Blob([serialize(doc)], { type: "image/svg+xml" }));
  try {
    const img = new Image();
    img.width = w;
    img.height = hgt;
    await new Promise((ok, fail) => {
      img.onload = ok;
      img.onerror = () => fail(new Error("the chart could not be drawn as an image"));
      img.src = url;
    });
    const canvas = document.createElement("canvas");
    canvas.width = w * 2;
    canvas.height = hgt * 2;
    const g = canvas.getContext("2d");
    g.scale(2, 2);
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, w, hgt);
    g.drawImage(img, 0, 0, w, hgt);
    const blob = await new Promise((ok) => canvas.toBlob(ok, "image/png"));
    if (!blob) throw new Error("the browser could not encode the PNG");
    saveBlob(blob, `${name}.png`);
  } finally {
    URL.revokeObjectURL(url);
  }
}

function csvField(v) {
  const s = v == null ? "" : String(v);
  return /[",\n\r#]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/// CSV text: `meta` as `# key: value` lines, then a header row and rows.
/// `columns`: [{name, value: row => text}].
export function csvText(meta, columns, rows) {
  const head = Object.entries(meta)
    .filter(([, v]) => v != null && v !== "")
    .map(([k, v]) => `# ${k}: ${String(v).replace(/\s*\n\s*/g, " ")}`);
  return [
    ...head,
    columns.map((c) => csvField(c.name)).join(","),
    ...rows.map((r) => columns.map((c) => csvField(c.value(r))).join(",")),
  ].join("\n") + "\n";
}

export function saveCsv(meta, columns, rows, name) {
  saveBlob(new Blob([csvText(meta, columns, rows)], { type: "text/csv" }), name);
}
