// Live figures on the staff dashboard. Progressive enhancement only: the page is complete
// without this file (server-rendered, with a Refresh link). Every few seconds it fetches the
// same statistics from the API, with the page's own filters, and rewrites the numbers in place.
//
// Where a number goes is written in the page (templates/staff/survey_dashboard.html):
//   data-stat="completed"           the field to show, read from the innermost scope below;
//   data-stat-list="by_country"     with data-stat-key="BE": a scope, the item of that list
//                                   (a path such as "timeline.days" is allowed) whose key is
//                                   "BE"; scopes nest (questions > statements > options);
//   data-stat-match="date,kind"     the item fields the key is made of (comma-separated);
//                                   by default the first of id, code, band, value, date, name;
//   data-stat-format="percent"      one decimal ("mean": two decimals, "no answers" for none;
//                                   "rate": one decimal and "%"; "date": an ISO date in words);
//   data-stat-empty-if-zero="started" with data-stat-empty-text="no one started": the words
//                                   shown instead when that field of the same scope is 0
//                                   (a rate with nothing to divide);
//   data-stat-rows="by_country"     on a tbody: when the list grows (a new country answered),
//                                   the page offers a reload rather than inventing rows.
// The charts (server-side SVG) are not redrawn here: as soon as a figure differs from the one
// the page was rendered with, the [data-live-reload] notice says when the charts were drawn
// and offers a reload, so that a chart never disagrees with its table silently.
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-stats-url");
  var period = 1000 * (parseInt(root.getAttribute("data-refresh-seconds"), 10) || 5);
  var slowPeriod = 30000;  // after an error, try again less often
  var timeLine = root.querySelector("[data-live-time]");
  var announce = root.querySelector("[data-live-announce]");
  var reloadNotice = root.querySelector("[data-live-reload]");
  var reloadRows = root.querySelector("[data-live-reload-rows]");
  var timer = null;
  var stopped = false;
  var etag = null;  // of the last figures received
  var DEFAULT_KEYS = ["id", "code", "band", "value", "date", "name"];
  // Each figure as the server rendered it, i.e. as the charts show it.
  var rendered = Array.prototype.map.call(root.querySelectorAll("[data-stat]"), function (element) {
    return { element: element, text: element.textContent.trim() };
  });

  function read(object, path) {
    return path.split(".").reduce(function (value, part) {
      return value == null ? undefined : value[part];
    }, object);
  }

  function keyOf(item, fields) {
    if (fields) {
      return fields.map(function (field) {
        return item[field] == null ? "" : String(item[field]);
      }).join(",");
    }
    for (var i = 0; i < DEFAULT_KEYS.length; i += 1) {
      if (Object.prototype.hasOwnProperty.call(item, DEFAULT_KEYS[i])) {
        var value = item[DEFAULT_KEYS[i]];
        return value == null ? "" : String(value);
      }
    }
    return "";
  }

  // The object a data-stat element reads from: the stats, narrowed by each enclosing scope.
  function scopeOf(element, stats) {
    var scopes = [];
    for (var node = element; node && node !== root.parentNode; node = node.parentElement) {
      if (node.hasAttribute && node.hasAttribute("data-stat-list")) { scopes.unshift(node); }
    }
    var current = stats;
    for (var i = 0; i < scopes.length && current; i += 1) {
      var list = read(current, scopes[i].getAttribute("data-stat-list"));
      var match = scopes[i].getAttribute("data-stat-match");
      var key = scopes[i].getAttribute("data-stat-key");
      var fields = match ? match.split(",") : null;
      current = Array.isArray(list) ? list.filter(function (item) {
        return keyOf(item, fields) === key;
      })[0] : undefined;
    }
    return current;
  }

  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];

  function format(value, how) {
    if (value == null) { return how === "mean" || how === "date" ? "no answers" : "–"; }
    if (how === "percent") { return Number(value).toFixed(1); }
    if (how === "rate") { return Number(value).toFixed(1) + "%"; }
    if (how === "mean") { return Number(value).toFixed(2); }
    if (how === "date") {
      // "2026-06-03" -> "3 June 2026", as the server writes it (surveys/results/figures.py).
      var parts = String(value).slice(0, 10).split("-");
      return Number(parts[2]) + " " + MONTHS[Number(parts[1]) - 1] + " " + parts[0];
    }
    return String(value);
  }

  function listLength(tbody, stats) {
    var scope = scopeOf(tbody, stats);
    var list = scope ? read(scope, tbody.getAttribute("data-stat-rows")) : undefined;
    if (!Array.isArray(list)) { return null; }
    if (tbody.hasAttribute("data-stat-rows-active")) {
      list = list.filter(function (day) { return day.starts || day.completions; });
    }
    return list.length;
  }

  function update(stats) {
    var changed = 0;
    root.querySelectorAll("[data-stat]").forEach(function (element) {
      var scope = scopeOf(element, stats);
      if (!scope) { return; }
      var value = scope[element.getAttribute("data-stat")];
      if (value === undefined) { return; }
      var text = format(value, element.getAttribute("data-stat-format"));
      var emptyIf = element.getAttribute("data-stat-empty-if-zero");
      if (emptyIf) {
        var nothing = scope[emptyIf] === 0;
        if (nothing) { text = element.getAttribute("data-stat-empty-text"); }
        element.classList.toggle("nothing-to-divide", nothing);
      }
      if (element.textContent !== text) {
        element.textContent = text;
        element.classList.remove("stat-changed");
        void element.offsetWidth;  // restart the highlight
        element.classList.add("stat-changed");
        changed += 1;
      }
    });
    var grown = false;
    root.querySelectorAll("[data-stat-rows]").forEach(function (tbody) {
      var length = listLength(tbody, stats);
      var rows = tbody.querySelectorAll(":scope > tr[data-stat-key]").length;
      if (length !== null && length !== rows) { grown = true; }
    });
    var stale = rendered.some(function (figure) {
      return figure.element.textContent.trim() !== figure.text;
    });
    var newlyStale = false;
    if (reloadNotice) {
      newlyStale = reloadNotice.hidden && (stale || grown);
      reloadNotice.hidden = !(stale || grown);
    }
    if (reloadRows) { reloadRows.hidden = !grown; }
    if (timeLine) {
      timeLine.textContent = "Figures as of " + new Date().toLocaleTimeString() + ".";
    }
    var said = [];
    if (changed) { said.push(changed === 1 ? "1 figure updated." : changed + " figures updated."); }
    if (newlyStale) { said.push("The charts are out of date: reload the page to refresh them."); }
    if (said.length && announce) { announce.textContent = said.join(" "); }
  }

  function schedule(delay) {
    if (stopped) { return; }
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    // A hidden tab asks nothing; it catches up as soon as it is shown again.
    if (document.hidden) { return; }
    // The API answers 304 while nothing changed since the figures we hold (their ETag).
    var headers = { Accept: "application/json" };
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        if (response.status === 304) {
          if (timeLine) { timeLine.textContent = "Figures as of " + new Date().toLocaleTimeString() + "."; }
          schedule(period);
          return null;
        }
        if (response.status === 401 || response.status === 403) {
          stopped = true;
          if (timeLine) { timeLine.textContent = "Live updates stopped: please sign in again."; }
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (stats) {
        if (stats) { update(stats); schedule(period); }
      })
      .catch(function () {
        if (timeLine) { timeLine.textContent = "Live updates paused (the server did not answer); retrying."; }
        schedule(slowPeriod);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { schedule(0); }
  });
  schedule(period);
}());
