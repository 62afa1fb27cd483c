"""Where files live: URI parsing, allowed roots, streaming reads and atomic writes."""

from genejobs.storage.locations import Location, parse_uri
from genejobs.storage.store import FileInfo, Storage

__all__ = ["FileInfo", "Location", "Storage", "parse_uri"]
