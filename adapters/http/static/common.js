"use strict";
// Shared by the chat and control pages: the token, JSON calls, safe Markdown, small DOM helpers.
// Nothing from the server is ever parsed as HTML except through DOMPurify (renderMarkdown).

const RC = (() => {
  const store = window.localStorage;
  const TOKEN = "rustyclaw.token";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function token() { return store.getItem(TOKEN) || ""; }

  function askToken() {
    const given = window.prompt("This gateway needs its token (gateway.auth.token):");
    if (given === null) return false;
    store.setItem(TOKEN, given.trim());
    return true;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || "HTTP " + status);
      this.status = status;
      this.code = body && body.error ? body.error.code : null;
    }
  }

  // A JSON call with the token; a 401 asks for the token once and retries.
  async function api(path, options = {}, retried = false) {
    const headers = Object.assign({}, options.headers || {});
    if (token()) headers.Authorization = "Bearer " + token();
    let body = options.body;
    if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body });
    if (response.status === 401 && !retried && askToken()) return api(path, options, true);
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, typeof data === "string" ? null : data);
    return data;
  }

  let markdownReady = false;
  function setupMarkdown() {
    if (markdownReady || !window.marked || !window.DOMPurify) return markdownReady;
    window.marked.setOptions({ gfm: true, breaks: true });
    // Links open in a new tab and never pass the page along.
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") { node.setAttribute("target", "_blank"); node.setAttribute("rel", "noopener noreferrer"); }
    });
    markdownReady = true;
    return true;
  }

  // Markdown -> sanitised DOM (a fragment; no HTML string is ever assigned), code blocks highlighted.
  function renderMarkdown(target, text) {
    if (!setupMarkdown()) { target.textContent = text; return; }
    const html = window.marked.parse(text);
    const fragment = window.DOMPurify.sanitize(html, { RETURN_DOM_FRAGMENT: true, FORBID_TAGS: ["style", "form"] });
    target.replaceChildren(fragment);
    if (window.hljs) {
      for (const block of target.querySelectorAll("pre code")) window.hljs.highlightElement(block);
    }
  }

  function when(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toLocaleString();
  }

  function registerWorker() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => console.warn("service worker:", error));
    }
  }

  return { el, api, token, askToken, renderMarkdown, when, registerWorker, ApiError, store };
})();
