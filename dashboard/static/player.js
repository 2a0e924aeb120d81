/* mixfarm job page: A/B listening. Every choice (master, mix, stems) plays at once, in step, and only the chosen one
   is heard, so switching keeps the position and leaves no gap. A choice with data-gain-db above 0 dB is raised by a
   Web Audio GainNode; one at or below 0 dB by the element's volume. No build step. */
"use strict";

(function () {
  const section = document.getElementById("ab");
  if (!section) return;
  const DRIFT_S = 0.05; /* how far a silent choice may wander from the heard one before it is moved back */
  const players = Array.from(section.querySelectorAll("audio[data-choice]"));
  const buttons = Array.from(section.querySelectorAll("button[data-choice]"));
  let heard = players.find((player) => !player.hidden) || players[0];
  let context = null;

  function gainDb(player) {
    return Number(player.dataset.gainDb) || 0;
  }

  /* Route a choice above 0 dB through a GainNode (once: an element can feed only one graph). */
  function raise(player) {
    if (gainDb(player) <= 0 || player.dataset.routed) return;
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext) return;
    context = context || new AudioContext();
    const gain = context.createGain();
    gain.gain.value = Math.pow(10, gainDb(player) / 20);
    context.createMediaElementSource(player).connect(gain).connect(context.destination);
    player.dataset.routed = "gain";
  }

  players.forEach((player) => {
    player.volume = gainDb(player) < 0 ? Math.pow(10, gainDb(player) / 20) : 1;
    player.muted = player !== heard;
  });

  /* Do action to every choice not heard. */
  function follow(action) {
    players.filter((player) => player !== heard).forEach(action);
  }

  /* Move a silent choice to where the heard one is, when it is paused or has wandered off. */
  function align(player) {
    if (Math.abs(player.currentTime - heard.currentTime) > DRIFT_S || heard.paused) player.currentTime = heard.currentTime;
  }

  function start() {
    players.forEach(raise);
    if (context && context.state === "suspended") context.resume();
    follow((player) => {
      align(player);
      player.play().catch(() => {});
    });
  }

  /* Only the heard choice's controls are shown, so only its events are the listener's; the others follow. */
  players.forEach((player) => {
    player.addEventListener("play", () => player === heard && start());
    player.addEventListener("pause", () => player === heard && follow((other) => other.pause()));
    player.addEventListener("seeked", () => player === heard && follow(align));
    player.addEventListener("timeupdate", () => player === heard && !heard.paused && follow(align));
  });

  function choose(key) {
    const next = players.find((player) => player.dataset.choice === key);
    if (!next || next === heard) return;
    const previous = heard;
    const playing = !previous.paused;
    raise(next);
    align(next);
    heard = next;
    next.muted = false;
    previous.muted = true;
    if (playing && next.paused) next.play().catch(() => {});
    next.hidden = false;
    previous.hidden = true;
    section.dataset.heard = key;
    buttons.forEach((button) => button.setAttribute("aria-pressed", String(button.dataset.choice === key)));
    section.querySelectorAll("[data-gain-note]").forEach((note) => (note.hidden = note.dataset.gainNote !== key));
  }

  buttons.forEach((button) => button.addEventListener("click", () => choose(button.dataset.choice)));
  section.dataset.heard = heard.dataset.choice;
})();
