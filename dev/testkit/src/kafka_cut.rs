//! A TCP proxy in front of a test's own broker that can make the broker vanish at one exact
//! moment of the Kafka protocol: when a client sends a request of a chosen API (say
//! TxnOffsetCommit, key 28), that request is dropped, every connection is closed and new ones are
//! closed on arrival, until [`KafkaCut::restore`]. A killed broker can only vanish between two
//! requests chosen by chance; this one vanishes between the two a test names.
//!
//! Clients reach the broker only through the proxy because the broker advertises the proxy's
//! address (see [`crate::private_kafka::PrivateKafka::behind_cut`]).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ports::free_port;

/// No API has this key: nothing cuts.
const NO_API: i16 = -1;

/// The Kafka API keys the tests cut on.
pub mod api {
    /// `TxnOffsetCommit`: the offsets a transaction carries, sent to the group coordinator.
    pub const TXN_OFFSET_COMMIT: i16 = 28;
}

#[derive(Default)]
struct CutState {
    dark: AtomicBool,
    cut_on: AtomicI16,
    cut_seen: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

impl CutState {
    fn go_dark(&self) {
        self.dark.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The proxy; it listens until dropped (its threads end with the process).
pub struct KafkaCut {
    port: u16,
    state: Arc<CutState>,
}

impl KafkaCut {
    /// Listens on a free port and forwards to `127.0.0.1:<broker_port>`.
    pub fn start(broker_port: u16) -> Self {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the Kafka proxy");
        let state = Arc::new(CutState::default());
        state.cut_on.store(NO_API, Ordering::SeqCst);
        let shared = state.clone();
        std::thread::Builder::new()
            .name("kafka-cut".into())
            .spawn(move || accept(listener, broker_port, shared))
            .expect("proxy thread");
        KafkaCut { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next request of API `key` makes the broker vanish (see the module's comment).
    pub fn cut_on(&self, key: i16) {
        self.state.cut_seen.store(false, Ordering::SeqCst);
        self.state.cut_on.store(key, Ordering::SeqCst);
    }

    /// Whether the cut happened (a request of the chosen API arrived).
    pub fn cut_happened(&self) -> bool {
        self.state.cut_seen.load(Ordering::SeqCst)
    }

    /// The broker is reachable again; no cut is armed.
    pub fn restore(&self) {
        self.state.cut_on.store(NO_API, Ordering::SeqCst);
        self.state.dark.store(false, Ordering::SeqCst);
    }
}

fn accept(listener: TcpListener, broker_port: u16, state: Arc<CutState>) {
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        if state.dark.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(broker) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], broker_port).into(),
            Duration::from_secs(5),
        ) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (Ok(client_copy), Ok(broker_copy)) = (client.try_clone(), broker.try_clone()) else {
            continue;
        };
        {
            let mut open = state.open.lock().unwrap_or_else(|e| e.into_inner());
            open.extend(client.try_clone());
            open.extend(broker.try_clone());
        }
        let requests = state.clone();
        std::thread::spawn(move || forward_requests(client, broker, &requests));
        std::thread::spawn(move || copy_answers(broker_copy, client_copy));
    }
}

/// Client → broker, a request frame at a time (4-byte size, then the API key first in the body),
/// so the armed request is recognised and never reaches the broker.
fn forward_requests(mut client: TcpStream, mut broker: TcpStream, state: &CutState) {
    loop {
        let mut size = [0u8; 4];
        if client.read_exact(&mut size).is_err() {
            break;
        }
        let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
        if client.read_exact(&mut body).is_err() {
            break;
        }
        let key = body
            .get(..2)
            .map(|k| i16::from_be_bytes([k[0], k[1]]))
            .unwrap_or(NO_API);
        if key != NO_API && key == state.cut_on.load(Ordering::SeqCst) {
            state.cut_seen.store(true, Ordering::SeqCst);
            state.go_dark();
            break;
        }
        if broker.write_all(&size).is_err() || broker.write_all(&body).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = broker.shutdown(Shutdown::Both);
}

fn copy_answers(mut broker: TcpStream, mut client: TcpStream) {
    let _ = std::io::copy(&mut broker, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = broker.shutdown(Shutdown::Both);
}
