// The operator WebSocket (/ws/chat/agent/) shared by the inbox and the conversation view:
// it authenticates with a short-lived token from the dashboard session, reconnects with
// backoff (at once with a fresh token when the server ends a live socket's session with 4001),
// and hands each frame to the handlers registered for its type.
(() => {
  "use strict";

  const handlers = {};
  let socket = null;
  let attempts = 0;
  let everConnected = false;

  function on(type, handler) {
    (handlers[type] = handlers[type] || []).push(handler);
  }

  function emit(type, value) {
    for (const handler of handlers[type] || []) {
      try { handler(value); } catch (error) { console.error(error); } // one part's bug spares the rest
    }
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  async function connect() {
    emit("state", "connecting");
    let access;
    try {
      access = await window.Dashboard.token();
    } catch (error) {
      return retry();
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws/chat/agent/");
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token: access })));
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "auth_ok") {
        attempts = 0;
        emit("state", "live");
        frame.reconnected = everConnected; // events may have been missed while away
        everConnected = true;
      }
      emit(frame.type, frame);
    });
    socket.addEventListener("close", (event) => {
      emit("state", "offline");
      // 4001 on a live socket: its token expired or the session changed. A fresh token from
      // the dashboard session reconnects at once; auth_ok then resumes as after any reconnect.
      if (event.code === 4001) {
        window.Dashboard.forgetToken();
        if (attempts === 0) { // refused again before auth_ok: backoff as usual
          attempts = 1;
          return setTimeout(connect, 0);
        }
      }
      retry();
    });
  }

  function retry() {
    attempts += 1;
    const delay = Math.min(15000, 500 * 2 ** Math.min(attempts, 5)) * (0.75 + Math.random() / 2);
    setTimeout(connect, delay);
  }

  window.DashboardLive = { on, send };
  // Every page script registers its handlers first: scripts run in order, then this event.
  document.addEventListener("DOMContentLoaded", connect);
})();
