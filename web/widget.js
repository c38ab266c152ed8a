/*! voxgate widget __VERSION__ | one tag: <script src="https://HOST/widget.js" data-widget="wgt_..." data-session-url="/your/route" defer></script> */
// The hosted widget script. No dependencies. It renders inside a shadow root (no CSS leaks
// either way), loads the widget's public configuration at run time (a saved change shows on the
// next page load), asks the site's own backend route for a session only when the visitor first
// talks (and, if consent is required, only after consent), streams text answers over fetch+SSE,
// and runs voice over WebRTC. Failures are said in plain words, never swallowed.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.widget) {
    console.error("voxgate: the widget tag needs data-widget=\"wgt_...\" and data-session-url");
    return;
  }
  var VERSION = "__VERSION__";
  var widgetId = script.dataset.widget;
  var sessionUrl = script.dataset.sessionUrl;
  var api = new URL(script.src, location.href).origin;
  var consentKey = "voxgate:consent:" + widgetId;
  // The session of this tab, so a reload shows the conversation so far (read back from the
  // server while the session lives).
  var sessionKey = "voxgate:session:" + widgetId;

  var MESSAGES = {
    origin: "This assistant isn't enabled for this website (" + location.origin + "). The site's owner can add it to the widget's allowed origins.",
    https: "Voice calls need a secure (https://) page. Text chat still works here.",
    micBlocked: "Microphone access is blocked. Allow the microphone for this site in your browser's settings, then try again.",
    noMic: "No microphone was found. Connect one, or use text chat.",
    expired: "Your session expired. Starting a new one…",
    unavailable: "The assistant is unavailable right now. Please try again later.",
    limit: "The assistant has reached its usage limit for now. Please try again later.",
    fairUse: "Previews and test runs have used today's fair-use allowance. It renews at midnight UTC; the live widget is not affected.",
    network: "Couldn't reach the assistant. Check your connection and try again.",
    noSessionUrl: "This widget is missing its data-session-url, so it cannot start a conversation.",
    callFailed: "The call could not connect. Please try again.",
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}",
    ".root{position:fixed;bottom:20px;z-index:2147483000;color:var(--vg-text);font-size:15px;line-height:1.4}",
    ".root.right{right:20px}.root.left{left:20px}",
    "button{font:inherit;cursor:pointer;border-radius:8px;border:1px solid var(--vg-primary);padding:8px 12px;background:var(--vg-primary);color:#fff}",
    "button.secondary{background:transparent;color:var(--vg-primary)}",
    "button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid var(--vg-primary);outline-offset:2px}",
    "button[disabled]{opacity:.5;cursor:not-allowed}",
    ".launcher{border-radius:999px;padding:12px 18px;box-shadow:0 4px 14px rgba(0,0,0,.2)}",
    ".panel{position:absolute;bottom:60px;width:min(360px,calc(100vw - 40px));max-height:min(560px,calc(100vh - 100px));display:flex;flex-direction:column;background:var(--vg-bg);border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden}",
    ".root.right .panel{right:0}.root.left .panel{left:0}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:8px;padding:12px;background:var(--vg-primary);color:#fff}",
    "header h2{font-size:16px;margin:0;flex:1}",
    "header img{width:28px;height:28px;border-radius:50%}",
    "header button{background:transparent;border-color:transparent;color:#fff;padding:4px 8px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;min-height:120px}",
    ".msg{max-width:85%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".msg.agent{background:rgba(127,127,127,.12);align-self:flex-start}",
    ".msg.visitor{background:var(--vg-primary);color:#fff;align-self:flex-end}",
    ".notice{margin:0 12px 8px;padding:8px 10px;border-radius:8px;background:#fff4e5;color:#7a4100;border:1px solid #f5c27a}",
    ".notice[hidden]{display:none}",
    ".consent{padding:12px;display:flex;flex-direction:column;gap:10px}",
    ".consent[hidden]{display:none}",
    ".consent p{margin:0;white-space:pre-wrap}",
    "form{display:flex;gap:8px;padding:12px;border-top:1px solid rgba(127,127,127,.2)}",
    "form[hidden]{display:none}",
    "textarea{flex:1;resize:none;font:inherit;padding:8px;border-radius:8px;border:1px solid rgba(127,127,127,.4);color:var(--vg-text);background:var(--vg-bg)}",
    ".call{display:flex;align-items:center;gap:8px;padding:0 12px 12px}",
    ".recorded{color:#b42318;font-size:12px}",
    ".recorded[hidden]{display:none}",
    ".call[hidden]{display:none}",
    ".call .state{flex:1;font-size:13px}",
    ".source{align-self:flex-start;margin-top:-4px;font-size:12px;opacity:.75}",
    ".msg[data-status=interrupted]::after{content:\" —\";opacity:.6}",
    ".line{align-self:center;font-size:12px;opacity:.75}",
    ".meters{display:flex;align-items:center;gap:8px;padding:0 12px 12px;font-size:12px}",
    ".meters[hidden]{display:none}",
    ".level{flex:1;height:6px;border-radius:3px;background:rgba(127,127,127,.25);overflow:hidden}",
    ".level span{display:block;height:100%;width:0;background:var(--vg-primary);transition:width 60ms linear}",
    ".speaking[hidden]{visibility:hidden;display:inline}",
    ".links{display:flex;gap:12px;padding:0 12px 10px;font-size:12px}",
    ".links a{color:var(--vg-primary)}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
  ].join("\n");

  var host = el("div", { "data-voxgate-widget": widgetId });
  var shadow = host.attachShadow({ mode: "open" });
  var ui = {};
  var config = null;
  var session = null;
  // The greeting uses {{variables}}: the session's filled one is shown once there is a session.
  var personalGreeting = false;
  var streaming = false;
  var call = null;

  function mount() {
    if (!document.body) return document.addEventListener("DOMContentLoaded", mount);
    document.body.appendChild(host);
    shadow.appendChild(el("style", { text: CSS }));
    ui.root = el("div", { class: "root right", part: "root" });
    ui.launcher = el("button", { class: "launcher", "data-part": "launcher", "aria-expanded": "false", text: "Chat", onclick: toggle });
    ui.title = el("h2", { "data-part": "title", id: "vg-title", text: "" });
    ui.avatar = el("img", { alt: "", hidden: "" });
    ui.close = el("button", { "aria-label": "Close", text: "✕", onclick: function () { toggle(false); } });
    ui.notice = el("div", { class: "notice", role: "alert", "data-part": "notice", hidden: "" });
    ui.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", "data-part": "log" });
    ui.terms = el("p", { "data-part": "terms" });
    ui.accept = el("button", { "data-part": "accept", text: "Accept and continue", onclick: acceptConsent });
    ui.consent = el("div", { class: "consent", "data-part": "consent", hidden: "" }, [ui.terms, ui.accept]);
    ui.input = el("textarea", { rows: "1", "data-part": "input", "aria-label": "Message" });
    ui.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendText(); }
    });
    ui.send = el("button", { type: "submit", "data-part": "send", text: "Send" });
    ui.form = el("form", { "data-part": "form", onsubmit: function (e) { e.preventDefault(); sendText(); } }, [ui.input, ui.send]);
    ui.callButton = el("button", { "data-part": "call", text: "Start voice call", onclick: toggleCall });
    ui.mute = el("button", { class: "secondary", "data-part": "mute", "aria-pressed": "false", text: "Mute", hidden: "", onclick: toggleMute });
    ui.callState = el("span", { class: "state", "data-part": "call-state", role: "status", text: "" });
    // Shown during a call that the widget's site records (the visitor consented to it).
    ui.recorded = el("span", { class: "recorded", "data-part": "recorded", text: "● Recorded", hidden: "" });
    ui.call = el("div", { class: "call", hidden: "" }, [ui.callButton, ui.mute, ui.callState, ui.recorded]);
    ui.levelBar = el("span", {});
    ui.level = el("div", { class: "level", role: "meter", "aria-label": "Your microphone level", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "data-part": "level", "data-level": "0" }, [ui.levelBar]);
    ui.speaking = el("span", { class: "speaking", "data-part": "speaking", role: "status", text: "Agent speaking…", hidden: "" });
    ui.meters = el("div", { class: "meters", "data-part": "meters", hidden: "" }, [el("span", { text: "You" }), ui.level, ui.speaking]);
    ui.links = el("nav", { class: "links", "aria-label": "Privacy", "data-part": "links" });
    ui.audio = el("audio", { autoplay: "" });
    ui.panel = el("section", { class: "panel", role: "dialog", "aria-labelledby": "vg-title", "data-part": "panel", hidden: "" }, [
      el("header", {}, [ui.avatar, ui.title, ui.close]),
      ui.notice, ui.consent, ui.log, ui.call, ui.meters, ui.form, ui.links, ui.audio,
    ]);
    ui.panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
    ui.root.appendChild(ui.panel);
    ui.root.appendChild(ui.launcher);
    shadow.appendChild(ui.root);
    host.setAttribute("data-state", "loading");
    colors({});
    loadConfig();
  }

  function notice(text) {
    ui.notice.textContent = text || "";
    if (text) ui.notice.removeAttribute("hidden"); else ui.notice.setAttribute("hidden", "");
  }

  function toggle(open) {
    var show = typeof open === "boolean" ? open : ui.panel.hasAttribute("hidden");
    if (show) ui.panel.removeAttribute("hidden"); else ui.panel.setAttribute("hidden", "");
    ui.launcher.setAttribute("aria-expanded", String(show));
    if (show) (ui.consent.hasAttribute("hidden") ? ui.input : ui.accept).focus();
    else ui.launcher.focus();
  }

  function loadConfig() {
    fetch(api + "/v1/widgets/" + encodeURIComponent(widgetId) + "/config", { credentials: "omit" })
      .then(function (res) {
        if (res.ok) return res.json().then(apply);
        // A refused origin gets no CORS headers, so the page cannot read why: say what it
        // most likely is.
        fail(MESSAGES.origin, "refused");
      })
      .catch(function () { fail(MESSAGES.origin, "refused"); });
  }

  function fail(text, state) {
    ui.launcher.textContent = "Chat";
    ui.title.textContent = "Assistant";
    ui.consent.setAttribute("hidden", "");
    ui.form.setAttribute("hidden", "");
    ui.call.setAttribute("hidden", "");
    notice(text);
    host.setAttribute("data-state", state);
  }

  function colors(a) {
    host.style.setProperty("--vg-primary", a.primary_color || "#1f6feb");
    host.style.setProperty("--vg-bg", a.background_color || "#ffffff");
    host.style.setProperty("--vg-text", a.text_color || "#1f2328");
  }

  function apply(c) {
    config = c;
    var a = c.appearance || {}, content = c.content || {}, privacy = c.privacy || {};
    colors(a);
    ui.root.className = "root " + (a.position === "bottom-left" ? "left" : "right");
    ui.launcher.textContent = content.launcher_label || "Chat";
    ui.title.textContent = a.title || "Assistant";
    if (a.avatar_url) { ui.avatar.src = a.avatar_url; ui.avatar.removeAttribute("hidden"); }
    ui.input.placeholder = content.input_placeholder || "Type a message";
    var modes = c.modes || [];
    if (modes.indexOf("text") < 0) ui.form.setAttribute("hidden", "");
    if (modes.indexOf("voice") >= 0) ui.call.removeAttribute("hidden");
    // A greeting with {{variables}} is filled per session: shown once there is one.
    if (content.greeting && content.greeting.indexOf("{{") < 0) addMessage("agent", content.greeting);
    else if (content.greeting) personalGreeting = true;
    restoreConversation();
    var tc = privacy.trust_center || {};
    if (c.trust_center_url) ui.links.appendChild(el("a", { href: c.trust_center_url, target: "_blank", rel: "noopener", text: "Trust Center" }));
    if (tc.privacy_policy_url) ui.links.appendChild(el("a", { href: tc.privacy_policy_url, target: "_blank", rel: "noopener", text: "Privacy policy" }));
    if (privacy.consent_required && localStorage.getItem(consentKey) !== "accepted") {
      ui.terms.textContent = privacy.terms_text || "By continuing you agree that this conversation is recorded.";
      ui.consent.removeAttribute("hidden");
      ui.form.setAttribute("hidden", "");
      ui.call.setAttribute("hidden", "");
      host.setAttribute("data-state", "consent");
    } else {
      host.setAttribute("data-state", "ready");
    }
  }

  function acceptConsent() {
    try { localStorage.setItem(consentKey, "accepted"); } catch (e) { /* private mode: ask again next time */ }
    ui.consent.setAttribute("hidden", "");
    var modes = config.modes || [];
    if (modes.indexOf("text") >= 0) ui.form.removeAttribute("hidden");
    if (modes.indexOf("voice") >= 0) ui.call.removeAttribute("hidden");
    host.setAttribute("data-state", "ready");
    ui.input.focus();
  }

  function addMessage(role, text) {
    var m = el("div", { class: "msg " + role, "data-role": role, text: text });
    if (config && config.features && config.features.transcript === false && role === "visitor") {
      while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
    }
    ui.log.appendChild(m);
    ui.log.scrollTop = ui.log.scrollHeight;
    return m;
  }

  /** "Source: Title" under an answer that quotes the agent's knowledge. */
  function addSource(title) {
    if (!title) return;
    ui.log.appendChild(el("div", { class: "source", "data-part": "source", text: "Source: " + title }));
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  /** A line about the conversation itself (a call started or ended). */
  function addLine(text) {
    var line = el("div", { class: "line", "data-role": "call", text: text });
    ui.log.appendChild(line);
    ui.log.scrollTop = ui.log.scrollHeight;
    return line;
  }

  function duration(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function remember(s) {
    try { sessionStorage.setItem(sessionKey, JSON.stringify(s)); } catch (e) { /* storage off: no restore */ }
  }

  function forget() {
    try { sessionStorage.removeItem(sessionKey); } catch (e) { /* nothing kept */ }
  }

  /** The session's own greeting (its variables filled in by the server), first in the log. */
  function showGreeting(text) {
    if (!personalGreeting || !text) return;
    personalGreeting = false;
    var m = addMessage("agent", text);
    ui.log.insertBefore(m, ui.log.firstChild);
  }

  /** After a reload: the conversation so far, while this tab's session lives. */
  function restoreConversation() {
    var stored = null;
    try { stored = JSON.parse(sessionStorage.getItem(sessionKey) || "null"); } catch (e) { stored = null; }
    if (!stored || !stored.messages_url || !(Date.parse(stored.expires_at) > Date.now() + 5000)) return forget();
    session = stored;
    fetch(stored.messages_url, { headers: { Authorization: "Bearer " + stored.session_token } })
      .then(function (res) {
        if (!res.ok) { session = null; forget(); return; }
        return res.json().then(function (t) {
          var items = (t.messages || []).map(function (m) { return { at: Date.parse(m.created_at), message: m }; });
          (t.calls || []).forEach(function (c) {
            if (c.connected_at && c.ended_at) {
              items.push({ at: Date.parse(c.ended_at), line: "Call ended · " + duration(Date.parse(c.ended_at) - Date.parse(c.connected_at)) });
            }
          });
          items.sort(function (a, b) { return a.at - b.at; });
          showGreeting(t.greeting);
          items.forEach(function (i) {
            if (i.line) return addLine(i.line);
            var m = i.message;
            if (!m.text) return;
            var shown = addMessage(m.role === "visitor" ? "visitor" : "agent", m.text);
            if (m.status === "interrupted") shown.setAttribute("data-status", "interrupted");
            if (m.role !== "visitor") addSource(m.source);
          });
        });
      })
      .catch(function () { /* the conversation stays as it is on screen */ });
  }

  /** What a refused request means, in words, from its error code. */
  function explain(code) {
    if (code === "origin_not_allowed" || code === "origin_missing") return MESSAGES.origin;
    if (code === "token_expired" || code === "session_ended") return MESSAGES.expired;
    if (code === "fair_use_exceeded") return MESSAGES.fairUse;
    if (code === "quota_exceeded") return MESSAGES.limit;
    return MESSAGES.unavailable;
  }

  function errorCode(res) {
    return res.json().then(function (b) { return (b && b.error && b.error.code) || ""; }, function () { return ""; });
  }

  /** The session, asked of the site's backend on first use. */
  function ensureSession() {
    if (session && Date.parse(session.expires_at) > Date.now() + 5000) return Promise.resolve(session);
    if (!sessionUrl) return Promise.reject(new Error(MESSAGES.noSessionUrl));
    return fetch(sessionUrl, { method: "POST", headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (!res.ok || !body.session_token) throw new Error(explain(body && body.error && body.error.code));
          session = body;
          remember(session);
          if (personalGreeting) {
            fetch(session.messages_url, { headers: { Authorization: "Bearer " + session.session_token } })
              .then(function (r) { return r.ok ? r.json() : {}; })
              .then(function (t) { showGreeting(t.greeting); }, function () {});
          }
          return session;
        });
      }, function () { throw new Error(MESSAGES.network); });
  }

  function sendText() {
    var text = ui.input.value.trim();
    if (!text || streaming || !config) return;
    if (!ui.consent.hasAttribute("hidden")) return;
    ui.input.value = "";
    addMessage("visitor", text);
    ask(text, true);
  }

  function ask(text, retry) {
    streaming = true;
    ui.send.setAttribute("disabled", "");
    // A retry keeps the notice that explains it (a new session) in view.
    if (retry) notice("");
    var bubble = null;
    var done = function () { streaming = false; ui.send.removeAttribute("disabled"); };
    ensureSession()
      .then(function (s) {
        return fetch(s.messages_url, {
          method: "POST",
          headers: { Authorization: "Bearer " + s.session_token, "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify({ text: text }),
        });
      })
      .then(function (res) {
        if (!res.ok) {
          return errorCode(res).then(function (code) {
            if ((code === "token_expired" || code === "session_ended") && retry) {
              session = null;
              forget();
              notice(MESSAGES.expired);
              done();
              return ask(text, false);
            }
            throw new Error(explain(code));
          });
        }
        var on = function (name, data) {
          if (name === "response.delta") {
            if (!bubble) bubble = addMessage("agent", "");
            bubble.textContent += data.text;
            ui.log.scrollTop = ui.log.scrollHeight;
          } else if (name === "response.completed") {
            if (!bubble) bubble = addMessage("agent", "");
            bubble.textContent = data.text;
            bubble.setAttribute("data-complete", "true");
            addSource(data.source);
          } else if (name === "tool.call") {
            answerPageAction(session, data);
          } else if (name === "error") {
            notice(data.code === "unavailable" ? MESSAGES.network : explain(data.code));
          }
        };
        return readAnswer(res, on).then(done);
      })
      .catch(function (e) {
        done();
        // A request the browser could not complete: a refused origin answers without CORS
        // headers, so ask the config again to tell that from a network fault.
        if (e instanceof TypeError && navigator.onLine !== false) return recheckOrigin();
        notice(e.message || MESSAGES.network);
      });
  }

  /** After a failed request: the origin-refused state if the site's origin was just removed. */
  function recheckOrigin() {
    return fetch(api + "/v1/widgets/" + encodeURIComponent(widgetId) + "/config", { credentials: "omit", cache: "no-store" })
      .then(function (res) {
        if (res.ok) return notice(MESSAGES.network);
        fail(MESSAGES.origin, "refused");
      }, function () { fail(MESSAGES.origin, "refused"); });
  }

  /**
   * Reads an answer's stream to its end; a stream that drops before `response.completed` or
   * `error` is resumed where it stopped (`Last-Event-ID`), a few times, so no delta is lost
   * or shown twice.
   */
  function readAnswer(res, on) {
    var last = null, ended = false, tries = 0;
    var track = function (name, data, id) {
      if (id) last = id;
      if (name === "response.completed" || name === "error") ended = true;
      on(name, data);
    };
    var read = function (r) {
      return readEvents(r, track).catch(function () { /* dropped: resumed below */ }).then(function () {
        if (ended || !last || !session || tries >= 3) return;
        tries += 1;
        return fetch(session.messages_url, {
          headers: { Authorization: "Bearer " + session.session_token, Accept: "text/event-stream", "Last-Event-ID": last },
        }).then(function (again) { if (again.ok) return read(again); }, function () {});
      });
    };
    return read(res);
  }

  /** Reads a text/event-stream response, calling `on(event, data, id)` per event. */
  function readEvents(res, on) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) return;
        buffer += decoder.decode(r.value, { stream: true });
        var at;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          var name = "message", data = "", id = null;
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data += line.slice(5).replace(/^ /, "");
            else if (line.indexOf("id:") === 0) id = line.slice(3).trim();
          });
          if (data) {
            var parsed;
            try { parsed = JSON.parse(data); } catch (e) { parsed = undefined; /* not JSON: skip */ }
            if (parsed !== undefined) on(name, parsed, id);
          }
        }
        return pump();
      });
    }
    return pump();
  }

  function setCallState(state, text) {
    host.setAttribute("data-call", state);
    ui.callState.textContent = text;
    ui.callButton.textContent = state === "connecting" || state === "live" || state === "reconnecting" ? "End call" : "Start voice call";
    if (state === "live" && config.features && config.features.mute_button !== false) ui.mute.removeAttribute("hidden");
    else ui.mute.setAttribute("hidden", "");
    var recorded = (state === "connecting" || state === "live" || state === "reconnecting") && config.privacy && config.privacy.recording === "on";
    if (recorded) ui.recorded.removeAttribute("hidden");
    else ui.recorded.setAttribute("hidden", "");
  }

  function toggleCall() {
    if (call) return endCall("You ended the call.");
    startCall();
  }

  function startCall() {
    notice("");
    var secure = window.isSecureContext || location.hostname === "localhost" || location.hostname === "127.0.0.1";
    if (!secure || !navigator.mediaDevices || !window.RTCPeerConnection) return notice(MESSAGES.https);
    var current = call = { pc: null, stream: null, location: null, token: null };
    setCallState("connecting", "Connecting…");
    navigator.mediaDevices.getUserMedia({ audio: true })
      .catch(function (e) {
        throw new Error(e && (e.name === "NotAllowedError" || e.name === "SecurityError") ? MESSAGES.micBlocked : MESSAGES.noMic);
      })
      .then(function (stream) {
        current.stream = stream;
        listen(current, stream, "visitor");
        return ensureSession();
      })
      .then(function (s) {
        if (call !== current) throw new Error("");
        current.token = s.session_token;
        var pc = current.pc = new RTCPeerConnection({ iceServers: s.webrtc_ice_servers || [] });
        current.stream.getTracks().forEach(function (t) { pc.addTrack(t, current.stream); });
        // A talking agent's captions come on this channel, as OpenAI Realtime's events do.
        var events = pc.createDataChannel("oai-events");
        events.onmessage = function (m) { caption(current, m.data, events); };
        pc.ontrack = function (e) {
          var remote = e.streams[0] || new MediaStream([e.track]);
          ui.audio.srcObject = remote;
          var played = ui.audio.play();
          if (played && played.catch) played.catch(function () {});
          listen(current, remote, "agent");
        };
        pc.onconnectionstatechange = function () {
          if (call !== current) return;
          if (pc.connectionState === "connected" && !current.startedAt) {
            current.startedAt = Date.now();
            addLine("Call started");
            setCallState("live", "Live");
          } else if (pc.connectionState === "closed" || (pc.connectionState === "failed" && !current.startedAt)) {
            endCall("The call ended.");
          }
        };
        // A network change (Wi-Fi to mobile, a VPN, a laptop waking up): restart ICE and go on
        // with the same call, the microphone still granted.
        pc.oniceconnectionstatechange = function () {
          if (call !== current || !current.startedAt) return;
          var state = pc.iceConnectionState;
          clearTimeout(current.iceTimer);
          if (state === "disconnected") {
            current.iceTimer = setTimeout(function () {
              if (call === current && pc.iceConnectionState === "disconnected") reconnect(current);
            }, 2000);
          } else if (state === "failed") {
            reconnect(current);
          } else if ((state === "connected" || state === "completed") && current.reconnecting) {
            current.reconnecting = false;
            addLine("Reconnected");
            setCallState("live", "Live");
          }
        };
        return pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); })
          .then(function () { return gathered(pc, 2000); })
          .then(function () {
            return fetch(s.webrtc_url, {
              method: "POST",
              headers: { Authorization: "Bearer " + s.session_token, "Content-Type": "application/sdp" },
              body: pc.localDescription.sdp,
            });
          })
          .then(function (res) {
            if (!res.ok) return errorCode(res).then(function (code) { throw new Error(explain(code)); });
            current.location = new URL(res.headers.get("Location"), s.webrtc_url).href;
            return res.text().then(function (sdp) { return pc.setRemoteDescription({ type: "answer", sdp: sdp }); });
          });
      })
      .catch(function (e) {
        if (call === current) { endCall(""); notice(e.message || MESSAGES.callFailed); }
      });
  }

  /**
   * Restarts ICE for the live call (RFC 9725 §4.3): new credentials PATCHed to the call's
   * resource with `If-Match: *`, the server's new ones applied as its answer. The call, its
   * agent and its transcript go on; only a restart the server refuses ends it.
   */
  function reconnect(current) {
    if (current.reconnecting || call !== current || !current.location) return;
    current.reconnecting = true;
    setCallState("reconnecting", "Reconnecting…");
    var pc = current.pc;
    pc.createOffer({ iceRestart: true })
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc, 2000); })
      .then(function () {
        return fetch(current.location, {
          method: "PATCH",
          headers: { Authorization: "Bearer " + current.token, "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" },
          body: iceFragment(pc.localDescription.sdp),
        });
      })
      .then(function (res) {
        if (!res.ok) return errorCode(res).then(function (code) { throw new Error(explain(code)); });
        return res.text();
      })
      .then(function (fragment) {
        return pc.setRemoteDescription({ type: "answer", sdp: withIce(pc.remoteDescription.sdp, fragment) });
      })
      .catch(function (e) {
        if (call !== current) return;
        current.reconnecting = false;
        endCall("");
        notice(e.message || MESSAGES.callFailed);
      });
  }

  /** An SDP's ICE credentials and first section's candidates, as a trickle-ice-sdpfrag. */
  function iceFragment(sdp) {
    var lines = sdp.split(/\r?\n/), out = [], media = 0;
    var first = function (prefix) { return lines.filter(function (l) { return l.indexOf(prefix) === 0; })[0]; };
    out.push(first("a=ice-ufrag:"), first("a=ice-pwd:"));
    lines.forEach(function (l) {
      if (l.indexOf("m=") === 0) media += 1;
      else if (media === 1 && l.indexOf("a=candidate:") === 0) out.push(l);
    });
    return out.filter(Boolean).join("\r\n") + "\r\na=end-of-candidates\r\n";
  }

  /** `sdp` with the credentials and candidates of `fragment` in place of its own. */
  function withIce(sdp, fragment) {
    var get = function (prefix) {
      var l = fragment.split(/\r?\n/).filter(function (x) { return x.indexOf(prefix) === 0; })[0];
      return l ? l.slice(prefix.length) : null;
    };
    var ufrag = get("a=ice-ufrag:"), pwd = get("a=ice-pwd:");
    var candidates = fragment.split(/\r?\n/).filter(function (l) { return l.indexOf("a=candidate:") === 0; });
    var out = [], placed = false;
    sdp.split(/\r?\n/).forEach(function (l) {
      if (!l || l.indexOf("a=candidate:") === 0 || l === "a=end-of-candidates") return;
      if (l.indexOf("a=ice-ufrag:") === 0 && ufrag) l = "a=ice-ufrag:" + ufrag;
      if (l.indexOf("a=ice-pwd:") === 0 && pwd) l = "a=ice-pwd:" + pwd;
      out.push(l);
      if (!placed && l.indexOf("a=mid:") === 0) { placed = true; out = out.concat(candidates); }
    });
    return out.join("\r\n") + "\r\n";
  }

  /**
   * Live captions of a talking agent's call: the visitor's words as they are heard (partial,
   * from a streaming recogniser, replaced by the turn's final words), the agent's words as
   * they play, and each answer's final text as heard (cut short if the visitor talked over
   * it, marked `data-status="interrupted"`).
   */
  function caption(current, data, channel) {
    if (call !== current) return;
    var e;
    try { e = JSON.parse(data); } catch (_) { return; }
    if (e.type === "response.function_call_arguments.done") {
      // A page action in a call: run it and answer as an OpenAI Realtime client does.
      var args = {};
      try { args = JSON.parse(e.arguments || "{}"); } catch (_) { args = {}; }
      runPageAction({ name: e.name, arguments: args, timeout_ms: e.timeout_ms }).then(function (answer) {
        var output = JSON.stringify("result" in answer ? answer.result : { error: answer.error });
        if (channel.readyState === "open") {
          channel.send(JSON.stringify({ type: "conversation.item.create",
            item: { type: "function_call_output", call_id: e.call_id, output: output } }));
        }
      });
      return;
    }
    current.answers = current.answers || {};
    var answer = function (id) {
      var m = current.answers[id];
      if (!m) {
        m = current.answers[id] = addMessage("agent", "");
        m.setAttribute("data-caption", "true");
      }
      return m;
    };
    if (e.type === "conversation.item.input_audio_transcription.delta" && e.delta) {
      if (!current.hearing) {
        current.hearing = addMessage("visitor", "");
        current.hearing.setAttribute("data-caption", "true");
        current.hearing.setAttribute("data-status", "partial");
      }
      current.hearing.textContent += e.delta;
      ui.log.scrollTop = ui.log.scrollHeight;
    } else if (e.type === "conversation.item.input_audio_transcription.completed") {
      var heard = current.hearing;
      current.hearing = null;
      if (heard && !e.transcript) { heard.remove(); return; }
      if (!e.transcript) return;
      if (!heard) { heard = addMessage("visitor", ""); heard.setAttribute("data-caption", "true"); }
      heard.textContent = e.transcript;
      heard.removeAttribute("data-status");
    } else if (e.type === "response.output_audio_transcript.delta" && e.delta) {
      var m = answer(e.response_id);
      m.textContent += e.delta;
      ui.log.scrollTop = ui.log.scrollHeight;
    } else if (e.type === "response.done") {
      if (!e.transcript && !current.answers[e.response_id]) return;
      var done = answer(e.response_id);
      done.textContent = e.transcript || "";
      done.setAttribute("data-status", e.status || "complete");
      if (!e.transcript) done.remove();
    }
  }

  /**
   * Levels while a call lasts: the visitor's microphone moves the meter, and the agent's audio
   * shows "Agent speaking" while it plays (with a short hold, so pauses between words do not
   * flicker it).
   */
  function listen(current, stream, who) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!current.audio) {
      current.audio = new Ctx();
      current.analysers = [];
      ui.meters.removeAttribute("hidden");
      current.meterTimer = setInterval(function () { meter(current); }, 50);
    }
    var analyser = current.audio.createAnalyser();
    analyser.fftSize = 1024;
    current.audio.createMediaStreamSource(stream).connect(analyser);
    current.analysers.push({ who: who, analyser: analyser, samples: new Float32Array(analyser.fftSize), loudAt: 0 });
  }

  function meter(current) {
    var now = Date.now();
    current.analysers.forEach(function (a) {
      a.analyser.getFloatTimeDomainData(a.samples);
      var sum = 0;
      for (var i = 0; i < a.samples.length; i++) sum += a.samples[i] * a.samples[i];
      var rms = Math.sqrt(sum / a.samples.length);
      // -60 dBFS and below is silence; 0 dBFS is full scale.
      var level = rms > 0 ? Math.max(0, Math.min(1, (20 * Math.log10(rms) + 60) / 60)) : 0;
      if (a.who === "visitor") {
        var muted = ui.mute.getAttribute("aria-pressed") === "true";
        if (muted) level = 0;
        ui.level.setAttribute("data-level", level.toFixed(2));
        ui.level.setAttribute("aria-valuenow", String(Math.round(level * 100)));
        ui.levelBar.style.width = Math.round(level * 100) + "%";
      } else {
        if (level > 0.25) a.loudAt = now;
        var speaking = now - a.loudAt < 300;
        if (speaking) ui.speaking.removeAttribute("hidden"); else ui.speaking.setAttribute("hidden", "");
        host.setAttribute("data-agent-speaking", String(speaking));
      }
    });
  }

  function stopListening(c) {
    if (c.meterTimer) clearInterval(c.meterTimer);
    if (c.audio) c.audio.close().catch(function () {});
    ui.meters.setAttribute("hidden", "");
    ui.speaking.setAttribute("hidden", "");
    ui.level.setAttribute("data-level", "0");
    ui.levelBar.style.width = "0";
    host.setAttribute("data-agent-speaking", "false");
  }

  function gathered(pc, ms) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === "complete") return resolve();
      var timer = setTimeout(resolve, ms);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  function endCall(text) {
    var c = call;
    call = null;
    if (c) {
      clearTimeout(c.iceTimer);
      if (c.location && c.token) {
        fetch(c.location, { method: "DELETE", headers: { Authorization: "Bearer " + c.token } }).catch(function () {});
      }
      if (c.pc) c.pc.close();
      if (c.stream) c.stream.getTracks().forEach(function (t) { t.stop(); });
      stopListening(c);
      if (c.startedAt) addLine("Call ended · " + duration(Date.now() - c.startedAt));
    }
    ui.mute.setAttribute("aria-pressed", "false");
    ui.mute.textContent = "Mute";
    setCallState("ended", text);
  }

  function toggleMute() {
    if (!call || !call.stream) return;
    var muted = ui.mute.getAttribute("aria-pressed") !== "true";
    call.stream.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
    ui.mute.setAttribute("aria-pressed", String(muted));
    ui.mute.textContent = muted ? "Unmute" : "Mute";
  }

  // --- Page actions: functions the page registers for the agent to call --------------------
  // voxgate.tools.register("show_product", async (args) => ({ shown: true })). A page that
  // sets window.voxgateTools = { name: fn } before this script loads is read too.
  var pageApi = window.voxgate = window.voxgate || {};
  if (!pageApi.tools) {
    var handlers = {};
    pageApi.tools = {
      register: function (name, fn) {
        if (typeof name !== "string" || typeof fn !== "function") throw new TypeError("voxgate.tools.register(name, function)");
        handlers[name] = fn;
      },
      unregister: function (name) { delete handlers[name]; },
      handler: function (name) {
        if (Object.prototype.hasOwnProperty.call(handlers, name)) return handlers[name];
        var preset = window.voxgateTools;
        return preset && Object.prototype.hasOwnProperty.call(preset, name) && typeof preset[name] === "function" ? preset[name] : null;
      },
    };
  }

  /** Runs a page action: its result, or an error the agent reads (never thrown). */
  function runPageAction(call) {
    var fn = pageApi.tools.handler(call.name);
    if (!fn) return Promise.resolve({ error: "not available on this page" });
    var limit = Math.max(100, (call.timeout_ms || 10000) - 250);
    return new Promise(function (resolve) {
      var timer = setTimeout(function () { resolve({ error: call.name + " did not finish within " + limit + " ms" }); }, limit);
      Promise.resolve()
        .then(function () { return fn(call.arguments || {}); })
        .then(function (result) {
          clearTimeout(timer);
          try { resolve({ result: JSON.parse(JSON.stringify(result === undefined ? null : result)) }); }
          catch (e) { resolve({ error: call.name + " returned something that is not JSON" }); }
        }, function (e) {
          clearTimeout(timer);
          resolve({ error: String((e && e.message) || e || "failed") });
        });
    });
  }

  /** A text answer's page action: run it and POST its result beside the messages URL. */
  function answerPageAction(s, call) {
    if (!s || !call || !call.call_id) return;
    runPageAction(call).then(function (answer) {
      answer.call_id = call.call_id;
      return fetch(s.messages_url.replace(/\/messages$/, "/tool-results"), {
        method: "POST",
        headers: { Authorization: "Bearer " + s.session_token, "Content-Type": "application/json" },
        body: JSON.stringify(answer),
      });
    }).catch(function () { /* the agent hears a timeout instead */ });
  }

  window.voxgateWidget = window.voxgateWidget || {};
  window.voxgateWidget[widgetId] = { version: VERSION, open: function () { toggle(true); } };
  mount();
})();
