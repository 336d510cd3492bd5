// The users and tokens page (admins): add a user, change its role, disable or enable it,
// reset its password; create a token (shown once, in this page only, never again) and revoke
// one. Every change goes to /console/api/users… and /console/api/tokens… with the session's
// CSRF token (App.api); the server checks the role, audits and answers a clear error.
"use strict";

Object.assign(window.I18N.en, {
  add_user: "Add a user", add_token: "Create a token", disabled: "Disabled", enabled: "Enabled",
  disable: "Disable", enable: "Enable", change_role: "Change role", reset_password: "Reset password",
  new_password: "New password (at least 12 characters)", revoke: "Revoke", expires: "Expires",
  expires_in: "Expires after (e.g. 90d, 12h; empty: never)", create: "Create", save: "Save",
  token_once: "The new token is shown only now; copy it and keep it secret:", done: "Done.",
  confirm_revoke: "Revoke this token? Programs using it are refused at once.",
  confirm_disable: "Disable this user? Its sessions end at once.", actions: "Actions",
  role_viewer: "viewer", role_operator: "operator", role_admin: "admin", role_integration: "integration",
});
Object.assign(window.I18N["zh-CN"], {
  add_user: "添加用户", add_token: "创建令牌", disabled: "已停用", enabled: "已启用",
  disable: "停用", enable: "启用", change_role: "修改角色", reset_password: "重置密码",
  new_password: "新密码（至少 12 个字符）", revoke: "吊销", expires: "过期时间",
  expires_in: "有效期（如 90d、12h；留空为永不过期）", create: "创建", save: "保存",
  token_once: "新令牌仅显示这一次，请复制并妥善保管：", done: "已完成。",
  confirm_revoke: "吊销此令牌？使用它的程序将立即被拒绝。",
  confirm_disable: "停用此用户？其会话将立即结束。", actions: "操作",
  role_viewer: "查看员", role_operator: "操作员", role_admin: "管理员", role_integration: "集成",
});

(function () {
  const h = App.h;
  const ROLES = ["viewer", "operator", "admin", "integration"];
  const roleSelect = (id, value) => h("select", { id }, ROLES.map((r) =>
    h("option", { value: r, selected: r === value }, t("role_" + r))));
  const enc = encodeURIComponent;

  const table = App.table;

  App.routes.users = async function (page) {
    const msg = h("p", { id: "users-msg", role: "status", "aria-live": "polite" });
    const secret = h("div", { id: "token-secret" });
    const usersOut = h("div", { id: "users-out" });
    const tokensOut = h("div", { id: "tokens-out" });

    // Run a change; on success show `ok` and reload the lists, else the server's message.
    async function change(path, body, ok) {
      const r = await App.api("POST", path, body);
      if (!r.ok) { msg.replaceChildren(App.errorBox(r)); return null; }
      msg.replaceChildren(h("span", { class: "ok" }, ok || t("done")));
      await load();
      return r.data;
    }

    function userRow(u) {
      const self = App.me && App.me.name === u.name;
      const role = roleSelect("role-" + u.name, u.role);
      const pw = h("input", { type: "password", autocomplete: "new-password", "aria-label": t("new_password") + " — " + u.name });
      const cells = [
        h("td", {}, u.name), h("td", {}, t("role_" + u.role)),
        h("td", {}, u.disabled ? h("strong", {}, t("disabled")) : t("enabled")),
        h("td", {}, App.fmtTime(u.created_at_ms)), h("td", {}, App.fmtTime(u.last_login_ms)),
        h("td", { class: "actions" },
          self ? null : h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); change("/console/api/users/" + enc(u.name) + "/role", { role: role.value }); } },
            h("label", { class: "visually-hidden", for: "role-" + u.name }, t("role")), role, h("button", { type: "submit" }, t("change_role"))),
          self ? null : h("button", { type: "button", "data-user": u.name, "data-action": u.disabled ? "enable" : "disable", onclick: () => {
            if (!u.disabled && !confirm(t("confirm_disable"))) return;
            change("/console/api/users/" + enc(u.name) + "/" + (u.disabled ? "enable" : "disable"), {});
          } }, u.disabled ? t("enable") : t("disable")),
          h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); const v = pw.value; pw.value = ""; change("/console/api/users/" + enc(u.name) + "/password", { password: v }); } },
            pw, h("button", { type: "submit" }, t("reset_password")))),
      ];
      return h("tr", { "data-name": u.name }, cells);
    }

    function tokenRow(k) {
      return h("tr", { "data-name": k.name }, h("td", {}, k.name), h("td", {}, t("role_" + k.role)),
        h("td", {}, App.fmtTime(k.created_at_ms)), h("td", {}, App.fmtTime(k.last_used_ms)),
        h("td", {}, k.expires_at_ms ? App.fmtTime(k.expires_at_ms) : t("never")),
        h("td", {}, h("button", { type: "button", "data-token": k.name, onclick: () => {
          if (confirm(t("confirm_revoke"))) change("/console/api/tokens/" + enc(k.name) + "/revoke", {});
        } }, t("revoke"))));
    }

    async function load() {
      const [u, k] = await Promise.all([App.api("GET", "/console/api/users"), App.api("GET", "/console/api/tokens")]);
      if (!u.ok) { usersOut.replaceChildren(App.errorBox(u)); return; }
      usersOut.replaceChildren(table([t("name"), t("role"), t("status"), t("created"), t("last_login"), t("actions")],
        u.data.users.map(userRow), t("users")));
      if (k.ok) tokensOut.replaceChildren(table([t("name"), t("role"), t("created"), t("last_used"), t("expires"), t("actions")],
        k.data.tokens.map(tokenRow), t("tokens")));
    }

    const un = h("input", { id: "nu-name", autocomplete: "off", required: true });
    const ur = roleSelect("nu-role", "operator");
    const up = h("input", { id: "nu-password", type: "password", autocomplete: "new-password", required: true });
    const addUser = h("form", { id: "add-user", class: "filters", onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: un.value, role: ur.value, password: up.value };
      up.value = "";
      if (await change("/console/api/users", body)) un.value = "";
    } }, h("label", { for: "nu-name" }, t("user_name")), un, h("label", { for: "nu-role" }, t("role")), ur,
      h("label", { for: "nu-password" }, t("new_password")), up, h("button", { type: "submit" }, t("add_user")));

    const tn = h("input", { id: "nt-name", autocomplete: "off", required: true });
    const tr = roleSelect("nt-role", "integration");
    const te = h("input", { id: "nt-expires", placeholder: "90d" });
    const addToken = h("form", { id: "add-token", class: "filters", onsubmit: async (e) => {
      e.preventDefault();
      secret.replaceChildren();
      const d = await change("/console/api/tokens", { name: tn.value, role: tr.value, expires: te.value });
      if (!d) return;
      tn.value = ""; te.value = "";
      // Shown once: only in this page's memory, gone on the next navigation.
      secret.replaceChildren(h("p", { role: "alert" }, t("token_once")), h("p", {}, h("code", { id: "new-token" }, d.token)));
    } }, h("label", { for: "nt-name" }, t("name")), tn, h("label", { for: "nt-role" }, t("role")), tr,
      h("label", { for: "nt-expires" }, t("expires_in")), te, h("button", { type: "submit" }, t("add_token")));

    page.append(h("h1", {}, t("nav_users")), msg,
      h("h2", {}, t("add_user")), addUser, usersOut,
      h("h2", {}, t("add_token")), addToken, secret, tokensOut);
    await load();
  };
})();
