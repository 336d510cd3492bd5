// The alarmhub console: login, the dashboard strip, navigation, and the panels, panel,
// events and audit pages (users and tokens: users.js). Plain DOM, no framework; every text goes in as text (never
// as HTML). The alarm queue lives in alarms.js. Times are shown in the browser's own zone.
"use strict";

const App = { me: null, routes: {}, cleanup: [], defaultRoute: "panels" };
window.App = App;

// h("tag", {attr: value, onclick: fn}, child, "text", …) → element.
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
App.h = h;

App.fmtTime = function (ms) {
  if (!ms) return t("never");
  return new Date(ms).toLocaleString(LANG === "zh-CN" ? "zh-CN" : undefined);
};

App.say = function (text) {
  document.getElementById("status").textContent = text;
};

// fetch JSON; POSTs carry the session's CSRF token. 401 shows the login form.
App.api = async function (method, path, body, background) {
  const opts = { method, credentials: "same-origin", headers: {} };
  // The script's own periodic refreshes do not count as the user's activity (idle timeout).
  if (background) opts.headers["x-background"] = "1";
  if (method !== "GET") {
    opts.headers["content-type"] = "application/json";
    if (App.me) opts.headers["x-csrf-token"] = App.me.csrf;
    opts.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    return { ok: false, status: 0, data: { error: String(e) } };
  }
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  if (res.status === 401 && path !== "/console/api/login") {
    App.showLogin(data.error);
  }
  return { ok: res.ok, status: res.status, data };
};

App.errorBox = function (r) {
  const msg = r.status === 403 ? t("denied") + " " + (r.data.error || "") : (r.data.error || t("error"));
  return h("p", { class: "error", role: "alert" }, msg);
};

App.showLogin = function (why) {
  App.me = null;
  App.stop();
  document.getElementById("top").hidden = true;
  document.getElementById("page").replaceChildren();
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("login-error").textContent = why && App.wasLoggedIn ? why : "";
  document.getElementById("login-name").focus();
};

App.stop = function () {
  for (const f of App.cleanup.splice(0)) { try { f(); } catch (e) { /* already gone */ } }
};

App.every = function (ms, fn) {
  const id = setInterval(fn, ms);
  App.cleanup.push(() => clearInterval(id));
};

async function login(ev) {
  ev.preventDefault();
  const name = document.getElementById("login-name").value;
  const password = document.getElementById("login-password").value;
  const r = await App.api("POST", "/console/api/login", { name, password });
  if (!r.ok) {
    document.getElementById("login-error").textContent = r.data.error || t("error");
    return;
  }
  document.getElementById("login-password").value = "";
  start(r.data);
}

function start(me) {
  App.me = me;
  App.wasLoggedIn = true;
  document.getElementById("login").hidden = true;
  document.getElementById("top").hidden = false;
  document.getElementById("whoami").textContent = me.name + " (" + me.role + ")";
  const links = [["queue", "nav_queue"], ["panels", "nav_panels"], ["events", "nav_events"]];
  if (me.may.audit) links.push(["audit", "nav_audit"]);
  if (me.may.users) links.push(["users", "nav_users"]);
  if (me.may.outputs) links.push(["outputs", "nav_outputs"]);
  document.getElementById("nav").replaceChildren(h("ul", {}, links.map(([r, k]) =>
    h("li", {}, h("a", { href: "#/" + r, "data-route": r }, t(k))))));
  refreshStrip();
  route();
}

async function refreshStrip() {
  if (!App.me) return;
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const r = await App.api("GET", "/console/api/dashboard?day_start_ms=" + midnight.getTime(), null, true);
  if (!r.ok) return;
  const d = r.data;
  const items = [
    h("span", { class: "chip ok" }, h("b", {}, d.panels_online), " ", t("panels_online")),
    h("span", { class: "chip" + (d.panels_offline ? " bad" : "") }, h("b", {}, d.panels_offline), " ", t("panels_offline")),
  ];
  if (d.open_alarms) {
    for (const [p, n] of Object.entries(d.open_alarms)) {
      items.push(h("span", { class: "chip p" + p, title: t("p" + p) }, h("b", {}, n), " ", t("p" + p)));
    }
    items.push(h("span", { class: "chip" }, h("b", {}, d.handled_today), " ", t("handled_today")));
    if (d.median_take_ms !== null && d.median_take_ms !== undefined) {
      items.push(h("span", { class: "chip" }, t("median_take"), " ", h("b", {}, Math.round(d.median_take_ms / 1000) + t("seconds"))));
    }
  }
  // Chips other scripts add (outputs.js: the outputs' links).
  for (const f of App.stripExtras || []) {
    const el = await f();
    if (el) items.push(el);
  }
  document.getElementById("strip").replaceChildren(...items);
}
App.refreshStrip = refreshStrip;

