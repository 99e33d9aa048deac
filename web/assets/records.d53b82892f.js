// "Your records": the signed-in user's records (GET /user/{id}/records, newest first), each
// with a player that seeks (the <audio> element asks the gateway for byte ranges), its
// waveform when the service has peaks for it, download, delete (after a confirmation) and
// its metadata.

import { account, onAccountChange, signOut } from "./account.9cd36052d3.js";
import { deleteRecord, listRecords, peaksUrl, ProblemError, recordUrl } from "./api.892a67766b.js";
import {
  announce,
  byId,
  bytes,
  channelsText,
  clock,
  codecText,
  dateTime,
  duration,
  fill,
  fromTemplate,
} from "./dom.5bf9c47b90.js";
import { onUploaded } from "./upload.86a0cca6bf.js";
import { drawWaveform, loadPeaks } from "./waveform.5bc7ca2933.js";

const PAGE_SIZE = 20;
const WAVE_HEIGHT_CSS_PX = 56;
const MAX_PEAK_PIXELS = 2000;

let total = 0;
let loaded = 0;
let generation = 0; // a newer listing (sign-in, sign-out) makes older answers moot
const players = new Map(); // record id -> player state

// --- metadata in words ---

function inputText(input) {
  if (!input) return "—";
  const parts = [input.container, codecText(input.codec)];
  if (input.sample_rate) parts.push(`${input.sample_rate / 1000} kHz`);
  if (input.channels) parts.push(channelsText(input.channels));
  if (input.size_bytes) parts.push(bytes(input.size_bytes));
  return parts.filter(Boolean).join(" · ");
}

function outputText(output) {
  if (!output) return "—";
  const kbps = output.mean_bitrate_kbps || output.bitrate_kbps;
  const mode = output.mode ? ` ${String(output.mode).toUpperCase()}` : "";
  const parts = [];
  if (kbps) parts.push(`${Math.round(kbps)} kbps${mode}`);
  if (output.sample_rate) parts.push(`${output.sample_rate / 1000} kHz`);
  if (output.channels) parts.push(channelsText(output.channels));
  if (output.size_bytes) parts.push(bytes(output.size_bytes));
  return parts.join(" · ");
}

const firstNumber = (source, names) =>
  names.map((name) => source && source[name]).find((v) => typeof v === "number");

// Loudness arrives with the exact-MP3 work; shown when the record has it, whatever its form.
function loudnessText(record) {
  const source = record.loudness || (record.output && record.output.loudness) || record;
  const integrated = firstNumber(source, ["integrated_lufs", "integrated", "lufs", "loudness_lufs"]);
  if (integrated === undefined) return null;
  const parts = [`${integrated.toFixed(1)} LUFS`];
  const range = firstNumber(source, ["range_lu", "loudness_range_lu", "lra"]);
  if (range !== undefined) parts.push(`range ${range.toFixed(1)} LU`);
  const peak = firstNumber(source, ["true_peak_dbtp", "true_peak", "peak_dbtp"]);
  if (peak !== undefined) parts.push(`true peak ${peak.toFixed(1)} dBTP`);
  return parts.join(" · ");
}

const titleOf = (record) => record.original_filename || record.filename;

// --- the player ---

function setupPlayer(item, record) {
  const audio = item.querySelector("audio");
  const button = item.querySelector(".play-button");
  const seek = item.querySelector(".seek");
  const canvas = item.querySelector(".waveform");
  const title = titleOf(record);
  const state = { item, audio, canvas, peaks: null, length: record.duration_s };
  players.set(record.record_id, state);

  audio.src = recordUrl(record);
  seek.max = String(record.duration_s);
  seek.setAttribute("aria-label", `Position in ${title}`);
  button.setAttribute("aria-label", `Play ${title}`);

  const showTime = () => {
    const now = audio.currentTime || 0;
    fill(item, { time: `${clock(now)} / ${clock(state.length)}` });
    seek.value = String(now);
    seek.setAttribute("aria-valuetext", `${clock(now)} of ${clock(state.length)}`);
    if (state.peaks) redraw(state);
  };
  showTime();

  button.addEventListener("click", async () => {
    if (!audio.paused) {
      audio.pause();
      return;
    }
    try {
      await audio.play();
    } catch (error) {
      if (error.name !== "AbortError") announce(`${title} cannot be played: ${error.message}`);
    }
  });
  audio.addEventListener("play", () => {
    for (const other of players.values()) if (other.audio !== audio) other.audio.pause();
    item.classList.add("is-playing");
    button.setAttribute("aria-label", `Pause ${title}`);
  });
  audio.addEventListener("pause", () => {
    item.classList.remove("is-playing");
    button.setAttribute("aria-label", `Play ${title}`);
  });
  audio.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(audio.duration) && audio.duration > 0) {
      state.length = audio.duration;
      seek.max = String(audio.duration);
    }
    showTime();
  });
  audio.addEventListener("timeupdate", showTime);
  audio.addEventListener("seeked", showTime);
  audio.addEventListener("error", () => {
    if (audio.error) fill(item, { time: "Cannot be played" });
  });
  seek.addEventListener("input", () => {
    audio.currentTime = Number(seek.value);
    showTime();
  });
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * state.length;
    showTime();
  });
}

