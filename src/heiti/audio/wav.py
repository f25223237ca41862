"""Reading WAV files as mono float clips at one sample rate, refusing what is broken.

libsndfile reads a WAV whose data chunk was cut short without complaint (it returns the
samples that are there), so the RIFF header is checked first: a file shorter than its
declared data is refused as truncated rather than silently padded with silence.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from heiti.errors import InputError

_STREAMING_SIZES = (0, 0xFFFFFFFF, 0x7FFFF000)  # placeholders of writers that never seek back
# sample rates a WAV file may declare: resampling 1 Hz to 16 kHz multiplies the samples by
# 16,000 (and crashed soxr); 768 kHz is the highest rate audio interfaces record at
RATES = (1000, 768_000)
MAX_SECONDS = 3600.0  # longest file read whole (an hour at 16 kHz: 230 MB of float32)


def read_wav(path: Path, sample_rate: int, resample: bool = True,
             max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The samples of a mono WAV file as float32 in [-1, 1] at ``sample_rate``.

    Another sample rate is resampled (soxr, through librosa) when ``resample`` is true and
    refused otherwise; more than one channel is refused (a stereo file in a keyword folder is
    more likely a mistake than a recording to mix down). A rate outside ``RATES`` or a file
    longer than ``max_seconds`` is refused before any sample is read.
    """
    import soundfile

    check_riff(path)
    try:
        info = soundfile.info(str(path))
        if not RATES[0] <= info.samplerate <= RATES[1]:
            raise InputError(f"WAV file '{path}' declares {info.samplerate} Hz; heiti reads "
                             f"{RATES[0]:,} to {RATES[1]:,} Hz",
                             hint="remove or replace the file (or resample it, e.g. "
                                  f"'sox IN.wav -r {sample_rate} OUT.wav')")
        if info.frames > max_seconds * info.samplerate:
            raise InputError(f"WAV file '{path}' lasts {info.frames / info.samplerate:,.0f} s, "
                             f"more than the {max_seconds:g} s heiti reads from one file",
                             hint="cut it into shorter files (a wav-stream source plays a "
                                  "folder of them one after another)")
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise InputError(f"cannot read WAV file '{path}': {exc}",
                         hint="remove or replace the file") from None
    if audio.shape[1] != 1:
        raise InputError(f"WAV file '{path}' has {audio.shape[1]} channels; keyword audio must be mono",
                         hint="convert it to one channel (e.g. 'sox IN.wav -c 1 OUT.wav')")
    if len(audio) == 0:
        raise InputError(f"WAV file '{path}' holds no samples", hint="remove or replace the file")
    audio = audio[:, 0]
    if rate != sample_rate:
        if not resample:
            raise InputError(f"WAV file '{path}' is sampled at {rate} Hz, the dataset at {sample_rate} Hz",
                             hint="set 'resample: true' in the dataset parameters, or convert the file")
        import librosa

        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_riff(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose data chunk claims more bytes than the file holds."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF: libsndfile decides (and names what is wrong)
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk, length = struct.unpack("<4sI", f.read(8))
            if chunk == b"data":
                if length not in _STREAMING_SIZES and offset + 8 + length > size:
                    raise InputError(f"WAV file '{path}' is truncated: its data chunk declares "
                                     f"{length} bytes, {size - offset - 8} are present",
                                     hint="remove or replace the file")
                return
            offset += 8 + length + (length & 1)