function route() {
  if (!App.me) return;
  App.stop();
  App.every(5000, refreshStrip);
  const parts = (location.hash.replace(/^#\/?/, "") || App.defaultRoute).split("/");
  const name = App.routes[parts[0]] ? parts[0] : App.defaultRoute;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = document.getElementById("page");
  page.replaceChildren();
  App.routes[name](page, parts.slice(1).map(decodeURIComponent));
}
App.route = route;

function table(head, rows, caption) {
  return h("table", {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows));
}
App.table = table;

// Section states of a three-section host; none when the host has no sections (all -1).
function sectionsOf(m) {
  return m.section_status.some((s) => s >= 0) ? m.section_status : [];
}
App.sectionsOf = sectionsOf;

function statusName(n) {
  return { 0: t("arm_away"), 1: t("arm_stay"), 2: t("disarm"), 3: "setting" }[n] || "?";
}
App.statusName = statusName;

function onlineChip(online) {
  return h("span", { class: "chip " + (online ? "ok" : "bad") }, online ? t("online") : t("offline"));
}
App.onlineChip = onlineChip;

// Panels: search by account prefix or name, online/offline, type; paged.
App.routes.panels = function (page) {
  const q = h("input", { id: "pq", type: "search", placeholder: t("search_panels") });
  const online = h("select", { id: "ponline" },
    h("option", { value: "" }, t("any")), h("option", { value: "true" }, t("online")),
    h("option", { value: "false" }, t("offline")));
  const type = h("input", { id: "ptype", type: "number", min: "-1", max: "12", inputmode: "numeric" });
  const out = h("div", { id: "panels-out" });
  let token = "";
  async function load(reset) {
    if (reset) token = "";
    const p = new URLSearchParams({ q: q.value, page_token: token, page_size: "50" });
    if (online.value) p.set("online", online.value);
    if (type.value !== "") p.set("type", type.value);
    const r = await App.api("GET", "/console/api/panels?" + p, null, !reset);
    if (!r.ok) { out.replaceChildren(App.errorBox(r)); return; }
    const rows = r.data.panels.map((m) => h("tr", {},
      h("td", {}, h("a", { href: "#/panel/" + encodeURIComponent(m.account) }, m.account)),
      h("td", {}, m.name), h("td", {}, onlineChip(m.online)), h("td", {}, m.type_name || m.dialect || "?"),
      h("td", {}, statusName(m.status), sectionsOf(m).length ? " [" + sectionsOf(m).map(statusName).join(", ") + "]" : ""),
      h("td", {}, m.signal_strength < 0 ? "–" : m.signal_strength + "/31"),
      h("td", {}, App.fmtTime(m.last_seen_ms))));
    const next = r.data.next_page_token;
    out.replaceChildren(
      table([t("account"), t("name"), t("status"), t("type"), t("sections"), t("signal"), t("last_seen")], rows,
        r.data.total + " " + t("nav_panels")),
      h("p", {}, token ? h("button", { type: "button", onclick: () => load(true) }, t("prev_page")) : null, " ",
        next ? h("button", { type: "button", onclick: () => { token = next; load(false); } }, t("next_page")) : null));
  }
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); load(true); } },
    h("label", {}, t("search"), " ", q), h("label", {}, t("status"), " ", online),
    h("label", {}, t("type"), " ", type), h("button", { type: "submit" }, t("search")));
  page.append(h("h1", {}, t("nav_panels")), form, out);
  load(true);
  App.every(10000, () => load(false));
};

function eventRow(e, withAccount) {
  const d = e.detail || {};
  return h("tr", {},
    h("td", {}, App.fmtTime(e.received_at_ms)),
    withAccount ? h("td", {}, h("a", { href: "#/panel/" + encodeURIComponent(e.account) }, e.account)) : null,
    h("td", {}, e.name || e.sia_code || e.code, " ", h("small", {}, e.code ? "(" + e.code + ")" : "")),
    h("td", {}, e.zone), h("td", {}, e.group), h("td", {}, e.source),
    h("td", {}, e.source === "control" ? e.peer : ""),
    h("td", {}, d.outcome || ""));
}
App.eventRow = eventRow;

