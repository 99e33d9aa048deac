"""EBU R128 loudness (ITU-R BS.1770-4, EBU Tech 3341/3342), measured block by block.

Integrated loudness (LUFS), loudness range (LU) and true peak (dBTP) of the PCM the encoder
gets, in the same pass as the conversion and in bounded memory: 10 float64 energies a second
are kept (281 KiB an hour), nothing else grows with the length.

Why our own meter: the maintained meters either need the whole signal in memory (pyloudnorm:
gigabytes for an hour) or hold the GIL for the whole measurement and cost more than the
budget (pyebur128, whose true peak alone is ~17 % of an encode). The filtering is scipy's
(``sosfilt``, in C, without the GIL); what is here is the standard's gating arithmetic.

- K-weighting: the BS.1770 pre-filter (high shelf) and RLB high-pass, designed for the
  actual sample rate from their analogue parameters (as libebur128 does; at 48 kHz they give
  the coefficients printed in BS.1770).
- Integrated: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU.
- Range: 3 s short-term blocks every 100 ms, absolute gate -70 LUFS, relative gate -20 LU,
  then the 10th to 95th percentile.
- True peak: 4x oversampling with a 48-tap interpolator (12 taps a phase), as BS.1770
  Annex 2 describes, evaluated around the samples where a peak can be: local maxima of |x|
  within 3 dB of the peak found so far (no content below a quarter of the sample rate
  overshoots its samples by more). Evaluating everywhere would cost ~40 % of an encode;
  this costs 1.5-3 %, and equals the full evaluation on every fixture the tests try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
RANGE_RELATIVE_GATE_LU = -20.0
_LOUDNESS_OFFSET = -0.691
_SHORT_TERM_SUBBLOCKS = 30  # 3 s of 100 ms
_MOMENTARY_SUBBLOCKS = 4  # 400 ms

OVERSAMPLING = 4
_TAPS_PER_PHASE = 12
# Candidates for the true peak: local maxima of |x| within 3 dB of the peak so far, since no
# sine below a quarter of the rate overshoots its samples by more (1 / cos(pi / 4)).
MAX_OVERSHOOT = 10 ** (3 / 20)
_HISTORY = _TAPS_PER_PHASE - 1  # input samples a block's first outputs need from before it
# The two rows whose outputs lie between a candidate sample and its neighbours: row r's
# four outputs fall at r - 5.875 .. r - 5.125 (the interpolator's delay is 5.875 samples).
_ROWS_AROUND = np.array([5, 6])  # in the block's own coordinates
_WINDOW = np.arange(_TAPS_PER_PHASE) - _HISTORY


def _interpolator() -> npt.NDArray[np.float32]:
    """``(12, 4)`` matrix: a window of 12 input samples (oldest first) -> 4 outputs."""
    taps = OVERSAMPLING * _TAPS_PER_PHASE
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(n / OVERSAMPLING) * np.kaiser(taps, 8.0)
    h *= OVERSAMPLING / h.sum()
    phases = h.reshape(_TAPS_PER_PHASE, OVERSAMPLING)  # phases[j, m] = h[4j + m]
    return np.ascontiguousarray(phases[::-1], dtype=np.float32)


_INTERPOLATE = _interpolator()


def k_weighting_sos(sample_rate: int) -> FloatArray:
    """Second-order sections of the K-weighting filter at ``sample_rate``."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2 * (k * k - 1) / a0,
        (1 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def _lufs(energy: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return _LOUDNESS_OFFSET + 10 * np.log10(energy)


@dataclass(frozen=True, slots=True)
class Loudness:
    """None where there is nothing to measure (silence; LRA: shorter than 3 s)."""

    integrated_lufs: float | None
    range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak: float  # largest |sample|, 1.0 = full scale


def to_db(amplitude: float) -> float | None:
    return 20 * math.log10(amplitude) if amplitude > 0 else None


class TruePeakMeter:
    """The largest 4x-interpolated |sample| over planar float32 blocks ``(channels, frames)``."""

    def __init__(self, channels: int) -> None:
        self.peak = 0.0
        self.sample_peak = 0.0
        self._channels = channels
        self._history = np.zeros((channels, _HISTORY), dtype=np.float32)
        # Rows a candidate near a block's end needs from the next block (its coordinates).
        self._pending = [np.zeros(0, dtype=np.intp) for _ in range(channels)]

    def add(self, block: Float32Array) -> None:
        highs, lows = block.max(axis=1), block.min(axis=1)
        self.sample_peak = max(self.sample_peak, float(highs.max()), -float(lows.min()))
        threshold = np.float32(max(self.peak, self.sample_peak) / MAX_OVERSHOOT)
        for channel in range(self._channels):
            samples, history = block[channel], self._history[channel]
            rows = self._pending[channel]
            if max(highs[channel], -lows[channel]) > threshold:
                rows = np.concatenate([rows, self._candidate_rows(samples, history, threshold)])
            frames = len(samples)
            self._pending[channel] = rows[rows >= frames] - frames
            self._evaluate(samples, history, rows[rows < frames])
            tail = np.concatenate([history, samples])[-_HISTORY:] if frames < _HISTORY else samples
            self._history[channel] = tail[len(tail) - _HISTORY :]
        self.peak = max(self.peak, self.sample_peak)

    @staticmethod
    def _candidate_rows(
        samples: Float32Array, history: Float32Array, threshold: np.float32
    ) -> npt.NDArray[np.intp]:
        """Rows around the local maxima of |samples| above ``threshold``."""
        magnitude = np.abs(samples)
        at = np.flatnonzero(magnitude > threshold)  # few: sparse from here on
        before = magnitude[np.maximum(at - 1, 0)]
        before[at == 0] = abs(history[-1])
        after = magnitude[np.minimum(at + 1, len(samples) - 1)]
        after[at == len(samples) - 1] = 0.0  # unknown past the end: keep it
        peaks = at[(magnitude[at] >= before) & (magnitude[at] >= after)]
        rows: npt.NDArray[np.intp] = (peaks[:, None] + _ROWS_AROUND).ravel()
        return rows

    def _evaluate(
        self, samples: Float32Array, history: Float32Array, rows: npt.NDArray[np.intp]
    ) -> None:
        if rows.size == 0:
            return
        # Row r interpolates from the 12 inputs ending at sample r - 5 (the first rows reach
        # back into the previous block's last 11 samples).
        inputs = rows[:, None] + _WINDOW
        values = np.where(
            inputs >= 0,
            samples[np.maximum(inputs, 0)],
            history[np.clip(inputs + _HISTORY, 0, _HISTORY - 1)],
        )
        # einsum, not @: a matmul goes to OpenBLAS, whose threads spin on the other core.
        outputs = np.einsum("nj,jm->nm", values, _INTERPOLATE)
        self.peak = max(self.peak, float(np.abs(outputs).max()))


class LoudnessMeter:
    """Feed planar float32 blocks ``(channels, frames)``; ``result()`` at the end.

    ``full_scale`` is the value of a full-scale sample: 32768 for blocks of int16 values,
    1 for floats in [-1, 1].
    """

    def __init__(self, sample_rate: int, channels: int, full_scale: float = 1.0) -> None:
        # float32 filtering: half the memory traffic of float64, and its rounding (~1e-6)
        # is far below what a loudness reading resolves.
        self._sos = k_weighting_sos(sample_rate).astype(np.float32)
        self._zi = np.zeros((self._sos.shape[0], channels, 2), dtype=np.float32)
        self._subblock = (sample_rate + 5) // 10  # 100 ms, rounded as libebur128 does
        self._scale = 1 / full_scale
        self._energies: list[FloatArray] = []  # mean square of each complete 100 ms
        self._partial_sum = 0.0
        self._partial_n = 0
        self.true_peak = TruePeakMeter(channels)

    def add(self, block: Float32Array) -> None:
        weighted, self._zi = signal.sosfilt(self._sos, block, axis=-1, zi=self._zi)
        power = np.einsum("cn,cn->n", weighted, weighted)  # channel weights are all 1
        self._add_power(power)
        self.true_peak.add(block)

    def _add_power(self, power: FloatArray) -> None:
        size, start = self._subblock, 0
        if self._partial_n:
            start = min(len(power), size - self._partial_n)
            self._partial_sum += float(power[:start].sum())
            self._partial_n += start
            if self._partial_n == size:
                self._energies.append(np.array([self._partial_sum / size]))
                self._partial_sum, self._partial_n = 0.0, 0
        whole = (len(power) - start) // size
        if whole:
            chunk = power[start : start + whole * size].reshape(whole, size)
            self._energies.append(chunk.mean(axis=1, dtype=np.float64))
        rest = power[start + whole * size :]
        if rest.size:
            self._partial_sum += float(rest.sum())
            self._partial_n += rest.size

    def result(self) -> Loudness:
        energies = np.concatenate(self._energies) if self._energies else np.zeros(0)
        energies = energies * self._scale**2
        return Loudness(
            integrated_lufs=integrated_loudness(energies),
            range_lu=loudness_range(energies),
            true_peak_dbtp=to_db(self.true_peak.peak * self._scale),
            sample_peak=self.true_peak.sample_peak * self._scale,
        )


def _sliding_means(energies: FloatArray, window: int) -> FloatArray:
    if len(energies) < window:
        return np.zeros(0)
    sums: FloatArray = np.concatenate([[0.0], np.cumsum(energies)])
    means: FloatArray = np.maximum((sums[window:] - sums[:-window]) / window, 0.0)
    return means


def _gated(blocks: FloatArray, relative_gate_lu: float) -> FloatArray:
    """Block energies above -70 LUFS and above ``relative_gate_lu`` below their mean."""
    loud = blocks[_lufs(blocks) > ABSOLUTE_GATE_LUFS]
    if loud.size == 0:
        return loud
    relative_gate = float(_lufs(np.array([loud.mean()]))[0]) + relative_gate_lu
    gated: FloatArray = loud[_lufs(loud) > relative_gate]
    return gated


def integrated_loudness(energies: FloatArray) -> float | None:
    """Gated loudness of 400 ms blocks made of the 100 ms mean squares ``energies``."""
    gated = _gated(_sliding_means(energies, _MOMENTARY_SUBBLOCKS), RELATIVE_GATE_LU)
    return float(_lufs(np.array([gated.mean()]))[0]) if gated.size else None


def loudness_range(energies: FloatArray) -> float | None:
    """EBU Tech 3342 loudness range of 3 s blocks made of the 100 ms mean squares."""
    gated = _gated(_sliding_means(energies, _SHORT_TERM_SUBBLOCKS), RANGE_RELATIVE_GATE_LU)
    if gated.size == 0:
        return None
    low, high = np.percentile(_lufs(gated), [10, 95])
    return float(high - low)


@dataclass(frozen=True, slots=True)
class Normalization:
    """One gain for the whole file, towards ``target_lufs`` within ``max_true_peak_dbtp``."""

    target_lufs: float
    gain_db: float
    limited_by_true_peak: bool  # the output stays quieter than the target
    input: Loudness  # as measured before the gain


def normalization_gain(
    measured: Loudness, target_lufs: float, max_true_peak_dbtp: float
) -> Normalization:
    """The gain that reaches the target, lowered so the true peak stays within its limit.

    Silence (no integrated loudness) gets no gain.
    """
    if measured.integrated_lufs is None:
        return Normalization(target_lufs, 0.0, False, measured)
    gain = target_lufs - measured.integrated_lufs
    limited = False
    if measured.true_peak_dbtp is not None and measured.true_peak_dbtp + gain > max_true_peak_dbtp:
        gain = max_true_peak_dbtp - measured.true_peak_dbtp
        limited = True
    return Normalization(target_lufs, gain, limited, measured)
