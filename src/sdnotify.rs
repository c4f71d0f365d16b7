//! The daemon's side of systemd's readiness protocol (`Type=notify`, see sd_notify(3)):
//! one datagram such as `READY=1` or `STOPPING=1` to the unix socket named by
//! `$NOTIFY_SOCKET`. Without that variable (not under systemd) nothing is sent.
//!
//! Children inherit the variable, but systemd accepts messages from the main process only
//! (`NotifyAccess=main`, the default), so a server cannot speak for the daemon.

use std::os::unix::net::UnixDatagram;

/// Sends `state` to `$NOTIFY_SOCKET` if set; errors are logged, never fatal (readiness is a
/// courtesy to the service manager, the daemon serves either way).
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let socket = socket.to_string_lossy();
    match notify_to(&socket, state) {
        Ok(()) => tracing::debug!(state, "told the service manager"),
        Err(e) => tracing::warn!(error = %e, socket = %socket, state, "sd_notify failed"),
    }
}

/// Sends `state` to the socket at `socket`: a path, or `@name` for an abstract socket.
pub fn notify_to(socket: &str, state: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), socket)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).expect("bind");
        notify_to(path.to_str().expect("utf-8"), "READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("mcp-manager-test-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        notify_to(&format!("@{name}"), "STOPPING=1").expect("send");
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STOPPING=1");

        assert!(notify_to(dir.path().join("absent").to_str().expect("utf-8"), "x").is_err());
    }
}
