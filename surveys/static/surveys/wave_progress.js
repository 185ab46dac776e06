// The wave's live progress in its admin page (templates/admin/surveys/wave/change_form.html).
// A static file, for the Content-Security-Policy (no inline scripts).
(function () {
  var table = document.getElementById("wave-progress");
  if (!table || !window.fetch) { return; }
  function refresh() {
    fetch(table.getAttribute("data-url"), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        table.querySelectorAll("[data-key]").forEach(function (cell) {
          cell.textContent = data[cell.getAttribute("data-key")];
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 3000);
})();
