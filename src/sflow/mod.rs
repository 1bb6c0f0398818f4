//! TODO(sflow): filled in by its owner.