// A panel: state, active zones, arm/disarm with the host's real outcome, history, commands.
App.routes.panel = async function (page, [account]) {
  const r = await App.api("GET", "/console/api/panels/" + encodeURIComponent(account));
  if (!r.ok) { page.append(App.errorBox(r)); return; }
  const { panel: m, events, may_control } = r.data;
  page.append(h("h1", {}, t("panel"), " ", m.account, m.name ? " — " + m.name : ""));
  page.append(h("dl", { class: "facts" },
    h("dt", {}, t("status")), h("dd", {}, onlineChip(m.online)),
    h("dt", {}, t("type")), h("dd", {}, m.type_name || m.dialect || "?"),
    h("dt", {}, t("arm_status")), h("dd", { id: "arm-status" }, statusName(m.status)),
    sectionsOf(m).length ? [h("dt", {}, t("sections")), h("dd", {}, sectionsOf(m).map((s, i) => (i + 1) + ": " + statusName(s)).join(" · "))] : null,
    h("dt", {}, t("signal")), h("dd", {}, m.signal_strength < 0 ? "–" : m.signal_strength + "/31"),
    h("dt", {}, t("last_seen")), h("dd", {}, App.fmtTime(m.last_seen_ms)),
    h("dt", {}, t("active_zones")), h("dd", {}, m.active_alarms.length ? m.active_alarms.map((a) => a.zone + " (" + a.code + ")").join(", ") : t("none"))));
  if (may_control) page.append(controlBox(m));
  page.append(table([t("time"), t("event"), t("zone"), t("group"), t("source"), t("by"), t("outcome")],
    events.map((e) => eventRow(e, false)), t("history")));
  // The audit log's rows about this panel: every command with who sent it and the outcome.
  const audit = await App.api("GET", "/console/api/panels/" + encodeURIComponent(account) + "/audit");
  if (!audit.ok) { page.append(App.errorBox(audit)); return; }
  const word = (k, v) => (I18N.en[k + v] ? t(k + v) : v);
  const what = (a) => [a.detail && a.detail.action ? word("", a.detail.action) : "",
    a.detail && a.detail.section ? t("section") + " " + a.detail.section : ""].filter(Boolean).join(" · ");
  page.append(h("div", { id: "panel-audit" }, table([t("time"), t("who"), t("role"), t("action"), t("detail"), t("outcome")],
    audit.data.entries.map((a) => h("tr", { "data-outcome": a.outcome }, h("td", {}, App.fmtTime(a.at_ms)), h("td", {}, a.who),
      h("td", {}, a.role), h("td", {}, a.action), h("td", {}, what(a)), h("td", {}, word("outcome_", a.outcome)))), t("commands"))));
};

function controlBox(m) {
  const result = h("p", { id: "control-result", role: "status", "aria-live": "polite" });
  const section = h("select", { id: "control-section" }, h("option", { value: "0" }, t("whole_host")),
    sectionsOf(m).map((_, i) => h("option", { value: String(i + 1) }, t("section") + " " + (i + 1))));
  const pw = h("input", { id: "control-password", type: "password", inputmode: "numeric", autocomplete: "off", pattern: "[0-9]{6,8}" });
  const pwForm = h("form", { id: "control-form", class: "prompt", hidden: true }, h("label", {}, t("host_password"), " ", pw),
    h("button", { type: "submit", id: "control-send" }, t("send")),
    h("button", { type: "button", onclick: () => { pwForm.hidden = true; pw.value = ""; } }, t("cancel")));
  let action = "";
  async function send(act, password) {
    result.textContent = t("sending");
    result.className = "";
    const r = await App.api("POST", "/console/api/panels/" + encodeURIComponent(m.account) + "/control",
      { action: act, section: Number(section.value), password: password || "" });
    if (!r.ok) { result.textContent = (r.status === 403 ? t("denied") + " " : "") + (r.data.error || t("error")); result.className = "error"; return; }
    const o = r.data.outcome;
    result.textContent = t("host_answered") + ": " + t("outcome_" + o) + (r.data.message ? " — " + r.data.message : "");
    result.className = o === "done" ? "good" : "error";
    result.dataset.outcome = o;
    setTimeout(() => App.route(), 1500);
  }
  pwForm.addEventListener("submit", (e) => { e.preventDefault(); pwForm.hidden = true; const v = pw.value; pw.value = ""; send(action, v); });
  const btn = (act) => h("button", { type: "button", class: "control", "data-action": act, onclick: () => {
    action = act;
    if (act === "disarm") { pwForm.hidden = false; pw.focus(); } else { send(act, ""); }
  } }, t(act));
  return h("section", { class: "control-box", "aria-label": t("arm_status") },
    h("label", {}, t("section"), " ", section), " ", btn("arm_away"), " ", btn("arm_stay"), " ", btn("disarm"), pwForm, result);
}

