// Progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Tell the server the browser's time zone so it can show times in it (with the offset).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* old browser: times stay in UTC, still labelled with their offset */ }

  // Tabs: arrow keys move between tabs (WAI-ARIA tabs pattern); the tab is a link.
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab]");
    if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]"));
    var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    event.preventDefault();
    next.focus();
    next.click();
  });
  // The selected tab is already shown: a click on it keeps the page (and what was typed).
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[role=tab][aria-selected=true]");
    if (tab) event.preventDefault();
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var selected = event.detail.target && event.detail.target.querySelector &&
      document.querySelector("#tab-body [role=tab][aria-selected=true]");
    if (selected && event.detail.requestConfig && event.detail.requestConfig.elt.getAttribute("role") === "tab") {
      selected.focus();
    }
  });

  // Timeline: a target fills the date, time and zone instead of leaving the page. The targets
  // are one tab stop (roving tabindex): the arrow keys, Home and End move between them.
  function rove(targets, current) {
    Array.prototype.forEach.call(targets, function (t) { t.setAttribute("tabindex", t === current ? "0" : "-1"); });
  }
  function initTimelines() {
    Array.prototype.forEach.call(document.querySelectorAll(".timeline-targets:not([data-roving])"), function (group) {
      var targets = group.querySelectorAll("a.timeline-target");
      group.setAttribute("data-roving", "");
      if (targets.length) rove(targets, group.querySelector("a.timeline-target[aria-current=true]") || targets[targets.length - 1]);
    });
  }
  initTimelines();
  document.body.addEventListener("htmx:afterSettle", initTimelines);
  document.addEventListener("keydown", function (event) {
    var target = event.target.closest && event.target.closest("a.timeline-target");
    if (!target) return;
    var targets = Array.prototype.slice.call(target.closest(".timeline-targets").querySelectorAll("a.timeline-target"));
    var at = targets.indexOf(target);
    var to = {ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
              Home: 0, End: targets.length - 1}[event.key];
    if (to === undefined) return;
    event.preventDefault();
    var next = targets[Math.max(0, Math.min(targets.length - 1, to))];
    rove(targets, next);
    next.focus();
  });
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("a.timeline-target");
    if (!target) return;
    var form = document.getElementById("moment-form");
    if (!form) return;
    event.preventDefault();
    var href = target.getAttribute("href") || target.getAttributeNS("http://www.w3.org/1999/xlink", "href") || "";
    var params = new URLSearchParams(href.split("?")[1] || "");
    ["date", "time", "tz"].forEach(function (name) {
      var input = form.elements[name];
      if (input && params.get(name)) input.value = params.get(name);
    });
    var group = target.closest(".timeline-targets");
    Array.prototype.forEach.call(group.querySelectorAll("a.timeline-target[aria-current]"), function (t) { t.removeAttribute("aria-current"); });
    target.setAttribute("aria-current", "true");
    rove(group.querySelectorAll("a.timeline-target"), target);
    var button = form.querySelector("button.primary");
    if (button) button.focus();
  });

  // Paging a list (data-pager links): the swap replaces the link that had the focus, so put
  // the focus on the same link of the new page (Next stays on Next), else on its neighbour.
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    var which = elt && elt.getAttribute && elt.getAttribute("data-pager");
    var region = which && document.querySelector(elt.getAttribute("hx-target"));
    if (!region) return;
    var link = region.querySelector("[data-pager='" + which + "']") ||
      region.querySelector("[data-pager=previous], [data-pager=next]") ||
      region.querySelector("[data-pager]");
    if (link) link.focus();
  });

  // Dialogs delivered by htmx open as modal dialogs: focus inside, Esc closes.
  function openDialogs(root) {
    var dialogs = (root || document).querySelectorAll("dialog[data-modal][open]");
    Array.prototype.forEach.call(dialogs, function (dialog) {
      if (!dialog.closest("#dialog-slot")) return;
      dialog.removeAttribute("open");
      dialog.showModal();
      var focus = dialog.querySelector("[autofocus]") || dialog.querySelector("input, button");
      if (focus) focus.focus();
      dialog.addEventListener("close", function () {
        var slot = document.getElementById("dialog-slot");
        if (slot && slot.contains(dialog)) slot.innerHTML = "";
      });
    });
  }
  document.body.addEventListener("htmx:afterSettle", function (event) { openDialogs(event.detail.target); });
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = close && close.closest("dialog");
    if (dialog && dialog.open) { event.preventDefault(); dialog.close(); }
  });

  // A button marked data-once sends its form once, however often it is clicked.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[data-once]");
    setTimeout(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; b.setAttribute("aria-disabled", "true"); });
    }, 0);
  }, true);
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form");
    if (!form) return;
    Array.prototype.forEach.call(form.querySelectorAll("button[data-once]"), function (b) { b.disabled = false; });
  });
})();
