// The live inbox list: new conversations and messages as they happen, waiting ones highlighted
// with a beep, unread counts. Text is inserted with textContent only.
(() => {
  "use strict";

  const $ = (selector, root = document) => root.querySelector(selector);
  const { element, clock } = window.Dashboard;
  const live = window.DashboardLive;
  const config = JSON.parse($("#inbox-config").textContent);
  const list = $("[data-role=conversations]");
  const emptyNote = $("[data-role=empty]");
  const connection = $("[data-role=connection]");
  const open = config.open; // the conversation shown beside the list, if any
  const filter = config.filter;
  const MAX_SEEN = 500;

  // ---- unread counts: per conversation, the last seq this browser has shown -----------------
  const SEEN_KEY = "chatbot.dashboard.seen";
  let seen = {};
  try { seen = JSON.parse(localStorage.getItem(SEEN_KEY) || "{}") || {}; } catch (error) { seen = {}; }
  function markSeen(id, seq) {
    if ((seen[id] || 0) >= seq) return;
    delete seen[id]; // re-inserted last, so that the oldest are the first dropped
    seen[id] = seq;
    const ids = Object.keys(seen);
    for (const stale of ids.slice(0, Math.max(0, ids.length - MAX_SEEN))) delete seen[stale];
    try { localStorage.setItem(SEEN_KEY, JSON.stringify(seen)); } catch (error) { /* private mode */ }
  }

  // ---- sound: a short WebAudio beep, no file -------------------------------------------------
  const soundToggle = $("[data-role=sound-toggle]");
  let soundOn = localStorage.getItem("chatbot.dashboard.sound") !== "off";
  let audio = null;
  function showSound() {
    soundToggle.setAttribute("aria-pressed", String(soundOn));
    soundToggle.textContent = soundOn ? "Sound on" : "Sound off";
  }
  function beep() {
    if (!soundOn) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const now = audio.currentTime;
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.15, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.3);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(now);
      oscillator.stop(now + 0.32);
    } catch (error) { /* no audio here: the highlight still shows */ }
  }
  soundToggle.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("chatbot.dashboard.sound", soundOn ? "on" : "off");
    showSound();
    beep();
  });
  // Browsers let a page play sound only once the user has interacted with it.
  document.addEventListener("pointerdown", () => { if (audio && audio.state === "suspended") audio.resume(); });

  // ---- rows ------------------------------------------------------------------------------------
  const rows = new Map();
  for (const row of list.children) rows.set(row.getAttribute("data-conversation-id"), row);

  function ago(iso) {
    const when = new Date(iso);
    if (isNaN(when)) return "";
    const seconds = (Date.now() - when) / 1000;
    if (seconds < 45) return "just now";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    if (when.toDateString() === new Date().toDateString()) return clock(iso);
    return when.toLocaleDateString([], { month: "short", day: "numeric" });
  }
  function refreshTimes() {
    for (const time of list.querySelectorAll("time[data-role=time]")) time.textContent = ago(time.dateTime);
  }

  function setStatus(row, status) {
    row.setAttribute("data-status", status);
    const badge = $("[data-role=status]", row);
    badge.className = "badge status-" + status;
    badge.textContent = config.statuses[status] || status;
  }

  function updateUnread(row) {
    const id = row.getAttribute("data-conversation-id");
    const last = Number(row.getAttribute("data-last-seq")) || 0;
    if (open && open.id === id) markSeen(id, last);
    const count = Math.max(0, last - (seen[id] || 0));
    const badge = $("[data-role=unread]", row);
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
    row.classList.toggle("has-unread", count > 0);
  }

  function updateTotal() {
    let total = 0;
    for (const row of rows.values()) if (row.classList.contains("has-unread")) total += 1;
    const badge = $("[data-role=unread-total]");
    if (badge) {
      badge.textContent = String(total);
      badge.hidden = total === 0;
    }
    document.title = (total ? "(" + total + ") " : "") + "Inbox · Chatbot";
    emptyNote.hidden = rows.size > 0;
  }

  function buildRow(conversation) {
    const row = element("li", "conversation-row");
    row.setAttribute("data-conversation-id", conversation.id);
    const link = element("a");
    link.href = "/dashboard/conversations/" + encodeURIComponent(conversation.id) + "/";
    const name = element("span", "row-name", config.chatbots[conversation.chatbot_id] || conversation.chatbot_name || "New chatbot");
    name.setAttribute("data-role", "chatbot-name");
    const time = element("time");
    time.setAttribute("data-role", "time");
    const text = element("span", "row-text");
    text.setAttribute("data-role", "last-message");
    const badge = element("span", "badge");
    badge.setAttribute("data-role", "status");
    const unread = element("span", "unread");
    unread.setAttribute("data-role", "unread");
    unread.hidden = true;
    const top = element("span", "row-top");
    top.append(name, time);
    const bottom = element("span", "row-bottom");
    bottom.append(badge, unread);
    link.append(top, text, bottom);
    row.append(link);
    if (open && open.id === conversation.id) {
      row.classList.add("active");
      link.setAttribute("aria-current", "page");
    }
    return row;
  }

  function showLastMessage(row, message, at) {
    if (message) {
      $("[data-role=last-message]", row).textContent = (message.role === "operator" ? "You: " : "") + message.text;
      const seq = Number(message.seq) || 0;
      if (seq > (Number(row.getAttribute("data-last-seq")) || 0)) row.setAttribute("data-last-seq", String(seq));
    }
    if (at) {
      const time = $("[data-role=time]", row);
      time.dateTime = at;
      time.textContent = ago(at);
    }
  }

  function highlight(row) {
    if (list.firstElementChild !== row) list.prepend(row);
    row.classList.remove("flash-new");
    void row.offsetWidth; // restarts the arrival animation
    row.classList.add("flash-new");
    beep();
  }

  function belongsHere(conversation) {
    if (filter.q) return false; // search results change only when searched again
    // The socket carries every workspace of the operator; the list shows the current one.
    if (config.workspace && conversation.workspace_id !== config.workspace) return false;
    if (filter.status && conversation.status !== filter.status) return false;
    // The socket only carries this operator's own conversations, new chatbots' included.
    return !filter.chatbot || conversation.chatbot_id === filter.chatbot;
  }

  live.on("conversation", ({ conversation }) => {
    let row = rows.get(conversation.id);
    const before = row ? row.getAttribute("data-status") : null;
    if (!row) {
      if (!belongsHere(conversation)) return;
      row = buildRow(conversation);
      rows.set(conversation.id, row);
      highlight(row);
    } else if (conversation.status === "waiting_for_human" && before !== "waiting_for_human") {
      highlight(row);
    }
    setStatus(row, conversation.status);
    showLastMessage(row, conversation.last_message, conversation.last_message_at);
    updateUnread(row);
    updateTotal();
  });

  live.on("message", ({ message }) => {
    const row = rows.get(message.conversation_id);
    if (!row) return; // its `conversation` event comes first when it belongs in the list
    showLastMessage(row, message, message.created_at);
    if (list.firstElementChild !== row) list.prepend(row);
    updateUnread(row);
    updateTotal();
    const status = row.getAttribute("data-status");
    if (message.role === "visitor" && (status === "waiting_for_human" || status === "human")) beep();
  });

  async function reload() {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
    try {
      const response = await fetch("/dashboard/inbox/data/?" + query, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const fresh = new Map();
      for (const item of (await response.json()).items) {
        const row = rows.get(item.id) || buildRow(item);
        setStatus(row, item.status);
        showLastMessage(row, item.last_message, item.last_message_at);
        fresh.set(item.id, row);
      }
      list.replaceChildren(...fresh.values());
      rows.clear();
      for (const [id, row] of fresh) { rows.set(id, row); updateUnread(row); }
      updateTotal();
    } catch (error) { /* the next reconnect tries again */ }
  }
  live.on("auth_ok", (frame) => { if (frame.reconnected) reload(); });
  live.on("resynced", reload);

  const STATES = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" };
  live.on("state", (state) => {
    connection.setAttribute("data-state", state);
    connection.textContent = STATES[state] || state;
  });

  if (open) markSeen(open.id, open.last_seq);
  for (const row of rows.values()) updateUnread(row);
  updateTotal();
  showSound();
  refreshTimes();
  setInterval(refreshTimes, 30000);
})();