function localMs(input) {
  return input.value ? String(new Date(input.value).getTime()) : "0";
}

// Event history search.
App.routes.events = function (page) {
  const acct = h("input", { id: "eacct" });
  const from = h("input", { id: "efrom", type: "datetime-local" });
  const to = h("input", { id: "eto", type: "datetime-local" });
  const code = h("input", { id: "ecode", type: "number", min: "0", max: "9999" });
  const out = h("div", {});
  let token = "";
  async function load(reset) {
    if (reset) token = "";
    const p = new URLSearchParams({ account: acct.value, from_ms: localMs(from), to_ms: localMs(to), code: code.value || "0", page_token: token, page_size: "100" });
    const r = await App.api("GET", "/console/api/events?" + p);
    if (!r.ok) { out.replaceChildren(App.errorBox(r)); return; }
    const next = r.data.next_page_token;
    out.replaceChildren(r.data.events.length ? table([t("time"), t("account"), t("event"), t("zone"), t("group"), t("source"), t("by"), t("outcome")],
      r.data.events.map((e) => eventRow(e, true))) : h("p", {}, t("events_none")),
    h("p", {}, token ? h("button", { type: "button", onclick: () => load(true) }, t("prev_page")) : null, " ",
      next ? h("button", { type: "button", onclick: () => { token = next; load(false); } }, t("next_page")) : null));
  }
  page.append(h("h1", {}, t("nav_events")), h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); load(true); } },
    h("label", {}, t("account"), " ", acct), h("label", {}, t("from"), " ", from), h("label", {}, t("to"), " ", to),
    h("label", {}, t("code"), " ", code), h("button", { type: "submit" }, t("search"))), out);
  load(true);
};

// The audit trail (admins).
App.routes.audit = function (page) {
  const who = h("input", { id: "awho" });
  const out = h("div", {});
  let token = "";
  async function load(reset) {
    if (reset) token = "";
    const r = await App.api("GET", "/console/api/audit?" + new URLSearchParams({ who: who.value, page_token: token }));
    if (!r.ok) { out.replaceChildren(App.errorBox(r)); return; }
    const next = r.data.next_page_token;
    out.replaceChildren(table([t("time"), t("who"), t("role"), t("kind"), t("addr"), t("action"), t("target"), t("outcome"), t("detail")],
      r.data.entries.map((a) => h("tr", {}, h("td", {}, App.fmtTime(a.at_ms)), h("td", {}, a.who), h("td", {}, a.role),
        h("td", {}, a.kind), h("td", {}, a.addr), h("td", {}, a.action), h("td", {}, a.target), h("td", {}, a.outcome),
        h("td", {}, h("code", {}, a.detail))))),
    h("p", {}, next ? h("button", { type: "button", onclick: () => { token = next; load(false); } }, t("next_page")) : null));
  }
  page.append(h("h1", {}, t("nav_audit")), h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); load(true); } },
    h("label", {}, t("who"), " ", who), h("button", { type: "submit" }, t("search"))), out);
  load(true);
};

document.addEventListener("DOMContentLoaded", async () => {
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  const sw = document.getElementById("lang-switch");
  sw.value = LANG;
  sw.addEventListener("change", () => {
    document.cookie = "alarmhub_lang=" + sw.value + "; path=/; SameSite=Strict; max-age=31536000";
    location.reload();
  });
  document.getElementById("login").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", async () => {
    await App.api("POST", "/console/api/logout");
    App.wasLoggedIn = false;
    App.showLogin();
  });
  window.addEventListener("hashchange", route);
  const r = await App.api("GET", "/console/api/me");
  if (r.ok) start(r.data);
});
