//! Who is on the other end of a loopback connection (Linux): the uid owning the peer's socket,
//! read from `/proc/net/tcp` and `/proc/net/tcp6`.
//!
//! The authorization URL is visible to every local user (the browser's process arguments), so
//! another user could finish it with their own account and sign this user in as them (login
//! CSRF across users). The loopback receiver therefore accepts a callback only from a socket
//! its own uid owns. Elsewhere (macOS, Windows) no such table is read and every local
//! connection is accepted: the README says so.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The uid that owns the socket at `peer` connected to `local`, as the kernel lists it; `None`
/// when no such connection is listed (or on systems without `/proc/net`).
#[cfg(target_os = "linux")]
pub(crate) fn peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|path| {
        let table = std::fs::read_to_string(path).ok()?;
        uid_in_table(&table, peer, local)
    })
}

/// The effective uid of this process: the owner of `/proc/self` (no `unsafe` needed).
#[cfg(target_os = "linux")]
pub(crate) fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Finds, in one `/proc/net/tcp{,6}` table, the connection seen from the peer's side (its
/// local address = `peer`, its remote address = `local`) and returns the uid column. An IPv4
/// address also matches its IPv4-mapped IPv6 form (a dual-stack client socket).
pub(crate) fn uid_in_table(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (l, r, uid) = (cols.get(1)?, cols.get(2)?, cols.get(7)?);
        (same_endpoint(parse_endpoint(l)?, peer) && same_endpoint(parse_endpoint(r)?, local))
            .then(|| uid.parse().ok())
            .flatten()
    })
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

/// Parses `0100007F:1F90` (IPv4) or 32 hex digits + port (IPv6). The kernel prints each
/// 32-bit word of the address as the machine reads its network-order bytes, so the bytes come
/// back with `to_ne_bytes`; the port is printed in host order.
fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::from(word(addr)?),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    #[test]
    fn a_real_connection_of_this_uid_is_found_from_the_peer_side() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let local = listener.local_addr().unwrap();
        assert_eq!(
            peer_uid(peer, local),
            own_uid(),
            "the client socket is this process's, so its uid is ours"
        );
        assert_eq!(
            peer_uid(local, peer),
            own_uid(),
            "the server side is listed too"
        );
        let nobody = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        assert_eq!(
            peer_uid(nobody, local),
            None,
            "no connection from port 1: no uid"
        );
    }

    #[test]
    fn synthetic_lines_for_v4_and_mapped_v6() {
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v4 = u32::from_ne_bytes([127, 0, 0, 1]);
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: {v4:08X}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n\
             \x20  1: {v4:08X}:9C40 {v4:08X}:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 2\n"
        );
        assert_eq!(uid_in_table(&table, peer, local), Some(65534));
        assert_eq!(
            uid_in_table(&table, local, peer),
            None,
            "the listening socket is not the peer's connection"
        );

        let words: Vec<String> = [0u32, 0, u32::from_ne_bytes([0, 0, 0xff, 0xff]), v4]
            .iter()
            .map(|w| format!("{w:08X}"))
            .collect();
        let mapped = words.concat();
        let table6 = format!(
            "  sl  local_address rem_address st tx rx tr retr uid\n\
             \x20  0: {mapped}:9C40 {mapped}:1F90 01 00000000:00000000 00:00000000 00000000  1000 0 3\n"
        );
        assert_eq!(
            uid_in_table(&table6, peer, local),
            Some(1000),
            "a dual-stack client appears in tcp6 with a mapped address"
        );
        assert_eq!(uid_in_table("garbage\nmore garbage", peer, local), None);
    }
}
