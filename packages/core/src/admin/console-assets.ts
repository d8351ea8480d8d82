/**
 * The console: one static HTML page, one script and one stylesheet, served by the admin
 * handler from its own routes (no inline script or style, so the strict CSP holds). The page
 * holds no data: the script fetches everything from the JSON API and writes it with
 * `textContent` only.
 */

const escapeAttribute = (value: string) =>
  value.replace(/[&"'<>]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The console's HTML; `base` is where the router is mounted (e.g. `/admin`). */
export function consoleHtml(base: string): string {
  const b = escapeAttribute(base.replace(/\/+$/, ''));
  return `<!doctype html>
<html lang="en" data-base="${b}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>authcache admin</title>
<link rel="stylesheet" href="${b}/console.css">
<link rel="icon" href="${b}/favicon.svg" type="image/svg+xml">
<script src="${b}/console.js" defer></script>
</head>
<body>
<header>
<h1>authcache admin</h1>
<p><span id="who"></span> <button id="logout" type="button" hidden>Log out</button></p>
</header>
<main>
<section id="login" hidden>
<h2>Log in</h2>
<form id="login-form" method="post" action="${b}/session">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
<button type="submit">Log in</button>
</form>
<p id="login-result" role="status"></p>
</section>
<section id="console" hidden>
<h2>State <small id="updated"></small></h2>
<dl id="state" class="grid"></dl>
<h2>Counters</h2>
<dl id="counters" class="grid"></dl>
<h2>Invalidate</h2>
<form id="invalidate-form" method="post" action="${b}/invalidate">
<label for="scope">Scope</label>
<select id="scope" name="scope">
<option value="token">token (kind + id)</option>
<option value="subject" selected>subject (every token of a user)</option>
<option value="kind">kind</option>
<option value="access_key">access_key (id)</option>
<option value="all">all</option>
</select>
<div class="field" data-scopes="token kind"><label for="kind">Kind</label><input id="kind" name="kind" value="pat"></div>
<div class="field" data-scopes="token access_key"><label for="id">Id</label><input id="id" name="id"></div>
<div class="field" data-scopes="subject"><label for="subject">Subject</label><input id="subject" name="subject"></div>
<div class="field" data-scopes="all"><label for="confirm">Type INVALIDATE to drop every cached entry on every instance</label><input id="confirm" name="confirm" autocomplete="off"></div>
<p class="note">Drops cached state only; nothing is revoked. The next request of a matching token asks the store.</p>
<button type="submit">Invalidate</button>
</form>
<p id="result" role="status"></p>
<h2>Recent invalidations</h2>
<div class="scroll">
<table id="audit">
<thead><tr><th>time</th><th>admin</th><th>scope</th><th>selectors</th><th>instance</th></tr></thead>
<tbody></tbody>
</table>
</div>
</section>
</main>
</body>
</html>
`;
}

export const CONSOLE_CSS = `:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.4; }
body { margin: 0 auto; max-width: 60rem; padding: 0.75rem; }
[hidden] { display: none !important; }
header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 0.5rem; }
h1 { font-size: 1.3rem; margin: 0.25rem 0; }
h2 { font-size: 1.1rem; margin: 1.25rem 0 0.5rem; }
small { font-weight: normal; opacity: 0.7; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 0.4rem; margin: 0; }
.grid div { border: 1px solid #8884; border-radius: 0.4rem; padding: 0.3rem 0.5rem; }
dt { font-size: 0.8rem; opacity: 0.75; overflow-wrap: anywhere; }
dd { margin: 0; font-size: 1.15rem; font-variant-numeric: tabular-nums; }
form { display: grid; gap: 0.4rem; max-width: 30rem; }
input, select, button { font: inherit; padding: 0.45rem; min-height: 2.5rem; box-sizing: border-box; width: 100%; }
.field { display: grid; gap: 0.2rem; }
.note { font-size: 0.85rem; opacity: 0.75; margin: 0; }
#result, #login-result { font-weight: 600; min-height: 1.5em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.3rem; border-bottom: 1px solid #8884; white-space: nowrap; }
.bad { color: #c0392b; }
`;

export const CONSOLE_JS = `(() => {
  'use strict';
  const base = document.documentElement.dataset.base || '';
  const $ = (id) => document.getElementById(id);
  let csrf = '';
  let timer;

  async function api(path, init) {
    const options = Object.assign({ credentials: 'same-origin' }, init || {});
    const headers = {};
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (csrf && options.method === 'POST') headers['x-csrf-token'] = csrf;
    options.headers = headers;
    const response = await fetch(base + path, options);
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { status: response.status, body };
  }

  function show(loggedIn) {
    $('login').hidden = loggedIn;
    $('console').hidden = !loggedIn;
    $('logout').hidden = !loggedIn;
    if (!loggedIn) { $('who').textContent = ''; csrf = ''; clearInterval(timer); }
  }

  function flatten(value, prefix, out) {
    for (const [key, item] of Object.entries(value)) {
      const name = prefix ? prefix + '.' + key : key;
      if (item !== null && typeof item === 'object') flatten(item, name, out);
      else out.push([name, item]);
    }
    return out;
  }

  const STATE = /breaker|state|bus|connected|passthrough|lag|pending|size|tombstones|entries/i;

  function renderGrid(list, pairs) {
    const rows = pairs.map(([key, value]) => {
      const box = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = key;
      dd.textContent = String(value);
      dd.dataset.key = key;
      if (value === false || value === 'open') dd.className = 'bad';
      box.append(dt, dd);
      return box;
    });
    list.replaceChildren(...rows);
  }

  function renderAudit(entries) {
    const rows = entries.map((entry) => {
      const tr = document.createElement('tr');
      const selectors = Object.entries(entry.selectors || {}).map(([k, v]) => k + '=' + v).join(' ');
      for (const text of [entry.time, entry.admin && entry.admin.subject, entry.scope, selectors, entry.instance]) {
        const td = document.createElement('td');
        td.textContent = text == null ? '' : String(text);
        tr.append(td);
      }
      return tr;
    });
    $('audit').tBodies[0].replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const [metrics, audit] = await Promise.all([api('/metrics'), api('/audit')]);
      if (metrics.status === 401 || metrics.status === 403) { show(false); return; }
      if (metrics.status === 200 && metrics.body) {
        const pairs = flatten(metrics.body.stats || {}, '', []);
        renderGrid($('state'), [['instance', metrics.body.instance]].concat(pairs.filter(([k]) => STATE.test(k))));
        renderGrid($('counters'), pairs.filter(([k]) => !STATE.test(k)));
        $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      }
      if (audit.status === 200 && audit.body) renderAudit(audit.body.entries || []);
    } catch (error) {
      $('updated').textContent = 'update failed: ' + error.message;
    }
  }

  async function start() {
    const session = await api('/session');
    if (session.status === 200 && session.body && session.body.csrf) {
      csrf = session.body.csrf;
      $('who').textContent = 'signed in as ' + session.body.subject;
      show(true);
      await refresh();
      clearInterval(timer);
      timer = setInterval(refresh, 3000);
    } else show(false);
  }

  function syncFields() {
    const scope = $('scope').value;
    for (const field of document.querySelectorAll('.field')) {
      field.hidden = !field.dataset.scopes.split(' ').includes(scope);
    }
  }

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('token');
    const answer = await api('/session', { method: 'POST', body: JSON.stringify({ token: input.value }) });
    input.value = '';
    if (answer.status === 200) { $('login-result').textContent = ''; await start(); }
    else if (answer.status === 403) $('login-result').textContent = '403: this token is not an admin.';
    else $('login-result').textContent = answer.status + ': ' + ((answer.body && answer.body.error) || 'login failed');
  });

  $('logout').addEventListener('click', async () => {
    await api('/logout', { method: 'POST' });
    show(false);
  });

  $('scope').addEventListener('change', syncFields);

  $('invalidate-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const scope = $('scope').value;
    const body = { scope };
    if (scope === 'token' || scope === 'kind') body.kind = $('kind').value.trim();
    if (scope === 'token' || scope === 'access_key') body.id = $('id').value.trim();
    if (scope === 'subject') body.subject = $('subject').value.trim();
    if (scope === 'all') {
      if ($('confirm').value !== 'INVALIDATE') { $('result').textContent = 'Type INVALIDATE to confirm.'; return; }
      body.confirm = true;
    }
    const answer = await api('/invalidate', { method: 'POST', body: JSON.stringify(body) });
    if (answer.status === 200) {
      const o = answer.body.outcome;
      $('result').textContent = 'Invalidated ' + scope + ': ' + o.dropped + ' dropped here, shared tier ' +
        (o.tierCleared ? 'cleared' : 'NOT cleared') + ', ' + (o.busesFailed ? o.busesFailed + ' bus(es) failed' : 'announced on every bus') + '.';
      $('confirm').value = '';
      await refresh();
    } else {
      $('result').textContent = answer.status + ': ' + ((answer.body && answer.body.error) || 'failed');
      if (answer.status === 401) show(false);
    }
  });

  syncFields();
  start();
})();
`;

/** A small icon, so that browsers do not ask the app's root for /favicon.ico. */
export const CONSOLE_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2d6cdf"/><path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>';
