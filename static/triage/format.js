// Dates and shares as every page shows them (the template filter `when` renders the
// same format on the server): "7 Dec 2026, 18:20" in the viewer's time zone, and
// shares as percentages. Loaded by base.html; `AssistFormat` is for pages' own scripts.
(function () {
  "use strict";

  const styles = {
    datetime: new Intl.DateTimeFormat("en-GB", {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }),
    date: new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" }),
  };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const calendarDay = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  });

  // A calendar day ("2026-12-01", a report's bucket) has no time zone to move.
  function day(iso) {
    const date = new Date(String(iso).slice(0, 10) + "T00:00:00Z");
    return Number.isNaN(date.getTime()) ? String(iso) : calendarDay.format(date);
  }

  function when(value, style) {
    const date = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(date.getTime())) return "–";
    return (styles[style] || styles.datetime).format(date);
  }

  // A share (0 to 1) as a percentage: whole numbers, one decimal under 10 %.
  function percent(share) {
    if (share === null || share === undefined || Number.isNaN(Number(share))) return "–";
    const value = Number(share) * 100;
    const digits = value !== 0 && Math.abs(value) < 10 && value % 1 !== 0 ? 1 : 0;
    return value.toFixed(digits) + "\u00a0%";
  }

  function localise(root) {
    (root || document).querySelectorAll("time[data-when]").forEach((node) => {
      node.textContent = when(node.getAttribute("datetime"), node.dataset.when);
      if (zone) node.title = "Your time zone: " + zone;
    });
  }

  window.AssistFormat = { when, day, percent, localise };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => localise());
  } else {
    localise();
  }
})();
