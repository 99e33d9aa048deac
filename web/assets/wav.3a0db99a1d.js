// A WAV file (RIFF/WAVE, 16-bit PCM) from the samples the recorder collected, built in the
// browser: a 44-byte header, then the samples as they are (little-endian, interleaved).

const HEADER_BYTES = 44;

// chunks: Int16Array pieces of interleaved samples, in order.
export function encodeWav(chunks, sampleRate, channels = 1) {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("WAV encoding needs a little-endian machine.");
  }
  const samples = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const dataBytes = samples * 2;
  const header = new DataView(new ArrayBuffer(HEADER_BYTES));
  const ascii = (offset, text) => {
    for (let i = 0; i < text.length; i += 1) header.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, "RIFF");
  header.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  header.setUint32(16, 16, true); // size of the fmt chunk
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, channels, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * channels * 2, true); // bytes per second
  header.setUint16(32, channels * 2, true); // bytes per frame
  header.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  header.setUint32(40, dataBytes, true);
  return new Blob([header.buffer, ...chunks], { type: "audio/wav" });
}

// One float sample in [-1, 1] as a 16-bit integer (clipped; -1 -> -32768, 1 -> 32767).
// The recorder worklet imports it (worklets load ES modules too).
export function floatToInt16(sample) {
  const s = Math.max(-1, Math.min(1, sample));
  return s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
}
