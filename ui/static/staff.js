// The staff console's one script: while a build or a crawl runs, show its progress live (the
// page works without it; a reload shows the same). Polls the job's status once a second and
// reloads the page when the job has ended, to show its report.
(function () {
  "use strict";
  const box = document.querySelector("[data-status-url]");
  if (!box || box.dataset.state !== "running") return;
  const progress = box.querySelector("progress");
  const stage = box.querySelector(".job-stage");
  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return setTimeout(poll, 3000);
      const job = await response.json();
      // A GET of the page itself (never a reload, which could send a form again).
      if (job.state !== "running") return window.location.assign(window.location.pathname);
      if (progress) {
        progress.max = job.total || 1;
        progress.value = job.done;
        progress.textContent = job.percent + "%";
      }
      if (stage) stage.textContent = job.stage + (job.total ? ": " + job.done + " of " + job.total : "");
    } catch (error) {
      // The server restarting: try again a little later.
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
