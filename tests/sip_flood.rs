//! A SIP flood from many sources at once (20 loopback addresses, 127.0.1.x): each source
//! gets at most `max_calls_per_source` calls, 503 with `Retry-After` once past its rates,
//! then silence, while a caller from another address is still answered. Three rounds of
//! 4,000 requests leave the IVR's memory where the first round left it: nothing is kept per
//! refused request. (Own test binary: the resident set is the process's.)

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};
use support::{Mode, Stack};
use tokio::{net::UdpSocket, sync::watch};

const SOURCES: u8 = 20;
const PER_SOURCE: usize = 200;

fn request(method: &str, call_id: &str, local: SocketAddr, body: &str) -> String {
    format!(
        "{method} sip:hark@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:9{}@{local}>;tag=t-{call_id}\r\n\
         To: <sip:hark@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:x@{local}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        local.port(),
        body.len()
    )
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40000 RTP/AVP 0\r\n";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// What one source heard back in a round.
#[derive(Default, Debug)]
struct Heard {
    responses: usize,
    /// Calls answered (by Call-ID: an unacknowledged 200 is sent again).
    invites_ok: std::collections::HashSet<String>,
    busy: usize,
    busy_without_retry: usize,
}

/// Send `PER_SOURCE` requests (one in four an INVITE) from `sock`; what it hears back is
/// read until `done` says the round is over.
async fn flood(
    sock: Arc<UdpSocket>,
    ivr: SocketAddr,
    round: usize,
    mut done: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Heard> {
    let local = sock.local_addr().unwrap();
    let reader = {
        let sock = sock.clone();
        tokio::spawn(async move {
            let mut heard = Heard::default();
            let mut buf = vec![0u8; 65_536];
            loop {
                tokio::select! {
                    r = sock.recv_from(&mut buf) => {
                        let Ok((n, _)) = r else { break };
                        let text = String::from_utf8_lossy(&buf[..n]);
                        heard.responses += 1;
                        if text.starts_with("SIP/2.0 200")
                            && text.contains(" INVITE\r\n")
                            && let Some(id) = text.lines().find_map(|l| l.strip_prefix("Call-ID: "))
                        {
                            heard.invites_ok.insert(id.to_owned());
                        }
                        if text.starts_with("SIP/2.0 503") {
                            heard.busy += 1;
                            if !text.contains("Retry-After: ") {
                                heard.busy_without_retry += 1;
                            }
                        }
                    }
                    _ = done.changed() => break,
                }
            }
            heard
        })
    };
    // 200 requests in one second from each source (twice its request rate, ten times its
    // INVITE rate), 4,000 a second in all: paced so that the IVR, not the kernel's socket
    // buffer, is what meets the flood.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for i in 0..PER_SOURCE {
        if i % 10 == 0 {
            tick.tick().await;
        }
        let id = format!("f{round}-{}-{i}", local.ip());
        let text = if i % 4 == 0 {
            request("INVITE", &id, local, SDP)
        } else {
            request("OPTIONS", &id, local, "")
        };
        sock.send_to(text.as_bytes(), ivr).await.unwrap();
    }
    reader
}

/// An OPTIONS from the caller's own address, answered within 10 s (sent again each second,
/// as a SIP client would: a datagram may be lost while the flood fills the IVR's socket).
async fn probe(sock: &UdpSocket, ivr: SocketAddr, id: &str) -> bool {
    let local = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..10 {
        sock.send_to(request("OPTIONS", id, local, "").as_bytes(), ivr)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("SIP/2.0 200") && text.contains(&format!("Call-ID: {id}\r\n")) {
                return true;
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_many_sources_is_bounded_in_answers_and_memory() {
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.ivr.max_calls_per_source = 2;
    })
    .await;
    let ivr = stack.ivr_addr();
    let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sources = Vec::new();
    for n in 1..=SOURCES {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n));
        sources.push(Arc::new(
            UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap(),
        ));
    }
    let mut rss = Vec::new();
    for round in 0..3 {
        let (tx, rx) = watch::channel(false);
        let started = std::time::Instant::now();
        let floods: Vec<_> = sources
            .iter()
            .map(|s| tokio::spawn(flood(s.clone(), ivr, round, rx.clone())))
            .collect();
        // The caller is answered while the flood goes on.
        assert!(
            probe(&caller, ivr, &format!("probe-{round}")).await,
            "round {round}: the caller was not answered during the flood"
        );
        let mut readers = Vec::new();
        for f in floods {
            readers.push(f.await.unwrap());
        }
        // All sent; two more probes, answered after everything sent before them was read,
        // mark the end of the round's answers.
        for n in 0..2 {
            assert!(probe(&caller, ivr, &format!("probe-{round}-end{n}")).await);
        }
        tx.send(true).unwrap();
        let secs = started.elapsed().as_secs_f64().ceil() as usize + 1;
        let mut heards = Vec::new();
        for r in readers {
            heards.push(r.await.unwrap());
        }
        eprintln!(
            "round {round}: responses per source {:?}",
            heards.iter().map(|h| h.responses).collect::<Vec<_>>()
        );
        for (sock, heard) in sources.iter().zip(heards) {
            let ip = sock.local_addr().unwrap().ip();
            assert!(
                heard.invites_ok.len() <= 2,
                "round {round}, {ip}: {} calls answered; the limit is 2 at once",
                heard.invites_ok.len()
            );
            // 50 requests a second (100 at once) and 10 refusals a second (20 at once), and
            // the answered calls' repeated 200s: the rest of 200 requests meets silence.
            let most = 100 + 20 + secs * (50 + 10) + 2 * 10;
            assert!(
                heard.responses <= most.min(PER_SOURCE - 20),
                "round {round}, {ip}: {} responses to {PER_SOURCE} requests in {secs} s",
                heard.responses
            );
            assert!(
                heard.busy > 0,
                "round {round}, {ip}: never refused: {heard:?}"
            );
            assert_eq!(heard.busy_without_retry, 0, "{heard:?}");
        }
        rss.push(rss_kib());
    }
    let grew = rss[2].saturating_sub(rss[0]);
    eprintln!("resident set after each round: {rss:?} KiB; grew {grew} KiB from the first");
    assert!(
        grew < 16 * 1024,
        "three rounds of 4,000 requests grew memory by {grew} KiB: {rss:?}"
    );
    stack.stop().await;
}
