//! Local time as the syslog timestamps print it: the C library's `localtime_r`, so `TZ`
//! and /etc/localtime apply as for every other program on the host (sFlow-RT, a JVM,
//! also prints local time).
//!
//! A [`Formatter`](super::Formatter) converts at most once per second (it caches the
//! broken-down time of the current second); the digits are written here without
//! `core::fmt`.

/// Broken-down local time, the part of `struct tm` the formats print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in seconds, east positive.
    pub utc_offset: i32,
}

impl LocalTime {
    /// Convert with the C library's `localtime_r`, so `TZ` and /etc/localtime apply as for
    /// every other program on the host (sFlow-RT, a JVM, also prints local time).
    pub fn from_epoch(secs: i64) -> LocalTime {
        let t = secs as libc::time_t;
        // SAFETY: all-zero bytes are a valid `struct tm` (integers and a null pointer).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: `t` and `tm` are valid for the duration of the call; localtime_r is the
        // thread-safe variant and writes only into `tm`.
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        if !ok {
            return LocalTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                utc_offset: 0,
            };
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1).clamp(1, 12) as u8,
            day: tm.tm_mday.clamp(1, 31) as u8,
            hour: tm.tm_hour.clamp(0, 23) as u8,
            minute: tm.tm_min.clamp(0, 59) as u8,
            // 60 is a leap second; RFC 3164 allows it.
            second: tm.tm_sec.clamp(0, 60) as u8,
            utc_offset: i32::try_from(tm.tm_gmtoff).unwrap_or(0),
        }
    }

    /// `Mmm dd HH:MM:SS`, day space-padded (RFC 3164 TIMESTAMP): always 15 bytes.
    pub fn rfc3164(&self) -> [u8; 15] {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let mut s = *b"Jan  1 00:00:00";
        s[0..3].copy_from_slice(MONTHS[usize::from(self.month.clamp(1, 12) - 1)]);
        let d = self.day;
        s[4] = if d >= 10 { b'0' + d / 10 } else { b' ' };
        s[5] = b'0' + d % 10;
        two_digits(&mut s[7..9], self.hour);
        two_digits(&mut s[10..12], self.minute);
        two_digits(&mut s[13..15], self.second);
        s
    }
}

/// `n` (0..=99) as two decimal digits.
pub(super) fn two_digits(out: &mut [u8], n: u8) {
    out[0] = b'0' + (n / 10) % 10;
    out[1] = b'0' + n % 10;
}

/// Read `TZ` again: glibc's `localtime_r` reads it only once unless `tzset` runs, so a
/// formatter calls this when it is made, and a `TZ` set by the operator before start-up is
/// honoured.
pub(super) fn reread_tz() {
    // SAFETY: tzset has no preconditions.
    unsafe { tzset() };
}

extern "C" {
    // Not exported by the libc crate for every target; POSIX, always present in glibc/musl.
    fn tzset();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_follows_the_c_library() {
        // 2023-11-14T22:13:20Z; compare with gmtime_r shifted by the reported offset so the
        // test holds in any TZ the machine runs with.
        let secs = 1_700_000_000;
        let local = LocalTime::from_epoch(secs);
        let shifted = secs + i64::from(local.utc_offset);
        let days = shifted.div_euclid(86_400);
        let rem = shifted.rem_euclid(86_400);
        assert_eq!(i64::from(local.hour), rem / 3600);
        assert_eq!(i64::from(local.minute), rem % 3600 / 60);
        assert_eq!(i64::from(local.second), rem % 60);
        // 19675 days after the epoch is 2023-11-14.
        let expected_day = if days == 19675 {
            14
        } else if days == 19676 {
            15
        } else {
            13
        };
        assert_eq!(local.day, expected_day);
        assert_eq!(local.month, 11);
        assert_eq!(&local.rfc3164()[..4], b"Nov ");
    }
}