function redraw(state) {
  const progress = state.length > 0 ? (state.audio.currentTime || 0) / state.length : 0;
  drawWaveform(state.canvas, state.peaks, { progress });
}

function sizeCanvas(state) {
  const cssWidth = state.canvas.parentElement.clientWidth;
  const ratio = window.devicePixelRatio || 1;
  state.canvas.width = Math.max(1, Math.round(cssWidth * ratio));
  state.canvas.height = Math.round(WAVE_HEIGHT_CSS_PX * ratio);
  return cssWidth;
}

async function showWaveform(record) {
  const state = players.get(record.record_id);
  const cssWidth = sizeCanvas(state);
  const pixels = Math.max(1, Math.min(MAX_PEAK_PIXELS, Math.round(cssWidth)));
  let peaks = null;
  try {
    peaks = await loadPeaks(peaksUrl(record, pixels));
  } catch {
    peaks = null; // a damaged answer is drawn as nothing, like a missing one
  }
  if (!peaks || !players.has(record.record_id)) return;
  state.peaks = peaks;
  state.canvas.hidden = false;
  state.item.classList.add("has-waveform");
  sizeCanvas(state);
  redraw(state);
  state.canvas.dataset.state = "drawn";
}

const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const state = players.get(entry.target.closest(".record").dataset.recordId);
    if (state && state.peaks) {
      sizeCanvas(state);
      redraw(state);
    }
  }
});

// --- the list ---

function renderRecord(record) {
  const item = fromTemplate("record-template");
  const title = titleOf(record);
  item.dataset.recordId = record.record_id;
  fill(item, {
    title,
    date: dateTime(record.created_at),
    duration: duration(record.duration_s),
    input: inputText(record.input),
    output: outputText(record.output),
  });
  item.querySelector("time").dateTime = record.created_at;
  const loudness = loudnessText(record);
  if (loudness) {
    fill(item, { loudness });
    item.querySelector(".loudness").hidden = false;
  }
  const download = item.querySelector(".download");
  download.href = recordUrl(record);
  download.setAttribute("download", record.filename);
  download.setAttribute("aria-label", `Download ${title} as MP3`);
  const remove = item.querySelector(".delete");
  remove.setAttribute("aria-label", `Delete ${title}`);
  remove.addEventListener("click", () => confirmDelete(record, item));
  setupPlayer(item, record);
  return item;
}

function updateCount() {
  byId("records-count").textContent = total === 1 ? "1 record" : `${total} records`;
  byId("records-empty").hidden = total > 0;
  byId("records-more").hidden = loaded >= total;
}

function addRecords(records, { atTop = false } = {}) {
  const list = byId("record-list");
  for (const record of records) {
    if (players.has(record.record_id)) continue;
    const item = renderRecord(record);
    if (atTop) list.prepend(item);
    else list.append(item);
    resizer.observe(item.querySelector(".track"));
    showWaveform(record);
  }
}

async function loadPage() {
  const who = account();
  const mine = generation;
  const button = byId("records-more");
  button.disabled = true;
  byId("records-error").hidden = true;
  try {
    const page = await listRecords(who, { limit: PAGE_SIZE, offset: loaded });
    if (mine !== generation) return;
    total = page.total;
    loaded += page.items.length;
    addRecords(page.items);
    updateCount();
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof ProblemError && error.status === 401) {
      signOut("Your saved sign-in is no longer valid. Create an account or sign in again.");
      return;
    }
    byId("records-error").textContent = `Your records could not be loaded. ${error.message}`;
    byId("records-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function reset() {
  generation += 1;
  for (const state of players.values()) state.audio.pause();
  players.clear();
  resizer.disconnect();
  byId("record-list").replaceChildren();
  total = 0;
  loaded = 0;
}

// --- delete ---

function confirmDelete(record, item) {
  const dialog = byId("confirm-delete");
  fill(dialog, { name: titleOf(record) });
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "delete") {
      item.querySelector(".delete").focus();
      return;
    }
    await removeRecord(record, item);
  };
  dialog.showModal();
}

async function removeRecord(record, item) {
  const title = titleOf(record);
  try {
    await deleteRecord(account(), record);
  } catch (error) {
    if (!(error instanceof ProblemError && error.status === 404)) {
      announce(`${title} was not deleted. ${error.message}`);
      item.querySelector(".delete").focus();
      return;
    }
  }
  const state = players.get(record.record_id);
  if (state) {
    state.audio.pause();
    state.audio.removeAttribute("src");
    state.audio.load();
  }
  players.delete(record.record_id);
  const next = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  total = Math.max(0, total - 1);
  loaded = Math.max(0, loaded - 1);
  updateCount();
  announce(`Deleted ${title}.`);
  (next ? next.querySelector(".play-button") : byId("records-title")).focus();
}

export function initRecords() {
  byId("records-more").addEventListener("click", loadPage);
  onUploaded((record) => {
    const who = account();
    if (!who || who.userId !== record.user_id || players.has(record.record_id)) return;
    total += 1;
    loaded += 1;
    addRecords([record], { atTop: true });
    updateCount();
  });
  const show = (who) => {
    reset();
    byId("records").hidden = !who;
    byId("add-audio").hidden = !who;
    if (who) loadPage();
  };
  onAccountChange(show);
  show(account());
}
