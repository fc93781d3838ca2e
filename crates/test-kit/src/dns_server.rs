//! A tiny authoritative DNS server for tests: UDP and TCP on one free port of 127.0.0.1, holding
//! a mutable, in-memory set of CNAME records.
//!
//! A name with a CNAME answers every query type with that CNAME (TTL 0, authoritative); any other
//! name answers NXDOMAIN. Dropping the server stops it.
#![allow(dead_code)]

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::CNAME;
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Records = Arc<Mutex<BTreeMap<String, String>>>;

/// A running test DNS server.
pub struct DnsServer {
    addr: SocketAddr,
    records: Records,
    queries: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DnsServer {
    /// Bind UDP and TCP on the same free port of 127.0.0.1 and serve on the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let records = Records::default();
        let queries = Arc::new(AtomicU64::new(0));
        let mut server = Server::new(Handler {
            records: records.clone(),
            queries: queries.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Ok(Self {
            addr,
            records,
            queries,
            task,
        })
    }

    /// Where to send queries (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Make `host` a CNAME to `target` (replacing any previous one). Names are case-insensitive
    /// and may end with a dot.
    pub fn set_cname(&self, host: &str, target: &str) {
        self.records
            .lock()
            .unwrap()
            .insert(normalize(host), normalize(target));
    }

    /// Remove `host`'s record: it answers NXDOMAIN again. True when it had one.
    pub fn remove(&self, host: &str) -> bool {
        self.records.lock().unwrap().remove(&normalize(host)).is_some()
    }

    /// Queries answered so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Dropping the server aborts its UDP and TCP tasks.
        self.task.abort();
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A UDP socket and a TCP listener on the same free port (retrying if TCP's is taken).
async fn bind_pair() -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let addr = udp.local_addr()?;
        match tokio::net::TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

struct Handler {
    records: Records,
    queries: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let answer = match request.request_info() {
            Err(_) => {
                metadata.response_code = ResponseCode::FormErr;
                None
            }
            Ok(info) => {
                let qname: Name = info.query.original().name().clone();
                let target = self
                    .records
                    .lock()
                    .unwrap()
                    .get(&normalize(&qname.to_ascii()))
                    .cloned();
                match target.map(|t| Name::from_ascii(format!("{t}."))) {
                    Some(Ok(target)) => Some(Record::from_rdata(qname, 0, RData::CNAME(CNAME(target)))),
                    Some(Err(_)) => {
                        metadata.response_code = ResponseCode::ServFail;
                        None
                    }
                    None => {
                        metadata.response_code = ResponseCode::NXDomain;
                        None
                    }
                }
            }
        };
        let answers: Vec<Record> = answer.into_iter().collect();
        let none = std::iter::empty;
        let response = builder.build(metadata, answers.iter(), none(), none(), none());
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => {
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}
