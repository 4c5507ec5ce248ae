//! Raw SIP over UDP to the IVR, as a hostile or broken client sends it, and every response
//! that came back.

use std::{net::SocketAddr, time::Duration};
use tokio::net::UdpSocket;

pub struct Inbox {
    pub sock: UdpSocket,
    /// Every datagram received, as text, in order.
    pub seen: Vec<String>,
}

impl Inbox {
    pub async fn bind() -> Self {
        Self {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            seen: Vec::new(),
        }
    }

    /// The address the IVR answers to.
    pub fn local(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Send raw bytes to `to`.
    pub async fn send(&self, to: SocketAddr, bytes: impl AsRef<[u8]>) {
        self.sock.send_to(bytes.as_ref(), to).await.unwrap();
    }

    /// What `find` picks out of the responses, waiting up to 5 s for more to arrive.
    pub async fn wait_for<T>(&mut self, find: impl Fn(&[String]) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut buf = vec![0u8; 65_536];
        loop {
            if let Some(found) = find(&self.seen) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, self.sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => self
                    .seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                _ => return None,
            }
        }
    }
}
