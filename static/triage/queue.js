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
  // The view this page shows (the query string, as the server read it).
  const view = {
    sort: layout.dataset.sort || "newest",
    page: parseInt(layout.dataset.page || "1", 10),
    q: layout.dataset.q || "",
    category: layout.dataset.category || "",
    channel: layout.dataset.channel || "",
    language: layout.dataset.language || "",
    human: layout.dataset.human || "",
    urgent: layout.dataset.urgent === "1",
    age: layout.dataset.age || "",
  };
  const AGE_LIMITS = { "under-1h": [0, 3600], "over-1h": [3600, Infinity], "over-4h": [4 * 3600, Infinity], "over-1d": [86400, Infinity] };
  const autoList = document.getElementById("auto-tickets");
  const firstSeen = new Map(); // ticket id -> performance.now() when first selected, for seconds_taken
  const MAX_SECONDS_TAKEN = 7 * 24 * 3600; // the API refuses longer: send "unknown" instead
  let selected = null;
  let matchIndex = 0;
  const picked = new Set(); // ticket ids picked for a bulk triage

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

  // A selected row scrolled into view stops below the sticky toolbar, whose height
  // changes with the bulk bar and the window's width.
  const toolbar = document.querySelector(".toolbar");
  if (toolbar && window.ResizeObserver) {
    new ResizeObserver(() => {
      document.documentElement.style.setProperty("--toolbar-height", toolbar.offsetHeight + "px");
    }).observe(toolbar);
  }

  function select(el, byAgent = false) {
    if (selected) {
      selected.classList.remove("selected");
      selected.removeAttribute("aria-current");
    }
    selected = el || null;
    if (byAgent) chosenId = selected ? selected.dataset.ticketId : null;
    if (!selected) return showLike();
    selected.classList.add("selected");
    selected.setAttribute("aria-current", "true"); // what a screen reader announces as the ticket at hand
    if (!firstSeen.has(selected.dataset.ticketId)) firstSeen.set(selected.dataset.ticketId, performance.now());
    selected.scrollIntoView({ block: "nearest" });
    showLike();
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
    picked.delete(id);
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
      autoEmpty();
      decorate(document);
      countEl.textContent = list().dataset.count;
      restorePicks();
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
        offerRow(data); // the answer was read before this ticket came
      } else if (data.event === "ticket_auto" || data.event === "auto_undone") {
        onAutoEvent(data); // the auto-triaged lane came with the answer too
      } else if (data.event === "tickets_removed") {
        data.ticket_ids.forEach((id) => {
          const row = rowOf(id);
          if (!row) return;
          if (row === selected) select(null);
          row.remove();
          updateCount(-1);
        });
      }
    }
    if (!selected) select(tickets()[0]);
  }

  function rowOf(id) {
    return document.getElementById("ticket-" + id);
  }

  // The ticket this page's undo brought back: selected when its row arrives.
  let reselect = null;

  // Does a pushed row belong to this page's view? true, false, or null when the page
  // can't tell (a search reads the whole body): then it asks the server again.
  function matchesView(el) {
    if (view.q) return null;
    const d = el.dataset;
    if (view.category && d.choice !== view.category) return false;
    if (view.channel && d.channel !== view.channel) return false;
    if (view.language && d.language !== view.language) return false;
    if (view.human === "yes" && d.human !== "1") return false;
    if (view.human === "no" && d.human !== "0") return false;
    if (view.urgent && !el.classList.contains("urgent")) return false;
    if (view.age) {
      const t = Date.parse(el.querySelector("time.age")?.getAttribute("datetime") || "");
      const waited = (Date.now() - t) / 1000;
      const [low, high] = AGE_LIMITS[view.age] || [0, Infinity];
      if (Number.isNaN(t) || waited < low || waited >= high) return false;
    }
    return true;
  }

  // A new ticket: on the first page of the newest-first view it goes on top; a view
  // sorted otherwise, or a later page, fetches its rows again (once per burst); a
  // ticket outside the filters is not this view's.
  function offerRow(data) {
    const el = fromServer(data.html);
    const fits = matchesView(el);
    if (fits === false) return false;
    if (fits === null || view.sort !== "newest" || view.page > 1) {
      recountSoon();
      return false;
    }
    addRow(data, el);
    return true;
  }

  function addRow(data, parsed) {
    const el = parsed || fromServer(data.html);
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
    autoEmpty();
  }

  function autoEmpty() {
    document.getElementById("auto-empty").hidden = autoList.children.length > 0;
  }

  function onEvent(data) {
    if (missed && ["ticket_added", "ticket_removed", "tickets_removed", "ticket_auto", "auto_undone"].includes(data.event)) {
      missed.push(data);
    }
    if (data.event === "ticket_added") {
      if (document.getElementById("ticket-" + data.ticket_id) || !watches(data.queue)) return;
      offerRow(data);
      if (data.urgent) notifyUrgent(data);
    } else if (data.event === "ticket_auto" || data.event === "auto_undone") {
      onAutoEvent(data);
    } else if (data.event === "taxonomy") {
      applyTaxonomy(data);
      if (data.reload) reloadRows(); // waiting tickets got new suggestions
    } else if (data.event === "rows_changed") {
      reloadRows();
    } else if (data.event === "tickets_removed") {
      onBulkRemoved(data);
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

  // Every push is a numbered batch of events. A number skipped means a batch this page
  // never got (the server dropped it for a socket that fell behind): wait a moment for
  // it, since batches from different server processes may cross, then fetch the rows.
  // Batches numbered at or below `resyncedAt` are already in the rows fetched since.
  const GAP_WAIT_MS = 500;
  let lastSeq = null;
  let resyncedAt = null;
  const missing = new Set();
  let gapTimer = null;

  function resync() {
    clearTimeout(gapTimer);
    gapTimer = null;
    missing.clear();
    resyncedAt = lastSeq;
    return reloadRows();
  }

  function onBatch(data) {
    const seq = data.seq;
    socket.send(JSON.stringify({ type: "ack", seq: seq })); // the server closes a socket that stops acknowledging
    if (resyncedAt !== null && seq <= resyncedAt) return;
    if (lastSeq !== null && seq > lastSeq + 1) {
      for (let n = lastSeq + 1; n < seq && missing.size <= 1000; n++) missing.add(n);
      if (!gapTimer) gapTimer = setTimeout(() => (missing.size ? resync() : (gapTimer = null)), GAP_WAIT_MS);
    }
    missing.delete(seq);
    if (lastSeq === null || seq > lastSeq) lastSeq = seq;
    data.events.forEach(onEvent);
  }

  // First sync: the rows came with the number of the latest push before they were read
  // (data-pushed); a later number means pushes went out before this socket joined, so
  // fetch the rows again. Without a number (the server could not say), fetch anyway.
  const renderedSeq = layout.dataset.pushed === "" ? null : Number(layout.dataset.pushed);
  function onSync(seq) {
    if (lastSeq === null) lastSeq = seq;
    if (!firstSync) return;
    firstSync = false;
    if (renderedSeq === null || seq > renderedSeq) resync();
  }
  let firstSync = true;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/queue/");
    socket.addEventListener("open", () => {
      setLive("live", "Live");
      // A new socket's numbers carry on from pushes this page never saw: count afresh
      // from the server's latest, and catch up on what arrived while away.
      lastSeq = resyncedAt = null;
      socket.send(JSON.stringify({ type: "sync" }));
      if (everConnected) resync();
      everConnected = true;
      retry = 0;
    });
    socket.addEventListener("message", (ev) => {
      const data = JSON.parse(ev.data);
      if (data.event === "batch") onBatch(data);
      else if (data.event === "sync") onSync(data.seq);
      else onEvent(data);
    });
    socket.addEventListener("close", (ev) => {
      if (ev.code === 4403) {
        setLive("down", "Live updates stopped: you are signed out or no longer an agent. Reload to sign in.");
        return;
      }
      // 4429: the server closed a socket that fell behind; come back at once and resync.
      const wait = ev.code === 4429 ? 1 : Math.min(30, 2 ** retry++);
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

  // --- the view's filters -----------------------------------------------------
  // The form is a plain GET form (it works without this script); here, a mouse pick
  // in a list applies at once, while with the keyboard arrows only step through the
  // options and Enter or leaving the list applies. Empty filters stay out of the URL,
  // and a new filter starts again at page 1.
  const filtersForm = document.getElementById("view-filters");
  function applyFilters() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(filtersForm)) {
      if (String(value).trim() && !(key === "sort" && value === "newest")) params.set(key, String(value).trim());
    }
    if (params.toString() !== new URLSearchParams(location.search).toString()) location.search = params.toString();
  }
  filtersForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    applyFilters();
  });
  filtersForm.querySelectorAll("select").forEach((sel) => {
    let keyed = false;
    sel.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        applyFilters();
      } else if (ev.key !== "Tab") keyed = true;
    });
    sel.addEventListener("change", () => {
      if (!keyed) applyFilters();
    });
    sel.addEventListener("blur", () => {
      if (keyed) applyFilters();
      keyed = false;
    });
  });
  filtersForm.querySelector('input[name="urgent"]').addEventListener("change", applyFilters);

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
      autoEmpty();
      toast(data.detail || "Back in the queue.", "ok");
    } else {
      button.disabled = false;
      toast((data && data.detail) || "Could not undo.", "bad");
    }
  });

  // --- bulk triage ---------------------------------------------------------------
  // Rows picked by their box, a shift-click (a range) or `x`; or "all like this": every
  // ticket of the view with the same suggestion at a confidence or more, across pages,
  // which the server resolves when the agent triages them.
  const bulkBar = document.getElementById("bulk-bar");
  const bulkSummary = document.getElementById("bulk-summary");
  const bulkCategory = document.getElementById("bulk-category");
  const likeBar = document.getElementById("like-bar");
  const likeMin = document.getElementById("like-min");
  let anchor = null; // the last row picked or unpicked: a shift-click picks from there
  let like = null; // {suggested, min_confidence, count} once "select all like this" answered

  function restorePicks() {
    tickets().forEach((row) => {
      const on = picked.has(row.dataset.ticketId);
      row.classList.toggle("picked", on);
      const box = row.querySelector("input.pick");
      if (box) box.checked = on;
    });
    showBulk();
  }

  function setPicked(row, on) {
    const id = row.dataset.ticketId;
    if (on) picked.add(id);
    else picked.delete(id);
    row.classList.toggle("picked", on);
    const box = row.querySelector("input.pick");
    if (box) box.checked = on;
  }

  function togglePick(row, range) {
    const on = !picked.has(row.dataset.ticketId);
    like = null;
    if (range && anchor && anchor.isConnected && anchor !== row) {
      const all = tickets();
      const [a, b] = [all.indexOf(anchor), all.indexOf(row)].sort((x, y) => x - y);
      all.slice(a, b + 1).forEach((r) => setPicked(r, on));
    } else {
      setPicked(row, on);
    }
    anchor = row;
    showBulk();
  }

  function showBulk() {
    if (like) {
      bulkSummary.textContent =
        "All " + like.count.toLocaleString("en-GB") + " like this (suggested " + (bySlug.get(like.suggested)?.name || like.suggested) +
        " at " + Math.round(like.min_confidence * 100) + "\u00a0% or more)";
    } else {
      bulkSummary.textContent = picked.size + " selected";
    }
    bulkBar.hidden = !like && picked.size === 0;
  }

  function showLike() {
    const row = selected;
    const slug = row && row.dataset.human === "0" ? row.dataset.choice : "";
    likeBar.hidden = !slug;
    if (slug) document.getElementById("like-category").textContent = bySlug.get(slug)?.name || slug;
  }

  function clearPicks() {
    picked.clear();
    like = null;
    restorePicks();
  }

  function likeFilter() {
    const f = { suggested: selected.dataset.choice, min_confidence: parseFloat(likeMin.value) };
    for (const key of ["q", "channel", "language", "age"]) if (view[key]) f[key] = view[key];
    if (watched) f.queue = watched;
    if (view.urgent) f.urgent = true;
    return f;
  }

  async function postBulk(body) {
    const response = await fetch("/api/tickets/bulk-triage/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).catch(() => null);
    if (response && response.redirected) {
      signedOut();
      return null;
    }
    const data = response ? await response.json().catch(() => ({})) : {};
    if (!response || !response.ok) {
      const problem = response ? Object.values(data).flat().join(" ") || "error " + response.status : "the server is unreachable";
      toast("Not saved: " + problem, "bad");
      return null;
    }
    return data;
  }

  document.getElementById("like-select").addEventListener("click", async () => {
    if (!selected || !selected.dataset.choice) return;
    const filter = likeFilter();
    const data = await postBulk({ category: filter.suggested, like: filter, dry_run: true });
    if (!data) return;
    picked.clear();
    like = { ...filter, count: data.matching };
    tickets().forEach((row) => {
      const fits = row.dataset.human === "0" && row.dataset.choice === filter.suggested && parseFloat(row.dataset.confidence) >= filter.min_confidence;
      setPicked(row, fits);
    });
    picked.clear(); // the server resolves "all like this"; the boxes only show which rows it covers here
    if (bySlug.has(filter.suggested)) bulkCategory.value = filter.suggested;
    showBulk();
  });

  document.getElementById("bulk-clear").addEventListener("click", clearPicks);

  document.getElementById("bulk-apply").addEventListener("click", async (ev) => {
    const button = ev.currentTarget;
    const category = bulkCategory.value;
    if (!category || (!like && picked.size === 0)) return;
    const body = like
      ? { category, like: Object.fromEntries(Object.entries(like).filter(([k]) => k !== "count")) }
      : { category, tickets: Array.from(picked, Number) };
    button.disabled = true;
    const data = await postBulk(body);
    button.disabled = false;
    if (!data) return;
    for (const id of [...data.triaged, ...data.taken, ...data.missing]) {
      gone.add(String(id));
      const row = rowOf(id);
      if (row === selected) select(null);
      if (row) row.remove();
    }
    clearPicks();
    toast(data.detail, data.taken.length ? "" : "ok");
    reloadRows(); // the count, and the next rows of the view
  });

  function onBulkRemoved(data) {
    let beyond = false;
    for (const id of data.ticket_ids) {
      const key = String(id);
      const news = !gone.has(key);
      if (!removeTicket(key) && news) beyond = true;
    }
    if (beyond) recountSoon();
  }

  list().parentElement.addEventListener("click", (ev) => {
    const box = ev.target.closest("input.pick");
    if (!box) return;
    ev.preventDefault(); // the page sets the box, for ranges too
    const row = box.closest("li.ticket");
    setTimeout(() => togglePick(row, ev.shiftKey), 0);
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "x" || ev.metaKey || ev.ctrlKey || ev.altKey || elementsOwnKey(ev.target, ev.key)) return;
    if (!selected) return;
    ev.preventDefault();
    togglePick(selected, ev.shiftKey);
  });

  // The page's current view again, from the server: for code that knows rows may have changed.
  window.AssistQueue = { refresh: reloadRows };

  decorate(document);
  refreshAges();
  setInterval(refreshAges, 15000);
  select(tickets()[0]);
  connect();
})();
