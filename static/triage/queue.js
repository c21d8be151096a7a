// The agents' queue: live updates over /ws/queue/, keyboard triage.
// Rows are rendered (and escaped) by the server; this script only moves them.
(function () {
  "use strict";

  const list = () => document.getElementById("tickets");
  const filter = document.getElementById("category-filter");
  const matches = document.getElementById("category-matches");
  const liveStatus = document.getElementById("live-status");
  const countEl = document.getElementById("queue-count");
  const categories = JSON.parse(document.getElementById("categories-data").textContent);
  const firstSeen = new Map(); // ticket id -> ms when first selected, for seconds_taken
  let selected = null;
  let matchIndex = 0;

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function toast(text, kind) {
    const el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    el.textContent = text;
    document.getElementById("toasts").appendChild(el);
    setTimeout(() => el.remove(), 5000);
  }

  function tickets() {
    return Array.from(list().querySelectorAll("li.ticket"));
  }

  function updateCount(delta) {
    const n = Math.max(0, parseInt(countEl.textContent, 10) + delta);
    countEl.textContent = String(n);
    document.getElementById("queue-empty").hidden = tickets().length > 0;
  }

  function select(el) {
    if (selected) selected.classList.remove("selected");
    selected = el || null;
    if (!selected) return;
    selected.classList.add("selected");
    if (!firstSeen.has(selected.dataset.ticketId)) firstSeen.set(selected.dataset.ticketId, Date.now());
    selected.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = tickets();
    if (!all.length) return;
    const i = selected ? all.indexOf(selected) : -1;
    select(all[Math.min(all.length - 1, Math.max(0, i + step))]);
  }

  function removeTicket(id) {
    const el = document.getElementById("ticket-" + id);
    if (!el) return false;
    if (el === selected) {
      const all = tickets();
      const i = all.indexOf(el);
      select(all[i + 1] || all[i - 1] || null);
    }
    el.remove();
    updateCount(-1);
    return true;
  }

  async function triage(el, slug) {
    if (!el || !slug || el.classList.contains("leaving")) return;
    const id = el.dataset.ticketId;
    const started = firstSeen.get(id);
    el.classList.add("leaving");
    let response;
    try {
      response = await fetch("/api/tickets/" + id + "/triage/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ category: slug, seconds_taken: started ? (Date.now() - started) / 1000 : null }),
      });
    } catch (err) {
      el.classList.remove("leaving");
      toast("Could not reach the server: your choice was not saved.", "bad");
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      removeTicket(id);
      toast(data.detail || "Triaged.", "ok");
    } else if (response.status === 409) {
      removeTicket(id);
      toast(data.detail, "bad");
    } else {
      el.classList.remove("leaving");
      const problem = data.category || data.detail || "error " + response.status;
      toast("Not saved: " + problem, "bad");
    }
  }

  // --- category filter -----------------------------------------------------
  function showMatches() {
    const q = filter.value.trim().toLowerCase();
    const found = categories.filter(
      (c) => !q || c.name.toLowerCase().includes(q) || c.slug.includes(q)
    ).slice(0, 12);
    matches.replaceChildren(
      ...found.map((c, i) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.dataset.category = c.slug;
        li.setAttribute("aria-selected", i === matchIndex ? "true" : "false");
        li.textContent = c.name;
        if (c.description) li.title = c.description;
        li.addEventListener("mousedown", (ev) => {
          ev.preventDefault();
          chooseMatch(c.slug);
        });
        return li;
      })
    );
    matches.hidden = found.length === 0;
  }

  function chooseMatch(slug) {
    const target = selected;
    filter.value = "";
    matches.hidden = true;
    filter.blur();
    if (!target) {
      toast("Select a ticket first (j/k).", "bad");
      return;
    }
    triage(target, slug);
  }

  filter.addEventListener("input", () => {
    matchIndex = 0;
    showMatches();
  });
  filter.addEventListener("focus", showMatches);
  filter.addEventListener("blur", () => setTimeout(() => (matches.hidden = true), 100));
  filter.addEventListener("keydown", (ev) => {
    const items = Array.from(matches.children);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      matchIndex = (matchIndex + (ev.key === "ArrowDown" ? 1 : -1) + items.length) % Math.max(1, items.length);
      items.forEach((li, i) => li.setAttribute("aria-selected", i === matchIndex ? "true" : "false"));
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (items[matchIndex]) chooseMatch(items[matchIndex].dataset.category);
    } else if (ev.key === "Escape") {
      filter.value = "";
      filter.blur();
    }
  });

  // --- keyboard and clicks ---------------------------------------------------
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (ev.key === "j" || ev.key === "ArrowDown") {
      ev.preventDefault();
      move(1);
    } else if (ev.key === "k" || ev.key === "ArrowUp") {
      ev.preventDefault();
      move(-1);
    } else if (ev.key === "Enter") {
      if (!selected) return;
      ev.preventDefault();
      if (selected.dataset.suggested) triage(selected, selected.dataset.suggested);
      else filter.focus();
    } else if (/^[1-9]$/.test(ev.key) && selected) {
      const choice = selected.querySelector('.choice[data-key="' + ev.key + '"]');
      if (choice) {
        ev.preventDefault();
        triage(selected, choice.dataset.category);
      }
    } else if (ev.key === "/") {
      ev.preventDefault();
      filter.focus();
    }
  });

  document.addEventListener("click", (ev) => {
    const choice = ev.target.closest(".choice");
    const row = ev.target.closest("li.ticket");
    if (row) select(row);
    if (choice && row) triage(row, choice.dataset.category);
  });

  // --- live updates ----------------------------------------------------------
  let socket = null;
  let retry = 0;
  let everConnected = false;

  function setLive(state, text) {
    liveStatus.dataset.state = state;
    liveStatus.textContent = text;
  }

  async function reloadRows() {
    const response = await fetch("/queue/rows/", { credentials: "same-origin" });
    if (!response.ok) return;
    const keep = selected ? selected.dataset.ticketId : null;
    document.getElementById("queue-rows").innerHTML = await response.text();
    countEl.textContent = list().dataset.count;
    select(keep ? document.getElementById("ticket-" + keep) || tickets()[0] : tickets()[0]);
  }

  function onEvent(data) {
    if (data.event === "ticket_added") {
      if (document.getElementById("ticket-" + data.ticket_id)) return;
      const tpl = document.createElement("template");
      tpl.innerHTML = data.html.trim(); // server-rendered with Django autoescaping
      const el = tpl.content.firstElementChild;
      el.classList.add("arrived");
      list().prepend(el);
      updateCount(1);
      if (!selected) select(el);
    } else if (data.event === "ticket_removed") {
      const wasMine = selected && selected.dataset.ticketId === String(data.ticket_id) && !selected.classList.contains("leaving");
      if (removeTicket(data.ticket_id) && wasMine) {
        toast("Ticket #" + data.ticket_id + " was triaged by " + data.agent + " as " + data.category + ".");
      }
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/queue/");
    socket.addEventListener("open", () => {
      setLive("live", "Live");
      if (everConnected) reloadRows(); // catch up on what arrived while away
      everConnected = true;
      retry = 0;
    });
    socket.addEventListener("message", (ev) => onEvent(JSON.parse(ev.data)));
    socket.addEventListener("close", (ev) => {
      if (ev.code === 4403) {
        setLive("down", "Not allowed to watch the queue");
        return;
      }
      const wait = Math.min(30, 2 ** retry++);
      setLive("down", "Live updates interrupted: retrying in " + wait + " s");
      setTimeout(connect, wait * 1000);
    });
  }

  select(tickets()[0]);
  connect();
})();
