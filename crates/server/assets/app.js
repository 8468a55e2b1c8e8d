// andibase console: a few behaviours wired by data- attributes; no framework, no build.
(function () {
  "use strict";

  function showError(box, payload, status) {
    if (!box) return;
    var text = (payload && payload.message) || ("Request failed (" + status + ")");
    if (payload && payload.issues) {
      text += "\n" + payload.issues.map(function (i) { return "• " + (i.path || []).join(".") + ": " + i.message; }).join("\n");
    }
    box.textContent = text;
    box.hidden = false;
  }

  function call(method, url, body, ws) {
    var headers = { "Content-Type": "application/json" };
    if (ws) headers["x-workspace-handle"] = ws;
    return fetch(url, { method: method, headers: headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.text().then(function (t) {
          var p = null;
          try { p = t ? JSON.parse(t) : null; } catch (e) { p = null; }
          return { ok: r.ok, status: r.status, payload: p };
        });
      });
  }

  function fieldsOf(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      if (el.type === "checkbox") { out[el.name] = el.checked; return; }
      if (el.value === "") return;
      out[el.name] = el.value;
    });
    return out;
  }

  function after(el, res) {
    var next = el.getAttribute("data-redirect");
    if (next === "reload") { location.reload(); return; }
    if (next === "next") {
      var n = new URLSearchParams(location.search).get("next");
      location.href = n && n.charAt(0) === "/" && n.charAt(1) !== "/" ? n : "/";
      return;
    }
    if (next) {
      // `{field}` in the target is taken from the answer: `/w/x/data/{handle}/fields`.
      location.href = next.replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent((res.payload && res.payload[k]) || ""); });
      return;
    }
    var target = el.getAttribute("data-result");
    if (target) {
      var box = document.getElementById(target);
      var field = el.getAttribute("data-result-field");
      var value = res.payload;
      if (field) field.split(".").forEach(function (k) { value = value && value[k]; });
      box.textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2);
      box.hidden = false;
      var wrap = document.getElementById(target + "-wrap");
      if (wrap) wrap.hidden = false;
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-api")) return;
    ev.preventDefault();
    var box = form.querySelector(".error");
    if (box) box.hidden = true;
    var button = form.querySelector("button[type=submit],button:not([type])");
    if (button) button.disabled = true;
    call(form.getAttribute("data-method") || "POST", form.getAttribute("data-api"), fieldsOf(form), form.getAttribute("data-ws"))
      .then(function (res) {
        if (button) button.disabled = false;
        if (res.ok) after(form, res); else showError(box, res.payload, res.status);
      });
  });

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-action]");
    if (!el) return;
    ev.preventDefault();
    var confirmText = el.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) return;
    var body = el.getAttribute("data-body");
    var extra = el.getAttribute("data-fields-from");
    var payload = body ? JSON.parse(body) : undefined;
    if (extra) {
      payload = payload || {};
      var src = fieldsOf(document.getElementById(extra));
      Object.keys(src).forEach(function (k) { payload[k] = src[k]; });
    }
    var box = document.getElementById(el.getAttribute("data-error") || "") || el.parentElement.querySelector(".error");
    el.disabled = true;
    call(el.getAttribute("data-method") || "POST", el.getAttribute("data-action"), payload, el.getAttribute("data-ws"))
      .then(function (res) {
        el.disabled = false;
        if (res.ok) after(el, res); else showError(box, res.payload, res.status);
      });
  });

  // For the data pages' script.
  window.andibase = { call: call, showError: showError };

  // Live session timeline over server-sent events.
  var timeline = document.querySelector("[data-stream]");
  if (timeline && window.EventSource) {
    var dot = document.getElementById("live-dot");
    var seen = {};
    Array.prototype.forEach.call(timeline.querySelectorAll("li[data-id]"), function (li) { seen[li.getAttribute("data-id")] = true; });
    var source = new EventSource(timeline.getAttribute("data-stream"));
    source.onopen = function () { if (dot) dot.classList.add("on"); };
    source.onerror = function () { if (dot) dot.classList.remove("on"); };
    source.addEventListener("session.event", function (msg) {
      var e = JSON.parse(msg.data);
      if (seen[e.id]) return;
      seen[e.id] = true;
      var li = document.createElement("li");
      li.setAttribute("data-id", e.id);
      var type = document.createElement("span"); type.className = "type"; type.textContent = e.type;
      var ts = document.createElement("span"); ts.className = "ts"; ts.textContent = e.ts;
      var pre = document.createElement("pre"); pre.textContent = JSON.stringify(e.body, null, 2);
      li.appendChild(type); li.appendChild(ts); li.appendChild(pre);
      timeline.appendChild(li);
      var empty = document.getElementById("timeline-empty");
      if (empty) empty.hidden = true;
    });
  }
})();

// Live approvals inbox: any approval event refreshes the list from the server, which
// renders (and sanitizes) it.
(function () {
  "use strict";
  var inbox = document.querySelector("[data-approval-stream]");
  if (!inbox || !window.EventSource) return;
  var dot = document.getElementById("live-dot");
  var refresh = function () {
    fetch(inbox.getAttribute("data-fragment"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) inbox.innerHTML = html; });
  };
  var source = new EventSource(inbox.getAttribute("data-approval-stream"));
  source.onopen = function () { if (dot) dot.classList.add("on"); };
  source.onerror = function () { if (dot) dot.classList.remove("on"); };
  ["approval.created", "approval.resolved", "approval.expired"].forEach(function (kind) {
    source.addEventListener(kind, refresh);
  });
})();
