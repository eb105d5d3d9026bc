/*
 * Chatbot embed widget. A site embeds it with one tag and nothing else:
 *
 *   <script src="https://HOST/static/widget.js" data-chatbot="SLUG" async></script>
 *
 * Plain JavaScript, no dependencies, no cookies. The UI lives in an open shadow root so the
 * host page's CSS cannot break it while the site's own tests can still reach it. Message text
 * only ever enters the DOM as text nodes. Documentation: docs/widget.md.
 */
(function () {
  "use strict";

  if (window.Chatbot && window.Chatbot.version) return; // the tag was pasted twice

  const VERSION = "1.0.0";
  const HISTORY_LIMIT = 200; // messages kept in localStorage
  const MAX_TEXT = 4000; // the server's default limit
  const TYPING_EVERY_MS = 3000;
  const CONNECT_TIMEOUT_MS = 15000;
  const RECONNECT_CAP_MS = 10000;
  const ROLES = ["visitor", "bot", "operator"];
  const STATUSES = ["bot", "waiting_for_human", "human", "closed"];

  // `currentScript` is set for async classic scripts too; the selector is a fallback.
  const script =
    document.currentScript ||
    document.querySelector('script[data-chatbot][src*="widget"]') ||
    document.querySelector("script[data-chatbot][src]");
  const slug = script && script.getAttribute("data-chatbot");
  if (!slug || !script.src) {
    console.warn("Chatbot widget: the script tag needs a data-chatbot attribute");
    return;
  }

  // The server is wherever the script came from, under the same path prefix (a server
  // behind a proxy at https://example.com/chat/ serves /chat/static/widget.js).
  const src = new URL(script.src, location.href);
  const cut = src.pathname.lastIndexOf("/static/");
  const PROTOCOL = "chatbot.v1";
  const WS_URL =
    (src.protocol === "https:" ? "wss://" : "ws://") +
    src.host +
    (cut > 0 ? src.pathname.slice(0, cut) : "") +
    "/ws/chat/public/" +
    encodeURIComponent(slug) +
    "/";

  // ---- UI strings --------------------------------------------------------------------
  // Non-ASCII characters are escaped: the host page's charset decides how this file is read.
  const STRINGS = {
    en: {
      open: "Open chat", close: "Close chat", unread: "{n} unread", title: "Chat",
      log: "Messages", input: "Message", placeholder: "Type your message\u2026", send: "Send",
      handoff: "Talk to a person", waiting_for_human: "Waiting for a person\u2026",
      human: "You are now chatting with a person", bot: "Back with the bot",
      closed: "This conversation has ended", connecting: "Connecting\u2026",
      offline: "Offline. Reconnecting\u2026", sending: "Sending\u2026", failed: "Not sent",
      slow: "Too many messages. Retrying in {n} s\u2026",
      long: "That message is too long. Please shorten it.",
      retry: "Message not delivered yet. Retrying\u2026", typing: "Typing\u2026",
      role_visitor: "You", role_bot: "Bot", role_operator: "Agent", empty: "Ask us anything.",
    },
    fr: {
      open: "Ouvrir le chat", close: "Fermer le chat", unread: "{n} non lu(s)",
      log: "Messages", input: "Message", placeholder: "\u00c9crivez votre message\u2026",
      send: "Envoyer", handoff: "Parler \u00e0 une personne",
      waiting_for_human: "En attente d\u2019une personne\u2026",
      human: "Vous discutez maintenant avec une personne", bot: "De retour avec le bot",
      closed: "Cette conversation est termin\u00e9e", connecting: "Connexion\u2026",
      offline: "Hors ligne. Reconnexion\u2026", sending: "Envoi\u2026", failed: "Non envoy\u00e9",
      slow: "Trop de messages. Nouvel essai dans {n} s\u2026",
      long: "Ce message est trop long. Merci de le raccourcir.",
      retry: "Message pas encore remis. Nouvel essai\u2026", typing: "\u00c9crit\u2026",
      role_visitor: "Vous", role_operator: "Conseiller", empty: "Posez-nous vos questions.",
    },
    de: {
      open: "Chat \u00f6ffnen", close: "Chat schlie\u00dfen", unread: "{n} ungelesen",
      log: "Nachrichten", input: "Nachricht", placeholder: "Nachricht eingeben\u2026",
      send: "Senden", handoff: "Mit einem Menschen sprechen",
      waiting_for_human: "Warten auf eine Person\u2026",
      human: "Sie chatten jetzt mit einer Person", bot: "Wieder beim Bot",
      closed: "Diese Unterhaltung ist beendet", connecting: "Verbinden\u2026",
      offline: "Offline. Neuer Verbindungsversuch\u2026", sending: "Wird gesendet\u2026",
      failed: "Nicht gesendet", slow: "Zu viele Nachrichten. Neuer Versuch in {n} s\u2026",
      long: "Diese Nachricht ist zu lang. Bitte k\u00fcrzen Sie sie.",
      retry: "Nachricht noch nicht zugestellt. Neuer Versuch\u2026", typing: "Schreibt\u2026",
      role_visitor: "Sie", role_operator: "Mitarbeiter", empty: "Fragen Sie uns etwas.",
    },
    es: {
      open: "Abrir chat", close: "Cerrar chat", unread: "{n} sin leer", log: "Mensajes",
      input: "Mensaje", placeholder: "Escribe tu mensaje\u2026", send: "Enviar",
      handoff: "Hablar con una persona", waiting_for_human: "Esperando a una persona\u2026",
      human: "Ahora hablas con una persona", bot: "De vuelta con el bot",
      closed: "Esta conversaci\u00f3n ha terminado", connecting: "Conectando\u2026",
      offline: "Sin conexi\u00f3n. Reconectando\u2026", sending: "Enviando\u2026",
      failed: "No enviado", slow: "Demasiados mensajes. Reintento en {n} s\u2026",
      long: "El mensaje es demasiado largo. Ac\u00f3rtalo, por favor.",
      retry: "Mensaje a\u00fan no entregado. Reintentando\u2026", typing: "Escribiendo\u2026",
      role_visitor: "T\u00fa", role_operator: "Agente", empty: "Preg\u00fantanos lo que quieras.",
    },
  };

  // An explicit data-locale wins (falling back to English, not to the browser's language,
  // so the widget never speaks a third language on the site); otherwise the browser decides.
  function pickLocale() {
    const explicit = script.getAttribute("data-locale");
    const wanted = explicit ? [explicit] : navigator.languages || [navigator.language];
    for (const tag of wanted) {
      const code = String(tag || "").toLowerCase().split(/[-_]/)[0];
      if (STRINGS[code]) return code;
    }
    return "en";
  }
  const lang = pickLocale();
  const T = Object.assign({}, STRINGS.en, STRINGS[lang]);
  const t = (key, n) => T[key].replace("{n}", n);

  // ---- storage: localStorage may be full or disabled; the widget then just forgets ------
  const PREFIX = "chatbot:" + slug + ":";
  const store = {
    get(key) {
      try { return localStorage.getItem(PREFIX + key); } catch (e) { return null; }
    },
    json(key, fallback) {
      try { return JSON.parse(store.get(key)) || fallback; } catch (e) { return fallback; }
    },
    set(key, value) {
      try {
        localStorage.setItem(PREFIX + key, typeof value === "string" ? value : JSON.stringify(value));
      } catch (e) { /* quota or privacy mode */ }
    },
    remove(key) {
      try { localStorage.removeItem(PREFIX + key); } catch (e) { /* privacy mode */ }
    },
  };

  // ---- small helpers ---------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const name in attrs) {
      const value = attrs[name];
      if (value === true) el.setAttribute(name, "");
      else if (value != null && value !== false) el.setAttribute(name, value);
    }
    el.append(...children);
    return el;
  }

  const ICONS = {
    chat: "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z",
    close: "M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z",
    send: "M2 21 23 12 2 3v7l15 2-15 2z",
  };
  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function uuid() {
    const c = window.crypto;
    if (c && c.randomUUID) return c.randomUUID(); // secure contexts only
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const x = Array.from(b, (v) => (v + 256).toString(16).slice(1)).join("");
    return x.slice(0, 8) + "-" + x.slice(8, 12) + "-" + x.slice(12, 16) + "-" + x.slice(16, 20) + "-" + x.slice(20);
  }

  function safeUrl(value) {
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // Only #rgb and #rrggbb ever reach the style sheet: nothing else can be injected into CSS.
  const color = (v) => (typeof v === "string" && /^#([0-9a-f]{3}){1,2}$/i.test(v) ? v : null);
  function luminance(hex) {
    let s = hex.slice(1);
    if (s.length === 3) s = s.replace(/./g, "$&$&");
    return [0.2126, 0.7152, 0.0722].reduce((sum, weight, i) => {
      const c = parseInt(s.substr(i * 2, 2), 16) / 255;
      return sum + weight * (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    }, 0);
  }
  // White or near-black text on the theme colour, whichever contrasts more.
  function textOn(bg) {
    const l = luminance(bg);
    return 1.05 / (l + 0.05) >= (l + 0.05) / (luminance("#111827") + 0.05) ? "#ffffff" : "#111827";
  }

  // The Markdown subset: **bold**, [label](https://...) and bare http(s) links, built from DOM
  // nodes; everything else stays literal text. Line breaks come from `white-space: pre-wrap`.
  const INLINE =
    /\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'*])/g;
  function renderText(el, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      el.append(text.slice(last, m.index));
      const href = m[1] ? null : safeUrl(m[3] || m[4]);
      if (m[1]) el.append(h("strong", {}, m[1]));
      else if (href) el.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, m[2] || m[4]));
      else el.append(m[0]);
      last = m.index + m[0].length;
    }
    el.append(text.slice(last));
  }

  // ---- styles -----------------------------------------------------------------------------
  const CSS = `
:host{all:initial;--chatbot-primary:#2563eb;--chatbot-on-primary:#fff;--chatbot-focus:#2563eb}
*{box-sizing:border-box}
[hidden]{display:none!important}
button{font:inherit;cursor:pointer}
:focus-visible{outline:2px solid #111827;outline-offset:2px;box-shadow:0 0 0 2px #fff}
svg{width:24px;height:24px;fill:currentColor}
.launcher,.panel{position:fixed;z-index:2147483000;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
:host([data-position=right]) .launcher,:host([data-position=right]) .panel{right:20px}
:host([data-position=left]) .launcher,:host([data-position=left]) .panel{left:20px}
.launcher{bottom:20px;width:60px;height:60px;padding:0;border:0;border-radius:50%;display:flex;align-items:center;justify-content:center;background:var(--chatbot-primary);color:var(--chatbot-on-primary);box-shadow:0 4px 16px rgba(0,0,0,.25);transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 5px;border:2px solid #fff;border-radius:11px;background:#b91c1c;color:#fff;font-size:12px;font-weight:700;line-height:18px}
.panel{bottom:92px;width:380px;height:min(640px,calc(100vh - 112px));display:flex;flex-direction:column;overflow:hidden;background:#fff;color:#1f2937;border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.28)}
.head{display:flex;align-items:center;gap:10px;padding:12px 10px 12px 16px;background:var(--chatbot-primary);color:var(--chatbot-on-primary)}
.avatar{width:36px;height:36px;border-radius:50%;object-fit:cover;background:#fff}
.titles{flex:1;min-width:0}
h2{margin:0;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{margin:0;font-size:12px}
.sub:empty,.notice:empty{display:none}
.x{width:40px;height:40px;padding:8px;border:0;border-radius:8px;background:none;color:inherit}
.x:hover{background:rgba(127,127,127,.25)}
.scroll{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:12px 14px}
.empty{margin:24px 8px;color:#4b5563;text-align:center}
.row{display:flex;flex-direction:column;align-items:flex-start;margin:8px 0}
.row.visitor{align-items:flex-end}
.bubble{max-width:85%;padding:8px 12px;border-radius:16px 16px 16px 4px;background:#f1f5f9;color:#111827;white-space:pre-wrap;overflow-wrap:anywhere}
.visitor .bubble{border-radius:16px 16px 4px 16px;background:var(--chatbot-primary);color:var(--chatbot-on-primary)}
.operator .bubble{background:#fef3c7}
.bubble a{color:#1d4ed8}
.visitor .bubble a{color:inherit}
.who,.meta{margin:2px 6px;font-size:12px;color:#4b5563}
.failed .meta{color:#b91c1c}
.bubble[data-status=pending]{opacity:.72}
.visitor .bubble[data-status=failed]{background:#fee2e2;color:#7f1d1d}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.dots{display:flex;gap:4px;padding:13px 14px}
.dots i{width:7px;height:7px;border-radius:50%;background:#6b7280;animation:blink 1.2s infinite}
.dots i:nth-child(2){animation-delay:.2s}
.dots i:nth-child(3){animation-delay:.4s}
@keyframes blink{0%,80%,100%{opacity:.3}40%{opacity:1}}
.foot{border-top:1px solid #e5e7eb;padding:8px 12px 12px}
.notice{margin:0 0 8px;padding:6px 10px;border-radius:8px;background:#f3f4f6;color:#374151;font-size:13px}
.handoff{margin:0 0 8px;padding:2px;border:0;background:none;color:#1d4ed8;font-size:13px;text-decoration:underline}
.handoff[aria-disabled=true]{color:#4b5563;cursor:default}
form{display:flex;align-items:flex-end;gap:8px}
textarea{flex:1;min-height:44px;max-height:120px;resize:none;padding:10px 12px;border:1px solid #6b7280;border-radius:12px;background:#fff;color:#111827;font-family:inherit;font-size:16px;line-height:1.4}
textarea::placeholder{color:#6b7280}
textarea:focus-visible{outline:none;border-color:var(--chatbot-focus);box-shadow:0 0 0 1px var(--chatbot-focus)}
.send{flex:none;width:44px;height:44px;padding:10px;border:0;border-radius:50%;background:var(--chatbot-primary);color:var(--chatbot-on-primary)}
@media (max-width:480px){:host([data-position]) .panel{top:0;right:0;bottom:0;left:0;width:auto;height:auto;border-radius:0}:host([data-open]) .launcher{display:none}}
@media (prefers-reduced-motion:reduce){.dots i{animation:none}.launcher{transition:none}}
@media print{:host{display:none!important}}
`;

  // ---- DOM ----------------------------------------------------------------------------------
  const host = h("div", {
    id: "chatbot-widget",
    "data-chatbot": slug,
    "data-connection": "connecting",
    "data-position": "right",
  });
  const shadow = host.attachShadow({ mode: "open" });

  const badge = h("span", { class: "badge", "data-role": "badge", "aria-hidden": "true", hidden: true });
  const openIcon = icon("chat");
  const closeIcon = icon("close");
  const launcher = h(
    "button",
    { type: "button", class: "launcher", "data-role": "launcher", "aria-expanded": "false", "aria-controls": "panel", lang },
    openIcon, closeIcon, badge
  );
  const avatar = h("img", { class: "avatar", "data-role": "avatar", alt: "", hidden: true });
  const title = h("h2", { id: "title", "data-role": "title" });
  const subtitle = h("p", { class: "sub", "data-role": "connection-text" });
  const closeButton = h("button", { type: "button", class: "x", "data-role": "close", "aria-label": T.close }, icon("close"));
  const empty = h("p", { class: "empty", "data-role": "empty" });
  const log = h("div", { class: "log", "data-role": "messages", role: "log", "aria-live": "polite", "aria-label": T.log });
  // Streaming text stays out of the live region: the final message is announced once instead.
  const streamText = document.createTextNode("");
  const streaming = h("div", { class: "row bot", "aria-hidden": "true", hidden: true },
    h("div", { class: "bubble", "data-role": "streaming" }, streamText));
  const typing = h("div", { class: "row", "data-role": "typing", hidden: true },
    h("div", { class: "bubble dots" }, h("i"), h("i"), h("i"), h("span", { class: "sr" }, T.typing)));
  const scroller = h("div", { class: "scroll" }, empty, log, streaming, typing);
  const notice = h("p", { class: "notice", "data-role": "notice", role: "status" });
  const handoff = h("button", { type: "button", class: "handoff", "data-role": "handoff" }, T.handoff);
  const input = h("textarea", {
    "data-role": "input", rows: "1", maxlength: String(MAX_TEXT), "aria-label": T.input, placeholder: T.placeholder,
  });
  const sendButton = h("button", { type: "submit", class: "send", "data-role": "send", "aria-label": T.send }, icon("send"));
  const form = h("form", {}, input, sendButton);
  const panel = h(
    "section",
    { id: "panel", class: "panel", "data-role": "panel", role: "dialog", "aria-labelledby": "title", lang, hidden: true },
    h("div", { class: "head" }, avatar, h("div", { class: "titles" }, title, subtitle), closeButton),
    scroller,
    h("div", { class: "foot" }, notice, handoff, form)
  );

  // Constructable style sheets are not blocked by a host page's CSP (style-src); a <style>
  // element is the fallback for older browsers.
  let setThemeCss;
  try {
    const base = new CSSStyleSheet();
    const theme = new CSSStyleSheet();
    base.replaceSync(CSS);
    shadow.adoptedStyleSheets = [base, theme];
    setThemeCss = (css) => theme.replaceSync(css);
  } catch (e) {
    const theme = h("style");
    shadow.append(h("style", {}, CSS), theme);
    setThemeCss = (css) => { theme.textContent = css; };
  }
  shadow.append(launcher, panel);

  // ---- state --------------------------------------------------------------------------------
  const handlers = { ready: [], open: [], close: [], message: [] };
  const messages = new Map(); // seq -> stored message
  const pendingRows = new Map(); // client_id -> row of a message not yet acknowledged
  let outbox = store.json("outbox", []).filter((o) => o && typeof o.client_id === "string" && typeof o.text === "string");
  let identity = store.json("identity", {});
  if (typeof identity !== "object" || Array.isArray(identity)) identity = {};
  // Also kept in memory: with storage disabled a reconnect must still resume the conversation.
  let visitorToken = store.get("visitor_token");
  let conversationId = store.get("conversation_id");
  // A verified visitor (docs/identity.md): the site's user id and its HMAC, from the script tag
  // or from identify(). Kept in memory only: the hash is a credential, never stored here.
  let verified = userPair(script.getAttribute("data-user-id"), script.getAttribute("data-user-hash"));
  let lastSeq = 0;
  let isOpen = false;
  let isReady = false;
  let started = false; // mount() connected once: from then on the widget stays connected
  let unread = 0;
  let ws = null;
  let resumed = false; // true once this socket's `resumed` frame arrived
  let sentIds = new Set(); // client_ids sent on the current socket
  let attempt = 0;
  let reconnectTimer = 0;
  let pauseUntil = 0; // no message frames before this time (rate limited / unavailable)
  let flushTimer = 0;
  let failures = 0; // consecutive `unavailable` answers
  let lastTypingSent = 0;
  let wantHandoff = false;
  let conversationStatus = null;
  let statusNotice = "";
  let noticeTimer = 0;
  let typingTimer = 0;
  let saveTimer = 0;

  function emit(event, arg) {
    for (const fn of handlers[event].slice()) {
      try { fn(arg); } catch (e) { console.error(e); } // a site's handler must not break the widget
    }
  }

  // ---- theme --------------------------------------------------------------------------------
  function applyProfile(profile) {
    const theme = (profile && profile.theme) || {};
    const name = (typeof theme.title === "string" && theme.title) || (typeof profile.name === "string" && profile.name) || T.title;
    title.textContent = name;
    const primary = color(theme.primary_color);
    const onPrimary = color(theme.text_color) || (primary && textOn(primary));
    let css = primary ? "--chatbot-primary:" + primary + ";" : "";
    if (onPrimary) css += "--chatbot-on-primary:" + onPrimary + ";";
    // The text box's focus ring takes the theme colour only where it stands out on white (3:1).
    if (primary) css += "--chatbot-focus:" + (1.05 / (luminance(primary) + 0.05) >= 3 ? primary : "#111827");
    setThemeCss(css ? ":host{" + css + "}" : "");
    host.setAttribute("data-position", theme.position === "left" ? "left" : "right");
    const avatarUrl = safeUrl(theme.avatar_url);
    avatar.hidden = !avatarUrl;
    if (avatarUrl) avatar.src = avatarUrl;
    empty.textContent = typeof profile.greeting === "string" && profile.greeting ? profile.greeting : T.empty;
  }

  // ---- rendering ----------------------------------------------------------------------------
  function makeRow(role, text, status, seq, createdAt) {
    const bubble = h("div", {
      class: "bubble", "data-role": "message", "data-message-role": role, "data-status": status, "data-seq": seq || null,
    });
    const when = createdAt ? new Date(createdAt) : null;
    if (when && !isNaN(when)) bubble.title = when.toLocaleString(lang);
    renderText(bubble, text);
    const row = h("div", { class: "row " + role }, h("span", { class: role === "operator" ? "who" : "sr" }, T["role_" + role]), bubble);
    row._bubble = bubble;
    row._text = text;
    if (status !== "sent") row.append((row._meta = h("span", { class: "meta" }, T.sending)));
    return row;
  }

  // Rows stay ordered by seq; pending rows (seq Infinity) stay last, in the order typed.
  // A row already in place is not moved: a move would make screen readers announce it again.
  function place(row, seq) {
    const stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    row._seq = seq;
    let before = log.lastElementChild;
    while (before && (before === row || before._seq > seq)) before = before.previousElementSibling;
    const next = before ? before.nextSibling : log.firstChild;
    if (next !== row) log.insertBefore(row, next);
    empty.hidden = true;
    if (stick || seq === Infinity) scrollDown();
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function validMessage(m) {
    return m && Number.isInteger(m.seq) && m.seq > 0 && typeof m.text === "string" && ROLES.includes(m.role);
  }

  // `live` is false for history restored from localStorage: no events, no unread count.
  function addMessage(m, live) {
    if (!validMessage(m)) return;
    const pending = m.role === "visitor" && m.client_id ? acknowledge(m.client_id) : null;
    if (live && m.role === "bot") stopStreaming();
    if (live && m.role !== "visitor") hideTyping();
    if (messages.has(m.seq)) {
      if (pending) pending.remove(); // replayed or echoed twice
      return;
    }
    const stored = {
      id: m.id, seq: m.seq, conversation_id: m.conversation_id, role: m.role,
      text: m.text, client_id: m.client_id == null ? null : m.client_id, created_at: m.created_at,
    };
    messages.set(m.seq, stored);
    lastSeq = Math.max(lastSeq, m.seq);
    place(pending ? confirm(pending, m) : makeRow(m.role, m.text, "sent", m.seq, m.created_at), m.seq);
    if (!live) return;
    saveHistorySoon();
    if (m.role !== "visitor" && !isOpen) setUnread(unread + 1);
    emit("message", Object.assign({}, stored));
  }

  function saveHistorySoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveHistory, 100);
  }
  function saveHistory() {
    clearTimeout(saveTimer);
    const list = Array.from(messages.values()).sort((a, b) => a.seq - b.seq);
    store.set("history", list.slice(-HISTORY_LIMIT));
  }

  function clearHistory() {
    messages.clear();
    lastSeq = 0;
    for (const row of Array.from(log.children)) if (row._seq !== Infinity) row.remove();
    empty.hidden = log.childElementCount > 0;
    saveHistory();
  }

  function onToken(delta) {
    if (typeof delta !== "string") return;
    hideTyping();
    if (streaming.hidden) {
      streamText.data = "";
      streaming.hidden = false;
    }
    const stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    streamText.data += delta;
    if (stick) scrollDown();
  }
  function stopStreaming() {
    streaming.hidden = true;
    streamText.data = "";
  }

  function showTyping(role) {
    if (!streaming.hidden) return;
    typing.hidden = false;
    typing.setAttribute("data-typing-role", role);
    scrollDown();
    clearTimeout(typingTimer);
    // Operators' typing frames repeat while they type; the bot's comes once per answer.
    typingTimer = setTimeout(hideTyping, role === "bot" ? 30000 : 6000);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  function showNotice(text, ms) {
    clearTimeout(noticeTimer);
    notice.textContent = text;
    if (ms) noticeTimer = setTimeout(() => { notice.textContent = statusNotice; }, ms);
  }

  function setStatus(status, announce) {
    if (!STATUSES.includes(status) || status === conversationStatus) return;
    const previous = conversationStatus;
    conversationStatus = status;
    host.setAttribute("data-conversation-status", status);
    if (status !== "bot" && shadow.activeElement === handoff) input.focus();
    handoff.hidden = status !== "bot";
    handoff.removeAttribute("aria-disabled");
    statusNotice = status === "bot" ? "" : T[status];
    if (status === "bot" && announce && previous && previous !== "closed") showNotice(T.bot, 6000);
    else showNotice(statusNotice);
  }

  function resetStatus() {
    conversationStatus = null;
    statusNotice = "";
    host.removeAttribute("data-conversation-status");
    handoff.hidden = false;
    showNotice("");
  }

  function setUnread(n) {
    unread = n;
    badge.textContent = n > 9 ? "9+" : String(n);
    badge.hidden = !n;
    launcher.setAttribute("aria-label", isOpen ? T.close : n ? T.open + " (" + t("unread", n) + ")" : T.open);
  }

  function setConnection(state) {
    host.setAttribute("data-connection", state);
    subtitle.textContent = state === "open" ? "" : T[state];
  }

  // ---- outbox -----------------------------------------------------------------------------
  // A message stays in the outbox (and in localStorage) until the server echoes it back with
  // its client_id. Re-sending is safe: the server stores one message per client_id.
  function saveOutbox() {
    store.set("outbox", outbox);
  }

  function showPending(item) {
    const row = makeRow("visitor", item.text, "pending", 0, item.created_at);
    pendingRows.set(item.client_id, row);
    place(row, Infinity);
  }

  // The server stored this message: it leaves the outbox. Returns its pending row, if shown.
  function acknowledge(clientId) {
    const before = outbox.length;
    outbox = outbox.filter((o) => o.client_id !== clientId);
    if (outbox.length !== before) {
      saveOutbox();
      failures = 0;
    }
    sentIds.delete(clientId);
    const row = pendingRows.get(clientId);
    pendingRows.delete(clientId);
    return row;
  }

  // The pending row becomes the stored message in place (no second announcement).
  function confirm(row, m) {
    const bubble = row._bubble;
    bubble.setAttribute("data-status", "sent");
    bubble.setAttribute("data-seq", m.seq);
    if (row._text !== m.text) {
      bubble.textContent = "";
      renderText(bubble, m.text);
    }
    row._meta.remove();
    return row;
  }

  // The server refused this message for good: keep it on screen, marked, and give its text back.
  function fail(item, message) {
    if (!item) return;
    outbox = outbox.filter((o) => o !== item);
    saveOutbox();
    const row = pendingRows.get(item.client_id);
    pendingRows.delete(item.client_id);
    if (row) {
      row.classList.add("failed");
      row._bubble.setAttribute("data-status", "failed");
      row._meta.textContent = T.failed;
    }
    if (message) showNotice(message, 8000);
    if (!input.value) {
      input.value = item.text;
      autosize();
    }
  }

  function submit() {
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    autosize();
    const item = { client_id: uuid(), text, created_at: new Date().toISOString() };
    outbox.push(item);
    saveOutbox();
    showPending(item);
    flush();
  }

  const canSend = () => ws && ws.readyState === 1 && resumed;
  function send(frame) {
    try {
      ws.send(JSON.stringify(frame));
    } catch (e) { /* the close event follows and reconnects */ }
  }

  // Sends each queued message once per socket, only after this socket's resume completed.
  function flush() {
    if (!canSend() || Date.now() < pauseUntil) return;
    for (const item of outbox) {
      if (sentIds.has(item.client_id)) continue;
      sentIds.add(item.client_id);
      send({ type: "message", text: item.text, client_id: item.client_id });
    }
  }

  // After a refusal nothing in flight is known to be stored: send it all again once the pause
  // is over (duplicates are harmless, see above).
  function pause(ms) {
    pauseUntil = Date.now() + ms;
    sentIds.clear();
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, ms);
  }

  function onError(frame) {
    const target = outbox.find((o) => o.client_id === frame.client_id);
    if (frame.code === "rate_limited") {
      const seconds = Math.min(Math.max(Number(frame.retry_after) || 5, 1), 300);
      pause(seconds * 1000);
      showNotice(t("slow", Math.ceil(seconds)), seconds * 1000);
    } else if (frame.code === "unavailable") {
      failures += 1;
      pause(Math.min(30000, 1000 * 2 ** failures) * (0.5 + Math.random() / 2));
      showNotice(T.retry, 5000);
    } else if (frame.code === "text_too_long") {
      // Errors need not name the message; the longest one in flight is the likely culprit.
      const inFlight = outbox.filter((o) => sentIds.has(o.client_id));
      fail(target || inFlight.sort((a, b) => b.text.length - a.text.length)[0], T.long);
    } else if (frame.code === "invalid_message" && target) {
      fail(target);
    }
  }

  // ---- verified visitor ---------------------------------------------------------------------
  function userPair(userId, userHash) {
    if (typeof userId !== "string" || typeof userHash !== "string" || !userId || !userHash) return null;
    return { user_id: userId, user_hash: userHash };
  }

  // Another person than the last verified one on this browser (or nobody verified now): nothing
  // of the previous person's conversation may stay, on screen or in storage.
  function switchUser(userId) {
    if ((store.get("user_id") || "") === userId) return;
    if (userId) store.set("user_id", userId);
    else store.remove("user_id");
    identity = {};
    store.set("identity", identity);
    outbox = [];
    saveOutbox();
    for (const row of pendingRows.values()) row.remove();
    pendingRows.clear();
    visitorToken = null;
    conversationId = null;
    store.remove("visitor_token");
    store.remove("conversation_id");
    clearHistory();
    resetStatus();
  }

  // ---- connection ---------------------------------------------------------------------------
  // The token travels as a subprotocol, not in the URL, so that no access log keeps it; a
  // stored value that is not a valid protocol token (never one the server made) uses the query.
  // A verified visitor's pair travels as the query parameters user_id and user_hash.
  function socketUrl(tokenInQuery) {
    const query = [];
    if (verified) {
      query.push("user_id=" + encodeURIComponent(verified.user_id));
      query.push("user_hash=" + encodeURIComponent(verified.user_hash));
    }
    if (tokenInQuery) query.push("visitor_token=" + encodeURIComponent(visitorToken));
    return WS_URL + (query.length ? "?" + query.join("&") : "");
  }

  function openSocket() {
    if (!visitorToken) return new WebSocket(socketUrl(false), [PROTOCOL]);
    // A subprotocol value must be an HTTP token (RFC 7230 tchar); signed tokens contain dots.
    if (/^[A-Za-z0-9._~-]+$/.test(visitorToken)) {
      return new WebSocket(socketUrl(false), [PROTOCOL, "chatbot.token." + visitorToken]);
    }
    return new WebSocket(socketUrl(true), [PROTOCOL]);
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (ws) return;
    // After a drop the widget says "offline" until a welcome: no flicker on every retry.
    if (host.getAttribute("data-connection") !== "offline") setConnection("connecting");
    let sock;
    try {
      sock = openSocket();
    } catch (e) {
      setConnection("offline");
      return retry();
    }
    ws = sock;
    resumed = false;
    sentIds = new Set();
    // A socket that never gets its welcome (a network black hole) is given up and retried.
    const watchdog = setTimeout(() => {
      if (ws === sock && host.getAttribute("data-connection") !== "open") drop(true);
    }, CONNECT_TIMEOUT_MS);
    sock.onmessage = (event) => {
      if (ws === sock) onFrame(event.data);
    };
    sock.onclose = () => {
      clearTimeout(watchdog);
      if (ws === sock) drop(true); // 4008, 1001, 1006, a refused upgrade...: all retried
    };
  }

  function drop(reconnect) {
    const sock = ws;
    ws = null;
    resumed = false;
    if (sock) {
      sock.onclose = sock.onmessage = null;
      try { sock.close(); } catch (e) { /* already closed */ }
    }
    setConnection("offline");
    hideTyping();
    stopStreaming(); // the finished answer comes back with the resume
    if (reconnect) retry();
  }

  // Exponential backoff with full jitter, forever: 0.5 s base, 10 s cap. The jitter spreads a
  // restarted server's visitors over the window; the cap keeps a visitor's wait short.
  function retry() {
    clearTimeout(reconnectTimer);
    const delay = Math.random() * Math.min(RECONNECT_CAP_MS, 500 * 2 ** attempt);
    attempt = Math.min(attempt + 1, 16);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (ws) return;
    attempt = 0;
    connect();
  }

  function onFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "welcome": return onWelcome(frame);
      case "message": return addMessage(frame.message, true);
      case "resumed": return onResumed();
      case "bot_token": return onToken(frame.delta);
      case "typing": return frame.role === "bot" || frame.role === "operator" ? showTyping(frame.role) : undefined;
      case "status": return setStatus(frame.status, true);
      case "error": return onError(frame);
    }
  }

  function onWelcome(frame) {
    attempt = 0;
    setConnection("open");
    if (typeof frame.visitor_token === "string") {
      visitorToken = frame.visitor_token;
      store.set("visitor_token", visitorToken);
    }
    // An unknown or expired token starts a new conversation: the stored history is not its.
    if (conversationId !== String(frame.conversation_id) || Number(frame.last_seq) < lastSeq) {
      clearHistory();
      resetStatus();
    }
    conversationId = String(frame.conversation_id);
    store.set("conversation_id", conversationId);
    const chatbot = frame.chatbot && typeof frame.chatbot === "object" ? frame.chatbot : {};
    const profile = {
      name: chatbot.name,
      theme: chatbot.theme || frame.theme,
      greeting: chatbot.greeting !== undefined ? chatbot.greeting : frame.greeting,
    };
    applyProfile(profile);
    store.set("profile", profile);
    if (frame.status) setStatus(frame.status, false);
    send({ type: "resume", after: lastSeq });
  }

  function onResumed() {
    resumed = true;
    flush();
    if (Object.keys(identity).length) send({ type: "identify", data: identity });
    if (wantHandoff) {
      wantHandoff = false;
      send({ type: "handoff" });
    }
  }

  // ---- UI events ----------------------------------------------------------------------------
  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    host.setAttribute("data-open", "");
    launcher.setAttribute("aria-expanded", "true");
    openIcon.style.display = "none";
    closeIcon.style.display = "";
    setUnread(0);
    scrollDown();
    input.focus();
    emit("open");
  }

  function close() {
    if (!isOpen) return;
    // Focus goes back to the launcher only if it was inside the widget: an API call must not
    // steal it from the page.
    const hadFocus = !!shadow.activeElement;
    isOpen = false;
    panel.hidden = true;
    host.removeAttribute("data-open");
    launcher.setAttribute("aria-expanded", "false");
    openIcon.style.display = "";
    closeIcon.style.display = "none";
    setUnread(unread);
    if (hadFocus) launcher.focus();
    emit("close");
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
  }

  launcher.addEventListener("click", () => (isOpen ? close() : open()));
  closeButton.addEventListener("click", close);
  shadow.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen) {
      event.stopPropagation();
      close();
      launcher.focus();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; Enter that confirms an IME composition is neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    autosize();
    const now = Date.now();
    if (input.value.trim() && canSend() && now - lastTypingSent >= TYPING_EVERY_MS && now >= pauseUntil) {
      lastTypingSent = now;
      send({ type: "typing" });
    }
  });
  handoff.addEventListener("click", () => {
    if (handoff.getAttribute("aria-disabled")) return;
    // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
    handoff.setAttribute("aria-disabled", "true");
    setTimeout(() => handoff.removeAttribute("aria-disabled"), 5000);
    if (canSend()) send({ type: "handoff" });
    else wantHandoff = true;
  });

  // Any element of the page with data-chatbot-open opens the widget: no inline script needed.
  document.addEventListener("click", (event) => {
    const trigger = event.target.closest && event.target.closest("[data-chatbot-open]");
    if (trigger) {
      event.preventDefault();
      open();
    }
  });

  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", () => ws && drop(true));
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && reconnectNow());
  // Closing on pagehide keeps the page eligible for the back/forward cache.
  window.addEventListener("pagehide", () => {
    saveHistory();
    clearTimeout(reconnectTimer);
    if (ws) drop(false);
  });
  window.addEventListener("pageshow", (event) => event.persisted && reconnectNow());

  // ---- public API -----------------------------------------------------------------------------
  function on(event, fn) {
    if (!handlers[event] || typeof fn !== "function") return () => {};
    handlers[event].push(fn);
    if (event === "ready" && isReady) setTimeout(() => fn(), 0);
    return () => off(event, fn);
  }
  function off(event, fn) {
    if (handlers[event]) handlers[event] = handlers[event].filter((f) => f !== fn);
  }

  // Merged into what was identified before, kept in localStorage and sent after every resume.
  // A `user_id` with its `user_hash` verifies the visitor instead (docs/identity.md): the widget
  // then connects again with the pair. The hash is never stored nor sent as visitor data.
  function identify(data) {
    if (!data || typeof data !== "object" || Array.isArray(data)) return;
    const rest = Object.assign({}, data);
    const pair = userPair(rest.user_id, rest.user_hash);
    delete rest.user_hash;
    if (pair) delete rest.user_id; // stored with the conversation once verified
    const newPair = pair && !(verified && verified.user_id === pair.user_id && verified.user_hash === pair.user_hash);
    if (newPair) {
      switchUser(pair.user_id);
      verified = pair;
    }
    let merged;
    try { merged = JSON.parse(JSON.stringify(Object.assign({}, identity, rest))); } catch (e) { merged = null; }
    if (merged && JSON.stringify(merged).length > 8192) {
      console.warn("Chatbot widget: identify() data over 8 KB ignored");
      merged = null;
    }
    if (merged) {
      identity = merged;
      store.set("identity", identity);
    }
    if (newPair) {
      // Before the first connect (a `chatbot:ready` handler) mount() connects with the pair.
      if (!started) return;
      if (ws) drop(false);
      attempt = 0;
      setConnection("connecting");
      connect(); // the identity follows the resume
    } else if (merged && canSend()) {
      send({ type: "identify", data: identity });
    }
  }

  window.Chatbot = {
    version: VERSION,
    open,
    close,
    toggle: () => (isOpen ? close() : open()),
    identify,
    on,
    off,
  };

  // ---- start ------------------------------------------------------------------------------------
  closeIcon.style.display = "none";
  switchUser(verified ? verified.user_id : "");
  applyProfile(store.json("profile", {}));
  const saved = store.json("history", []);
  for (const m of Array.isArray(saved) ? saved : []) addMessage(m, false);
  saveOutbox();
  for (const item of outbox) showPending(item);
  setUnread(0);

  // Connects after the ready handlers ran: identify() called in one comes before the first
  // connect, so that a verified visitor's first socket already carries the pair.
  function mount() {
    document.body.append(host);
    isReady = true;
    emit("ready");
    window.dispatchEvent(new CustomEvent("chatbot:ready"));
    started = true;
    connect();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
