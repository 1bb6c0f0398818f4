//! TODO(rx): filled in by its owner.
