// Recording from the microphone: getUserMedia -> an AudioWorklet that collects 16-bit PCM
// -> a WAV file built here -> the same upload as a picked file (POST /record).
// While recording, a level meter and the elapsed time (counted in recorded samples).

import { announce, byId, clock } from "./dom.5bf9c47b90.js";
import { enqueueUploads } from "./upload.86a0cca6bf.js";
import { encodeWav } from "./wav.3a0db99a1d.js";

const WORKLET_URL = new URL("./recorder-worklet.f1b36c20f9.js", import.meta.url);
// Each meter step is the block's peak on a 60 dB scale; it falls back slowly, like a VU meter.
const METER_FLOOR_DB = -60;
const METER_FALL_PER_BLOCK = 0.08;

let session = null;

function meterValue(peak) {
  if (peak <= 0) return 0;
  const db = 20 * Math.log10(peak);
  return Math.max(0, Math.min(1, (db - METER_FLOOR_DB) / -METER_FLOOR_DB));
}

function elapsedText(seconds) {
  return `${clock(seconds)}.${Math.floor((seconds % 1) * 10)}`;
}

function setRecordingUi(recording) {
  byId("record-start").disabled = recording;
  byId("record-stop").disabled = !recording;
  byId("recorder").classList.toggle("is-recording", recording);
}

function timestampName(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const stamp =
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}-${pad(date.getMinutes())}-${pad(date.getSeconds())}`;
  return `Recording ${stamp}.wav`;
}

async function start() {
  const status = byId("record-status");
  if (!window.isSecureContext || !navigator.mediaDevices) {
    status.textContent =
      "Recording needs a secure page: open it over https, or as http://127.0.0.1 or localhost.";
    return;
  }
  setRecordingUi(true);
  status.textContent = "Asking for the microphone…";
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (error) {
    setRecordingUi(false);
    status.textContent =
      error.name === "NotAllowedError"
        ? "The browser did not allow the microphone. Allow it in the address bar and try again."
        : error.name === "NotFoundError"
          ? "No microphone was found."
          : `The microphone could not be opened (${error.name}).`;
    return;
  }
  const context = new AudioContext();
  try {
    await context.audioWorklet.addModule(WORKLET_URL);
  } catch {
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
    setRecordingUi(false);
    status.textContent = "This browser cannot record here (no AudioWorklet).";
    return;
  }
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "pcm-recorder", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    channelCount: 1,
    channelCountMode: "explicit",
    channelInterpretation: "speakers",
  });
  const chunks = [];
  let frames = 0;
  let level = 0;
  let stopped;
  const whenStopped = new Promise((resolve) => {
    stopped = resolve;
  });
  node.port.onmessage = (event) => {
    const message = event.data;
    if (message.type === "pcm") {
      chunks.push(message.samples);
      frames += message.samples.length;
      level = Math.max(meterValue(message.peak), level - METER_FALL_PER_BLOCK);
      byId("record-level").value = level;
      byId("record-time").textContent = elapsedText(frames / context.sampleRate);
    } else if (message.type === "stopped") {
      stopped();
    }
  };
  // The node writes silence; being connected to the destination keeps it rendering.
  source.connect(node).connect(context.destination);
  session = { stream, context, node, chunks, whenStopped, frames: () => frames };
  byId("record-time").textContent = elapsedText(0);
  status.textContent = "Recording… press Stop to upload it.";
  byId("record-stop").focus();
}

async function stop() {
  if (!session) return;
  const { stream, context, node, chunks, whenStopped, frames } = session;
  session = null;
  byId("record-stop").disabled = true;
  node.port.postMessage("stop");
  await whenStopped;
  stream.getTracks().forEach((track) => track.stop());
  const sampleRate = context.sampleRate;
  await context.close();
  setRecordingUi(false);
  byId("record-level").value = 0;
  byId("record-start").focus();
  const seconds = frames() / sampleRate;
  if (frames() === 0) {
    byId("record-status").textContent = "Nothing was recorded.";
    return;
  }
  const wav = encodeWav(chunks, sampleRate, 1);
  const file = new File([wav], timestampName(new Date()), { type: "audio/wav" });
  byId("record-status").textContent =
    `Recorded ${seconds.toFixed(1)} s at ${sampleRate / 1000} kHz; uploading it below.`;
  announce(`Recorded ${seconds.toFixed(1)} seconds. Uploading.`);
  enqueueUploads([file]);
}

export function initRecorder() {
  byId("record-start").addEventListener("click", start);
  byId("record-stop").addEventListener("click", stop);
}

// Signing out while recording drops the recording.
export async function cancelRecording() {
  if (!session) return;
  const { stream, context } = session;
  session = null;
  stream.getTracks().forEach((track) => track.stop());
  await context.close();
  setRecordingUi(false);
  byId("record-level").value = 0;
  byId("record-status").textContent = "";
}
