//! A real reverse proxy for tests: nginx from Debian's packages (`hack/nginx.sh`), configured as
//! Clerk's proxy guide says (`location /__clerk/`, the path rewritten away, `proxy_pass` to the
//! Frontend API over TLS with the upstream's name for SNI and verification, and the headers
//! `Clerk-Proxy-Url`, `Clerk-Secret-Key` and `X-Forwarded-For`), serving TLS on a free port of
//! 127.0.0.1 from its own temp dir (config, pid, logs, temp files). It runs in the foreground
//! as one process that dies with the test process; dropping the handle (or [`Nginx::stop`])
//! stops it.
//!
//! One deviation from the guide: the upstream is the fake Frontend API on a loopback port, so
//! `proxy_pass` names its address and `Host` and `proxy_ssl_name` carry its name (with Clerk's
//! real host, `proxy_pass https://frontend-api.clerk.dev` sets both).

use super::controlplane::spawn;
use anyhow::{bail, ensure};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The wrapper dir of nginx: `CLERK_OPERATOR_NGINX_DIR`, else what `hack/nginx.sh` prints (it
/// unpacks nginx when missing).
pub fn nginx_bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("CLERK_OPERATOR_NGINX_DIR") {
        Some(d) => PathBuf::from(d),
        None => crate::real_dns::script_dir("nginx.sh"),
    })
}

/// What the proxy forwards as `X-Forwarded-For`.
#[derive(Clone, Debug)]
pub enum ForwardedFor {
    /// `$remote_addr`, as Clerk's guide writes it: the proxy's peer (here the operator, on
    /// loopback).
    RemoteAddr,
    /// A fixed address (as a proxy behind a CDN that forwards the client address it is given).
    Fixed(String),
}

/// How to configure the proxy.
pub struct ClerkProxy<'a> {
    /// The name the proxy serves (its certificate's).
    pub host: &'a str,
    /// Its certificate chain and key (PEM).
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    /// The Frontend API: its address, its name, and the CA its certificate comes from (PEM).
    pub upstream: SocketAddr,
    pub upstream_name: &'a str,
    pub upstream_ca_pem: &'a str,
    /// The instance's secret key, which the proxy adds as `Clerk-Secret-Key`.
    pub secret_key: &'a str,
    pub forwarded_for: ForwardedFor,
}

/// A running nginx.
pub struct Nginx {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    host: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Nginx {
    /// Start nginx as `proxy` says on a free port; wait until it accepts connections.
    pub fn start(proxy: &ClerkProxy) -> anyhow::Result<Self> {
        let bin = nginx_bin_dir().join("nginx");
        let mut last = String::new();
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("clerk-nginx-").tempdir()?;
            let port = super::controlplane::free_port();
            let mut nginx = Nginx {
                dir,
                child: None,
                port,
                host: proxy.host.to_string(),
            };
            nginx.write_config(proxy)?;
            let d = nginx.dir.path();
            let args: Vec<String> = [
                "-p",
                &d.display().to_string(),
                "-c",
                "nginx.conf",
                "-e",
                "error.log",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            nginx.child = Some(spawn("nginx", &bin, &args, &d.join("nginx.out")));
            match nginx.wait_ready() {
                Ok(()) => return Ok(nginx),
                Err(e) => last = e.to_string(),
            }
        }
        bail!("nginx did not start: {last}")
    }

    /// The proxy URL: `https://<host>:<port>/__clerk`.
    pub fn proxy_url(&self) -> String {
        format!("https://{}:{}/__clerk", self.host, self.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop nginx (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The tail of nginx's error and access logs.
    pub fn log_tail(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}{}", read("nginx.out"), read("error.log"), read("access.log"))
    }

    fn write_config(&self, p: &ClerkProxy) -> anyhow::Result<()> {
        let d = self.dir.path();
        std::fs::write(d.join("proxy.crt"), p.cert_pem)?;
        std::fs::write(d.join("proxy.key"), p.key_pem)?;
        std::fs::write(d.join("upstream-ca.crt"), p.upstream_ca_pem)?;
        std::fs::create_dir_all(d.join("tmp"))?;
        let forwarded = match &p.forwarded_for {
            ForwardedFor::RemoteAddr => "$remote_addr".to_string(),
            ForwardedFor::Fixed(a) => format!("\"{a}\""),
        };
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log info;
events {{ worker_connections 64; }}
http {{
  access_log access.log;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name {host};
    ssl_certificate proxy.crt;
    ssl_certificate_key proxy.key;
    location /__clerk/ {{
      rewrite          ^/__clerk/(.*)$ /$1 break;
      proxy_pass       https://{upstream};
      proxy_set_header Host {name};
      proxy_ssl_server_name on;
      proxy_ssl_name   {name};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate upstream-ca.crt;
      proxy_set_header Clerk-Proxy-Url {proxy_url};
      proxy_set_header Clerk-Secret-Key {key};
      proxy_set_header X-Forwarded-For {forwarded};
      proxy_redirect   off;
    }}
  }}
}}
"#,
            port = self.port,
            host = p.host,
            upstream = p.upstream,
            name = p.upstream_name,
            proxy_url = self.proxy_url(),
            key = p.secret_key,
        );
        std::fs::write(d.join("nginx.conf"), conf)?;
        Ok(())
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                bail!("nginx exited ({status}): {}", self.log_tail());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            ensure!(
                start.elapsed() < Duration::from_secs(30),
                "nginx did not listen within 30s: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
