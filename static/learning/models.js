// Live training progress on the models page: /ws/models/ pushes each stage.
(function () {
  "use strict";
  const box = document.getElementById("live-run");
  if (!box) return;
  const title = document.getElementById("run-title");
  const stage = document.getElementById("run-stage");
  const bar = document.getElementById("run-progress");
  const percent = document.getElementById("run-percent");
  const error = document.getElementById("run-error");
  let retry = 1000;
  let finished = false;

  function show(run) {
    box.hidden = false;
    box.dataset.runId = run.id;
    title.textContent = (run.kind === "tune" ? "Search #" : "Training #") + run.id;
    stage.textContent = run.stage || run.status;
    bar.value = run.progress;
    percent.textContent = Math.round(run.progress * 100) + "%";
    error.hidden = !run.error;
    error.textContent = run.error ? "Failed: " + run.error : "";
    const row = document.getElementById("run-" + run.id);
    if (row) {
      row.querySelector(".run-status").textContent = run.status;
      row.querySelector(".run-result").textContent = run.error || run.stage;
    }
    if (run.status === "succeeded" || run.status === "failed") {
      finished = true;
      stage.textContent = run.status === "succeeded" ? (run.verdict || "done") : "failed";
      // Show the new version and the gate's verdict once the page is idle.
      if (run.status === "succeeded") setTimeout(() => window.location.reload(), 1500);
    }
  }

  // Poll too: without Redis, a worker's pushes can't reach this page's server.
  function poll() {
    const id = box.dataset.runId;
    if (!id || finished || box.hidden) return;
    fetch("/models/runs/" + id + "/", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((run) => { if (run) show(run); })
      .catch(() => {})
      .finally(() => { if (!finished) setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + "/ws/models/");
    socket.onopen = () => { retry = 1000; };
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.event === "run") show(data.run);
      if (data.event === "models_changed") window.location.reload();
    };
    socket.onclose = (event) => {
      if (event.code === 4403) { // refused: say so, and don't hammer the server
        const stopped = document.getElementById("live-stopped");
        stopped.textContent = "Live updates stopped: you are signed out or no longer allowed to manage models. Reload to sign in.";
        stopped.hidden = false;
        return;
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
})();
