// The AudioWorklet processor of the microphone recorder. It runs on the audio rendering
// thread and hands the main thread mono 16-bit samples in blocks of about 85 ms (4096 frames
// at 48 kHz), each with its peak level for the meter. "stop" flushes the last block.

import { floatToInt16 } from "./wav.3a0db99a1d.js";

const BLOCK_FRAMES = 4096;

class PcmRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Int16Array(BLOCK_FRAMES);
    this.filled = 0;
    this.peak = 0;
    this.recording = true;
    this.port.onmessage = (event) => {
      if (event.data === "stop") {
        this.flush();
        this.recording = false;
        this.port.postMessage({ type: "stopped" });
      }
    };
  }

  flush() {
    if (this.filled === 0) return;
    const samples = this.block.slice(0, this.filled);
    this.port.postMessage({ type: "pcm", samples, peak: this.peak }, [samples.buffer]);
    this.filled = 0;
    this.peak = 0;
  }

  process(inputs) {
    if (!this.recording) return false;
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i += 1) {
        const magnitude = Math.min(1, Math.abs(channel[i]));
        if (magnitude > this.peak) this.peak = magnitude;
        this.block[this.filled] = floatToInt16(channel[i]);
        this.filled += 1;
        if (this.filled === BLOCK_FRAMES) this.flush();
      }
    }
    return true;
  }
}

registerProcessor("pcm-recorder", PcmRecorder);
