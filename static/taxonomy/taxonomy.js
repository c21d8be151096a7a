// Taxonomy pages: a live preview of a proposed auto-triage threshold, "select all" in a
// relabel list.
(function () {
  "use strict";

  const form = document.getElementById("threshold-form");
  if (form) {
    const input = form.querySelector("input[name=threshold]");
    const out = document.getElementById("threshold-preview");
    let timer = null;
    const pct = (v) => (v === null ? "—" : window.AssistFormat.percent(v));
    async function preview() {
      const value = input.value.trim();
      if (!value) {
        out.textContent = "Empty: auto-triage is off for this category.";
        return;
      }
      const response = await fetch(form.dataset.preview + "?threshold=" + encodeURIComponent(value), {
        credentials: "same-origin",
      }).catch(() => null);
      if (!response) return;
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        out.textContent = (data.threshold || ["Not a valid threshold."])[0];
        return;
      }
      out.textContent =
        "Last month: would have auto-triaged " + data.covered + " of " + data.decisions +
        " decided tickets (coverage " + pct(data.coverage) + ", precision " + pct(data.precision) + ").";
    }
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(preview, 250);
    });
    preview();
  }

  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("input.pick").forEach((box) => {
        box.checked = all.checked;
      });
    });
  }
})();
