//! Fuzz the sampled-header decoder: any header protocol, any bytes. It must not panic, and
//! what it reports must lie inside the bytes it was given.
#![no_main]

use flowsift::packet::decode_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let protocol = match selector % 4 {
        0 => 1,
        1 => 11,
        2 => 12,
        _ => u32::from(selector),
    };
    let d = decode_header(protocol, bytes);
    if let Some(off) = d.network_offset {
        assert!(usize::from(off) < bytes.len());
    }
    if let Some(off) = d.transport_offset {
        assert!(usize::from(off) <= bytes.len());
        assert!(d.network_offset.is_some_and(|n| n < off));
    }
});
