// The alarm queue: open alarms by priority then age, live over server-sent events (a change
// reaches the page as soon as the store commits it), aging colours, a sound on a new alarm,
// filters, paging (100 at a time; the list never loads 10,000 rows at once; new alarms
// always show), and the
// selected alarm's handling: take, note, release, close with a resolution, panel context.
// Keyboard: Tab to the list, ↑/↓ between alarms, Enter to open one.
"use strict";
(function () {
  const { h } = App;
  App.defaultRoute = "queue";
  const Q = { alarms: new Map(), nodes: new Map(), dirty: new Set(), more: "", selected: null, source: null, resolutions: [], filters: { state: "open", priority: "0", account: "" } };
  window.AlarmQueue = Q;

  function sortKey(a, b) { return a.priority - b.priority || a.opened_at_ms - b.opened_at_ms || a.id - b.id; }
  function matches(a) {
    const f = Q.filters;
    if (f.state === "open" ? a.state === "closed" : a.state !== f.state) return false;
    if (f.priority !== "0" && String(a.priority) !== f.priority) return false;
    if (f.account && !a.account.startsWith(f.account)) return false;
    return true;
  }
  function ageText(ms) {
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    return s < 120 ? s + t("seconds") : Math.floor(s / 60) + t("minutes");
  }
  function ageClass(a) {
    if (a.state !== "new") return "";
    if (a.escalated) return "age3";
    const due = a.take_due_ms || a.opened_at_ms + 120000;
    const frac = (Date.now() - a.opened_at_ms) / Math.max(1, due - a.opened_at_ms);
    return frac >= 1 ? "age3" : frac >= 0.66 ? "age2" : frac >= 0.33 ? "age1" : "";
  }
  function who(actor) { return (actor || "").replace(/^(user|token):/, ""); }
  function beep() {
    if (localStorage.getItem("alarmhub_sound") === "off") return;
    try {
      const ctx = Q.audio || (Q.audio = new AudioContext());
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.35);
    } catch (e) { /* no audio device */ }
  }

  function row(a) {
    const title = [t("p" + a.priority) + " · " + a.category, a.account + (a.name ? " " + a.name : ""), t("zone") + " " + a.zone].join(" — ");
    const meta = [t("state_" + a.state) + (a.taken_by ? " (" + who(a.taken_by) + ")" : ""),
      t("count") + " " + a.event_count, a.escalated ? t("escalated") : ""].filter(Boolean).join(" · ");
    return h("li", {}, h("button", {
      type: "button", class: ["row", "p" + a.priority, ageClass(a), a.escalated ? "escalated" : "", a.state].join(" "),
      "data-id": a.id, "data-account": a.account, "data-state": a.state, "data-opened": a.opened_at_ms,
      "aria-pressed": String(Q.selected === a.id), onclick: () => select(a.id), onkeydown: keys,
    }, h("span", { class: "age", "data-age": a.opened_at_ms }, ageText(a.opened_at_ms)), h("span", { class: "title" }, title),
    h("span", { class: "prio" }, "P" + a.priority), h("span", { class: "meta" }, meta)));
  }
  function keys(ev) {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    ev.preventDefault();
    const li = ev.target.closest("li");
    const next = ev.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
    if (next) next.querySelector("button").focus();
  }
  // Keyed drawing: only changed alarms get a new row; the rest are moved, never rebuilt.
  function render() {
    const list = document.getElementById("queue-list");
    if (!list) return;
    const sorted = [...Q.alarms.values()].sort(sortKey);
    const active = document.activeElement;
    const focused = active && active.closest && active.closest("#queue-list") ? active.dataset.id : null;
    for (const [id, node] of Q.nodes) {
      if (!Q.alarms.has(id)) { node.remove(); Q.nodes.delete(id); }
    }
    let prev = null;
    for (const a of sorted) {
      let node = Q.nodes.get(a.id);
      if (!node || Q.dirty.has(a.id)) {
        if (node) node.remove();
        node = row(a);
        Q.nodes.set(a.id, node);
      }
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== node) list.insertBefore(node, want);
      prev = node;
    }
    Q.dirty.clear();
    if (focused && document.activeElement !== active) {
      const b = list.querySelector('button[data-id="' + focused + '"]');
      if (b) b.focus();
    }
    document.getElementById("queue-empty").hidden = sorted.length > 0;
    document.getElementById("queue-count").textContent = sorted.length + (Q.more ? "+" : "") + " " + t("open_alarms");
    document.getElementById("queue-more").hidden = !Q.more;
  }
  function apply(a) {
    const had = Q.alarms.has(a.id);
    if (!matches(a)) { Q.alarms.delete(a.id); return had; }
    // A new alarm always shows, even while later pages are not loaded (they merge by id).
    Q.alarms.set(a.id, a);
    Q.dirty.add(a.id);
    return true;
  }
  // Changes can come 100 a second: draw at most every 100 ms.
  function schedule() {
    if (Q.drawTimer) return;
    Q.drawTimer = setTimeout(() => { Q.drawTimer = null; render(); }, 100);
  }

  async function load(token) {
    const f = Q.filters;
    const p = new URLSearchParams({ state: f.state, priority: f.priority, account: f.account, page_token: token || "", page_size: "100" });
    const r = await App.api("GET", "/console/api/alarms?" + p);
    if (!r.ok) { document.getElementById("queue-error").replaceChildren(App.errorBox(r)); return null; }
    Q.resolutions = r.data.resolutions;
    Q.me = r.data.me;
    for (const a of r.data.alarms) { Q.alarms.set(a.id, a); Q.dirty.add(a.id); }
    Q.more = r.data.next_page_token;
    render();
    return r.data.change_seq;
  }
  function listen(fromSeq) {
    if (Q.source) Q.source.close();
    const live = document.getElementById("queue-live");
    // The cursor: the seq of the last change applied. A dropped stream resumes after it.
    Q.cursor = fromSeq;
    const es = new EventSource("/console/api/alarms/stream?from_seq=" + fromSeq);
    Q.source = es;
    es.addEventListener("open", () => { Q.retry = 0; });
    es.addEventListener("live", () => { live.textContent = "● " + t("live"); live.className = "live"; });
    es.addEventListener("change", (ev) => {
      const c = JSON.parse(ev.data);
      if (typeof c.seq === "number") Q.cursor = c.seq;
      if (!c.alarm) return;
      const changed = apply(c.alarm);
      if (c.kind === "opened" && changed) { beep(); App.say(t("new_alarm") + ": " + c.alarm.account + " " + c.alarm.category); }
      if (changed) schedule();
      if (Q.selected === c.alarm.id) showDetail(c.alarm.id);
      // The strip's figures are recomputed at most every 2 s on the server.
      clearTimeout(Q.stripTimer);
      Q.stripTimer = setTimeout(App.refreshStrip, 2100);
    });
    // A dropped stream is resumed, not reloaded: while the browser retries by itself it sends
    // Last-Event-ID (the server replays every change after it); when it gave up (the server
    // answered an error, e.g. during a restart), a new stream starts from the cursor.
    es.onerror = () => {
      live.textContent = t("reconnecting"); live.className = "live down";
      if (es.readyState !== EventSource.CLOSED) return;
      const wait = Math.min(30000, 1000 * 2 ** Math.min(Q.retry = (Q.retry || 0) + 1, 5));
      setTimeout(async () => {
        if (Q.source !== es || !document.getElementById("queue-list")) return;
        // A session that ended shows the login form (App.api); otherwise resume.
        const me = await App.api("GET", "/console/api/me", null, true);
        if (me.ok && Q.source === es) listen(Q.cursor);
      }, wait);
    };
    App.cleanup.push(() => es.close());
  }
  async function restart() {
    Q.alarms.clear();
    Q.dirty.clear();
    Q.nodes.clear();
    const list = document.getElementById("queue-list");
    if (list) list.replaceChildren();
    const seq = await load("");
    if (seq !== null) listen(seq);
  }

  function select(id) {
    Q.selected = id;
    for (const b of document.querySelectorAll("#queue-list button.row")) b.setAttribute("aria-pressed", String(Number(b.dataset.id) === id));
    showDetail(id);
  }

  async function act(id, what, body) {
    const r = await App.api("POST", "/console/api/alarms/" + id + "/" + what, body || {});
    const out = document.getElementById("alarm-result");
    if (!r.ok) { out.textContent = (r.status === 403 ? t("denied") + " " : "") + (r.data.error || t("error")); out.className = "error"; return false; }
    out.textContent = ""; out.className = "";
    if (r.data.alarm && apply(r.data.alarm)) render();
    showDetail(id);
    return true;
  }

  async function showDetail(id) {
    const pane = document.getElementById("queue-detail");
    const r = await App.api("GET", "/console/api/alarms/" + id);
    if (!r.ok) { pane.replaceChildren(App.errorBox(r)); return; }
    const { alarm: a, events, notes, panel, recent_events } = r.data;
    const mine = a.taken_by === Q.me;
    const may = App.me.may.handle_alarms;
    const actions = [];
    if (may && a.state === "new") actions.push(h("button", { type: "button", id: "alarm-take", class: "primary", onclick: () => act(a.id, "take") }, t("take")));
    if (may && a.state === "taken" && !mine) {
      actions.push(h("button", { type: "button", id: "alarm-take", disabled: true }, t("take")));
      if (App.me.role === "admin") actions.push(h("button", { type: "button", onclick: () => act(a.id, "take", { force: true }) }, t("take") + " (admin)"));
    }
    if (may && mine) {
      const note = h("textarea", { id: "alarm-note", rows: "2" });
      const res = h("select", { id: "alarm-resolution" }, Q.resolutions.map((x) =>
        h("option", { value: x.code, "data-false-alarm": x.false_alarm }, x.label || x.code)));
      actions.push(h("button", { type: "button", id: "alarm-release", onclick: () => act(a.id, "release") }, t("release")),
        h("label", { class: "grow" }, t("note_text"), " ", note),
        h("button", { type: "button", id: "alarm-add-note", onclick: async () => { if (await act(a.id, "note", { text: note.value })) note.value = ""; } }, t("note")),
        h("label", {}, t("resolution"), " ", res),
        h("button", { type: "button", id: "alarm-close", class: "primary", onclick: () => act(a.id, "close", { resolution: res.value, note: note.value }) }, t("close")));
    }
    pane.replaceChildren(h("div", {},
      h("h2", {}, t("alarm") + " #" + a.id + " — " + t("p" + a.priority) + " (" + a.category + ")"),
      h("dl", { class: "facts" },
        h("dt", {}, t("panel")), h("dd", {}, h("a", { href: "#/panel/" + encodeURIComponent(a.account) }, a.account), a.name ? " — " + a.name : ""),
        h("dt", {}, t("state")), h("dd", { id: "alarm-state", "data-state": a.state }, t("state_" + a.state), a.taken_by ? " — " + t("taken_by") + " " + who(a.taken_by) : ""),
        h("dt", {}, t("time")), h("dd", {}, App.fmtTime(a.opened_at_ms), " (" + ageText(a.opened_at_ms) + ")"),
        h("dt", {}, t("zone")), h("dd", {}, a.zones.map((z) => z.zone + " (" + z.code + ")" + (z.restored ? " ✓" : "")).join(", ") || a.zone),
        h("dt", {}, t("count")), h("dd", {}, a.event_count),
        a.resolution ? [h("dt", {}, t("resolution")), h("dd", {}, a.resolution + (a.false_alarm ? " (" + t("false_alarm") + ")" : ""))] : null),
      h("div", { class: "actions" }, actions),
      h("p", { id: "alarm-result", role: "status", "aria-live": "polite" }),
      notes.length ? App.table([t("time"), t("by"), t("note_text")], notes.map((n) => h("tr", {}, h("td", {}, App.fmtTime(n.at_ms)), h("td", {}, who(n.author)), h("td", {}, n.text))), t("notes")) : null,
      App.table([t("time"), t("event"), t("zone"), t("group"), t("source"), t("by"), t("outcome")], events.map((e) => App.eventRow(e, false)), t("events")),
      panel ? h("section", { "aria-label": t("context") }, h("h2", {}, t("context")),
        h("dl", { class: "facts" },
          h("dt", {}, t("status")), h("dd", {}, App.onlineChip(panel.online)),
          h("dt", {}, t("arm_status")), h("dd", {}, App.statusName(panel.status)),
          h("dt", {}, t("active_zones")), h("dd", {}, panel.active_alarms.map((z) => z.zone + " (" + z.code + ")").join(", ") || t("none")),
          h("dt", {}, t("last_seen")), h("dd", {}, App.fmtTime(panel.last_seen_ms))),
        App.table([t("time"), t("event"), t("zone"), t("group"), t("source"), t("by"), t("outcome")], recent_events.map((e) => App.eventRow(e, false)), t("recent_events"))) : null));
  }

  App.routes.queue = function (page, [id]) {
    const f = Q.filters;
    const state = h("select", { id: "qstate" }, [["open", "open_states"], ["new", "state_new"], ["taken", "state_taken"]].map(([v, k]) =>
      h("option", { value: v, selected: f.state === v }, t(k))));
    const prio = h("select", { id: "qprio" }, h("option", { value: "0" }, t("any")),
      [1, 2, 3, 4, 5, 6].map((n) => h("option", { value: String(n), selected: f.priority === String(n) }, n + " " + t("p" + n))));
    const acct = h("input", { id: "qacct", value: f.account });
    const sound = h("input", { id: "qsound", type: "checkbox", checked: localStorage.getItem("alarmhub_sound") !== "off" });
    sound.addEventListener("change", () => localStorage.setItem("alarmhub_sound", sound.checked ? "on" : "off"));
    const form = h("form", { class: "filters", role: "search", onsubmit: (e) => {
      e.preventDefault(); Q.filters = { state: state.value, priority: prio.value, account: acct.value.trim() }; restart();
    } }, h("label", {}, t("filter_state"), " ", state), h("label", {}, t("filter_priority"), " ", prio),
    h("label", {}, t("filter_account"), " ", acct), h("button", { type: "submit" }, t("search")),
    h("label", { class: "check" }, h("span", {}, t("sound")), sound),
    h("span", { id: "queue-live", class: "live down" }, t("reconnecting")), h("span", { id: "queue-count" }));
    page.append(h("h1", {}, t("nav_queue")), form, h("div", { id: "queue-error" }),
      h("div", { class: "queue-layout" },
        h("section", { "aria-label": t("nav_queue") },
          h("ol", { id: "queue-list", class: "queue" }),
          h("p", { id: "queue-empty", hidden: true }, t("no_alarms")),
          h("p", {}, h("button", { type: "button", id: "queue-more", hidden: true, onclick: () => load(Q.more) }, t("more")))),
        h("section", { id: "queue-detail", class: "detail", "aria-label": t("alarm") }, h("p", {}, t("select_alarm")))));
    App.every(1000, () => {
      for (const el of document.querySelectorAll("#queue-list [data-age]")) el.textContent = ageText(Number(el.dataset.age));
    });
    // Aging colours move on: redraw every row every 10 s.
    App.every(10000, () => { for (const id of Q.alarms.keys()) Q.dirty.add(id); render(); });
    restart().then(() => { if (id) select(Number(id)); });
  };
})();
