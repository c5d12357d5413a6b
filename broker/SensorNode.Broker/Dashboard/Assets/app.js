// SensorNode dashboard: rooms, live values (server-sent events from /api/events), charts (SVG), broker panel.
// Hand-written, no library, nothing loaded from elsewhere.
'use strict';

const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
const UNITS = { temperature: '°C', humidity: '%' };
const CHARTED = ['temperature', 'humidity'];
const STALE_MS = 15 * 60e3;
const GAP_MS = 15 * 60e3;

const state = {
  rooms: new Map(),      // room -> { online, since, readings: { type: { value, at } } }
  history: new Map(),    // room -> { type: [{ t, v }] }
  range: '24h',
  offset: 0,             // server clock minus browser clock, ms
  events: null,
  retryMs: 1000,
  session: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

const now = () => Date.now() + state.offset;

function ago(time) {
  if (time === null || time === undefined) return 'time unknown';
  const s = Math.max(0, Math.round((now() - time) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function clock(time) {
  const d = new Date(time);
  const sameDay = new Date(now()).toDateString() === d.toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

// As the nodes publish them: one decimal (°C, % relative humidity).
function formatValue(type, value) {
  return value.toFixed(1);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options));
  if (response.status === 401) {
    showLogin();
    throw new Error('login required');
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---- rooms ---------------------------------------------------------------------------------------------------

function roomFromApi(room) {
  const readings = {};
  for (const [type, r] of Object.entries(room.readings || {})) {
    readings[type] = { value: r.value, at: r.at ? Date.parse(r.at) : null };
  }
  return { online: room.online, since: room.statusSince ? Date.parse(room.statusSince) : null, readings };
}

async function loadRooms() {
  const body = await api('/api/rooms');
  const snapshotAt = Date.parse(body.now);
  state.offset = snapshotAt - Date.now();
  // An event may have arrived while the snapshot was on its way: whatever is newer wins.
  const fresh = new Map();
  for (const room of body.rooms) fresh.set(room.room, roomFromApi(room));
  for (const [name, old] of state.rooms) {
    const room = fresh.get(name);
    if (!room) {
      if ((old.updated || 0) > snapshotAt) fresh.set(name, old);
      continue;
    }
    for (const [type, reading] of Object.entries(old.readings)) {
      const snap = room.readings[type];
      if (reading.at !== null && (!snap || snap.at === null || reading.at > snap.at)) room.readings[type] = reading;
    }
    if (old.since && (!room.since || old.since > room.since)) {
      room.online = old.online;
      room.since = old.since;
    }
  }
  state.rooms = fresh;
  renderRooms();
  await loadCharts();
}

function card(name) {
  let node = document.querySelector(`.card[data-room="${CSS.escape(name)}"]`);
  if (node) return node;
  node = el('article', { class: 'card', 'data-room': name, 'data-status': 'unknown' },
    el('h2', null, el('span', { class: 'name' }, name), el('span', { class: 'badge unknown' }, 'no status'), el('span', { class: 'since' })),
    el('div', { class: 'values' }),
    el('div', { class: 'age' }),
    svgEl('svg', { class: 'chart', viewBox: '0 0 320 140', preserveAspectRatio: 'none', 'data-points': '0', role: 'img', 'aria-label': `${name} chart` }),
    el('div', { class: 'links' }));
  const rooms = $('rooms');
  const after = [...rooms.children].find((c) => c.dataset.room > name);
  rooms.insertBefore(node, after || null);
  return node;
}

function renderRooms() {
  const names = [...state.rooms.keys()].sort();
  for (const node of [...document.querySelectorAll('.card')]) {
    if (!state.rooms.has(node.dataset.room)) node.remove();
  }
  for (const name of names) renderRoom(name);
  $('empty').hidden = names.length > 0;
}

function renderRoom(name) {
  const room = state.rooms.get(name);
  const node = card(name);
  const status = room.online === true ? 'online' : room.online === false ? 'offline' : 'unknown';
  node.dataset.status = status;
  const badge = node.querySelector('.badge');
  badge.className = `badge ${status}`;
  badge.textContent = status === 'unknown' ? 'no status' : status;
  const since = node.querySelector('.since');
  since.textContent = status === 'offline' ? (room.since ? `since ${clock(room.since)} (${ago(room.since)})` : 'since before the broker started') : '';

  const values = node.querySelector('.values');
  values.replaceChildren();
  const types = Object.keys(room.readings).sort((a, b) => (CHARTED.indexOf(a) + 1 || 99) - (CHARTED.indexOf(b) + 1 || 99) || a.localeCompare(b));
  for (const type of types) {
    const r = room.readings[type];
    values.append(el('div', { class: `reading ${type}`, 'data-type': type },
      el('div', null, el('span', { class: 'value' }, formatValue(type, r.value)), el('span', { class: 'unit' }, UNITS[type] || '')),
      el('div', { class: 'label' }, type)));
  }

  const links = node.querySelector('.links');
  links.replaceChildren(...types.map((type) => {
    const to = now();
    const href = `/api/history?format=csv&room=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}&from=${to - RANGES[state.range]}&to=${to}`;
    return el('a', { href, download: `${name}-${type}.csv` }, `${type} CSV`);
  }));
  renderAge(name);
}

function renderAge(name) {
  const room = state.rooms.get(name);
  const node = card(name);
  const times = Object.values(room.readings).map((r) => r.at).filter((t) => t !== null);
  const age = node.querySelector('.age');
  if (times.length === 0) {
    age.textContent = Object.keys(room.readings).length ? 'last reading: time unknown (retained)' : 'no readings yet';
    age.classList.remove('stale');
    return;
  }
  const latest = Math.max(...times);
  age.textContent = `updated ${ago(latest)}`;
  age.classList.toggle('stale', now() - latest > STALE_MS);
  if (room.online === false && room.since) {
    node.querySelector('.since').textContent = `since ${clock(room.since)} (${ago(room.since)})`;
  }
}

// ---- charts --------------------------------------------------------------------------------------------------

async function loadCharts() {
  const to = now();
  const from = to - RANGES[state.range];
  const jobs = [];
  for (const [name, room] of state.rooms) {
    const series = {};
    state.history.set(name, series);
    for (const type of CHARTED) {
      if (!(type in room.readings)) continue;
      const url = `/api/history?room=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}&from=${Math.floor(from)}&to=${Math.ceil(to)}`;
      jobs.push(api(url).then((body) => {
        series[type] = body.points.map((p) => ({ t: Date.parse(p.at), v: p.value }));
      }).catch(() => { series[type] = []; }));
    }
  }
  await Promise.all(jobs);
  for (const name of state.rooms.keys()) drawChart(name);
}

function drawChart(name) {
  const svg = card(name).querySelector('svg.chart');
  const series = state.history.get(name) || {};
  const W = 320, H = 140, left = 30, right = 30, top = 8, bottom = 18;
  const to = now(), from = to - RANGES[state.range];
  const x = (t) => left + ((t - from) / (to - from)) * (W - left - right);
  svg.replaceChildren();
  for (let i = 0; i <= 4; i++) {
    const y = top + (i * (H - top - bottom)) / 4;
    svg.append(svgEl('line', { class: 'grid', x1: left, x2: W - right, y1: y, y2: y }));
  }
  const startLabel = svgEl('text', { x: left, y: H - 4 });
  startLabel.textContent = clock(from);
  const endLabel = svgEl('text', { x: W - right, y: H - 4, 'text-anchor': 'end' });
  endLabel.textContent = 'now';
  svg.append(startLabel, endLabel);

  let total = 0;
  CHARTED.forEach((type, index) => {
    const points = (series[type] || []).filter((p) => p.t >= from && p.t <= to);
    if (points.length === 0) return;
    total += points.length;
    let min = Math.min(...points.map((p) => p.v));
    let max = Math.max(...points.map((p) => p.v));
    if (max - min < 1) { min -= 0.5; max += 0.5; }
    const y = (v) => top + (1 - (v - min) / (max - min)) * (H - top - bottom);
    // A gap (the node was off) breaks the line instead of bridging it.
    const segments = [[]];
    points.forEach((p, i) => {
      if (i > 0 && p.t - points[i - 1].t > GAP_MS) segments.push([]);
      segments[segments.length - 1].push(p);
    });
    for (const segment of segments) {
      const coords = segment.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
      svg.append(svgEl('polyline', { class: `series-${type}`, points: coords, 'data-type': type, 'data-count': segment.length }));
    }
    if (points.length <= 60) {
      for (const p of points) svg.append(svgEl('circle', { class: `series-${type}`, cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.2 }));
    }
    const side = index === 0 ? { x: 2, anchor: 'start' } : { x: W - 2, anchor: 'end' };
    for (const [v, yy] of [[max, top + 8], [min, H - bottom]]) {
      const label = svgEl('text', { x: side.x, y: yy, 'text-anchor': side.anchor, class: `axis-${type}` });
      label.textContent = formatValue(type, v);
      svg.append(label);
    }
  });
  svg.setAttribute('data-points', String(total));
}

function addToChart(room, type, value, at) {
  if (!CHARTED.includes(type)) return;
  const series = state.history.get(room) || {};
  state.history.set(room, series);
  (series[type] = series[type] || []).push({ t: at, v: value });
  drawChart(room);
}

// ---- broker panel --------------------------------------------------------------------------------------------

function renderBroker(panel) {
  $('broker').hidden = false;
  $('b-clients').textContent = panel.clientsConnected;
  $('b-in').textContent = panel.messagesInPerSecond;
  $('b-out').textContent = panel.messagesOutPerSecond;
  $('b-retained').textContent = panel.retainedMessages;
  $('b-store').textContent = bytes(panel.storeBytes);
  $('b-history').textContent = bytes(panel.historyBytes);
  const list = $('b-bridges');
  list.replaceChildren(...(panel.bridges.length === 0 ? [el('li', { class: 'muted' }, 'none')]
    : panel.bridges.map((b) => el('li', { 'data-bridge': b.name }, `${b.name}: `, el('span', { class: 'bridge-state' }, b.state)))));
}

// ---- live updates --------------------------------------------------------------------------------------------

function setLive(stateName, text) {
  const live = $('live');
  live.dataset.state = stateName;
  live.textContent = text;
}

function connectEvents() {
  if (state.events) state.events.close();
  const events = new EventSource('/api/events');
  state.events = events;
  events.onopen = () => {
    state.retryMs = 1000;
    setLive('live', 'live');
    // Whatever changed while disconnected: start again from the current state.
    loadRooms().catch(() => {});
  };
  events.onerror = () => {
    setLive('reconnecting', 'reconnecting…');
    if (events.readyState === EventSource.CLOSED) {
      // The browser gave up (the broker restarted, or the login expired): try again, a little later each time.
      setTimeout(() => { if (state.events === events) start(); }, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 30000);
    }
  };
  events.addEventListener('reading', (e) => {
    const r = JSON.parse(e.data);
    const at = Date.parse(r.at);
    if (!state.rooms.has(r.room)) state.rooms.set(r.room, { online: null, since: null, readings: {} });
    state.rooms.get(r.room).readings[r.type] = { value: r.value, at };
    state.rooms.get(r.room).updated = at;
    renderRoom(r.room);
    $('empty').hidden = true;
    addToChart(r.room, r.type, r.value, at);
  });
  events.addEventListener('status', (e) => {
    const s = JSON.parse(e.data);
    if (!state.rooms.has(s.room)) state.rooms.set(s.room, { online: null, since: null, readings: {} });
    const room = state.rooms.get(s.room);
    room.online = s.online;
    room.since = Date.parse(s.since);
    room.updated = room.since;
    renderRoom(s.room);
    $('empty').hidden = true;
  });
  events.addEventListener('broker', (e) => renderBroker(JSON.parse(e.data)));
}

// ---- login ---------------------------------------------------------------------------------------------------

function showLogin() {
  if (state.events) { state.events.close(); state.events = null; }
  $('dashboard').hidden = true;
  $('login').hidden = false;
  setLive('connecting', 'not logged in');
}

async function login(event) {
  event.preventDefault();
  const form = new FormData($('login-form'));
  const response = await fetch('/api/login', { method: 'POST', body: new URLSearchParams(form), credentials: 'same-origin' });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    $('login-error').textContent = body.error || `login failed (HTTP ${response.status})`;
    return;
  }
  $('login-error').textContent = '';
  $('login-form').reset();
  await start();
}

async function logout() {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  showLogin();
  $('user').hidden = $('logout').hidden = true;
}

async function start() {
  let session;
  try {
    session = await api('/api/session');
  } catch (error) {
    setLive('reconnecting', 'broker unreachable');
    setTimeout(start, state.retryMs);
    state.retryMs = Math.min(state.retryMs * 2, 30000);
    return;
  }
  state.session = session;
  if (!session.authenticated) {
    showLogin();
    return;
  }
  $('login').hidden = true;
  $('dashboard').hidden = false;
  if (session.user) {
    $('user').textContent = session.user;
    $('user').hidden = $('logout').hidden = false;
  }
  if (session.broker) {
    api('/api/broker').then(renderBroker).catch(() => {});
  }
  connectEvents();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (e) => { login(e).catch((error) => { $('login-error').textContent = String(error); }); });
  $('logout').addEventListener('click', () => { logout().catch(() => {}); });
  for (const button of document.querySelectorAll('[data-range]')) {
    button.addEventListener('click', () => {
      state.range = button.dataset.range;
      for (const b of document.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b === button));
      for (const name of state.rooms.keys()) renderRoom(name);
      loadCharts().catch(() => {});
    });
  }
  setInterval(() => { for (const name of state.rooms.keys()) renderAge(name); }, 1000);
  setInterval(() => { if (state.events) loadCharts().catch(() => {}); }, 60000);
  start();
});
