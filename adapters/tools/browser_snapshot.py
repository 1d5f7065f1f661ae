"""The page as text for the model: a DOM walk that numbers what can be read or acted on.

Each interactive element (links, buttons, form fields, anything with a role or click handler)
gets a reference `eN`, written to the element as `data-rc-ref` so `click`/`type` find it again
with a plain attribute selector. Refs are renumbered by every snapshot (a stale ref is an error).
"""

from __future__ import annotations

REF_ATTRIBUTE = "data-rc-ref"

# Runs in the page. Returns lines like `- button "Send" [ref=e4]`, `- textbox "Name" [ref=e2]: Ada`.
SNAPSHOT_JS = r"""
(maxChars) => {
  const ATTR = "data-rc-ref";
  document.querySelectorAll("[" + ATTR + "]").forEach((el) => el.removeAttribute(ATTR));
  const lines = [];
  let size = 0, next = 1, truncated = false;
  const ROLE = { A: "link", BUTTON: "button", SELECT: "combobox", TEXTAREA: "textbox", SUMMARY: "button",
                 H1: "heading", H2: "heading", H3: "heading", H4: "heading", H5: "heading", H6: "heading",
                 IMG: "img", LABEL: null };
  const INPUT_ROLE = { checkbox: "checkbox", radio: "radio", submit: "button", button: "button", reset: "button",
                       range: "slider", number: "spinbutton", search: "searchbox" };
  const clean = (s) => (s || "").replace(/\s+/g, " ").trim();
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") return false;
    return !(el.type === "hidden");
  };
  const labelOf = (el) => {
    const aria = el.getAttribute("aria-label");
    if (aria) return clean(aria);
    const by = el.getAttribute("aria-labelledby");
    if (by) return clean(by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || "").join(" "));
    if (el.labels && el.labels.length) {
      // A wrapping <label> also holds the control itself (a select's options): only its own words count.
      const copy = el.labels[0].cloneNode(true);
      copy.querySelectorAll("select, textarea, input, button").forEach((n) => n.remove());
      return clean(copy.textContent);
    }
    if (el.tagName === "IMG") return clean(el.alt);
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return clean(el.value);
    return clean(el.placeholder || el.title || el.name || (el.tagName === "INPUT" ? "" : el.textContent)).slice(0, 120);
  };
  const roleOf = (el) => {
    const own = el.getAttribute("role");
    if (own) return own;
    if (el.tagName === "INPUT") return INPUT_ROLE[el.type] || "textbox";
    if (el.tagName === "A") return el.hasAttribute("href") ? "link" : null;
    if (el.isContentEditable) return "textbox";
    if (el.hasAttribute("onclick") || el.tabIndex >= 0 && el.hasAttribute("tabindex")) return "button";
    return ROLE[el.tagName] || null;
  };
  const emit = (depth, text) => {
    if (truncated) return;
    const line = "  ".repeat(depth) + "- " + text;
    if (size + line.length + 1 > maxChars) { truncated = true; return; }
    lines.push(line); size += line.length + 1;
  };
  const walk = (node, depth) => {
    for (const child of node.childNodes) {
      if (truncated) return;
      if (child.nodeType === Node.TEXT_NODE) {
        const text = clean(child.textContent);
        if (text) emit(depth, "text: " + text);
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      const el = child;
      if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD"].includes(el.tagName) || !visible(el)) continue;
      const role = roleOf(el);
      if (!role) { walk(el, depth); continue; }
      const ref = "e" + next++;
      el.setAttribute(ATTR, ref);
      let line = role + (labelOf(el) ? ' "' + labelOf(el).replace(/"/g, "'") + '"' : "") + " [ref=" + ref + "]";
      if (role === "heading") line += " [level=" + el.tagName.slice(1) + "]";
      if (el.tagName === "A" && el.getAttribute("href")) line += " [url=" + el.href + "]";
      if (["checkbox", "radio"].includes(role)) line += el.checked ? " [checked]" : "";
      if (el.disabled) line += " [disabled]";
      const value = el.tagName === "SELECT" ? el.options[el.selectedIndex]?.text
        : ("value" in el && !["submit", "button", "reset", "checkbox", "radio"].includes(el.type) ? el.value : null);
      if (value) line += ": " + clean(String(value)).slice(0, 200);
      emit(depth, line);
      // Links, buttons and headings are summed up by their label; containers with roles go on.
      const leaf = ["link", "button", "heading", "textbox", "combobox", "img", "checkbox", "radio"];
      if (!leaf.includes(role)) walk(el, depth + 1);
    }
  };
  if (document.body) walk(document.body, 0);
  return { title: document.title, url: location.href, lines, truncated, refs: next - 1 };
}
"""


def ref_selector(ref: str) -> str:
    """The CSS selector of a snapshot reference (`e3` or `3`); other text is refused by the caller."""
    return f'[{REF_ATTRIBUTE}="{ref}"]'
