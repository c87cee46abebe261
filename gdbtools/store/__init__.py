"""The cohort store: format, writer and reader. Imports no other gdbtools module but errors and genome."""

from .bitplanes import pack_codes, sample_mask, unpack_codes
from .reader import Block, Store, open_store
from .writer import PartitionWriter, StoreWriter

__all__ = ["Store", "Block", "open_store", "StoreWriter", "PartitionWriter", "pack_codes", "unpack_codes",
           "sample_mask"]
