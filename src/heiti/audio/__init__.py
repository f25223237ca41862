"""Audio for keyword spotting: reading WAV files, fixed-length clips, speech synthesis
and the MFCC / log-mel features that models consume (see docs/keyword-spotting.md)."""
