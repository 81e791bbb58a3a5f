/* Runs first in /widget/, the chat that widget.js frames on a clinic's site (ui/widget.py puts
 * it at the top of the page's head, before Gradio's scripts).
 *
 * 1. Storage: a browser that blocks third-party storage (a private window, "block third-party
 *    cookies") throws on any use of localStorage in a frame from another site. Gradio's chat
 *    reads it unguarded when it starts, and in Chromium that left the chat at "Loading..." in
 *    about one start in four. Where it throws, an in-memory stand-in takes its place; the chat
 *    stores nothing of the conversation there (save_history=False).
 * 2. Messages to the launcher: "ready" when the question box is there, "close" on Escape (keys
 *    pressed in a frame never reach the page around it); and "focus" from the launcher puts
 *    the focus in the question box.
 */
(() => {
  "use strict";

  try {
    window.localStorage.length;
  } catch {
    const items = new Map();
    const memory = {
      get length() {
        return items.size;
      },
      key: (index) => [...items.keys()][index] ?? null,
      getItem: (name) => (items.has(String(name)) ? items.get(String(name)) : null),
      setItem: (name, value) => void items.set(String(name), String(value)),
      removeItem: (name) => void items.delete(String(name)),
      clear: () => items.clear(),
    };
    Object.defineProperty(window, "localStorage", { value: memory, configurable: true });
  }

  if (window.parent === window) return; // opened on its own: a plain compact chat page

  const BOX = "#question textarea"; // ui/chat.py: QUESTION_ID
  // The messages carry no data, so whichever page framed us may hear them (CSP frame-ancestors
  // already decides which sites may); widget.js checks that they come from this frame.
  const tell = (what) => window.parent.postMessage({ type: `clinic-assistant:${what}` }, "*");
  const box = () => document.querySelector(BOX);

  const tellWhenReady = () => {
    if (box()) return tell("ready");
    const watcher = new MutationObserver(() => {
      if (box()) {
        watcher.disconnect();
        tell("ready");
      }
    });
    watcher.observe(document.body, { childList: true, subtree: true });
  };
  document.addEventListener("DOMContentLoaded", tellWhenReady);

  window.addEventListener("message", (event) => {
    if (event.source === window.parent && event.data && event.data.type === "clinic-assistant:focus") {
      box()?.focus();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) tell("close");
  });
})();
