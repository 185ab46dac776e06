// The wave's live progress in its admin page (templates/admin/surveys/wave/change_form.html):
// polls the wave's progress JSON and fills the marked elements; the state (sending, paused,
// finished) picks what shows through CSS. A static file, for the Content-Security-Policy.
(function () {
  var box = document.getElementById("wave-progress");
  if (!box || !window.fetch) { return; }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    if (seconds < 90) { return seconds + " s"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min"; }
    return (seconds / 3600).toFixed(1) + " h";
  }

  function clock(iso) {
    if (!iso) { return "—"; }
    return new Date(iso).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  function show(data) {
    box.setAttribute("data-state", data.state);
    box.setAttribute("data-automatic", data.paused_automatically ? "true" : "false");
    box.querySelectorAll("[data-key]").forEach(function (element) {
      var value = data[element.getAttribute("data-key")];
      var format = element.getAttribute("data-format");
      if (element.tagName === "PROGRESS") {
        element.value = value;
        element.textContent = value + "%";
      } else if (format === "duration") {
        element.textContent = duration(value);
      } else if (format === "time") {
        element.textContent = clock(value);
        element.setAttribute("datetime", value || "");
      } else {
        element.textContent = value;
      }
    });
  }

  function refresh() {
    fetch(box.getAttribute("data-url"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { show(data); } })
      .catch(function () {});
  }
  refresh();
  setInterval(refresh, 2000);
})();
