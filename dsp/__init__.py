"""mixfarm's signal processing library.

Pure signal processing on numpy arrays shaped ``(frames, channels)``. It knows
nothing of Ray, sessions or HTTP. Every stateful effect is resumable: see
:mod:`dsp.effect`.
"""
