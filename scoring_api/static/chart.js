// A small canvas chart: events/s as bars (left axis), freshness p50/p99 as lines (right axis).
"use strict";

function drawChart(canvas, series) {
  // series: [[unixSecond, events, p50ms|null, p99ms|null], ...], oldest first.
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const pad = { left: 42, right: 52, top: 8, bottom: 18 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const n = Math.max(series.length, 1);
  const maxEvents = niceMax(Math.max(1, ...series.map((p) => p[1])));
  const maxLag = niceMax(Math.max(1, ...series.map((p) => p[3] ?? p[2] ?? 0)));
  const x = (i) => pad.left + (i + 0.5) * (w / n);
  const yEvents = (v) => pad.top + h - (v / maxEvents) * h;
  const yLag = (v) => pad.top + h - (v / maxLag) * h;

  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e3e6ea";
  ctx.fillStyle = "#6b7280";
  for (let k = 0; k <= 4; k++) {
    const y = pad.top + (h * k) / 4;
    ctx.beginPath(); ctx.moveTo(pad.left, y); ctx.lineTo(pad.left + w, y); ctx.stroke();
    ctx.textAlign = "right"; ctx.fillText(fmt(maxEvents * (1 - k / 4)), pad.left - 4, y + 4);
    ctx.textAlign = "left"; ctx.fillText(fmt(maxLag * (1 - k / 4)) + " ms", pad.left + w + 4, y + 4);
  }
  ctx.textAlign = "center";
  ctx.fillText("-60 s", pad.left + 14, height - 4);
  ctx.fillText("now", pad.left + w - 10, height - 4);

  ctx.fillStyle = "#bfdbfe";
  const barWidth = Math.max(1, (w / n) * 0.8);
  series.forEach((p, i) => {
    const y = yEvents(p[1]);
    ctx.fillRect(x(i) - barWidth / 2, y, barWidth, pad.top + h - y);
  });
  line(ctx, series, 2, x, yLag, "#059669");
  line(ctx, series, 3, x, yLag, "#d97706");
}

function line(ctx, series, index, x, y, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let drawing = false;
  series.forEach((p, i) => {
    const v = p[index];
    if (v === null || v === undefined) { drawing = false; return; }
    if (drawing) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
    drawing = true;
  });
  ctx.stroke();
  ctx.lineWidth = 1;
  // Dots too: a second with traffic between two quiet ones has no line to show it.
  ctx.fillStyle = color;
  series.forEach((p, i) => {
    const v = p[index];
    if (v !== null && v !== undefined) { ctx.beginPath(); ctx.arc(x(i), y(v), 2.5, 0, 2 * Math.PI); ctx.fill(); }
  });
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v) {
  return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k" : String(Math.round(v * 10) / 10);
}
