/* The clinic's chat on another website, added with one tag:
 *
 *   <script src="https://assistant.example-clinic.org/widget.js" defer></script>
 *
 * Options, as attributes on that tag:
 *   data-title     the chat panel's title, also the frame's accessible name
 *                  (default "Questions about cancer that has spread")
 *   data-label     the launcher button's text (default "Ask a question")
 *   data-color     the launcher's and the panel bar's colour, any CSS colour (default #0b5cad);
 *                  the text on it is black or white, whichever contrasts more
 *   data-position  "right" (default) or "left": the bottom corner for the launcher
 *   data-open      "true": open the chat when the page loads (without moving the focus)
 *
 * Nothing but this file loads until the launcher is pressed; then the chat page from the same
 * server. The launcher lives in a shadow root (the site's styles do not reach it) and is styled
 * with a constructed style sheet and no inline <style>, so a site's own CSP need only allow this
 * server in script-src and frame-src. The site's page sees the chat only as a frame.
 */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || document.getElementById("clinic-assistant")) return; // included twice: one launcher

  const server = new URL(".", script.src); // the assistant's server, from this script's address
  const DEFAULT_COLOR = "#0b5cad"; // white text on it: 6.6:1
  const data = script.dataset;
  const options = {
    title: data.title || "Questions about cancer that has spread",
    label: data.label || "Ask a question",
    color: data.color || DEFAULT_COLOR,
    side: data.position === "left" ? "left" : "right",
    open: data.open === "true",
  };

  const CSS = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    button { font: 600 16px/1.25 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; cursor: pointer; }
    button:focus-visible { outline: 3px solid var(--accent); outline-offset: 3px; }
    .launcher {
      position: fixed; bottom: 16px; ${options.side}: 16px; z-index: 2147483000;
      display: inline-flex; align-items: center; gap: 8px; min-height: 48px; padding: 0 20px;
      border: 0; border-radius: 24px; background: var(--accent); color: var(--on-accent);
      box-shadow: 0 2px 12px rgba(0, 0, 0, 0.3);
    }
    .launcher svg { width: 22px; height: 22px; flex: none; }
    .panel {
      position: fixed; bottom: 80px; ${options.side}: 16px; z-index: 2147483001;
      display: flex; flex-direction: column;
      width: min(420px, calc(100vw - 32px)); height: min(680px, calc(100vh - 96px));
      background: #fff; border-radius: 12px; overflow: hidden; box-shadow: 0 4px 24px rgba(0, 0, 0, 0.3);
    }
    .panel[hidden] { display: none; }
    .bar {
      display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 4px 4px 4px 16px; background: var(--accent); color: var(--on-accent);
      font: 600 16px/1.3 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    }
    .close {
      flex: none; width: 44px; height: 44px; border: 0; border-radius: 8px;
      background: transparent; color: inherit; font-size: 28px; line-height: 1;
    }
    .close:focus-visible { outline-color: var(--on-accent); outline-offset: -4px; }
    iframe { flex: 1; width: 100%; border: 0; background: #fff; }
    /* A phone: the whole screen, which leaves the chat 360 px of a 360 px screen. */
    @media (max-width: 480px) {
      .panel { top: 0; bottom: 0; left: 0; right: 0; width: auto; height: auto; border-radius: 0; }
    }
  `;
  const CHAT_ICON = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"; // a speech bubble

  const start = () => {
    const host = document.createElement("div");
    host.id = "clinic-assistant";
    host.dataset.state = "closed"; // closed | loading | ready: for the site's scripts and tests
    const root = host.attachShadow({ mode: "open" });
    addStyles(root);

    const launcher = element("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "panel" });
    launcher.append(icon(CHAT_ICON), element("span", {}, options.label));

    const panel = element("div", { id: "panel", class: "panel", role: "dialog", "aria-label": options.title });
    panel.hidden = true;
    const bar = element("div", { class: "bar" });
    const close = element("button", { type: "button", class: "close", "aria-label": "Close the chat" }, "×");
    bar.append(element("span", {}, options.title), close);
    panel.append(bar);
    root.append(panel, launcher);
    document.body.append(host);
    colour(root, host);

    let frame = null;
    let ready = false;

    // Into the question box, once the frame says it is there (the first open takes about a
    // second); until then the focus waits on the close button, already inside the dialog.
    const focusChat = () => {
      frame.focus();
      frame.contentWindow.postMessage({ type: "clinic-assistant:focus" }, server.origin);
    };
    const setState = () => {
      host.dataset.state = panel.hidden ? "closed" : ready ? "ready" : "loading";
    };

    const open = (moveFocus) => {
      if (!frame) {
        // Made on first open: the chat page is fetched only by someone who wants it.
        frame = element("iframe", {
          title: options.title,
          src: new URL("widget/", server).href,
          allow: "clipboard-write", // the answers' copy button
          // No top navigation, forms or plug-ins; links in answers open a new tab.
          sandbox: "allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox",
        });
        panel.append(frame);
      }
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      if (moveFocus) ready ? focusChat() : close.focus();
      setState();
    };

    const shut = () => {
      if (panel.hidden) return;
      panel.hidden = true;
      launcher.setAttribute("aria-expanded", "false");
      launcher.focus();
      setState();
    };

    launcher.addEventListener("click", () => (panel.hidden ? open(true) : shut()));
    close.addEventListener("click", shut);
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !panel.hidden) {
        event.preventDefault();
        shut();
      }
    });
    window.addEventListener("message", (event) => {
      if (!frame || event.source !== frame.contentWindow || event.origin !== server.origin) return;
      const type = event.data && event.data.type;
      if (type === "clinic-assistant:ready") {
        ready = true;
        if (!panel.hidden && root.activeElement === close) focusChat(); // unless the user moved on
        setState();
      } else if (type === "clinic-assistant:close") {
        shut();
      }
    });

    if (options.open) open(false);
  };

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  }

  // Built node by node, not from an HTML string: a site that enforces Trusted Types blocks innerHTML.
  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("fill", "currentColor");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }

  function addStyles(root) {
    if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(element("style", {}, CSS)); // older browsers; a strict site CSP may block this
    }
  }

  // The accent colour as the browser reads it, and black or white text: whichever has the
  // higher WCAG contrast ratio on it (a light clinic colour gets black text, a dark one white).
  function colour(root, host) {
    const probe = element("span", {});
    root.append(probe);
    const rgb = (value) => {
      probe.style.color = "";
      probe.style.color = value; // ignored by the browser when it is not a colour
      const read = probe.style.color && getComputedStyle(probe).color.match(/^rgba?\((\d+), (\d+), (\d+)/);
      return read && read.slice(1).map(Number);
    };
    // Not a colour, or one outside sRGB (e.g. display-p3): the default.
    const [r, g, b] = rgb(options.color) || rgb(DEFAULT_COLOR);
    probe.remove();
    const linear = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    const onWhite = 1.05 / (luminance + 0.05);
    const onBlack = (luminance + 0.05) / 0.05;
    host.style.setProperty("--accent", `rgb(${r}, ${g}, ${b})`);
    host.style.setProperty("--on-accent", onWhite >= onBlack ? "#fff" : "#000");
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
