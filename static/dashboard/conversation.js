// The open conversation: its messages as they arrive, the reply box, Take over, Release, Close.
// Text is inserted with textContent only.
(() => {
  "use strict";

  const $ = (selector, root = document) => root.querySelector(selector);
  const { element, clock } = window.Dashboard;
  const live = window.DashboardLive;
  const pane = $("[data-role=conversation]");
  if (!pane) return;
  const config = JSON.parse($("#inbox-config").textContent);
  const open = config.open; // {id, status, last_seq}
  const ROLES = { visitor: "Visitor", bot: "Bot", operator: "Operator" };
  const messages = $("[data-role=messages]", pane);
  const typing = $("[data-role=typing]", pane);
  const replyForm = $("[data-role=reply]", pane);
  const replyText = $("[data-role=reply-text]", pane);
  const sendButton = $("[data-role=reply-send]", pane);
  const hint = $("[data-role=reply-hint]", pane);
  const notice = $("[data-role=status-notice]", pane);
  const buttons = {
    takeover: $("[data-action=takeover]", pane),
    release: $("[data-action=release]", pane),
    close: $("[data-action=close]", pane),
  };
  const assignSelect = $("[data-role=assign]", pane);
  const assigned = $("[data-role=assigned]", pane);
  const pending = new Map(); // client_id -> the message shown before the server stored it
  let lastSeq = open.last_seq;
  let connected = false;
  let erased = false; // its visitor's data was erased: nothing more can be done in it
  let typingTimer = 0;

  function messageItem(role, text, seq, at) {
    const item = element("li", "message role-" + role);
    item.setAttribute("data-message-role", role);
    if (seq) item.setAttribute("data-seq", String(seq));
    item.append(element("span", "message-who", ROLES[role] || role), element("p", "message-text", text));
    const time = element("time", null, at ? clock(at) : "");
    if (at) time.dateTime = at;
    item.append(time);
    return item;
  }

  function showAssignee() {
    const assignee = open.assignee;
    assigned.textContent = assignee ? "Assigned to " + assignee.name : "Unassigned";
    assignSelect.value = assignee ? assignee.id : "";
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  function showControls() {
    const status = open.status;
    const usable = connected && !erased;
    buttons.takeover.disabled = !usable || status === "human";
    buttons.release.disabled = !usable || status === "bot";
    buttons.close.disabled = !usable || status === "closed";
    sendButton.disabled = !usable;
    assignSelect.disabled = !usable;
    hint.textContent = status === "human"
      ? "You have taken over: the bot stays silent until you release the conversation."
      : status === "closed" ? "This conversation is closed. A new visitor message reopens it for the bot."
      : "The bot keeps answering until you take over.";
  }

  function fail(clientId, text) {
    const item = pending.get(clientId);
    if (!item) return false;
    item.classList.remove("pending");
    item.classList.add("failed");
    item.append(element("span", "error", text));
    pending.delete(clientId);
    return true;
  }

  function submit() {
    const text = replyText.value.trim();
    if (!text || !connected) return;
    const clientId = "dash-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    const item = messageItem("operator", text, 0, null);
    item.classList.add("pending");
    messages.append(item);
    pending.set(clientId, item);
    scrollDown();
    if (!live.send({ type: "message", conversation_id: open.id, text, client_id: clientId })) {
      fail(clientId, "Not sent: the connection dropped. Send it again.");
      return;
    }
    replyText.value = "";
    replyText.focus();
  }

  live.on("message", ({ message }) => {
    if (message.conversation_id !== open.id || message.seq <= lastSeq) return;
    lastSeq = message.seq;
    const item = messageItem(message.role, message.text, message.seq, message.created_at);
    const waiting = message.client_id && pending.get(message.client_id);
    if (waiting) {
      waiting.replaceWith(item);
      pending.delete(message.client_id);
    } else {
      messages.insertBefore(item, pending.size ? pending.values().next().value : null);
    }
    if (message.role === "visitor") typing.hidden = true;
    scrollDown();
  });

  live.on("conversation", ({ conversation }) => {
    if (conversation.id !== open.id) return;
    open.status = conversation.status;
    pane.setAttribute("data-status", conversation.status);
    const badge = $("[data-role=status]", pane);
    badge.className = "badge status-" + conversation.status;
    badge.textContent = config.statuses[conversation.status] || conversation.status;
    open.assignee = conversation.assignee;
    showAssignee();
    showControls();
  });

  live.on("conversation_erased", ({ conversation_id: id }) => {
    if (id !== open.id) return;
    erased = true;
    showControls();
    notice.textContent = "This visitor's data was erased: the conversation no longer exists.";
  });

  live.on("typing", (frame) => {
    if (frame.conversation_id !== open.id || frame.role !== "visitor") return;
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typing.hidden = true; }, 4000);
  });

  live.on("error", (frame) => {
    if (frame.client_id && fail(frame.client_id, frame.message)) return;
    if (frame.conversation_id && frame.conversation_id !== open.id) return;
    notice.textContent = frame.message;
    setTimeout(() => { notice.textContent = ""; }, 6000);
  });

  live.on("auth_ok", () => {
    // Whatever was stored while this page loaded or the socket was down, in order.
    live.send({ type: "resume", conversation_id: open.id, after: lastSeq });
  });

  live.on("state", (state) => {
    connected = state === "live";
    if (!connected) {
      for (const clientId of Array.from(pending.keys())) fail(clientId, "Not sent: the connection dropped. Send it again.");
    }
    showControls();
  });

  for (const [action, button] of Object.entries(buttons)) {
    button.addEventListener("click", () => live.send({ type: action, conversation_id: open.id }));
  }
  assignSelect.addEventListener("change", () => {
    live.send({ type: "assign", conversation_id: open.id, user_id: assignSelect.value || null });
  });
  replyForm.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  replyText.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  let typingSent = 0;
  replyText.addEventListener("input", () => {
    if (connected && Date.now() - typingSent > 2000) {
      typingSent = Date.now();
      live.send({ type: "typing", conversation_id: open.id });
    }
  });

  // Times were written in UTC by the server: shown again in the operator's own time zone.
  for (const time of messages.querySelectorAll("time[datetime]")) time.textContent = clock(time.dateTime);
  scrollDown();
  showControls();
})();
