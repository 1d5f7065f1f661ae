"use strict";
// The web chat: a WebSocket to /api/ws for streamed turns, /api/conversations for the list and the
// history (restored from the server's session on reload), /api/voice for voice notes.
(() => {
  const { el, api, renderMarkdown, store } = RC;
  const $ = (id) => document.getElementById(id);
  const SESSION = "rustyclaw.session";
  const HISTORY = "rustyclaw.history";
  const log = $("log");
  let ws = null, ready = false, pending = null, retry = 500, counter = 0;
  let commands = [];
  let completion = { items: [], index: 0 };

  // --- rendering ------------------------------------------------------------------------------

  const MARKERS = {
    length: ["cut", "✂ cut off: the reply reached its length limit"],
    tool_limit: ["cut", "✂ stopped after too many tool steps"],
    error: ["failed", "⚠ the reply failed"],
    cancelled: ["stopped", "■ stopped"],
    stopped: ["stopped", "■ stopped"],
    lost: ["failed", "⚠ connection lost: the reply is incomplete"],
  };

  // The view follows new text while the reader is at the bottom; scrolling up stops that until
  // they scroll back down (or send). Tracked on scroll events, so growing content cannot fool it.
  let stick = true;
  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 48; }
  log.addEventListener("scroll", () => { stick = nearBottom(); });
  function follow() { if (stick) log.scrollTop = log.scrollHeight; }

  function append(node) {
    log.appendChild(node);
    follow();
    return node;
  }

  function userBubble(text) { return append(el("div", { class: "msg user" }, text)); }

  // The Markdown lives in .body; markers, errors and audio go after it, so a late re-render of
  // the text never wipes them.
  function assistantBubble(text) {
    const body = el("div", { class: "body" });
    const bubble = append(el("div", { class: "msg assistant" }, body));
    bubble.dataset.raw = text || "";
    if (text) renderMarkdown(body, text);
    return bubble;
  }
  function renderBubble(bubble) { renderMarkdown(bubble.querySelector(".body"), bubble.dataset.raw); }

  function mark(bubble, status) {
    const marker = MARKERS[status];
    if (!marker || !bubble || bubble.querySelector(".marker")) return;
    bubble.classList.add(marker[0]);
    bubble.appendChild(el("span", { class: "marker " + marker[0], "data-status": status }, marker[1]));
    follow();
  }

  // Images a tool made during the turn (a browser screenshot) go under the reply's text.
  function showImages(bubble, attachments) {
    for (const a of attachments || []) {
      if (a.kind !== "image" || !/^image\/(png|jpeg|gif|webp)$/.test(a.mime)) continue;
      bubble.appendChild(el("img", { class: "attachment", alt: a.name || "image", src: `data:${a.mime};base64,${a.data}` }));
    }
    follow();
  }

  function note(cls, text) { return append(el("div", { class: cls }, text)); }

  // Re-rendering Markdown on every delta is wasteful; once per frame is plenty.
  let frameRequested = false;
  function scheduleRender(bubble) {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      renderBubble(bubble);
      follow();
    });
  }

  // --- conversations --------------------------------------------------------------------------

  function currentSession() { return store.getItem(SESSION); }
  function setSession(id) { if (id) store.setItem(SESSION, id); else store.removeItem(SESSION); }

  async function loadHistory() {
    log.replaceChildren();
    const id = currentSession();
    if (!id) return;
    let conversation;
    try {
      conversation = await api("/api/conversations/" + encodeURIComponent(id));
      // The last conversation seen is kept on this device, so the app shows it offline too.
      store.setItem(HISTORY, JSON.stringify(conversation));
    } catch (error) {
      if (error.status === 404) return;
      const kept = JSON.parse(store.getItem(HISTORY) || "null");
      if (!(error instanceof RC.ApiError) && kept && kept.id === id) {
        conversation = kept;
        showOffline();
      } else {
        note("error", "history: " + error.message);
        return;
      }
    }
    for (const message of conversation.messages) {
      if (message.role === "user") userBubble(message.content);
      else mark(assistantBubble(message.content), message.status);
    }
    log.scrollTop = log.scrollHeight;
  }

  function showOffline() {
    $("banner").textContent = "You are offline: this is the conversation as last seen; the chat reconnects by itself.";
    $("banner").hidden = false;
  }

  async function loadConversations() {
    const list = $("conversations");
    let data;
    try { data = await api("/api/conversations"); } catch (error) { list.replaceChildren(el("li", { class: "note" }, error.message)); return; }
    const current = currentSession();
    list.replaceChildren(...data.conversations.map((c) => el("li", { class: c.id === current ? "current" : "", "data-id": c.id },
      el("button", { class: "open", type: "button", title: c.title, onclick: () => switchTo(c.id) }, c.title),
      el("button", { class: "act rename", type: "button", title: "Rename", "aria-label": "Rename " + c.title, onclick: () => rename(c) }, "✎"),
      el("button", { class: "act delete", type: "button", title: "Delete", "aria-label": "Delete " + c.title, onclick: () => remove(c) }, "✕"),
    )));
    if (!data.conversations.length) list.replaceChildren(el("li", { class: "note" }, "No conversations yet."));
  }

  async function switchTo(id) {
    if (pending) return;
    setSession(id);
    watch();
    closeMenu();
    await loadHistory();
    await loadConversations();
    $("input").focus();
  }

  async function rename(c) {
    const title = window.prompt("Rename the conversation:", c.title);
    if (title === null || !title.trim()) return;
    try { await api("/api/conversations/" + encodeURIComponent(c.id), { method: "PATCH", body: { title } }); }
    catch (error) { note("error", error.message); }
    await loadConversations();
  }

  async function remove(c) {
    if (!window.confirm(`Delete "${c.title}"? (It is archived on the server, like /new.)`)) return;
    try { await api("/api/conversations/" + encodeURIComponent(c.id), { method: "DELETE" }); }
    catch (error) { note("error", error.message); }
    if (c.id === currentSession()) newChat();
    await loadConversations();
  }

  function newChat() {
    if (pending) return;
    setSession(null);
    log.replaceChildren();
    closeMenu();
    loadConversations();
    $("input").focus();
  }

  function closeMenu() { $("sidebar").classList.remove("open"); $("menu").setAttribute("aria-expanded", "false"); }

  // --- the socket -----------------------------------------------------------------------------

  function setBusy(busy) {
    $("send").disabled = busy || !ready;
    $("stop").hidden = !busy;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/api/ws");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: RC.token() }));
    ws.onmessage = (event) => onFrame(JSON.parse(event.data));
    ws.onclose = (event) => {
      ready = false;
      if (pending) { mark(pending.bubble || assistantBubble(""), "lost"); pending = null; }
      setBusy(false);
      if (event.code === 4401) {
        if (!RC.askToken()) { $("status").textContent = "not authorized"; return; }
        retry = 0;
      }
      $("status").textContent = navigator.onLine === false ? "offline" : "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(Math.max(retry * 2, 500), 10000);
    };
  }

  function onFrame(frame) {
    if (frame.type === "ready") {
      ready = true; retry = 500;
      $("status").textContent = "connected";
      setBusy(pending !== null);
      watch();
      return;
    }
    if (frame.type === "session_reply") { relayed(frame); return; }
    if (frame.type === "watching") return;
    if (frame.session && (!pending || frame.id === pending.id)) {
      const fresh = frame.session !== currentSession();
      setSession(frame.session);
      if (fresh) loadConversations();
    }
    const turn = pending && frame.id === pending.id ? pending : null;
    if (frame.type === "delta" && turn) {
      if (!turn.bubble) turn.bubble = assistantBubble("");
      turn.bubble.dataset.raw += frame.text;
      scheduleRender(turn.bubble);
    } else if (frame.type === "tool") {
      note("tool", "⚙ " + frame.name + " — " + frame.status + (frame.detail ? ": " + frame.detail : ""));
    } else if (frame.type === "reply" && turn) {
      if (!turn.bubble) turn.bubble = assistantBubble(frame.text);
      else { turn.bubble.dataset.raw = frame.text || turn.bubble.dataset.raw; renderBubble(turn.bubble); follow(); }
      if (frame.command) turn.bubble.classList.add("command");
      showImages(turn.bubble, frame.attachments);
      mark(turn.bubble, frame.finish_reason);
      finish();
      loadConversations();
    } else if (frame.type === "stopped" && turn) {
      mark(turn.bubble || assistantBubble(""), "stopped");
      finish();
    } else if (frame.type === "error" && frame.code !== "unauthorized" && frame.code !== "unsupported") {
      if (turn) {
        const bubble = turn.bubble || assistantBubble("");
        bubble.appendChild(el("div", { class: "error" }, frame.message));
        mark(bubble, "error");
        finish();
      } else {
        note("error", frame.message);
      }
    }
  }

  function finish() { pending = null; setBusy(false); $("input").focus(); }

  // Replies of the open session made elsewhere reach this socket too (only under gateway.replicas:
  // a single gateway answers "unsupported", which is not shown).
  function watch() {
    if (ready && currentSession()) ws.send(JSON.stringify({ type: "watch", session: currentSession() }));
  }

  // A reply of a watched session made elsewhere (another tab, another replica: gateway.replicas).
  // Shown only while that session is open here; it never switches the page's session.
  function relayed(frame) {
    if (frame.session !== currentSession()) return;
    userBubble(frame.message);
    const bubble = assistantBubble(frame.text);
    if (frame.command) bubble.classList.add("command");
    showImages(bubble, frame.attachments);
    mark(bubble, frame.finish_reason);
    loadConversations();
  }

  function send(text) {
    if (!ready || pending) return false;
    pending = { id: "m" + ++counter, bubble: null };
    ws.send(JSON.stringify({ type: "message", text, session: currentSession(), id: pending.id }));
    setBusy(true);
    return true;
  }

  // --- slash-command completion ---------------------------------------------------------------

  async function loadCommands() {
    try { commands = (await api("/api/commands")).commands; } catch (error) { commands = []; }
  }

  function updateCompletion() {
    const value = $("input").value;
    const box = $("completion");
    const match = /^\/(\S*)$/.exec(value);
    completion.items = match ? commands.filter((c) => c.name.startsWith("/" + match[1])) : [];
    if (!completion.items.length) { box.hidden = true; return; }
    completion.index = Math.min(completion.index, completion.items.length - 1);
    box.replaceChildren(...completion.items.map((c, i) => el("li", {
      role: "option", "aria-selected": i === completion.index ? "true" : "false",
      onmousedown: (event) => { event.preventDefault(); choose(i); },
    }, c.usage, el("small", {}, c.description))));
    box.hidden = false;
  }

  function choose(index) {
    const item = completion.items[index];
    if (!item) return;
    $("input").value = item.name + (item.usage.includes(" ") || item.name === "/model" ? " " : "");
    $("completion").hidden = true;
    completion.items = [];
    $("input").focus();
  }

  // --- voice notes and attachments ------------------------------------------------------------

  let recorder = null;
  async function toggleRecording() {
    if (recorder) { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) { note("error", "this browser cannot record audio"); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (error) { note("error", "microphone: " + error.message); return; }
    const chunks = [];
    const started = performance.now();
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => {
      chunks.push(event.data);
      // How much is recorded so far (shown as the button's title; tests wait on it).
      $("mic").dataset.recordedMs = String(Math.round(performance.now() - started));
      $("mic").title = `Recording ${Math.round((performance.now() - started) / 1000)} s: click to send`;
    };
    // A microphone that goes away (unplugged, the file of a test device ending) sends what there is.
    stream.getAudioTracks().forEach((track) => { track.onended = () => recorder && recorder.stop(); });
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      $("mic").classList.remove("recording");
      $("mic").title = "Record a voice note";
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      recorder = null;
      sendVoice(blob);
    };
    $("mic").dataset.recordedMs = "0";
    recorder.start(250);
    $("mic").classList.add("recording");
  }

  async function sendVoice(blob) {
    if (pending) return;
    pending = { id: "voice", bubble: null };
    setBusy(true);
    const heard = userBubble("(voice note) …");
    try {
      const query = currentSession() ? "?session=" + encodeURIComponent(currentSession()) : "";
      const answer = await api("/api/voice" + query, { method: "POST", body: blob, headers: { "Content-Type": blob.type || "audio/webm" } });
      heard.textContent = "(voice note) " + (answer.transcript || "nothing heard");
      setSession(answer.session);
      const bubble = assistantBubble(answer.reply || "");
      if (answer.audio) {
        bubble.appendChild(el("audio", { controls: true, src: `data:${answer.audio_mime || "audio/ogg"};base64,${answer.audio}` }));
      }
      mark(bubble, answer.finish_reason);
      loadConversations();
    } catch (error) {
      mark(assistantBubble(error.message), "error");
    } finally {
      pending = null;
      setBusy(false);
    }
  }

  const TEXT_LIMIT = 100000;
  async function attach(file) {
    if (file.type.startsWith("audio/")) { sendVoice(file); return; }
    const textual = file.type.startsWith("text/") || /\.(md|txt|json|ya?ml|toml|csv|py|js|ts|sh|rs|go|c|h|java|html|css|xml|log)$/i.test(file.name);
    if (!textual) { note("error", `${file.name}: only text files and audio can be attached (the model reads text)`); return; }
    if (file.size > TEXT_LIMIT) { note("error", `${file.name} is larger than ${TEXT_LIMIT / 1000} kB`); return; }
    const content = await file.text();
    const fence = content.includes("```") ? "~~~~" : "```";
    const input = $("input");
    input.value = (input.value ? input.value + "\n\n" : "") + `Attached: ${file.name}\n${fence}\n${content}\n${fence}\n`;
    input.focus();
  }

  // --- wiring ---------------------------------------------------------------------------------

  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input").value;
    if (!text.trim() || !send(text)) return;
    stick = true;
    userBubble(text);
    log.scrollTop = log.scrollHeight;
    $("input").value = "";
    $("completion").hidden = true;
  });
  $("input").addEventListener("input", updateCompletion);
  $("input").addEventListener("keydown", (event) => {
    const open = !$("completion").hidden;
    if (open && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const n = completion.items.length;
      completion.index = (completion.index + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      updateCompletion();
    } else if (open && (event.key === "Tab" || (event.key === "Enter" && !event.shiftKey))) {
      event.preventDefault();
      choose(completion.index);
    } else if (open && event.key === "Escape") {
      $("completion").hidden = true;
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("form").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => ws && ws.send(JSON.stringify({ type: "stop" })));
  $("new").addEventListener("click", newChat);
  $("menu").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("menu").setAttribute("aria-expanded", String(open));
  });
  $("mic").addEventListener("click", toggleRecording);
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => { const f = $("file").files[0]; $("file").value = ""; if (f) attach(f); });
  window.addEventListener("offline", () => { $("status").textContent = "offline"; showOffline(); });
  window.addEventListener("online", () => { $("banner").hidden = true; checkModel(); });

  // /readyz reports the model server's state: say what to do before the first message fails.
  async function checkModel() {
    let model;
    try { model = (await (await fetch("/readyz")).json()).model; } catch (error) { return; }
    if (navigator.onLine === false) return;
    const banner = $("banner");
    const state = model && model.state;
    if (state === "unreachable" || state === "failed" || state === "none") {
      banner.textContent = `No model answers${model.url ? " at " + model.url : ""}. Start your model server `
        + "(for example `ollama serve`) or run `rustyclaw onboard`; `rustyclaw doctor` says what to fix.";
      banner.hidden = false;
    } else if (state === "starting") {
      banner.textContent = "The embedded model is still loading; the first answer may take a moment.";
      banner.hidden = false;
      setTimeout(checkModel, 5000);
    } else {
      banner.hidden = true;
    }
  }

  RC.registerWorker();
  checkModel();
  connect();
  loadCommands();
  loadHistory().then(loadConversations);
})();
