"""Device profiles: what a device model is, its rated values and limits, and how to read it.

A profile is one YAML file in device_profiles/, validated by ``DeviceProfile``. Adding a device
model means adding one file here, never code.
"""

from minewatch.profiles.loader import load_facility_profiles, load_profiles
from minewatch.profiles.schema import DeviceKind, DeviceProfile, Limit, Rated

__all__ = [
    "DeviceKind",
    "DeviceProfile",
    "Limit",
    "Rated",
    "load_facility_profiles",
    "load_profiles",
]
