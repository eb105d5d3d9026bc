// The dashboard's small behaviours: copy buttons, confirmations, the chatbot form's preview,
// the knowledge test box, and the access token the live pages use. No build step, no library.
// Text from users is always inserted with textContent, never as HTML.
(() => {
  "use strict";

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  // ---- access token for the operator socket and the JSON API, renewed before it expires ----
  let cached = null; // {access, until}
  async function token() {
    if (cached && Date.now() < cached.until) return cached.access;
    const response = await fetch("/dashboard/token/", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401) {
      const next = location.pathname + location.search;
      location.assign("/dashboard/login/?next=" + encodeURIComponent(next));
      throw new Error("logged out");
    }
    if (!response.ok) throw new Error("token request failed: " + response.status);
    const body = await response.json();
    const lifetime = Math.max(10, Number(body.expires_in) || 60);
    // Renewed when less than a fifth of its life (at least 20 s) is left.
    cached = { access: body.access, until: Date.now() + (lifetime - Math.max(20, lifetime / 5)) * 1000 };
    return body.access;
  }
  // The server refused the token (it expired, or the password changed): mint a fresh one next.
  function forgetToken() { cached = null; }
  window.Dashboard = { token, forgetToken };

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }
  window.Dashboard.element = element;
  window.Dashboard.clock = (iso) =>
    new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  // ---- "Go back" on error pages --------------------------------------------------------------
  for (const link of $$("[data-action=back]")) {
    link.addEventListener("click", (event) => {
      if (history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }

  // ---- copy buttons ----------------------------------------------------------------------------
  for (const button of $$("[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = $(button.getAttribute("data-copy"));
      if (!source) return;
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied!";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        button.textContent = "Press Ctrl+C to copy";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }

  // ---- confirmations before destructive posts --------------------------------------------------
  for (const form of $$("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  }

  // ---- chatbot form: brain sections and the live widget preview ------------------------------
  const chatbotForm = $("[data-role=chatbot-form]");
  if (chatbotForm) {
    const showBrain = () => {
      const checked = $("[data-role=brain-type]:checked", chatbotForm);
      const kind = checked ? checked.value : "knowledge";
      for (const section of $$("[data-brain]", chatbotForm)) section.hidden = section.getAttribute("data-brain") !== kind;
    };
    chatbotForm.addEventListener("change", showBrain);
    showBrain();

    const preview = $("[data-role=preview]");
    const value = (name) => (chatbotForm.elements[name] ? chatbotForm.elements[name].value : "");
    const updatePreview = () => {
      if (!preview) return;
      const colour = /^#[0-9a-fA-F]{6}$/.test(value("primary_color")) ? value("primary_color") : "#2563eb";
      preview.style.setProperty("--preview", colour);
      preview.setAttribute("data-position", value("position") === "left" ? "left" : "right");
      $("[data-role=preview-title]", preview).textContent = value("title").trim() || value("name").trim() || "Your chatbot";
      const greeting = $("[data-role=preview-greeting]", preview);
      greeting.textContent = value("greeting").trim();
      greeting.hidden = !greeting.textContent;
      const avatar = $("[data-role=preview-avatar]", preview);
      const url = value("avatar_url").trim();
      const safe = /^https:\/\//i.test(url);
      avatar.hidden = !safe;
      if (safe) avatar.src = url;
      else avatar.removeAttribute("src");
    };
    chatbotForm.addEventListener("input", updatePreview);
    chatbotForm.addEventListener("change", updatePreview);
    updatePreview();
  }

  const demoButton = $("[data-role=load-demo]");
  if (demoButton) {
    demoButton.addEventListener("click", () => {
      const frame = $("[data-role=demo-frame]");
      frame.src = demoButton.getAttribute("data-src");
      frame.hidden = false;
      demoButton.textContent = "Reload the live demo";
    });
  }

  // ---- knowledge: entry kind tabs and the test question box ----------------------------------
  for (const tab of $$("[data-kind-tab]")) {
    tab.addEventListener("click", () => {
      const kind = tab.getAttribute("data-kind-tab");
      for (const other of $$("[data-kind-tab]")) other.setAttribute("aria-selected", String(other === tab));
      for (const form of $$("form[data-kind]")) form.toggleAttribute("data-inactive", form.getAttribute("data-kind") !== kind);
    });
  }

  const testBox = $("[data-role=test-question]");
  if (testBox) {
    const result = $("[data-role=test-result]", testBox);
    const show = (...rows) => {
      result.replaceChildren(...rows);
      result.hidden = false;
    };
    testBox.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = testBox.elements.question.value.trim();
      if (!question) return;
      show(element("p", "muted", "Asking…"));
      try {
        const response = await fetch(testBox.getAttribute("data-url"), {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + (await token()) },
          body: JSON.stringify({ question }),
        });
        const body = await response.json();
        if (!response.ok) {
          show(element("p", "error", (body.error && body.error.message) || "The question could not be asked."));
          return;
        }
        const verdict = body.answered
          ? "The bot would answer (confidence " + (body.match ? body.match.score.toFixed(2) : "?") + ", threshold " + body.threshold + "):"
          : "The bot is not sure enough (threshold " + body.threshold + ") and would offer a person:";
        const rows = [element("p", "strong", verdict), element("p", "test-reply", body.reply)];
        if (body.match) {
          rows.push(element("p", "muted small", "From the entry: " + (body.match.question || body.match.title || body.match.entry_id)));
        }
        show(...rows);
      } catch (error) {
        show(element("p", "error", "The server could not be reached. Try again."));
      }
    });
  }
})();
