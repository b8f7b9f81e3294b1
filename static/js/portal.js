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

  // What had the focus when htmx sent a request: the button or link that opens a dialog or a
  // panel, where the focus goes back when it closes (Escape, Cancel, Close).
  var opener = null;
  document.body.addEventListener("htmx:beforeRequest", function () { opener = document.activeElement; });
  // A dialog that comes back with an error replaces itself: the focus still goes back to what
  // opened the first one, not to a button of the dialog it replaced.
  var dialogOpener = null;
  function returnFocusOnClose(dialog, slot) {
    if (opener && opener.isConnected && !(slot && slot.contains(opener))) dialogOpener = opener;
    var from = dialogOpener;
    dialog.addEventListener("close", function () {
      if (slot) slot.innerHTML = "";
      if (from && from.isConnected && typeof from.focus === "function") from.focus();
    }, {once: true});
  }

  // Dialogs delivered by htmx open as modal dialogs: focus inside, Esc closes.
  function openDialogs(root) {
    var dialogs = (root || document).querySelectorAll("dialog[data-modal][open]");
    Array.prototype.forEach.call(dialogs, function (dialog) {
      if (!dialog.closest("#dialog-slot")) return;
      dialog.removeAttribute("open");
      dialog.showModal();
      var focus = dialog.querySelector("[autofocus]") || dialog.querySelector("input, button");
      if (focus) focus.focus();
      returnFocusOnClose(dialog, document.getElementById("dialog-slot"));
    });
  }
  document.body.addEventListener("htmx:afterSettle", function (event) { openDialogs(event.detail.target); });
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = close && close.closest("dialog");
    if (dialog && dialog.open) { event.preventDefault(); dialog.close(); }
  });

  // A task's side panel: a region htmx put into #panel-slot opens beside the page (the page
  // stays visible behind it), named by its heading, which takes the focus. Close, the task's
  // own Cancel and Escape close it and give the focus back to what opened it.
  var panelOpener = null;
  function closePanel() {
    var panel = document.getElementById("panel");
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    document.getElementById("panel-slot").innerHTML = "";
    if (panelOpener && panelOpener.isConnected) panelOpener.focus();
    panelOpener = null;
  }
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var slot = document.getElementById("panel-slot");
    var panel = document.getElementById("panel");
    if (!slot || !panel || event.detail.target !== slot || !slot.firstElementChild) return;
    if (panel.hidden) {
      panelOpener = opener;
      panel.hidden = false;
    }
    var heading = slot.querySelector("h2, h1");
    if (heading) {
      if (!heading.id) heading.id = "panel-heading";
      panel.setAttribute("aria-labelledby", heading.id);
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    } else {
      panel.removeAttribute("aria-labelledby");
      var first = slot.querySelector("input, select, textarea, button, a[href]");
      if (first) first.focus();
    }
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-panel]");
    if (!close || !close.closest("#panel")) return;  // on a page of its own, Cancel is a link
    event.preventDefault();
    closePanel();
  });
  document.addEventListener("keydown", function (event) {
    // A dialog over the panel (the confirmation) takes Escape first.
    if (event.key !== "Escape" || document.querySelector("dialog:modal")) return;
    var panel = document.getElementById("panel");
    if (panel && !panel.hidden && !event.defaultPrevented) { event.preventDefault(); closePanel(); }
  });

  // After Continue the candidates come in below the form: the focus goes to their heading, so
  // the next step (pick one, Confirm) is where a keyboard or screen reader user is.
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!elt || !elt.closest || !elt.closest("#moment-form") && elt.id !== "moment-form") return;
    var heading = document.getElementById("candidates-heading");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  });

  // The left navigation's Menu (under 1024 px): aria-expanded follows the <details>, and
  // Escape folds it back with the focus on the button.
  var navmenu = document.getElementById("navmenu");
  if (navmenu) {
    var summary = navmenu.querySelector("summary");
    var sync = function () { summary.setAttribute("aria-expanded", navmenu.open ? "true" : "false"); };
    sync();
    navmenu.addEventListener("toggle", sync);
    navmenu.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !navmenu.open || getComputedStyle(summary).display === "none") return;
      navmenu.open = false;
      summary.focus();
    });
  }

  // After an action (Export, Verify, Save schedule) the page comes back with its outcome in
  // the messages: the focus goes there, so the result is what a keyboard or screen reader user
  // meets first.
  var note = document.querySelector("[data-focus-messages]") && document.querySelector("#messages .notice");
  if (note) {
    note.setAttribute("tabindex", "-1");
    note.focus();
  }

  // Copy: a button with data-copy puts its text (a SHA-256) on the clipboard and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      button.setAttribute("aria-live", "polite");
      button.firstChild.textContent = "Copied";
    });
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
