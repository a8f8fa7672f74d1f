"""Where the data minewatch ships lives: device and compliance profiles, the demo and example
configurations, JSON Schemas.

They are package data of ``minewatch`` (in a source checkout the top-level folders are linked into
``minewatch/``), found through ``importlib.resources`` so that an installed wheel works from any
working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(*parts: str) -> Path:
    """A file or folder shipped inside the ``minewatch`` package.

    Wheels install unpacked, so the resource is a real file system path (which YAML loaders,
    ``FileResponse`` and ``glob`` need).
    """
    return Path(str(files("minewatch").joinpath(*parts)))


def device_profiles_dir() -> Path:
    return shipped("device_profiles")


def compliance_profiles_dir() -> Path:
    return shipped("compliance_profiles")


def demo_config() -> Path:
    return shipped("examples", "demo", "facility.yaml")


def example_config() -> Path:
    return shipped("examples", "facility.example.yaml")
