// The page served at `/`: pick or drop images, each is posted to /v1/classify and shown
// with its top-5 classes as bars and the round-trip latency.
#include "server/server.h"

namespace mnv2::server {

const char* web_page_html() {
  return R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mnv2 classify</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 14px 24px; }
  header h1 { font-size: 18px; margin: 0; }
  header span { opacity: .7; font-size: 13px; }
  main { padding: 20px 24px; }
  #drop { border: 2px dashed #8a94a8; border-radius: 10px; padding: 28px; text-align: center;
          background: #fff; cursor: pointer; }
  #drop.over { border-color: #2f6fed; background: #eef3ff; }
  #key { margin-top: 10px; display: none; }
  #results { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 20px; }
  .card { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12);
          width: 320px; overflow: hidden; }
  .card img { width: 320px; height: 220px; object-fit: cover; display: block; background: #ddd; }
  .card .body { padding: 10px 12px; }
  .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .ms { color: #5b6478; font-size: 12px; }
  .row { margin-top: 6px; font-size: 13px; }
  .bar { height: 8px; background: #e3e7ef; border-radius: 4px; overflow: hidden; }
  .bar div { height: 100%; background: #2f6fed; }
  .err { color: #b3261e; }
</style>
</head>
<body>
<header><h1>mnv2 &mdash; MobileNetV2 classifier</h1><span id="model">loading model info&hellip;</span></header>
<main>
  <div id="drop">Drop images here or <u>choose files</u>
    <input id="files" type="file" accept="image/*" multiple hidden>
  </div>
  <div id="key">API key: <input id="apikey" type="password" size="30"></div>
  <div id="results"></div>
</main>
<script>
const drop = document.getElementById('drop');
const input = document.getElementById('files');
const results = document.getElementById('results');
function authHeaders() {
  const k = document.getElementById('apikey').value;
  return k ? { 'Authorization': 'Bearer ' + k } : {};
}
fetch('/v2', { headers: authHeaders() }).then(r => r.json()).then(j => {
  document.getElementById('model').textContent = j.name + ' ' + j.version;
}).catch(() => {});
drop.addEventListener('click', () => input.click());
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => {
  e.preventDefault(); drop.classList.remove('over');
  classifyAll(e.dataTransfer.files);
});
input.addEventListener('change', () => classifyAll(input.files));
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function classifyAll(files) { for (const f of files) classify(f); }
async function classify(file) {
  const card = el('div', 'card');
  const img = el('img'); img.alt = file.name; img.src = URL.createObjectURL(file);
  const body = el('div', 'body');
  body.appendChild(el('div', 'name', file.name));
  const status = el('div', 'ms', 'classifying\u2026');
  body.appendChild(status);
  card.appendChild(img); card.appendChild(body);
  results.prepend(card);
  const t0 = performance.now();
  try {
    const r = await fetch('/v1/classify?top=5&name=' + encodeURIComponent(file.name),
                          { method: 'POST', body: file, headers: authHeaders() });
    const j = await r.json();
    const ms = performance.now() - t0;
    if (r.status === 401) document.getElementById('key').style.display = 'block';
    if (!r.ok || !j.results || !j.results.length) {
      status.className = 'err';
      status.textContent = (j.errors && j.errors.length ? j.errors[0].error : j.error) || ('HTTP ' + r.status);
      return;
    }
    const res = j.results[0];
    status.textContent = 'round trip ' + ms.toFixed(1) + ' ms, server ' + res.ms.toFixed(1) + ' ms';
    for (const t of res.top) {
      const row = el('div', 'row top');
      const label = t.label !== null ? t.label : ('class ' + t.index);
      row.appendChild(el('div', '', label + ' \u2014 ' + (100 * t.probability).toFixed(1) + '%'));
      const bar = el('div', 'bar'); const fill = el('div');
      fill.style.width = Math.max(0.5, 100 * t.probability).toFixed(1) + '%';
      bar.appendChild(fill); row.appendChild(bar); body.appendChild(row);
    }
    card.dataset.done = '1';
  } catch (e) {
    status.className = 'err'; status.textContent = String(e);
  }
}
</script>
</body>
</html>
)HTML";
}

}  // namespace mnv2::server
