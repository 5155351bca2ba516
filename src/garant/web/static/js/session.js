/*
 * Garant session box: log in with a password (the server sets an HttpOnly, SameSite=Strict
 * session cookie; this script never sees it), show who is logged in, log out. The CSRF token
 * the login returns is kept in sessionStorage for writes made from this tab. After a login or
 * logout the map's filter form is resubmitted, so the map shows what the new caller may see.
 */
(function () {
  "use strict";
  var api = document.body.dataset.apiBase || "/api/v1";
  var form = document.getElementById("garant-login");
  if (!form) return;
  var who = document.getElementById("garant-whoami");
  var fields = document.getElementById("garant-login-fields");
  var logout = document.getElementById("garant-logout");
  var message = document.getElementById("garant-login-message");

  function show(me) {
    var known = me && me.kind !== "anonymous";
    who.textContent = known ? me.name + " (" + me.role + ", " + me.org + ")" : "public view";
    fields.hidden = known;
    logout.hidden = !known;
    document.body.dataset.session = known ? me.name : "anonymous";
  }

  function refresh() {
    var filter = document.getElementById("garant-filter");
    if (filter && filter.requestSubmit) filter.requestSubmit();
  }

  function call(method, path, body) {
    var headers = { "Accept": "application/json" };
    var csrf = sessionStorage.getItem("garant-csrf");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
    return fetch(api + path, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    message.hidden = true;
    var data = new FormData(form);
    call("POST", "/auth/session", { username: data.get("username"), password: data.get("password") })
      .then(function (res) {
        if (!res.ok) {
          message.textContent = res.data.detail || "login refused";
          message.hidden = false;
          return;
        }
        sessionStorage.setItem("garant-csrf", res.data.csrf_token);
        form.reset();
        show(res.data.user);
        refresh();
      });
  });

  logout.addEventListener("click", function () {
    call("DELETE", "/auth/session").then(function () {
      sessionStorage.removeItem("garant-csrf");
      show(null);
      refresh();
    });
  });

  call("GET", "/auth/me").then(function (res) { show(res.ok ? res.data : null); });
})();
