//! A loopback TCP proxy that can cut a process off from a server the way a network partition
//! does: [`CutProxy::cut`] drops every live connection and black-holes new ones (they are
//! accepted but nothing is ever forwarded or answered), so the client sees hangs and timeouts,
//! not refusals. [`CutProxy::heal`] forwards again. Stops when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    /// Bumped on every cut: live connections end when it changes.
    epoch: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    cut: AtomicBool,
    forwarded: AtomicU64,
    black_holed: AtomicU64,
}

impl CutProxy {
    /// Listen on 127.0.0.1 (a free port) and forward to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        anyhow::ensure!(upstream.ip().is_loopback(), "the proxy only forwards to loopback");
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            cut: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            black_holed: AtomicU64::new(0),
        });
        let (epoch, _) = watch::channel(0u64);
        let task = {
            let state = state.clone();
            let epoch = epoch.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let state = state.clone();
                    let mut epoch = epoch.subscribe();
                    tokio::spawn(async move {
                        if state.cut.load(Ordering::SeqCst) {
                            state.black_holed.fetch_add(1, Ordering::SeqCst);
                            // Hold the socket, read nothing, answer nothing, until healed
                            // (then drop it: the client reconnects) or the proxy stops.
                            let _held = client;
                            while state.cut.load(Ordering::SeqCst) {
                                if epoch.changed().await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                        state.forwarded.fetch_add(1, Ordering::SeqCst);
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = epoch.changed() => {}
                        }
                    });
                }
            })
        };
        Ok(Self {
            addr,
            state,
            epoch,
            task,
        })
    }

    /// `host:port` to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drop every live connection; new ones hang.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Forward new connections again (black-holed ones are closed).
    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Connections forwarded, connections black-holed.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.state.forwarded.load(Ordering::SeqCst),
            self.state.black_holed.load(Ordering::SeqCst),
        )
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
        // Ends every connection task (they wait on the epoch).
        self.state.cut.store(false, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }
}
