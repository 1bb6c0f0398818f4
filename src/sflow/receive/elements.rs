//! The pieces both sample walks share: fixed-offset reads, the (tag, length, body) step,
//! the sampled header's fixed part, and the error builders (cold, out of line, so that the
//! walks' straight lines hold only the checks).

use crate::sflow::datagram::Tag;
use crate::sflow::error::{DecodeError, SampleError, Structure};
use crate::sflow::layout::{element, sampled_header};

use super::Visitor;

/// The big-endian word at offset `AT` of a fixed-size array. The bound is checked at compile
/// time (the `const` block), so the read has no run-time check and cannot panic.
#[inline(always)]
pub(super) fn word<const AT: usize, const N: usize>(b: &[u8; N]) -> u32 {
    u32::from_be_bytes(array_at::<AT, 4, N>(b))
}

/// The `M` bytes at offset `AT` of a fixed-size array, checked at compile time as [`word`].
#[inline(always)]
pub(super) fn array_at<const AT: usize, const M: usize, const N: usize>(b: &[u8; N]) -> [u8; M] {
    match chunk_at::<AT, M, N>(b) {
        Some(chunk) => *chunk,
        None => [0; M],
    }
}

/// The `M` bytes at offset `AT` of a fixed-size array, borrowed. Never `None` (the bound is
/// checked at compile time), so the optimiser removes the check.
#[inline(always)]
pub(super) fn chunk_at<const AT: usize, const M: usize, const N: usize>(
    b: &[u8; N],
) -> Option<&[u8; M]> {
    const { assert!(AT + M <= N) };
    b.get(AT..)?.first_chunk::<M>()
}

/// One step of a (tag, length, body) walk over `rest`: the element's tag and body, with
/// `rest` advanced past the body and its XDR padding (the padding never past the list).
/// `None` when the envelope or the body does not fit, `rest` then unchanged, for
/// [`step_error`] to say why: the walks' loops keep only this test.
#[inline(always)]
pub(super) fn step<'a>(rest: &mut &'a [u8]) -> Option<(Tag, &'a [u8])> {
    let (envelope, body) = rest.split_first_chunk::<{ element::LEN }>()?;
    let length = word::<{ element::LENGTH }, { element::LEN }>(envelope);
    let (data, after) = body.split_at_checked(length as usize)?;
    // Lengths are nearly always whole words: the padding is skipped out of line.
    *rest = if length & 3 == 0 {
        after
    } else {
        skip_padding(after, length)
    };
    Some((
        Tag(word::<{ element::TAG }, { element::LEN }>(envelope)),
        data,
    ))
}

/// Why [`step`] gave `None` on `rest`: element `index` of the `declared` in the list.
#[cold]
#[inline(never)]
pub(super) fn step_error(rest: &[u8], what: Structure, declared: u32, index: u32) -> DecodeError {
    match rest.split_first_chunk::<{ element::LEN }>() {
        None => envelope_error(what, declared, index, rest.len()),
        Some((envelope, body)) => length_error(
            what,
            word::<{ element::LENGTH }, { element::LEN }>(envelope),
            body.len(),
        ),
    }
}

/// [`step`] with its error: element `index` of `declared`.
#[inline(always)]
pub(super) fn next_element<'a>(
    rest: &mut &'a [u8],
    what: Structure,
    declared: u32,
    index: u32,
) -> Result<(Tag, &'a [u8]), DecodeError> {
    match step(rest) {
        Some(element) => Ok(element),
        None => Err(step_error(rest, what, declared, index)),
    }
}

/// `after` past the XDR padding of a body of `length` bytes, the padding never past the list.
#[cold]
#[inline(never)]
fn skip_padding(after: &[u8], length: u32) -> &[u8] {
    let padding = (length as usize).wrapping_neg() & 3;
    after.get(padding..).unwrap_or(&[])
}

#[cold]
#[inline(never)]
pub(super) fn envelope_error(
    what: Structure,
    declared: u32,
    found: u32,
    available: usize,
) -> DecodeError {
    if available == 0 {
        DecodeError::CountOverrun {
            what,
            declared,
            found,
        }
    } else {
        DecodeError::Truncated {
            what,
            needed: 8,
            available,
        }
    }
}

#[cold]
#[inline(never)]
pub(super) fn length_error(what: Structure, declared: u32, available: usize) -> DecodeError {
    DecodeError::LengthOverrun {
        what,
        declared,
        available,
    }
}

#[cold]
#[inline(never)]
pub(super) fn truncated(what: Structure, needed: usize, available: usize) -> DecodeError {
    DecodeError::Truncated {
        what,
        needed,
        available,
    }
}

#[cold]
#[inline(never)]
pub(super) fn envelope_failed<V: Visitor>(visitor: &mut V, index: u32, error: DecodeError) {
    visitor.sample_error(&SampleError {
        index,
        tag: None,
        error,
    });
}

#[cold]
#[inline(never)]
pub(super) fn sample_failed<V: Visitor>(visitor: &mut V, index: u32, tag: Tag, error: DecodeError) {
    visitor.sample_error(&SampleError {
        index,
        tag: Some(tag),
        error,
    });
}

/// A sampled-header record (flow format 1): its fixed part and its bytes, checked to fit.
#[derive(Clone, Copy)]
pub(super) struct Header<'a> {
    pub protocol: u32,
    pub frame_length: u32,
    pub bytes: &'a [u8],
}

#[inline(always)]
pub(super) fn sampled_header(data: &[u8]) -> Result<Header<'_>, DecodeError> {
    let Some((f, rest)) = data.split_first_chunk::<{ sampled_header::LEN }>() else {
        return Err(truncated(
            Structure::Record,
            sampled_header::LEN,
            data.len(),
        ));
    };
    let length = word::<{ sampled_header::HEADER_LENGTH }, { sampled_header::LEN }>(f);
    let Some(bytes) = rest.get(..length as usize) else {
        return Err(length_error(Structure::Record, length, rest.len()));
    };
    Ok(Header {
        protocol: word::<{ sampled_header::PROTOCOL }, { sampled_header::LEN }>(f),
        frame_length: word::<{ sampled_header::FRAME_LENGTH }, { sampled_header::LEN }>(f),
        bytes,
    })
}
