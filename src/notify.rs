//! systemd's readiness protocol (`sd_notify`), without libsystemd: one datagram of
//! `KEY=VALUE` lines to the unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract
//! name written with a leading `@`). Outside systemd the variable is unset and every call
//! is a no-op.
//!
//! `flowsift run` sends `READY=1` once its sockets are bound and the pipeline runs,
//! `RELOADING=1` with `MONOTONIC_USEC` (what `Type=notify-reload` in systemd 253 and later
//! checks) before applying a reload and `READY=1` after it, and `STOPPING=1` when it
//! begins to shut down (systemd.service(5), sd_notify(3)).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where `$NOTIFY_SOCKET` points, if anywhere.
pub fn socket_from_env() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Send `state` (newline-separated assignments) to `$NOTIFY_SOCKET`; Ok(false) when it is
/// not set.
pub fn notify(state: &str) -> io::Result<bool> {
    match socket_from_env() {
        Some(path) => send_to(&path, state).map(|()| true),
        None => Ok(false),
    }
}

/// Send `state` to the notify socket `path` (`@name`: abstract namespace).
pub fn send_to(path: &str, state: &str) -> io::Result<()> {
    let addr = address(path)?;
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

fn address(path: &str) -> io::Result<SocketAddr> {
    if let Some(name) = path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            return SocketAddr::from_abstract_name(name.as_bytes());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract socket names exist only on Linux",
            ));
        }
    }
    SocketAddr::from_pathname(path)
}

/// The `RELOADING=1` message: systemd 253+ wants the monotonic time with it.
pub fn reloading_state() -> String {
    format!(
        "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration",
        crate::clock::monotonic_nanos() / 1_000
    )
}

/// Log (once per call site's caller) a failure to notify; never fatal.
pub fn notify_or_log(state: &str) {
    if let Err(e) = notify(state) {
        eprintln!("flowsift: cannot notify systemd ($NOTIFY_SOCKET): {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_sockets_get_the_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("flowsift-notify-test-{}", std::process::id());
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let rx = UnixDatagram::bind_addr(&addr).unwrap();
            send_to(&format!("@{name}"), "STOPPING=1").unwrap();
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"STOPPING=1");
        }
        let r = reloading_state();
        assert!(r.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{r}");
    }
}
