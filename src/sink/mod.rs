//! TODO(sink): filled in by its owner.
