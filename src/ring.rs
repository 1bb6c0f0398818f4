//! TODO(ring): filled in by its owner.
