// Reclaim web focus: reports, per browser window, the origin (scheme://host,
// with port if any) of the active tab, and the window the browser last had in
// front, to the Reclaim agent through the native messaging host
// "com.reclaim.webfocus" (reclaim-native-host). Never full URLs, queries or
// fragments; the URL path and the page title of the focused window's active
// tab only when the administrator enables them by policy (managed storage,
// managed_schema.json: "sendPath", "sendTitle"; a user cannot set managed
// storage). The agent keeps them only if its own --web-detail allows them.
// Message format: agent/browser/web_message.h.
//
// One code base for Chromium (MV3 service worker) and Firefox (MV3 event page).
//  - One connection at a time: `port` is the only native port; a reconnect is
//    scheduled only after it disconnected, and never twice.
//  - Reconnects with backoff (1 s doubling to 60 s; reset when the host says
//    "ready"). A timer dies with a suspended service worker, so an alarm
//    (every 30 s) and every tab/window event also reconnect.
//  - Survives service-worker suspension: an open native port keeps the worker
//    alive; if it is stopped anyway, the next event or alarm starts it again,
//    this file runs from the top and connects.
//  - The agent decides when the browser is in front (X11 focus); the
//    extension only says which window was last focused and what its active
//    tab shows (Chromium on X11 does not report focus loss to other
//    applications reliably, windows.getLastFocused() is right).
'use strict';

const api = globalThis.browser ?? globalThis.chrome;
const HOST = 'com.reclaim.webfocus';
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60000;
// Limits of the agent (web_message.h): paths are refused beyond 2048 bytes
// (a path is ASCII), titles cut at 1024 bytes (cut here to 1024 UTF-16 units).
const MAX_PATH = 2048;
const MAX_TITLE = 1024;

let port = null;
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let lastSent = null;
let reporting = Promise.resolve();
let policy = loadPolicy();

// The administrator's policy (managed storage): {sendPath, sendTitle}, both
// false unless set to true. Firefox rejects get() when no policy exists.
async function loadPolicy() {
  try {
    const p = await api.storage.managed.get(['sendPath', 'sendTitle']);
    return {sendPath: p.sendPath === true, sendTitle: p.sendTitle === true};
  } catch (e) {
    return {sendPath: false, sendTitle: false};
  }
}

// The URL path of an http(s) page (percent-encoded by the URL parser, no
// query or fragment), cut to MAX_PATH; null otherwise.
function pathOf(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.pathname.slice(0, MAX_PATH);
  } catch (e) {
    // not a URL
  }
  return null;
}

function titleOf(title) {
  if (typeof title !== 'string') return null;
  // Well-formed UTF-16 (no lone surrogates), which the agent's JSON parser requires.
  const wellFormed = typeof title.toWellFormed === 'function' ? title.toWellFormed() : title;
  let cut = wellFormed.slice(0, MAX_TITLE);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);  // do not split a pair
  return cut;
}

// scheme://host[:port] for http(s) pages; null for anything else.
function originOf(url) {
  if (typeof url !== 'string') return null;
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') return `${u.protocol}//${u.host}`;
  } catch (e) {
    // not a URL
  }
  return null;
}

async function snapshot() {
  const {sendPath, sendTitle} = await policy;
  const windows = await api.windows.getAll({populate: true, windowTypes: ['normal', 'popup']});
  let focused = -1;
  try {
    const w = await api.windows.getLastFocused({windowTypes: ['normal', 'popup']});
    if (w && typeof w.id === 'number' && w.id >= 0) focused = w.id;
  } catch (e) {
    // no window
  }
  const list = [];
  for (const w of windows) {
    if (typeof w.id !== 'number' || w.id < 0) continue;
    const tab = (w.tabs || []).find((t) => t.active);
    const entry = {id: w.id, origin: tab ? originOf(tab.url) : null};
    // Details only for the focused window (the one metered), only if allowed.
    if (tab && entry.origin !== null && w.id === focused) {
      if (sendPath) entry.path = pathOf(tab.url);
      if (sendTitle) entry.title = titleOf(tab.title);
    }
    list.push(entry);
  }
  return {v: 1, type: 'state', focused, windows: list};
}

async function sendState() {
  if (!port) return;
  const state = await snapshot();
  const text = JSON.stringify(state);
  if (text === lastSent || !port) return;
  port.postMessage(state);
  lastSent = text;
}

// Serialised, so that states reach the host in the order of the events.
function report() {
  connect();
  reporting = reporting.then(sendState).catch((e) => console.warn('reclaim: report', e));
}

function scheduleReconnect() {
  if (retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

function connect() {
  if (port || retryTimer !== null) return;
  let p;
  try {
    p = api.runtime.connectNative(HOST);
  } catch (e) {
    console.warn('reclaim: connectNative', e);
    scheduleReconnect();
    return;
  }
  port = p;
  lastSent = null;
  p.onMessage.addListener((msg) => {
    if (msg && msg.type === 'ready') retryMs = RETRY_MIN_MS;
  });
  p.onDisconnect.addListener(() => {
    if (port !== p) return;
    const err = api.runtime.lastError || p.error;
    if (err) console.warn('reclaim: native host disconnected:', err.message || err);
    port = null;
    lastSent = null;
    scheduleReconnect();
  });
  report();
}

api.tabs.onActivated.addListener(report);
api.tabs.onUpdated.addListener((tabId, change) => {
  if ('url' in change || change.status === 'complete' || 'title' in change) report();
});
api.tabs.onRemoved.addListener(report);
api.tabs.onAttached.addListener(report);
api.tabs.onDetached.addListener(report);
api.windows.onFocusChanged.addListener(report);
api.windows.onCreated.addListener(report);
api.windows.onRemoved.addListener(report);
api.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === 'reclaim-reconnect') report();
});
api.alarms.create('reclaim-reconnect', {periodInMinutes: 0.5});
api.runtime.onStartup.addListener(report);
api.runtime.onInstalled.addListener(report);
api.storage.onChanged.addListener((changes, area) => {
  if (area !== 'managed') return;
  policy = loadPolicy();
  report();
});

report();
