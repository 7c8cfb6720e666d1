// The chat panel's browser side (anywidget ES module). State comes from the kernel's synced traits;
// actions go back as {type: "send" | "stop" | "clear" | "refresh"} messages. Markdown arrives as
// HTML rendered (and escaped) in the kernel, so nothing is loaded from the network.

function node(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(cls, label, title, onclick) {
  const b = node("button", `mc-button ${cls}`, label);
  b.type = "button";
  b.title = title;
  b.addEventListener("click", onclick);
  return b;
}

function field(label, input) {
  const wrap = node("label", "mc-field");
  wrap.append(node("span", "mc-field-label", label), input);
  return wrap;
}

function render({ model, el }) {
  const root = node("div", "mullama-chat");
  el.appendChild(root);

  // Header: title, model picker, refresh, clear.
  const header = node("div", "mc-header");
  const title = node("div", "mc-title");
  title.append(node("span", "mc-dot"), node("span", "", "Chat"));
  const picker = node("select", "mc-model");
  picker.title = "Model";
  picker.addEventListener("change", () => { model.set("model", picker.value); model.save_changes(); });
  const refresh = button("mc-ghost mc-refresh", "↻", "Refresh the model list", () => model.send({ type: "refresh" }));
  const clear = button("mc-ghost mc-clear", "Clear", "Clear the conversation", () => model.send({ type: "clear" }));
  header.append(title, picker, refresh, clear);

  // Settings, collapsed: system prompt, temperature, max tokens, thinking.
  const settings = node("details", "mc-settings");
  settings.append(node("summary", "", "Settings"));
  const system = node("textarea", "mc-system");
  system.rows = 2;
  system.placeholder = "System prompt (empty: the model's default)";
  system.addEventListener("change", () => { model.set("system", system.value); model.save_changes(); });
  const temperature = node("input", "mc-temperature");
  Object.assign(temperature, { type: "range", min: "0", max: "2", step: "0.05" });
  const tempValue = node("span", "mc-range-value");
  temperature.addEventListener("input", () => { tempValue.textContent = Number(temperature.value).toFixed(2); });
  temperature.addEventListener("change", () => { model.set("temperature", Number(temperature.value)); model.save_changes(); });
  const tempWrap = node("span", "mc-range");
  tempWrap.append(temperature, tempValue);
  const maxTokens = node("input", "mc-max-tokens");
  Object.assign(maxTokens, { type: "number", min: "1", step: "1" });
  maxTokens.addEventListener("change", () => {
    const n = Math.max(1, parseInt(maxTokens.value, 10) || 1);
    model.set("max_tokens", n); model.save_changes();
  });
  const think = node("input", "mc-think");
  think.type = "checkbox";
  think.addEventListener("change", () => { model.set("think", think.checked); model.save_changes(); });
  const grid = node("div", "mc-settings-grid");
  grid.append(field("System prompt", system), field("Temperature", tempWrap), field("Max tokens", maxTokens),
              field("Think", think));
  settings.append(grid);

  // The conversation, then the reply being streamed.
  const log = node("div", "mc-log");
  const empty = node("div", "mc-empty", "Ask something to start the conversation.");
  const live = node("div", "mc-live");

  // Composer: Enter sends, Shift+Enter is a new line.
  const composer = node("div", "mc-composer");
  const input = node("textarea", "mc-input");
  input.rows = 1;
  const send = button("mc-primary mc-send", "Send", "Send (Enter)", () => submit());
  const stop = button("mc-danger mc-stop", "Stop", "Stop generating", () => model.send({ type: "stop" }));
  composer.append(input, send, stop);
  const footer = node("div", "mc-footer");

  root.append(header, settings, log, composer, footer);

  function submit() {
    const text = input.value.trim();
    if (!text || model.get("status") !== "idle") return;
    model.send({ type: "send", text });
    input.value = "";
    grow();
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  input.addEventListener("input", grow);
  input.addEventListener("keydown", (e) => {
    // Keep the notebook's own shortcuts (Shift+Enter runs the cell, A/B insert cells...) out of the box.
    e.stopPropagation();
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  for (const box of [system, maxTokens]) box.addEventListener("keydown", (e) => e.stopPropagation());

  let thinkingOpen = false;

  function messageNode(m, streaming) {
    const row = node("div", `mc-msg mc-${m.role}${streaming ? " mc-streaming" : ""}${m.stopped ? " mc-stopped" : ""}`);
    const who = m.role === "user" ? "You" : m.role === "error" ? "Error" : (m.model || "Assistant");
    row.append(node("div", "mc-who", who));
    const bubble = node("div", "mc-bubble");
    if (m.thinking) {
      const box = node("details", "mc-thinking");
      box.open = streaming ? (thinkingOpen || !m.content) : false;
      box.addEventListener("toggle", () => { if (streaming) thinkingOpen = box.open; });
      box.append(node("summary", "", streaming && !m.content ? "Thinking…" : "Thinking"), node("div", "mc-thinking-text", m.thinking));
      bubble.append(box);
    }
    const body = node("div", "mc-body");
    if (m.role === "assistant") {
      body.innerHTML = m.html || "";
      if (!m.content && !streaming) body.append(node("span", "mc-muted", m.stopped ? "Stopped before any text." : ""));
      if (streaming) {
        // The cursor goes at the end of the last line of text, not on a line of its own after the paragraph.
        let at = body;
        while (at.lastElementChild && /^(P|UL|OL|LI|BLOCKQUOTE|H[1-6])$/.test(at.lastElementChild.tagName)) {
          at = at.lastElementChild;
        }
        at.append(node("span", "mc-cursor"));
      }
    } else {
      body.textContent = m.content;
    }
    bubble.append(body);
    row.append(bubble);
    if (m.stats) row.append(node("div", "mc-stats", m.stats));
    return row;
  }

  function pinned() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }

  function scrollIf(stick) {
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function renderMessages() {
    const messages = model.get("messages") || [];
    log.replaceChildren(...(messages.length || hasPending() ? messages.map((m) => messageNode(m, false)) : [empty]), live);
    renderPending(false);
    log.scrollTop = log.scrollHeight;
  }

  function hasPending() {
    const p = model.get("pending") || {};
    return Boolean(p.role) || model.get("status") !== "idle";
  }

  function renderPending(scroll = true) {
    const stick = pinned();
    const p = model.get("pending") || {};
    const status = model.get("status");
    if (p.role) {
      live.replaceChildren(messageNode(p, true));
    } else if (status === "waiting" || status === "stopping") {
      const row = node("div", "mc-msg mc-assistant mc-streaming");
      row.append(node("div", "mc-who", model.get("model") || "Assistant"));
      const bubble = node("div", "mc-bubble mc-typing");
      bubble.append(node("span"), node("span"), node("span"));
      row.append(bubble);
      live.replaceChildren(row);
    } else {
      live.replaceChildren();
      thinkingOpen = false;
    }
    if (empty.isConnected && hasPending()) renderMessages();
    if (scroll) scrollIf(stick);
  }

  function renderModels() {
    const models = model.get("models") || [];
    const current = model.get("model");
    picker.replaceChildren(...models.map((name) => {
      const o = node("option", "", name);
      o.value = name;
      return o;
    }));
    if (!models.length) picker.append(node("option", "", "no models: %mullama pull smollm2:135m"));
    picker.value = current;
    input.placeholder = `Message ${current || "the model"}…  (Enter to send, Shift+Enter for a new line)`;
  }

  function renderSettings() {
    if (document.activeElement !== system) system.value = model.get("system");
    temperature.value = String(model.get("temperature"));
    tempValue.textContent = Number(model.get("temperature")).toFixed(2);
    if (document.activeElement !== maxTokens) maxTokens.value = String(model.get("max_tokens"));
    think.checked = model.get("think");
  }

  function renderStatus() {
    const status = model.get("status");
    const idle = status === "idle";
    root.dataset.status = status;
    send.hidden = !idle;
    stop.hidden = idle;
    stop.disabled = status === "stopping";
    picker.disabled = !idle;
    const words = { idle: "Ready", waiting: "Waiting for the model…", streaming: "Generating…", stopping: "Stopping…" };
    footer.replaceChildren(node("span", `mc-state mc-state-${status}`, words[status] || status),
                           node("span", "mc-source", model.get("source")));
    renderPending();
  }

  const handlers = [
    ["change:messages", renderMessages], ["change:pending", () => renderPending()], ["change:status", renderStatus],
    ["change:models", renderModels], ["change:model", renderModels],
    ["change:system", renderSettings], ["change:temperature", renderSettings], ["change:max_tokens", renderSettings],
    ["change:think", renderSettings], ["change:source", renderStatus],
  ];
  for (const [event, fn] of handlers) model.on(event, fn);
  renderModels();
  renderSettings();
  renderMessages();
  renderStatus();
  return () => { for (const [event, fn] of handlers) model.off(event, fn); };
}

export default { render };
