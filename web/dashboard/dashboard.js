// voxgate dashboard: the little script the server-rendered pages use. Copy buttons, backend
// fields that show for the chosen backend, and the live preview of a widget's appearance.
"use strict";

function copyButtons() {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var status = document.querySelector('[data-copied-for="' + button.dataset.copy + '"]');
      var text = source ? source.textContent : "";
      var done = function (ok) { if (status) status.textContent = ok ? "Copied." : "Select the text and copy it."; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
  });
}

function conditionalFields() {
  document.querySelectorAll("[data-when]").forEach(function (block) {
    var parts = block.dataset.when.split("=");
    var select = document.getElementById(parts[0]);
    if (!select) return;
    var sync = function () { block.hidden = select.value !== parts[1]; };
    select.addEventListener("change", sync);
    sync();
  });
}

// Blocks shown for every value but the listed ones: data-when-not="field=a,b".
function conditionalFieldsNot() {
  document.querySelectorAll("[data-when-not]").forEach(function (block) {
    var parts = block.dataset.whenNot.split("=");
    var select = document.getElementById(parts[0]);
    if (!select) return;
    var hidden = parts[1].split(",");
    var sync = function () { block.hidden = hidden.indexOf(select.value) >= 0; };
    select.addEventListener("change", sync);
    sync();
  });
}

function livePreview() {
  var form = document.querySelector("[data-live-preview]");
  var mock = document.querySelector("[data-mock]");
  if (!form || !mock) return;
  var panel = mock.querySelector("[data-mock-panel]");
  var title = mock.querySelector("[data-mock-title]");
  var launcher = mock.querySelector("[data-mock-launcher]");
  var bubble = mock.querySelector("[data-mock-greeting]");
  var greeting = document.getElementById("content.greeting");
  var field = function (name) { var el = form.elements.namedItem(name); return el ? el.value : ""; };
  var color = function (value, fallback) { return /^#[0-9a-fA-F]{6}$/.test(value) ? value : fallback; };
  var render = function () {
    var primary = color(field("appearance.primary_color"), "#1f6feb");
    title.textContent = field("appearance.title");
    title.style.background = primary;
    launcher.style.background = primary;
    panel.style.background = color(field("appearance.background_color"), "#ffffff");
    panel.style.color = color(field("appearance.text_color"), "#1f2328");
    var left = field("appearance.position") === "bottom-left";
    mock.classList.toggle("left", left);
    mock.classList.toggle("right", !left);
    // The widget's own greeting as typed, else the agent's, as the widget will show it.
    if (bubble && greeting) bubble.textContent = greeting.value.trim() || bubble.dataset.agentGreeting;
  };
  form.addEventListener("input", render);
  form.addEventListener("change", render);
  if (greeting) greeting.addEventListener("input", render);
  render();
}

// A conversation's recordings: a line's time plays its call's recording from there, and the
// line being heard is marked as the recording plays.
function recordings() {
  document.querySelectorAll("[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      var player = document.querySelector('[data-player="' + button.dataset.seek + '"]');
      if (!player) return;
      player.currentTime = parseFloat(button.dataset.seekAt) || 0;
      var played = player.play();
      if (played && played.catch) played.catch(function () {});
    });
  });
  document.querySelectorAll("[data-player]").forEach(function (player) {
    var lines = Array.prototype.slice.call(document.querySelectorAll('[data-call="' + player.dataset.player + '"]'));
    player.addEventListener("timeupdate", function () {
      var current = null;
      lines.forEach(function (line) {
        if (parseFloat(line.dataset.at) <= player.currentTime) current = line;
      });
      lines.forEach(function (line) {
        if (line === current) line.setAttribute("aria-current", "true");
        else line.removeAttribute("aria-current");
      });
    });
  });
}

function focusFirstError() {
  var invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
}

document.addEventListener("DOMContentLoaded", function () {
  copyButtons();
  conditionalFields();
  conditionalFieldsNot();
  livePreview();
  recordings();
  focusFirstError();
});
