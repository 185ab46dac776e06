// The export job page (templates/staff/export_job.html): polls the job's status, showing its
// progress (responses written of the total), until its file is ready or it failed, then shows
// the link or the error. A static file, for the
// Content-Security-Policy (no inline scripts).
(function () {
  var box = document.getElementById("export-job");
  if (!box || !window.fetch) { return; }
  var delay = 2000;
  var bar = document.getElementById("export-job-progress");
  var text = document.getElementById("export-job-progress-text");
  function number(n) { return n.toLocaleString("en"); }
  // The figure the server computed (export_job_progress): rows done of the total, and percent.
  function showProgress(job) {
    if (!bar || !text) { return; }
    if (job.status === "queued") { text.textContent = "Waiting for a worker to start it."; return; }
    if (job.rows_total === null) { text.textContent = "Starting."; return; }
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    text.textContent = number(job.rows_done) + " of " + number(job.rows_total) + " responses (" +
      job.percent + "%)" + (job.rows_done === job.rows_total ? "; writing the file." : ".");
  }
  function poll() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (job.status === "queued" || job.status === "running") {
          showProgress(job);
          // Every 2 s while rows are being written; slower while it waits for a worker.
          delay = job.status === "running" ? 2000 : Math.min(delay * 1.5, 15000);
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
