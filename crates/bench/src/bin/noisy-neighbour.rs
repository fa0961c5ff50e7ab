//! A noisy neighbour for the test suite, as a busy CI machine has one: it keeps one core busy
//! and keeps a few thousand ephemeral loopback ports bound for a moment at a time (bind only,
//! no traffic), so any test that picks a "free" port and binds it later loses the race.
//! `tests/under-load.sh` runs the suite beside it; it stops by itself after `--seconds`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seconds = arg("--seconds", 3600);
    let ports = arg("--ports", 3000) as usize;
    let hold = Duration::from_millis(arg("--hold-ms", 200));
    let deadline = Instant::now() + Duration::from_secs(seconds);

    // One core busy.
    std::thread::spawn(move || {
        let mut x: u64 = 1;
        while Instant::now() < deadline {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
        }
    });

    // Ports: TCP and UDP, on 127.0.0.1 and on the wildcard, bound to port 0 and held a moment.
    let mut rounds = 0u64;
    let mut held_max = 0usize;
    while Instant::now() < deadline {
        let mut tcp = Vec::with_capacity(ports);
        let mut udp = Vec::with_capacity(ports / 4);
        for i in 0..ports {
            let ip = if i % 4 == 3 {
                Ipv4Addr::UNSPECIFIED
            } else {
                Ipv4Addr::LOCALHOST
            };
            // std's TcpListener::bind also listens; a listening socket holds its port exactly
            // as a bound one does, and nothing connects to it.
            if let Ok(l) = TcpListener::bind(SocketAddr::from((ip, 0))) {
                tcp.push(l);
            }
            if i % 4 == 0
                && let Ok(u) = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            {
                udp.push(u);
            }
        }
        held_max = held_max.max(tcp.len() + udp.len());
        std::thread::sleep(hold);
        drop(tcp);
        drop(udp);
        rounds += 1;
        if rounds.is_multiple_of(100) {
            eprintln!("noisy-neighbour: {rounds} rounds, up to {held_max} ports held at once");
        }
    }
}
