// Waveforms from precomputed peaks in BBC audiowaveform's JSON format, version 2 (the one
// wavesurfer.js and peaks.js load): { version: 2, channels, sample_rate, samples_per_pixel,
// bits, length, data }, where data holds, for each of `length` pixels, a (min, max) pair per
// channel, channels interleaved. Nothing here touches the page: the records list draws with
// it and the browser tests check it against fixed data.

export class PeaksFormatError extends Error {}

const isCount = (value, min) => Number.isInteger(value) && value >= min;

// The JSON checked and normalised: { channels, sampleRate, samplesPerPixel, bits, length, data }.
export function parsePeaks(json) {
  if (!json || typeof json !== "object") throw new PeaksFormatError("peaks: not an object");
  if (json.version !== 2) throw new PeaksFormatError(`peaks: version ${json.version}, not 2`);
  const { channels, sample_rate: sampleRate, samples_per_pixel: samplesPerPixel } = json;
  const { bits, length, data } = json;
  if (!isCount(channels, 1)) throw new PeaksFormatError("peaks: bad channels");
  if (!isCount(sampleRate, 1)) throw new PeaksFormatError("peaks: bad sample_rate");
  if (!isCount(samplesPerPixel, 1)) throw new PeaksFormatError("peaks: bad samples_per_pixel");
  if (bits !== 8 && bits !== 16) throw new PeaksFormatError(`peaks: ${bits} bits, not 8 or 16`);
  if (!isCount(length, 0)) throw new PeaksFormatError("peaks: bad length");
  if (!Array.isArray(data) || data.length !== length * channels * 2) {
    throw new PeaksFormatError(`peaks: ${data && data.length} values for ${length} pixels`);
  }
  const limit = bits === 8 ? 128 : 32768;
  if (!data.every((v) => Number.isInteger(v) && v >= -limit && v < limit)) {
    throw new PeaksFormatError(`peaks: a value outside ${bits}-bit range`);
  }
  return { channels, sampleRate, samplesPerPixel, bits, length, data };
}

// The duration the peaks cover, in seconds.
export const peaksDuration = (peaks) => (peaks.length * peaks.samplesPerPixel) / peaks.sampleRate;

// `width` columns of [min, max] in [-1, 1]: each column spans its share of the pixels and
// takes their lowest min and highest max over all channels. Flat [min0, max0, min1, ...].
export function columns(peaks, width) {
  const out = new Float32Array(width * 2);
  if (peaks.length === 0) return out;
  const scale = peaks.bits === 8 ? 128 : 32768;
  const step = peaks.channels * 2;
  for (let x = 0; x < width; x += 1) {
    const first = Math.floor((x * peaks.length) / width);
    const end = Math.max(first + 1, Math.floor(((x + 1) * peaks.length) / width));
    let low = Infinity;
    let high = -Infinity;
    for (let pixel = first; pixel < end; pixel += 1) {
      for (let channel = 0; channel < peaks.channels; channel += 1) {
        const at = pixel * step + channel * 2;
        low = Math.min(low, peaks.data[at]);
        high = Math.max(high, peaks.data[at + 1]);
      }
    }
    out[2 * x] = low / scale;
    out[2 * x + 1] = high / scale;
  }
  return out;
}

// Draws the waveform on the whole canvas: one bar per device pixel column from max down to
// min (a silent column is a 1-pixel line in the middle), the part before `progress` (0..1)
// in the "played" colour. Colours come from the canvas's CSS custom properties.
export function drawWaveform(canvas, peaks, { progress = 0, played, unplayed } = {}) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const style = getComputedStyle(canvas);
  const playedColour = played || style.getPropertyValue("--wave-played").trim() || "#4338ca";
  const unplayedColour = unplayed || style.getPropertyValue("--wave").trim() || "#a5b4fc";
  const bars = columns(peaks, width);
  const middle = height / 2;
  const playedUpTo = Math.round(progress * width);
  context.clearRect(0, 0, width, height);
  for (let x = 0; x < width; x += 1) {
    const top = Math.floor(middle * (1 - bars[2 * x + 1]));
    const bottom = Math.ceil(middle * (1 - bars[2 * x]));
    context.fillStyle = x < playedUpTo ? playedColour : unplayedColour;
    context.fillRect(x, Math.min(top, height - 1), 1, Math.max(1, bottom - top));
  }
}

// GET the peaks; null when there are none to draw (404: no such endpoint or no peaks for this
// record yet), so the caller draws nothing rather than something made up.
export async function loadPeaks(url, { signal } = {}) {
  const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`peaks: HTTP ${response.status}`);
  return parsePeaks(await response.json());
}
