// Poll the JSON endpoint named by each [data-poll] element and update its counts in place:
// [data-field="a.b"] gets the value's text, [data-progress="num/den"] a <progress>, and
// [data-flags] the paused/cancelled badge. Rows with [data-scope][data-key] take
// data[scope][key]. No page reload: the browser keeps scroll position and open forms.
(function () {
  "use strict";
  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }
  function flags(data) {
    var span = document.createElement("span");
    var kind = data.cancelled ? "cancelled" : data.paused ? "paused" : "active";
    span.className = "flag " + kind;
    span.textContent = kind;
    return span;
  }
  function apply(el, data) {
    if (data == null) return;
    el.querySelectorAll("[data-field]").forEach(function (node) {
      var value = get(data, node.dataset.field);
      if (value === undefined) return;
      var text = value === null ? "-" : String(value);
      if (node.textContent !== text) node.textContent = text;
    });
    el.querySelectorAll("progress[data-progress]").forEach(function (node) {
      var parts = node.dataset.progress.split("/");
      var num = get(data, parts[0]), den = get(data, parts[1]);
      if (typeof den === "number") node.max = Math.max(den, 1);
      if (typeof num === "number") node.value = num;
    });
    el.querySelectorAll("[data-flags]").forEach(function (node) {
      node.replaceChildren(flags(data));
    });
  }
  function update(root, data) {
    var scoped = root.querySelectorAll("[data-scope][data-key]");
    if (scoped.length) {
      scoped.forEach(function (row) { apply(row, get(data, row.dataset.scope)[row.dataset.key]); });
    } else {
      apply(root, data);
    }
    var stamp = new Date().toLocaleTimeString();
    document.querySelectorAll("[data-updated]").forEach(function (n) { n.textContent = stamp; });
  }
  function poll(root) {
    var every = parseInt(root.dataset.every, 10) || 3000;
    function tick() {
      fetch(root.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) throw new Error(r.status);
          return r.json();
        })
        .then(function (data) { update(root, data); })
        .catch(function () {})
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();
