// The outputs page (#/outputs) and its chip on the dashboard strip: the link of every
// [[automation]] output (state, peer, backlog, last ACK) and the MQTT bridge, from
// GET /console/api/outputs (the figures /metrics exports). Own words below, in both languages.
"use strict";

Object.assign(window.I18N.en, {
  nav_outputs: "Outputs", outputs_title: "Outputs to other systems",
  outputs_automation: "Central-station outputs", outputs_mqtt: "MQTT bridge (Home Assistant)",
  outputs_none: "No outputs are configured ([[automation]], [mqtt]).",
  outputs_chip: "outputs up", out_kind: "Kind", out_mode: "Mode", out_state: "Link",
  out_peer: "Peer", out_backlog: "Backlog", out_last_ack: "Last ACK", out_sent: "Messages",
  out_broker: "Broker", out_last_error: "Last error",
  out_waiting: "waiting for the central station", out_connecting: "connecting", out_up: "up",
  out_failed: "failed (not answering)", out_stopped: "not running",
  out_connected: "connected", out_disconnected: "not connected",
  out_listen: "listen", out_connect: "connect",
});
Object.assign(window.I18N["zh-CN"], {
  nav_outputs: "输出", outputs_title: "对外输出",
  outputs_automation: "接警中心输出", outputs_mqtt: "MQTT 桥接（Home Assistant）",
  outputs_none: "未配置任何输出（[[automation]]、[mqtt]）。",
  outputs_chip: "路输出正常", out_kind: "类型", out_mode: "方式", out_state: "链路",
  out_peer: "对端", out_backlog: "积压", out_last_ack: "最后确认", out_sent: "已发消息",
  out_broker: "服务器", out_last_error: "最近错误",
  out_waiting: "等待接警中心连接", out_connecting: "正在连接", out_up: "正常",
  out_failed: "故障（无应答）", out_stopped: "未运行",
  out_connected: "已连接", out_disconnected: "未连接",
  out_listen: "监听", out_connect: "主动连接",
});

(function () {
  const h = App.h;

  function linkChip(good, text) {
    return h("span", { class: "chip " + (good ? "ok" : "bad") }, text);
  }

  function get(background) {
    return App.api("GET", "/console/api/outputs", null, background);
  }

  // How many links are up, of how many (automation outputs and the bridge).
  function tally(d) {
    const links = d.automation.map((a) => a.state === "up");
    if (d.mqtt) links.push(d.mqtt.connected);
    return [links.filter(Boolean).length, links.length];
  }

  // The strip's chip: shown only when outputs exist, red when any link is down.
  App.stripExtras = App.stripExtras || [];
  App.stripExtras.push(async function () {
    if (!App.me || !App.me.may.outputs) return null;
    const r = await get(true);
    if (!r.ok) return null;
    const [up, all] = tally(r.data);
    if (!all) return null;
    return h("a", { href: "#/outputs", class: "chip " + (up === all ? "ok" : "bad"), id: "outputs-chip" },
      h("b", {}, up + "/" + all), " ", t("outputs_chip"));
  });

  function automationTable(list) {
    return App.table([t("name"), t("out_kind"), t("out_mode"), t("out_state"), t("out_peer"), t("out_backlog"),
      t("out_last_ack"), t("out_sent")], list.map((a) => h("tr", { "data-output": a.name },
      h("td", {}, a.name), h("td", {}, a.kind), h("td", {}, t("out_" + a.mode)),
      h("td", { class: "out-state" }, linkChip(a.state === "up", t("out_" + a.state))),
      h("td", {}, a.peer || a.target || (a.listening ? t("out_listen") + " " + a.listening : "–")),
      h("td", { class: "out-backlog" }, a.backlog === undefined ? "–" : a.backlog),
      h("td", {}, App.fmtTime(a.last_ack_ms)), h("td", {}, a.sent === undefined ? "–" : a.sent))),
    t("outputs_automation"));
  }

  function mqttTable(m) {
    return App.table([t("out_broker"), t("out_state"), t("out_backlog"), t("out_last_error")],
      [h("tr", { id: "mqtt-row" }, h("td", {}, m.broker),
        h("td", {}, linkChip(m.connected, m.connected ? t("out_connected") : t("out_disconnected"))),
        h("td", {}, m.backlog), h("td", {}, m.last_error || ""))], t("outputs_mqtt"));
  }

  App.routes.outputs = function (page) {
    const out = h("div", { id: "outputs-out", "aria-live": "polite" });
    async function load(background) {
      const r = await get(background);
      if (!r.ok) { out.replaceChildren(App.errorBox(r)); return; }
      const d = r.data;
      const parts = [];
      if (d.automation.length) parts.push(automationTable(d.automation));
      if (d.mqtt) parts.push(mqttTable(d.mqtt));
      if (!parts.length) parts.push(h("p", {}, t("outputs_none")));
      out.replaceChildren(...parts);
    }
    page.append(h("h1", {}, t("outputs_title")), out);
    load(false);
    App.every(3000, () => load(true));
  };
})();
