// Uploads: the file picker and drag and drop (several files at once), then one row per file
// with a real progress bar (XMLHttpRequest upload progress) and the conversion's outcome.
// Two uploads run at a time; the rest wait their turn.

import { account } from "./account.9cd36052d3.js";
import { uploadRecord } from "./api.892a67766b.js";
import { announce, byId, bytes, codecText, duration, fill, fromTemplate } from "./dom.5bf9c47b90.js";

const PARALLEL_UPLOADS = 2;
const waiting = [];
let running = 0;
const uploadedListeners = new Set();

export function onUploaded(listener) {
  uploadedListeners.add(listener);
}

function describeRecord(record) {
  const input = record.input || {};
  const parts = [duration(record.duration_s)];
  if (record.output && record.output.size_bytes) parts.push(bytes(record.output.size_bytes));
  const source = input.codec ? ` (from ${input.container || "WAV"} ${codecText(input.codec)})` : "";
  return `Converted to MP3: ${parts.join(", ")}${source}.`;
}

function setRow(row, state, message) {
  row.dataset.state = state;
  fill(row, { status: message });
}

async function upload(job) {
  const { file, row } = job;
  const bar = row.querySelector("progress");
  const who = account();
  if (!who) {
    setRow(row, "error", "Not uploaded: you signed out.");
    return;
  }
  setRow(row, "uploading", "Uploading…");
  try {
    const record = await uploadRecord(who, file, {
      onProgress(loaded, total) {
        bar.max = total;
        bar.value = loaded;
        setRow(row, "uploading", `Uploading… ${Math.floor((100 * loaded) / total)} %`);
      },
      onSent() {
        bar.value = bar.max;
        setRow(row, "converting", "Uploaded. Converting to MP3…");
      },
    });
    bar.value = bar.max;
    setRow(row, "done", describeRecord(record));
    announce(`${file.name}: converted.`);
    for (const listener of uploadedListeners) listener(record);
  } catch (error) {
    bar.value = 0;
    setRow(row, "error", `Not converted. ${error.message}`);
    announce(`${file.name} was refused: ${error.message}`);
  }
}

function pump() {
  while (running < PARALLEL_UPLOADS && waiting.length > 0) {
    const job = waiting.shift();
    running += 1;
    upload(job).finally(() => {
      running -= 1;
      pump();
    });
  }
}

export function enqueueUploads(files) {
  const list = byId("upload-list");
  for (const file of files) {
    const row = fromTemplate("upload-template");
    fill(row, { name: file.name, size: bytes(file.size) });
    row.querySelector("progress").setAttribute("aria-label", `Upload of ${file.name}`);
    setRow(row, "waiting", "Waiting…");
    list.prepend(row);
    waiting.push({ file, row });
  }
  byId("uploads").hidden = false;
  pump();
}

function initDropZone(zone) {
  let depth = 0; // dragenter/dragleave also fire for the zone's children
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("is-dragging");
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("is-dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("is-dragging");
    const files = Array.from(event.dataTransfer.files || []);
    if (files.length) enqueueUploads(files);
  });
  // A file dropped next to the zone must not make the browser leave the page to open it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event) && !zone.contains(event.target)) {
        event.preventDefault();
        if (type === "dragover") event.dataTransfer.dropEffect = "none";
      }
    });
  }
}

export function initUploads() {
  const input = byId("file-input");
  input.addEventListener("change", () => {
    const files = Array.from(input.files || []);
    input.value = "";
    if (files.length) enqueueUploads(files);
  });
  initDropZone(byId("drop-zone"));
  byId("clear-uploads").addEventListener("click", () => {
    for (const row of byId("upload-list").querySelectorAll("[data-state=done], [data-state=error]")) {
      row.remove();
    }
    if (!byId("upload-list").children.length) byId("uploads").hidden = true;
  });
}
