// The export job page (templates/staff/export_job.html): polls the job's status until its file
// is ready or it failed, then shows the link or the error. A static file, for the
// Content-Security-Policy (no inline scripts).
(function () {
  var box = document.getElementById("export-job");
  if (!box || !window.fetch) { return; }
  var delay = 2000;
  function poll() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (job.status === "queued" || job.status === "running") {
          delay = Math.min(delay * 1.5, 15000);
          window.setTimeout(poll, delay);
          return;
        }
        document.getElementById("export-job-working").hidden = true;
        if (job.status === "done") {
          document.getElementById("export-job-rows").textContent = job.row_count;
          var link = document.getElementById("export-job-download");
          if (job.download_url) { link.href = job.download_url; link.hidden = false; }
          document.getElementById("export-job-done").hidden = false;
        } else {
          document.getElementById("export-job-error").textContent = job.error;
          document.getElementById("export-job-failed").hidden = false;
        }
      })
      .catch(function () { window.setTimeout(poll, 15000); });
  }
  window.setTimeout(poll, delay);
})();
