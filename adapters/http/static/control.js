"use strict";
// The control page: one panel per tab, each drawn from /api/control/*. Server text is shown with
// textContent only (el()); nothing here parses HTML.
(() => {
  const { el, api, when } = RC;
  const panel = document.getElementById("panel");
  const status = document.getElementById("status");
  let timer = null;

  function table(headers, rows) {
    return el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows));
  }

  function fail(error) { panel.replaceChildren(el("p", { class: "error" }, error.message)); }

  async function act(call, after) {
    try { await call(); status.textContent = "done"; } catch (error) { status.textContent = error.message; }
    if (after) await after();
  }

  // --- tabs -----------------------------------------------------------------------------------

  async function sessions(query = "") {
    const data = await api("/api/control/sessions?q=" + encodeURIComponent(query));
    const search = el("input", { type: "search", placeholder: "Search key, title or text", value: query, "aria-label": "Search sessions" });
    search.addEventListener("keydown", (event) => { if (event.key === "Enter") sessions(search.value).catch(fail); });
    const rows = data.sessions.map((s) => el("tr", { "data-key": s.key },
      el("td", {}, el("div", {}, s.title), el("small", { class: "note" }, s.key)),
      el("td", {}, s.channel || ""),
      el("td", {}, String(s.messages)),
      el("td", {}, `${s.input_tokens} / ${s.output_tokens}`),
      el("td", {}, when(s.updated_at)),
      el("td", {},
        el("button", { type: "button", class: "secondary view", onclick: () => transcript(s.key).catch(fail) }, "View"), " ",
        el("button", { type: "button", class: "secondary export", onclick: () => exportSession(s.key) }, "Export"), " ",
        el("button", { type: "button", class: "secondary reset", onclick: () => {
          if (window.confirm(`Reset ${s.key}? The transcript is archived.`)) act(() => api("/api/control/reset", { method: "POST", body: { key: s.key } }), () => sessions(query));
        } }, "Reset")),
    ));
    panel.replaceChildren(
      el("div", { class: "row" }, search, el("button", { type: "button", onclick: () => sessions(search.value).catch(fail) }, "Search")),
      rows.length ? table(["Session", "Channel", "Messages", "Tokens in / out", "Updated", ""], rows) : el("p", { class: "note" }, "No sessions."),
    );
  }

  async function transcript(key) {
    const data = await api("/api/control/transcript?key=" + encodeURIComponent(key));
    panel.replaceChildren(
      el("div", { class: "row" },
        el("button", { type: "button", class: "secondary", onclick: () => sessions().catch(fail) }, "← Sessions"),
        el("strong", {}, key)),
      el("div", { class: "transcript" }, ...data.messages.map((m) => el("div", { class: "line " + m.role },
        el("b", {}, m.role + (m.name ? ` (${m.name})` : "")), m.content,
        m.status ? el("span", { class: "marker" }, " [" + m.status + "]") : null))),
    );
  }

  async function exportSession(key) {
    // A fetch with the token, then a download of the JSON (a plain link could not send the header).
    try {
      const data = await api("/api/control/export?key=" + encodeURIComponent(key));
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const link = el("a", { href: URL.createObjectURL(blob), download: key.replace(/[^A-Za-z0-9._-]+/g, "_") + ".json" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    } catch (error) { status.textContent = error.message; }
  }

  async function channels() {
    const data = await api("/api/control/channels");
    const rows = data.channels.map((c) => el("tr", {},
      el("td", {}, c.name), el("td", {}, c.account),
      el("td", { class: "state-" + c.state }, c.state),
      el("td", {}, String(c.restarts)), el("td", {}, c.last_error || "")));
    panel.replaceChildren(
      el("p", { class: "note" }, "Live state, refreshed every 5 seconds. The web chat is always on."),
      rows.length ? table(["Channel", "Account", "State", "Restarts", "Last error"], rows) : el("p", { class: "note" }, "No push channels are enabled (channels.* in config.yaml)."),
    );
    timer = setTimeout(() => channels().catch(fail), 5000);
  }

  async function pairing() {
    const data = await api("/api/control/pairing");
    const rows = data.requests.map((r) => el("tr", { "data-code": r.code },
      el("td", {}, r.channel), el("td", {}, r.sender_name ? `${r.sender_name} (${r.sender_id})` : r.sender_id), el("td", {}, el("code", {}, r.code)),
      el("td", {}, when(r.created_at)),
      el("td", {},
        el("button", { type: "button", class: "approve", onclick: () => act(() => api("/api/control/pairing/approve", { method: "POST", body: { channel: r.channel, code: r.code } }), pairing) }, "Approve"), " ",
        el("button", { type: "button", class: "secondary deny", onclick: () => act(() => api("/api/control/pairing/deny", { method: "POST", body: { channel: r.channel, code: r.code } }), pairing) }, "Deny"))));
    panel.replaceChildren(rows.length ? table(["Channel", "Sender", "Code", "Asked", ""], rows) : el("p", { class: "note" }, "No pairing requests are waiting."));
  }

  async function agents() {
    const data = await api("/api/control/agents");
    panel.replaceChildren(table(["Agent", "Model", ""], data.agents.map((a) => el("tr", {},
      el("td", {}, a.id), el("td", {}, a.model), el("td", {}, a.default ? "default" : "")))));
  }

  async function cron() {
    const data = await api("/api/control/cron");
    const rows = data.jobs.map((j) => el("tr", { "data-job": j.id },
      el("td", {}, j.id), el("td", {}, j.schedule), el("td", {}, when(j.next_run)), el("td", {}, when(j.last_run)),
      el("td", { class: j.last_status === "error" ? "state-failed" : "" }, (j.last_status || "") + (j.last_error ? ": " + j.last_error : "")),
      el("td", {}, String(j.runs)),
      el("td", {}, el("button", { type: "button", class: "run", disabled: j.running, onclick: () => act(() => api("/api/control/cron/run", { method: "POST", body: { id: j.id } }), cron) }, j.running ? "Running…" : "Run now"))));
    panel.replaceChildren(rows.length ? table(["Job", "Schedule", "Next run", "Last run", "Last result", "Runs", ""], rows) : el("p", { class: "note" }, "No cron jobs (cron.jobs in config.yaml)."));
  }

  // MCP server states as the channels' colours (app.css): connected green, starting amber, down red.
  const MCP_CLASS = { connected: "state-running", starting: "state-starting", down: "state-failed" };

  async function mcp() {
    const data = await api("/api/control/mcp");
    const rows = data.servers.map((s) => el("tr", { "data-server": s.name },
      el("td", {}, el("div", {}, s.name), el("small", { class: "note" }, s.launch)),
      el("td", {}, s.transport + (s.lazy ? " (lazy)" : "")),
      el("td", {}, s.enabled ? "yes" : "no"),
      el("td", { class: "state " + (MCP_CLASS[s.state] || "") }, s.state),
      el("td", {}, String(s.restarts) + (s.retry_in != null ? ` (next try in ${s.retry_in} s)` : "")),
      el("td", { class: "error-text" }, s.error || ""),
      el("td", { class: "tools" }, s.tools.length
        ? el("details", {}, el("summary", {}, `${s.tools.length} tools`),
          el("ul", {}, ...s.tools.map((t) => el("li", { "data-tool": t.name }, el("code", {}, t.name), " ", el("small", { class: "note" }, t.description)))))
        : "none")));
    panel.replaceChildren(
      el("p", { class: "note" }, "Live state, refreshed every 5 seconds; a server that goes down is restarted on its own after its backoff. Env and header values are never shown."),
      rows.length ? table(["Server", "Transport", "Enabled", "State", "Restarts", "Last error", "Tools"], rows) : el("p", { class: "note" }, "No MCP servers are configured (mcp.servers in config.yaml)."),
    );
    timer = setTimeout(() => mcp().catch(fail), 5000);
  }

  async function skills() {
    const data = await api("/api/control/skills");
    const rows = data.skills.map((k) => el("tr", { "data-skill": k.name },
      el("td", {}, el("div", {}, el("strong", {}, k.name)), el("small", { class: "note" }, k.description)),
      el("td", {}, k.source),
      el("td", {}, el("div", {}, el("code", {}, k.path)), el("small", { class: "note" }, "root " + k.root)),
      el("td", { class: "requirements " + (k.eligible ? "state-running" : "state-failed") },
        k.eligible ? "met" : "missing: " + k.missing.join("; ")),
      el("td", {}, k.enabled ? (k.agents.join(", ") || "none") : "off (skills.entries)"),
      el("td", {}, k.warnings.join("; "))));
    panel.replaceChildren(
      data.enabled ? el("p", { class: "note" }, "Skills found in the skill roots; a skill whose requirements are not met is not offered to the model.")
        : el("p", { class: "note" }, "Skills are switched off (skills.enabled in config.yaml)."),
      rows.length ? table(["Skill", "Source", "Path", "Requirements", "Agents", "Warnings"], rows) : el("p", { class: "note" }, "No skills found."),
      ...(data.warnings.length ? [el("div", { class: "skipped" }, el("h2", {}, "Skipped"), el("ul", {}, ...data.warnings.map((w) => el("li", {}, w))))] : []),
    );
  }

  async function audit() {
    const data = await api("/api/control/audit");
    const rows = data.records.map((r) => el("tr", {},
      el("td", {}, when(r.at)), el("td", {}, r.tool), el("td", {}, r.decision), el("td", {}, r.session_key), el("td", {}, r.detail)));
    panel.replaceChildren(rows.length ? table(["Time", "Tool", "Decision", "Session", "Detail"], rows) : el("p", { class: "note" }, "No tool calls recorded yet."));
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  }

  // Stacked bars per day, input below output; plain SVG.
  function chart(days) {
    const width = 640, height = 220, pad = 36, bar = Math.max(8, Math.min(40, (width - pad) / Math.max(days.length, 1) - 6));
    const top = Math.max(1, ...days.map((d) => d.input_tokens + d.output_tokens));
    const scale = (v) => (v / top) * (height - pad - 10);
    const chartNode = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": "Tokens per day" });
    chartNode.append(svg("text", { x: 0, y: 12 }, String(top)), svg("text", { x: 0, y: height - pad }, "0"));
    days.forEach((d, i) => {
      const x = pad + i * (bar + 6);
      const hi = scale(d.input_tokens), ho = scale(d.output_tokens), base = height - pad;
      chartNode.append(
        svg("rect", { class: "in", x, y: base - hi, width: bar, height: hi }, svg("title", {}, `${d.day}: ${d.input_tokens} in`)),
        svg("rect", { class: "out", x, y: base - hi - ho, width: bar, height: ho }, svg("title", {}, `${d.day}: ${d.output_tokens} out`)),
        svg("text", { x, y: height - pad + 14 }, d.day.slice(5)),
      );
    });
    return chartNode;
  }

  async function usage() {
    const data = await api("/api/control/usage");
    panel.replaceChildren(
      el("h2", {}, "Tokens per day"),
      el("p", { class: "legend" }, el("span", { class: "in" }), " in (prompts) ", el("span", { class: "out" }), " out (replies)"),
      data.days.length ? chart(data.days) : el("p", { class: "note" }, "No usage yet."),
      el("h2", {}, "Tokens per session"),
      table(["Session", "In", "Out"], data.sessions.map((s) => el("tr", {},
        el("td", {}, el("div", {}, s.title), el("small", { class: "note" }, s.key)),
        el("td", {}, String(s.input_tokens)), el("td", {}, String(s.output_tokens))))),
    );
  }

  async function config() {
    const text = await api("/api/control/config");
    panel.replaceChildren(el("p", { class: "note" }, "The effective configuration; secrets are shown as ***."), el("pre", { class: "config" }, text));
  }

  const TABS = { sessions, channels, pairing, agents, cron, mcp, skills, audit, usage, config };

  function show(name) {
    if (!TABS[name]) name = "sessions";
    clearTimeout(timer);
    status.textContent = "";
    for (const tab of document.querySelectorAll("nav.tabs button")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    TABS[name]().catch(fail);
  }

  for (const tab of document.querySelectorAll("nav.tabs button")) tab.addEventListener("click", () => show(tab.dataset.tab));
  RC.registerWorker();
  show(location.hash.slice(1));
})();
