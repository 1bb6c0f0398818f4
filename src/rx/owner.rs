//! Who else holds a UDP port: the check that keeps a second collector from silently sharing
//! this one's listen address.
//!
//! Every receive thread binds its own socket with `SO_REUSEPORT`, and the kernel lets any
//! process of the same user join such a group: two `flowsift run` on one port would both
//! start and split the switches' datagrams between them, each reporting half the traffic.
//! So before binding its group a collector binds the address once *without* `SO_REUSEPORT`:
//! that bind fails with `EADDRINUSE` exactly when someone already holds the address, and the
//! collector refuses to start, naming the holder when `/proc` can tell it.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

/// Bind `addr` alone for a moment. `Err` with `AddrInUse` when another socket holds it.
/// Port 0 asks the kernel for a free port, which nobody can hold: nothing to check.
pub(crate) fn check_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // As the receive sockets: `[::]:P` must not collide with an IPv4 holder of `0.0.0.0:P`.
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())
}

/// The processes holding a UDP socket on `port`, as `name (pid N)`, from `/proc`. Empty when
/// `/proc` does not say (another network namespace, no permission to read other processes'
/// descriptors).
pub(crate) fn holders(port: u16) -> Vec<String> {
    holders_in(Path::new("/proc"), port)
}

fn holders_in(proc_root: &Path, port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["net/udp", "net/udp6"] {
        if let Ok(text) = fs::read_to_string(proc_root.join(table)) {
            inodes.extend(socket_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(proc_root) else {
        return found;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .ok()
                .and_then(|l| l.to_str().and_then(socket_inode))
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            let name = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("{} (pid {pid})", name.trim()));
        }
    }
    found.sort();
    found
}

/// Inodes of the sockets bound to local `port` in a `/proc/net/udp{,6}` table, whose rows
/// read `sl local_address:PORT rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`
/// with the port in upper-case hex.
fn socket_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let local = cols.get(1)?;
            let (_, p) = local.rsplit_once(':')?;
            if u16::from_str_radix(p, 16).ok()? != port {
                return None;
            }
            cols.get(9)?.parse().ok()
        })
        .collect()
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:18C7 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0
  124: 0100007F:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0
";

    #[test]
    fn inodes_of_a_port() {
        assert_eq!(socket_inodes(UDP, 6343), vec![4242]);
        assert_eq!(socket_inodes(UDP, 514), vec![77]);
        assert!(socket_inodes(UDP, 9).is_empty());
        assert!(socket_inodes("garbage\n: : :\n", 6343).is_empty());
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[test]
    fn a_held_port_is_refused_and_its_holder_named() {
        let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let err = check_free(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // The holder is this very process, which `holders` leaves out by design; the table
        // still has the socket.
        let text = fs::read_to_string("/proc/net/udp").unwrap();
        assert!(!socket_inodes(&text, addr.port()).is_empty());
        drop(held);
        check_free(addr).unwrap();
        check_free("127.0.0.1:0".parse().unwrap()).unwrap();
    }
}
