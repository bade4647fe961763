// ecportal's only script: copy buttons, and manners for the live part of the request page.
// Loaded from our own origin (the CSP allows no inline script or handler); everything is delegated
// from `document`, so parts that htmx swaps in work without re-binding.
(function () {
  "use strict";

  // --- Copy buttons: <button data-copy="text"> ---------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP intranets have no Clipboard API: copy through a temporary, off-screen text area.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var label = button.firstChild;
    copyText(button.getAttribute("data-copy")).then(
      function () { label.nodeValue = "Copied"; },
      function () { label.nodeValue = "Select and copy by hand"; }
    );
    setTimeout(function () { label.nodeValue = "Copy"; }, 2500);
  });

  // --- The live part: never yank the page from under someone using it ----------------------------
  function busy(live) {
    // Someone typing, choosing a time, or with a confirmation open: skip this refresh.
    var active = document.activeElement;
    if (active && live.contains(active) && active.matches("input, textarea, select")) return true;
    if (live.querySelector("details.confirm[open]")) return true;
    var fields = live.querySelectorAll("textarea, input[type=text], input[type=datetime-local]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value) return true;
    }
    return false;
  }

  // A selector that finds "the same" element in the refreshed copy, so keyboard focus survives.
  function keyOf(element) {
    var quote = function (value) { return '"' + CSS.escape(value) + '"'; };
    if (element.id) return "#" + CSS.escape(element.id);
    if (element.tagName === "SUMMARY" && element.parentElement.id) {
      return "#" + CSS.escape(element.parentElement.id) + " > summary";
    }
    if (element.dataset.copy) return "button[data-copy=" + quote(element.dataset.copy) + "]";
    if (element.tagName === "A" && element.getAttribute("href")) {
      return "a[href=" + quote(element.getAttribute("href")) + "]";
    }
    if (element.form && element.form.getAttribute("action")) {
      return "form[action=" + quote(element.form.getAttribute("action")) + "] button[type=submit]";
    }
    return null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var live = event.detail.elt;
    // The next poll comes on the usual beat.
    if (live.id === "live" && busy(live)) event.preventDefault();
  });

  var openIds = [];
  var focusKey = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target.id !== "live") return;
    // Open disclosures (the CF call logs) stay open, and the focus stays where it was.
    openIds = Array.prototype.map.call(target.querySelectorAll("details[open][id]"), function (d) {
      return d.id;
    });
    var active = document.activeElement;
    focusKey = active && active !== target && target.contains(active) ? keyOf(active) : null;
  });

  document.addEventListener("htmx:afterSwap", function () {
    openIds.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) details.open = true;
    });
    openIds = [];
    if (focusKey) {
      var again = document.querySelector(focusKey);
      if (again) again.focus({ preventScroll: true });
      focusKey = null;
    }
    // Tell screen readers about a status change once, not on every refresh.
    var live = document.getElementById("live");
    var status = document.getElementById("live-status");
    if (live && status && status.dataset.last !== live.dataset.status) {
      if (status.dataset.last) status.textContent = live.dataset.status;
      status.dataset.last = live.dataset.status;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    var status = document.getElementById("live-status");
    if (live && status) status.dataset.last = live.dataset.status;
  });
})();
