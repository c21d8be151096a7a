// The agents' queue: live updates over /ws/queue/, keyboard triage.
// Rows are rendered (and escaped) by the server; this script only moves them.
(function () {
  "use strict";

  const list = () => document.getElementById("tickets");
  const filter = document.getElementById("category-filter");
  const matches = document.getElementById("category-matches");
  const liveStatus = document.getElementById("live-status");
  const countEl = document.getElementById("queue-count");
  let categories = JSON.parse(document.getElementById("categories-data").textContent);
  let bySlug = new Map(categories.map((c) => [c.slug, c]));
  const layout = document.getElementById("queue-layout");
  const watched = layout.dataset.watched || "";
  const autoList = document.getElementById("auto-tickets");
  const firstSeen = new Map(); // ticket id -> performance.now() when first selected, for seconds_taken
  const MAX_SECONDS_TAKEN = 7 * 24 * 3600; // the API refuses longer: send "unknown" instead
  let selected = null;
  let matchIndex = 0;

  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  const MAX_TOASTS = 3;

  function toast(text, kind, lifetime = 5000) {
    const box = document.getElementById("toasts");
    const el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    el.textContent = text;
    box.appendChild(el);
    while (box.children.length > MAX_TOASTS) box.firstElementChild.remove(); // the oldest go first
    setTimeout(() => el.remove(), lifetime);
    return el;
  }

  // --- undo of this agent's own triage ----------------------------------------------
  // Each triage's toast offers Undo for the seconds the server allows (counted from when
  // the choice was sent, so the page never offers longer than the server); `u` undoes
  // the newest one still offered.
  const undoable = []; // {id, toast, until}

  function offerUndo(id, text, seconds, sentAt) {
    const until = sentAt + seconds * 1000;
    const left = () => Math.ceil((until - performance.now()) / 1000);
    if (left() <= 0) return toast(text, "ok");
    const el = toast(text + " ", "ok undo-toast", until - performance.now());
    const button = document.createElement("button");
    button.type = "button";
    button.className = "undo";
    button.dataset.ticketId = id;
    const label = () => "Undo (u) · " + left() + " s";
    button.textContent = label();
    el.appendChild(button);
    const entry = { id: String(id), toast: el, until };
    undoable.push(entry);
    const tick = setInterval(() => {
      if (!el.isConnected || left() <= 0) {
        clearInterval(tick);
        el.remove();
      } else button.textContent = label();
    }, 250);
    button.addEventListener("click", () => undo(entry));
  }

  function undoNewest() {
    while (undoable.length) {
      const entry = undoable[undoable.length - 1];
      if (entry.toast.isConnected && entry.until > performance.now()) return undo(entry);
      undoable.pop();
    }
    toast("Nothing to undo.");
  }

  async function undo(entry) {
    const i = undoable.indexOf(entry);
    if (i >= 0) undoable.splice(i, 1);
    entry.toast.remove();
    let response;
    try {
      response = await fetch("/api/tickets/" + entry.id + "/undo/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
    } catch (err) {
      toast("Could not reach the server: the triage was not undone.", "bad");
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      toast("Not undone: " + (data.detail || "error " + response.status), "bad");
      return;
    }
    gone.delete(entry.id);
    // The row comes back over the websocket, as a new ticket does; without it, reload.
    if (rowOf(entry.id)) select(rowOf(entry.id), true);
    else {
      reselect = entry.id;
      if (!socket || socket.readyState !== WebSocket.OPEN) reloadRows();
    }
    toast(data.detail || "Back in the queue.", "ok");
  }

  function tickets() {
    return Array.from(list().querySelectorAll("li.ticket"));
  }

  // The page holds the first page of the queue; as its rows leave, fetch the next ones
  // rather than say "empty" while the count says more are waiting.
  const TOP_UP_BELOW = 10;

  function updateCount(delta) {
    const n = Math.max(0, parseInt(countEl.textContent, 10) + delta);
    countEl.textContent = String(n);
    const shown = tickets().length;
    document.getElementById("queue-empty").hidden = shown > 0;
    if (delta < 0 && shown < Math.min(n, TOP_UP_BELOW)) reloadRows(); // one at a time (reloadRows)
  }

  // The ticket the agent chose (j/k, a click), not one the page moved to by itself:
  // only that one's removal by another agent is worth telling them about.
  let chosenId = null;

  function select(el, byAgent = false) {
    if (selected) {
      selected.classList.remove("selected");
      selected.removeAttribute("aria-current");
    }
    selected = el || null;
    if (byAgent) chosenId = selected ? selected.dataset.ticketId : null;
    if (!selected) return;
    selected.classList.add("selected");
    selected.setAttribute("aria-current", "true"); // what a screen reader announces as the ticket at hand
    if (!firstSeen.has(selected.dataset.ticketId)) firstSeen.set(selected.dataset.ticketId, performance.now());
    selected.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = tickets();
    if (!all.length) return;
    const i = selected ? all.indexOf(selected) : -1;
    select(all[Math.min(all.length - 1, Math.max(0, i + step))], true);
  }

  // Tickets this page has already taken out (its own triage, or an earlier event): the
  // websocket's echo of them is no news, and asks for no recount.
  const gone = new Set();
  // Tickets whose triage this page has sent and not yet heard back about.
  const leaving = new Set();

  function removeTicket(id) {
    id = String(id);
    if (gone.size > 5000) gone.clear();
    gone.add(id);
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
    // performance.now() is monotonic: a clock change can't make the time negative.
    const seconds = started === undefined ? null : (performance.now() - started) / 1000;
    el.classList.add("leaving");
    leaving.add(id);
    const sentAt = performance.now();
    let response;
    try {
      response = await fetch("/api/tickets/" + id + "/triage/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ category: slug, seconds_taken: seconds !== null && seconds <= MAX_SECONDS_TAKEN ? seconds : null }),
      });
    } catch (err) {
      leaving.delete(id);
      rowOf(id)?.classList.remove("leaving");
      toast("Could not reach the server: your choice was not saved.", "bad");
      return;
    }
    leaving.delete(id);
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      removeTicket(id);
      offerUndo(id, data.detail || "Triaged.", data.undo_seconds || 0, sentAt);
    } else if (response.status === 409) {
      removeTicket(id);
      toast(data.detail, "bad");
    } else {
      rowOf(id)?.classList.remove("leaving"); // the row a reload put in its place, if any
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
  // Keys that belong to the focused element: everything typed into a form control
  // (a select's arrows, the filter), and Enter or Space on a focused button or link
  // ("Undo", "Log out", or a row's choice, which then triages with that choice).
  function elementsOwnKey(target, key) {
    if (!(target instanceof Element)) return false;
    if (target.closest("input, select, textarea, [contenteditable]")) return true;
    return (key === "Enter" || key === " ") && target.closest("button, a[href], summary") !== null;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.metaKey || ev.ctrlKey || ev.altKey || elementsOwnKey(ev.target, ev.key)) return;
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
    } else if (ev.key === "u") {
      ev.preventDefault();
      undoNewest();
    }
  });

  document.addEventListener("click", (ev) => {
    const choice = ev.target.closest(".choice");
    const row = ev.target.closest("li.ticket");
    if (row) select(row, true);
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

  // A fetch that was redirected (to the login page) answered 200 with HTML: the
  // session has ended. Go to the login page, which brings the agent back here.
  function signedOut() {
    location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname + location.search));
  }

  // The rows (and the count) come from the server, one fetch at a time: a fetch asked
  // for while one is under way runs after it, so an older answer never lands last.
  // Events that arrive while rows are being fetched may or may not be in the server's
  // answer, depending on when it read the queue. Each fetch records them and replays
  // them on its answer: a ticket triaged meanwhile must not come back as a ghost row
  // (and count), and one that arrived meanwhile must not be lost.
  let loading = null;
  let loadAgain = false;
  let missed = null;

  function reloadRows() {
    if (loading) {
      loadAgain = true;
      return loading;
    }
    loading = fetchRows().finally(() => {
      loading = null;
      if (loadAgain) {
        loadAgain = false;
        reloadRows();
      }
    });
    return loading;
  }

  async function fetchRows() {
    const events = (missed = []);
    try {
      const response = await fetch("/queue/rows/" + location.search, { credentials: "same-origin" });
      if (response.redirected) return signedOut(); // the login page, not rows
      if (!response.ok) return;
      const html = await response.text();
      const keep = selected ? selected.dataset.ticketId : null;
      document.getElementById("queue-rows").innerHTML = html; // server-rendered, escaped
      const lane = document.getElementById("auto-rows");
      if (lane) autoList.replaceChildren(lane.content.cloneNode(true));
      decorate(document);
      countEl.textContent = list().dataset.count;
      leaving.forEach((id) => rowOf(id)?.classList.add("leaving")); // still being triaged here
      replay(events);
      select(keep ? document.getElementById("ticket-" + keep) || tickets()[0] : tickets()[0]);
    } finally {
      missed = null;
    }
  }

  // A ticket taken from beyond the rows shown leaves the count too; the page can't
  // tell from the event alone whether its last answer counted it, so it asks again:
  // once for every burst of such events, at most 400 ms after the first.
  let recountTimer = null;
  function recountSoon() {
    if (recountTimer) return;
    recountTimer = setTimeout(() => {
      recountTimer = null;
      reloadRows();
    }, 400);
  }

  function replay(missed) {
    for (const data of missed) {
      const row = rowOf(data.ticket_id);
      if (data.event === "ticket_removed" && row) {
        if (row === selected) select(null);
        row.remove(); // the answer was read before this ticket left
        updateCount(-1);
      } else if (data.event === "ticket_added" && !row && watches(data.queue)) {
        addRow(data); // the answer was read before this ticket came
      } else if (data.event === "ticket_auto" || data.event === "auto_undone") {
        onAutoEvent(data); // the auto-triaged lane came with the answer too
      }
    }
    if (!selected) select(tickets()[0]);
  }

  function rowOf(id) {
    return document.getElementById("ticket-" + id);
  }

  // The ticket this page's undo brought back: selected when its row arrives.
  let reselect = null;

  function addRow(data) {
    const el = fromServer(data.html);
    el.classList.add("arrived");
    decorate(el);
    const urgent = list().querySelectorAll("li.ticket.urgent");
    if (data.urgent || !urgent.length) list().prepend(el);
    else urgent[urgent.length - 1].after(el); // urgent tickets stay on top
    updateCount(1);
    if (reselect === String(data.ticket_id)) {
      reselect = null;
      select(el, true);
    } else if (!selected) select(el);
  }

  function fromServer(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim(); // server-rendered with Django autoescaping
    return tpl.content.firstElementChild;
  }

  function watches(queue) {
    return !watched || !queue || queue === watched;
  }

  function notifyUrgent(data) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    // The body is set as text by the browser, never parsed as HTML.
    const n = new Notification("Urgent ticket #" + data.ticket_id, { body: data.subject || "", tag: "ticket-" + data.ticket_id });
    n.onclick = () => {
      window.focus();
      select(document.getElementById("ticket-" + data.ticket_id));
    };
  }

  // The "Recently auto-triaged" lane.
  function onAutoEvent(data) {
    const el = document.getElementById("auto-" + data.ticket_id);
    if (data.event === "auto_undone") {
      if (el) el.remove();
    } else if (!el && watches(data.queue)) {
      const row = fromServer(data.html);
      decorate(row);
      autoList.prepend(row);
      refreshAges(); // "12 s ago", as the rows the page loaded with say
    }
  }

  function onEvent(data) {
    if (missed && ["ticket_added", "ticket_removed", "ticket_auto", "auto_undone"].includes(data.event)) {
      missed.push(data);
    }
    if (data.event === "ticket_added") {
      if (document.getElementById("ticket-" + data.ticket_id) || !watches(data.queue)) return;
      addRow(data);
      if (data.urgent) notifyUrgent(data);
    } else if (data.event === "ticket_auto" || data.event === "auto_undone") {
      onAutoEvent(data);
    } else if (data.event === "taxonomy") {
      applyTaxonomy(data);
      if (data.reload) reloadRows(); // waiting tickets got new suggestions
    } else if (data.event === "rows_changed") {
      reloadRows();
    } else if (data.event === "ticket_removed") {
      const wasMine =
        chosenId === String(data.ticket_id) && selected && selected.dataset.ticketId === chosenId && !selected.classList.contains("leaving");
      const news = !gone.has(String(data.ticket_id));
      if (removeTicket(data.ticket_id)) {
        if (wasMine) toast("Ticket #" + data.ticket_id + " was triaged by " + data.agent + " as " + data.category + ".");
      } else if (news && watches(data.queue)) {
        recountSoon(); // waiting beyond the rows shown, and counted there
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
        setLive("down", "Live updates stopped: you are signed out or no longer an agent. Reload to sign in.");
        return;
      }
      const wait = Math.min(30, 2 ** retry++);
      setLive("down", "Live updates interrupted: retrying in " + wait + " s");
      setTimeout(connect, wait * 1000);
    });
  }

  // --- taxonomy: labels, tooltips, merges, live -------------------------------
  function decorate(root) {
    root.querySelectorAll("[data-category]").forEach((el) => {
      const c = bySlug.get(el.dataset.category);
      if (!c) return;
      const name = el.classList.contains("cat-name") ? el : el.querySelector(".cat-name");
      if (name) name.textContent = c.name || c.label;
      if (c.description) el.title = c.description;
      else el.removeAttribute("title");
      if (c.color && el.classList.contains("choice")) el.style.setProperty("--cat-color", c.color);
    });
  }

  function applyTaxonomy(data) {
    const all = data.categories.map((c) => ({ slug: c.slug, name: c.label, description: c.description, color: c.color, active: c.active }));
    bySlug = new Map(all.map((c) => [c.slug, c]));
    categories = all.filter((c) => c.active);
    if (data.merged) {
      const { from, into } = data.merged;
      document.querySelectorAll('[data-category="' + CSS.escape(from) + '"]').forEach((el) => {
        el.dataset.category = into;
      });
      document.querySelectorAll('li.ticket[data-suggested="' + CSS.escape(from) + '"]').forEach((el) => {
        el.dataset.suggested = into;
      });
    }
    decorate(document);
  }

  // --- ages, live --------------------------------------------------------------
  function age(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h " + (Math.floor(s / 60) % 60) + " min ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function refreshAges() {
    const now = Date.now();
    document.querySelectorAll("time.age[datetime]").forEach((el) => {
      const t = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(t)) el.textContent = age(now - t);
    });
  }

  // --- watching a queue, notifications, undo ------------------------------------
  // A mouse pick applies at once; with the keyboard, arrows only step through the
  // queues (each one fires "change") and Enter or leaving the list applies.
  const watchSelect = document.getElementById("watch-queue");
  let watchKeyed = false;
  function applyWatch() {
    const params = new URLSearchParams(location.search);
    if ((params.get("queue") || "") === watchSelect.value) return;
    if (watchSelect.value) params.set("queue", watchSelect.value);
    else params.delete("queue");
    location.search = params.toString();
  }
  watchSelect.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      applyWatch();
    } else if (ev.key !== "Tab") watchKeyed = true;
  });
  watchSelect.addEventListener("change", () => {
    if (!watchKeyed) applyWatch();
  });
  watchSelect.addEventListener("blur", () => {
    if (watchKeyed) applyWatch();
    watchKeyed = false;
  });

  const notifyButton = document.getElementById("enable-notifications");
  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", async () => {
      await Notification.requestPermission();
      notifyButton.hidden = Notification.permission !== "default";
    });
  }

  autoList.addEventListener("click", async (ev) => {
    const button = ev.target.closest(".undo-auto");
    if (!button) return;
    button.disabled = true;
    const id = button.dataset.ticketId;
    const response = await fetch("/taxonomy/auto/" + id + "/undo/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).catch(() => null);
    if (response && response.redirected) return signedOut();
    const data = response ? await response.json().catch(() => ({})) : {};
    if (response && response.ok) {
      const el = document.getElementById("auto-" + id);
      if (el) el.remove();
      toast(data.detail || "Back in the queue.", "ok");
    } else {
      button.disabled = false;
      toast((data && data.detail) || "Could not undo.", "bad");
    }
  });

  decorate(document);
  refreshAges();
  setInterval(refreshAges, 15000);
  select(tickets()[0]);
  connect();
})();
