"""Decibel and linear conversions."""

from __future__ import annotations

import numpy as np


def db_to_linear(db: float | np.ndarray) -> float | np.ndarray:
    """Amplitude ratio for a level in dB: ``10 ** (db / 20)``."""
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 20.0) if np.ndim(db) else 10.0 ** (float(db) / 20.0)


def linear_to_db(linear: float | np.ndarray, floor_db: float = -np.inf) -> float | np.ndarray:
    """Level in dB of an amplitude ratio: ``20 log10(|linear|)``, never below ``floor_db``.

    Zero gives ``floor_db`` (``-inf`` by default) without a warning.
    """
    magnitude = np.abs(np.asarray(linear, dtype=np.float64))
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(magnitude)
    db = np.maximum(db, floor_db)
    return float(db) if np.ndim(db) == 0 else db


def power_to_db(power: float | np.ndarray, floor_db: float = -np.inf) -> float | np.ndarray:
    """Level in dB of a power ratio: ``10 log10(power)``, never below ``floor_db``."""
    power = np.asarray(power, dtype=np.float64)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power)
    db = np.maximum(db, floor_db)
    return float(db) if np.ndim(db) == 0 else db
