// andibase console, data pages: record forms that know each field's type, the
// relationship search, the field editor, times in the viewer's zone, ids to copy.
(function () {
  "use strict";
  var api = window.andibase;
  var enc = encodeURIComponent;

  // Times: in the viewer's time zone, and how long ago.
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var rtf = Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  function ago(date) {
    var s = (date.getTime() - Date.now()) / 1000;
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(s) >= UNITS[i][1] || i === UNITS.length - 1) {
        var n = Math.round(s / UNITS[i][1]);
        return rtf ? rtf.format(n, UNITS[i][0]) : n + " " + UNITS[i][0] + "s";
      }
    }
  }
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var iso = t.getAttribute("datetime");
    var d = new Date(iso);
    if (isNaN(d.getTime())) return;
    t.textContent = fmt.format(d);
    t.title = iso + " (UTC) · shown in " + zone;
    var rel = document.createElement("span");
    rel.className = "ago";
    rel.textContent = ago(d);
    t.parentNode.insertBefore(rel, t.nextSibling);
  });

  // Ids: copy the whole one.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) return;
    ev.preventDefault();
    var text = b.getAttribute("data-copy");
    var icon = b.innerHTML;
    var done = function () { b.classList.add("copied"); b.textContent = "✓"; setTimeout(function () { b.classList.remove("copied"); b.innerHTML = icon; }, 1200); };
    var fallback = function () {
      var ta = document.createElement("textarea");
      ta.value = text; document.body.appendChild(ta); ta.select();
      try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
      document.body.removeChild(ta); done();
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback); else fallback();
  });

  // Chips in a colour given as a CSS colour (named palette colours are in the CSS).
  document.querySelectorAll("[data-color]").forEach(function (c) {
    var v = c.getAttribute("data-color");
    if (/^(#|rgb|hsl)/.test(v)) c.style.setProperty("--chip", v);
  });

  // Datetime inputs: the stored UTC time in the viewer's zone.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  document.querySelectorAll("input[data-type=datetime]").forEach(function (input) {
    var utc = input.getAttribute("data-utc");
    var d = utc ? new Date(utc) : null;
    if (d && !isNaN(d.getTime())) {
      input.value = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }
    var z = input.parentNode.querySelector(".zone");
    if (z) z.textContent = zone;
  });

  // Relationship fields: chips for the chosen records, a search of the related definition.
  function relation(box) {
    var form = box.closest("form");
    var ws = form && form.getAttribute("data-ws");
    var hidden = box.querySelector("input[type=hidden]");
    var picked = box.querySelector(".picked");
    var search = box.querySelector(".relation-search");
    var found = box.querySelector(".found");
    var many = box.getAttribute("data-many") === "true";
    var target = box.getAttribute("data-target");
    var names = {};
    function ids() { try { return JSON.parse(hidden.value || "[]"); } catch (e) { return []; } }
    function set(list) { hidden.value = JSON.stringify(list); render(); }
    function render() {
      picked.textContent = "";
      ids().forEach(function (id) {
        var chip = document.createElement("span");
        chip.className = "chip";
        chip.title = id;
        chip.textContent = names[id] || id;
        if (search) {
          var x = document.createElement("button");
          x.type = "button"; x.className = "unpick"; x.textContent = "×"; x.setAttribute("aria-label", "Remove " + (names[id] || id));
          x.addEventListener("click", function () { set(ids().filter(function (i) { return i !== id; })); });
          chip.appendChild(x);
        }
        picked.appendChild(chip);
      });
    }
    var base = "/api/v1/data-definitions/" + enc(target) + "/query?limit=";
    var current = ids();
    if (current.length) {
      api.call("GET", base + "100&filter=" + enc(JSON.stringify({ field: "id", op: "in", value: current })), undefined, ws).then(function (res) {
        if (res.ok) res.payload.items.forEach(function (r) { names[r.id] = r.name || r.id; });
        render();
      });
    }
    render();
    if (!search) return;
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = search.value.trim();
        found.textContent = "";
        if (!q) return;
        var byId = JSON.stringify({ field: "id", op: "eq", value: q });
        Promise.all([
          api.call("GET", base + "8&search=" + enc(q), undefined, ws),
          api.call("GET", base + "1&filter=" + enc(byId), undefined, ws)
        ]).then(function (both) {
          if (search.value.trim() !== q) return;
          var seen = {};
          var items = [];
          both.forEach(function (res) { if (res.ok) res.payload.items.forEach(function (r) { if (!seen[r.id]) { seen[r.id] = true; items.push(r); } }); });
          if (!items.length) {
            var none = document.createElement("li"); none.className = "muted small"; none.textContent = "No match";
            found.appendChild(none);
          }
          items.forEach(function (r) {
            var li = document.createElement("li");
            var b = document.createElement("button");
            b.type = "button"; b.className = "secondary pick-result";
            b.textContent = (r.name || r.id) + " · " + r.id;
            b.addEventListener("click", function () {
              names[r.id] = r.name || r.id;
              var list = many ? ids().filter(function (i) { return i !== r.id; }).concat([r.id]) : [r.id];
              set(list);
              found.textContent = "";
              search.value = "";
            });
            li.appendChild(b);
            found.appendChild(li);
          });
        });
      }, 200);
    });
  }
  document.querySelectorAll(".relation").forEach(relation);

  // The record form: each field's value in its type; a new record is created, an
  // existing one patched.
  function valueOf(field, issues) {
    var key = field.getAttribute("data-attr");
    var inputs = field.querySelectorAll("[name='attr:" + key + "']");
    if (!inputs.length || inputs[0].disabled) return undefined;
    var first = inputs[0];
    var v = first.value;
    switch (first.getAttribute("data-type")) {
      case "boolean": return first.checked;
      case "number": return v === "" ? null : Number(v);
      case "datetime": return v === "" ? null : new Date(v).toISOString();
      case "select":
        for (var i = 0; i < inputs.length; i++) if (inputs[i].checked) return inputs[i].value || null;
        return null;
      case "multiSelect":
        return Array.prototype.filter.call(inputs, function (x) { return x.checked; }).map(function (x) { return x.value; });
      case "relationship":
        var list = JSON.parse(v || "[]");
        return first.getAttribute("data-many") === "true" ? list : (list[0] || null);
      case "json":
        if (v.trim() === "") return null;
        try { return JSON.parse(v); } catch (e) { issues.push({ attr: key, message: "is not valid JSON" }); return undefined; }
      default: return v === "" ? null : v;
    }
  }

  function markIssues(form, list) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.hidden = true; });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    list.forEach(function (issue) {
      var field = issue.attr !== undefined
        ? form.querySelector(".field[data-attr='" + issue.attr + "']")
        : form.querySelector(".field[data-system='" + issue.system + "']");
      if (!field) return;
      var box = field.querySelector(".field-error");
      box.textContent = issue.message; box.hidden = false;
      field.querySelectorAll("input,textarea,select").forEach(function (i) { i.setAttribute("aria-invalid", "true"); });
    });
  }

  // The field an API issue names: an attribute (["records", 0, "attributes", "name"]) or
  // the record's own id or name (["records", 0, "id"]).
  function issueField(path) {
    var at = path.indexOf("attributes");
    if (at >= 0 && path.length > at + 1) return { attr: String(path[at + 1]) };
    return { system: String(path[path.length - 1]) };
  }

  var recordForm = document.querySelector("form[data-record]");
  if (recordForm) recordForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = recordForm;
    var errorBox = form.querySelector("p.error");
    errorBox.hidden = true;
    var local = [];
    var attributes = {};
    var creating = form.getAttribute("data-record-id") === "";
    form.querySelectorAll(".field[data-attr]").forEach(function (field) {
      var key = field.getAttribute("data-attr");
      var v = valueOf(field, local);
      if (v === undefined || (creating && v === null)) return;
      attributes[key] = v;
    });
    markIssues(form, local);
    if (local.length) return;
    var ws = form.getAttribute("data-ws");
    var base = "/api/v1/data-definitions/" + enc(form.getAttribute("data-definition")) + "/data/";
    var name = form.querySelector("[name=name]");
    var request;
    if (creating) {
      var record = { attributes: attributes };
      var id = form.querySelector("[name=id]").value.trim();
      if (id) record.id = id;
      if (name.value !== "") record.name = name.value;
      request = api.call("POST", base + "upsert-many", { mode: "insert", records: [record] }, ws);
    } else {
      request = api.call("PATCH", base + "patch-many", { ids: [form.getAttribute("data-record-id")], name: name.value, attributes: attributes }, ws);
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    request.then(function (res) {
      button.disabled = false;
      if (res.ok) {
        if (creating) location.href = form.getAttribute("data-redirect-base") + enc(res.payload.results[0].id);
        else location.reload();
        return;
      }
      var issues = (res.payload && res.payload.issues) || [];
      markIssues(form, issues.map(function (i) { var f = issueField(i.path || []); f.message = i.message; return f; }));
      api.showError(errorBox, res.payload, res.status);
    });
  });

  // Declared indexes: the form adds one to the list the definition has.
  var indexForm = document.querySelector("form[data-index-form]");
  if (indexForm) {
    indexForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var indexes = JSON.parse(indexForm.getAttribute("data-indexes") || "[]");
      indexes.push({
        fields: indexForm.elements.fields.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean),
        unique: indexForm.elements.unique.checked,
        substring: indexForm.elements.substring.checked
      });
      var box = indexForm.querySelector(".error");
      box.hidden = true;
      api.call("PATCH", indexForm.getAttribute("data-definition-api"), { indexes: indexes }, indexForm.getAttribute("data-ws")).then(function (res) {
        if (res.ok) location.reload(); else api.showError(box, res.payload, res.status);
      });
    });
  }

  // The field editor: add a field, or change one (its Edit button fills the form).
  var fieldForm = document.querySelector("form[data-field-form]");
  if (fieldForm) {
    var f = function (name) { return fieldForm.elements[name]; };
    var editing = null;
    var showTypeParts = function () {
      fieldForm.querySelectorAll("[data-for-types]").forEach(function (part) {
        part.hidden = part.getAttribute("data-for-types").split(" ").indexOf(f("type").value) < 0;
      });
    };
    f("type").addEventListener("change", showTypeParts);
    showTypeParts();
    var title = document.getElementById("field-form-title");
    document.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-edit-field]");
      if (!b) return;
      editing = JSON.parse(b.getAttribute("data-spec"));
      f("key").value = b.getAttribute("data-edit-field");
      f("key").readOnly = true;
      fieldForm.querySelector(".rename").hidden = false;
      f("rename").value = "";
      f("name").value = editing.name || "";
      f("type").value = editing.type;
      ["required", "unique", "indexed", "many"].forEach(function (k) { f(k).checked = !!editing[k]; });
      f("options").value = (editing.options || []).map(function (o) {
        return o.label || o.color ? [o.value, o.label || "", o.color || ""].join(" | ").replace(/( \| )+$/, "") : o.value;
      }).join("\n");
      if (editing.dataDefinitionId) f("dataDefinitionId").value = editing.dataDefinitionId;
      f("description").value = editing.description || "";
      title.textContent = "Change the field " + f("key").value;
      showTypeParts();
      fieldForm.scrollIntoView({ block: "start" });
    });
    fieldForm.addEventListener("reset", function () {
      editing = null;
      f("key").readOnly = false;
      fieldForm.querySelector(".rename").hidden = true;
      title.textContent = "Add a field";
      setTimeout(showTypeParts, 0);
    });
    fieldForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var spec = {};
      // Keep what the form does not show (hiddenFrom, default, searchable).
      if (editing) Object.keys(editing).forEach(function (k) { spec[k] = editing[k]; });
      spec.type = f("type").value;
      spec.name = f("name").value.trim() || undefined;
      ["required", "unique", "indexed"].forEach(function (k) { spec[k] = f(k).checked; });
      spec.description = f("description").value.trim() || undefined;
      delete spec.options; delete spec.dataDefinitionId; delete spec.many;
      if (spec.type === "select" || spec.type === "multiSelect") {
        spec.options = f("options").value.split("\n").map(function (line) { return line.split("|").map(function (s) { return s.trim(); }); })
          .filter(function (p) { return p[0]; })
          .map(function (p) { var o = { value: p[0] }; if (p[1]) o.label = p[1]; if (p[2]) o.color = p[2]; return o; });
      }
      if (spec.type === "relationship") {
        spec.dataDefinitionId = f("dataDefinitionId").value;
        spec.many = f("many").checked;
      }
      if (spec.type === "select" || spec.type === "multiSelect" || spec.type === "relationship") {
        if (spec.default !== undefined && editing && editing.type !== spec.type) delete spec.default;
      }
      var key = f("key").value.trim();
      var rename = editing ? f("rename").value.trim() : "";
      var body = { fields: {} };
      body.fields[rename || key] = spec;
      if (rename) { body.renameFields = {}; body.renameFields[key] = rename; }
      var box = fieldForm.querySelector(".error");
      box.hidden = true;
      api.call("PATCH", fieldForm.getAttribute("data-definition-api"), body, fieldForm.getAttribute("data-ws")).then(function (res) {
        if (res.ok) location.reload(); else api.showError(box, res.payload, res.status);
      });
    });
  }
})();
