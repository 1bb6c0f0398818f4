//! Fuzz the sampled-header decoder: any header protocol, any bytes, and any bytes inside a
//! tunnel (VXLAN, Geneve, GRE, NVGRE, IP-in-IP and IPv6-in-IP underlays put in front, so
//! that the fuzzer spends its time on the inner headers). It must not panic, what it
//! reports must lie inside the bytes it was given, and it never walks more than three
//! tunnel levels.
#![no_main]

use flowsift::packet::{decode_header, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;

/// Ethernet + IPv4 192.0.2.1 -> 192.0.2.2 of protocol `p`, before the fuzzed bytes.
fn underlay(p: u8, tunnel: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    b.extend_from_slice(&[
        0x45, 0, 0x05, 0xDC, 0, 0, 0x40, 0, 64, p, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ]);
    b.extend_from_slice(tunnel);
    b
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let wrapped;
    let (protocol, bytes) = match selector % 10 {
        0 => (1, bytes),
        1 => (11, bytes),
        2 => (12, bytes),
        3 => (u32::from(selector), bytes),
        n => {
            let (p, head): (u8, &[u8]) = match n {
                4 => (
                    17,
                    &[0xC0, 0, 0x12, 0xB5, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 1, 0],
                ),
                5 => (
                    17,
                    &[
                        0xC0, 0, 0x17, 0xC1, 0, 0, 0, 0, 0, 0, 0x65, 0x58, 0, 0, 1, 0,
                    ],
                ),
                6 => (47, &[0xB0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
                7 => (47, &[0x20, 0, 0x65, 0x58, 0, 0, 1, 0]),
                8 => (4, &[]),
                _ => (41, &[]),
            };
            wrapped = underlay(p, &[head, bytes].concat());
            (1, &wrapped[..])
        }
    };
    let d = decode_header(protocol, bytes);
    if let Some(off) = d.network_offset {
        assert!(usize::from(off) < bytes.len());
    }
    if let Some(off) = d.transport_offset {
        assert!(usize::from(off) <= bytes.len());
        assert!(d.network_offset.is_some_and(|n| n < off));
    }
    assert!(d.keys.depth() <= MAX_DEPTH);
    assert!(!d.keys.too_deep() || d.keys.depth() == MAX_DEPTH);
    for level in 1..=d.keys.depth() {
        assert!(d.level_keys(level).is_some());
    }
    assert!(d.level_keys(d.keys.depth() + 1).is_none());
});
