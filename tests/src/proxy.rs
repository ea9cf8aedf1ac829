//! A TCP proxy on loopback that can freeze: it forwards bytes between its
//! clients and one upstream address until told to stop, and then simply
//! stops — connections stay open, nothing is closed, nothing flows. That is
//! what a dead NAT entry or a stalled peer looks like to the runner: a
//! connection that is up and silent.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tests::proxy::Proxy;
//!
//! let proxy = Proxy::start("127.0.0.1:7420".parse()?).await?;
//! // point the runner at proxy.endpoint() instead of the engine …
//! proxy.freeze_existing(); // open connections go silent, new ones work
//! proxy.freeze_all();      // new connections hang too (accepted, never forwarded)
//! proxy.thaw();            // new connections work again (frozen ones stay frozen)
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether new connections are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    Forward,
    Hang,
}

#[derive(Debug)]
struct Shared {
    /// Incremented to freeze every connection opened before.
    epoch: watch::Sender<u64>,
    admit: Mutex<Admit>,
    accepted: AtomicU64,
}

/// A freezable TCP proxy; dropping it stops accepting and ends its tasks.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("proxy bind")?;
        let addr = listener.local_addr()?;
        let (epoch, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            epoch,
            admit: Mutex::new(Admit::Forward),
            accepted: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Ok(Proxy {
            addr,
            shared,
            accept,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` URL of the proxy, to use as the runner's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Every connection open now stops forwarding (in both directions),
    /// without being closed. New connections are still forwarded.
    pub fn freeze_existing(&self) {
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    /// Like [`freeze_existing`](Self::freeze_existing), and new connections
    /// are accepted but never forwarded: a full partition.
    pub fn freeze_all(&self) {
        *self.shared.admit.lock().unwrap_or_else(|e| e.into_inner()) = Admit::Hang;
        self.freeze_existing();
    }

    /// New connections are forwarded again. Frozen connections stay frozen
    /// (as a dead path stays dead); the runner must notice and reconnect.
    pub fn thaw(&self) {
        *self.shared.admit.lock().unwrap_or_else(|e| e.into_inner()) = Admit::Forward;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task holds the last other reference to the epoch
        // sender: once both are gone, every connection task ends.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let admit = *shared.admit.lock().unwrap_or_else(|e| e.into_inner());
        let epoch = shared.epoch.subscribe();
        tokio::spawn(connection(client, upstream, admit, epoch));
    }
}

/// One proxied connection: forwards until the epoch moves, then holds both
/// sockets open, silent, until the proxy is dropped.
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    admit: Admit,
    mut epoch: watch::Receiver<u64>,
) {
    let start = *epoch.borrow_and_update();
    if admit == Admit::Hang {
        let _held = client;
        return hold(&mut epoch).await;
    }
    let Ok(Ok(server)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream)).await
    else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let forward = async {
        tokio::join!(
            pump(&mut client_read, &mut server_write),
            pump(&mut server_read, &mut client_write)
        )
    };
    let moved = async {
        while epoch.changed().await.is_ok() {
            if *epoch.borrow() != start {
                return true;
            }
        }
        false
    };
    let frozen = tokio::select! {
        _ = forward => false,
        frozen = moved => frozen,
    };
    if frozen {
        // The halves stay alive (open, silent) until the proxy goes.
        hold(&mut epoch).await;
    }
}

/// Waits until the proxy is dropped.
async fn hold(epoch: &mut watch::Receiver<u64>) {
    while epoch.changed().await.is_ok() {}
}

/// Copies one direction until EOF or an error, then shuts the write side.
async fn pump(from: &mut tokio::net::tcp::OwnedReadHalf, to: &mut tokio::net::tcp::OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
