//! The chart README's corporate CA recipe (extraEnv SSL_CERT_FILE / SSL_CERT_DIR): the operator
//! binary reaches a Clerk API behind TLS signed by a private CA only when that variable names the
//! CA, and refuses the connection otherwise.

use super::*;

/// A TLS front for a plain-HTTP address (Python's ssl module, HTTP/1.1, no ALPN), killed on drop.
struct TlsFront {
    child: std::process::Child,
    port: u16,
}

impl TlsFront {
    fn start(cert: &Path, key: &Path, upstream: std::net::SocketAddr) -> anyhow::Result<Self> {
        const SCRIPT: &str = r#"
import socket, ssl, sys, threading
cert, key, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
print(srv.getsockname()[1], flush=True)
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    up = socket.create_connection((host, port))
    threading.Thread(target=pump, args=(tls, up), daemon=True).start()
    pump(up, tls)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", SCRIPT])
            .arg(cert)
            .arg(key)
            .arg(upstream.ip().to_string())
            .arg(upstream.port().to_string())
            .env_clear()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("start the TLS front (python3)")?;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().context("stdout")?),
            &mut line,
        )?;
        let port = line
            .trim()
            .parse()
            .with_context(|| format!("TLS front port: {line:?}"))?;
        Ok(Self { child, port })
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate it signed for 127.0.0.1 (openssl).
fn private_ca(dir: &Path) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl").args(args).current_dir(dir).output()?;
        ok(out, &format!("openssl {}", args.join(" "))).map(|_| ())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=e2e private CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ])?;
    Ok(())
}

/// `clerk-operator run` for namespace `ns` against `url`, with `env` added to a clean
/// environment (as the chart's extraEnv adds to the container's); stdout and stderr to `log`.
fn spawn_operator(
    cp: &ControlPlane,
    ns: &str,
    url: &str,
    env: &[(&str, String)],
    log: &Path,
) -> anyhow::Result<std::process::Child> {
    let logf = std::fs::File::create(log)?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clerk-operator"));
    cmd.args([
        "run".to_string(),
        format!("--kubeconfig={}", cp.kubeconfig.display()),
        format!("--clerk-api-url={url}"),
        format!("--namespace={ns}"),
        "--metrics-addr=".into(),
        "--log-format=json".into(),
        "--log-level=info,clerk_operator=debug".into(),
    ])
    .env_clear()
    .env("CLERK_SECRET_KEY", LIVE_KEY)
    .env("POD_NAME", format!("ca-{ns}"))
    .stdin(std::process::Stdio::null())
    .stdout(logf.try_clone()?)
    .stderr(logf);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.spawn()?)
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One namespace of ClerkDomains, and operators started against the TLS front at `url`.
struct Case<'a> {
    cp: &'a ControlPlane,
    ns: String,
    url: String,
    /// Holds the CA, the server's certificate and the operators' logs.
    dir: &'a Path,
    domains: Api<ClerkDomain>,
}

impl Case<'_> {
    /// Create ClerkDomain `name` (domain `name.example.com`) with kubectl.
    fn create(&self, name: &str) -> anyhow::Result<()> {
        let ns = &self.ns;
        let yaml = format!(
            "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  domain: {name}.example.com\n"
        );
        ok(
            self.cp.kubectl_stdin(&["create", "-f", "-"], &yaml),
            "create ClerkDomain",
        )
        .map(|_| ())
    }
}

/// Clerk behind TLS from a private CA: without SSL_CERT_FILE the operator refuses the
/// certificate (nothing reaches Clerk); with SSL_CERT_FILE naming the CA, or SSL_CERT_DIR
/// listing a directory holding it, ClerkDomains become Ready.
pub async fn ssl_cert_file_trusts_a_private_ca_for_clerk(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    private_ca(dir.path())?;
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: vec![LIVE_KEY.into()],
        ..Default::default()
    })
    .await?;
    let front = TlsFront::start(
        &dir.path().join("server.pem"),
        &dir.path().join("server.key"),
        fake.addr(),
    )?;
    let url = format!("https://127.0.0.1:{}/v1", front.port);
    let ns = format!("ca-{:04x}", rand::random::<u16>());
    ok(cp.kubectl(&["create", "namespace", &ns]), "create namespace")?;
    let client = cp.client().await;
    let c = Case {
        cp: &cp,
        domains: Api::namespaced(client.clone(), &ns),
        ns,
        url,
        dir: dir.path(),
    };
    refused_without_the_ca(&c, &fake).await?;
    trusted_with_cert_file(&c).await?;
    let _op = trusted_with_cert_dir(&c).await?;
    let names: BTreeSet<String> = fake.domains(LIVE_KEY).into_iter().map(|d| d.name).collect();
    for want in [
        "refused.example.com",
        "trusted.example.com",
        "from-dir.example.com",
    ] {
        ensure!(names.contains(want), "{want} not in Clerk: {names:?}");
    }
    Ok(())
}

/// The image's roots only: the private CA is unknown, the connection is refused.
async fn refused_without_the_ca(c: &Case<'_>, fake: &FakeClerk) -> anyhow::Result<()> {
    c.create("refused")?;
    let log = c.dir.join("system-roots.log");
    let op = Killed(spawn_operator(c.cp, &c.ns, &c.url, &[], &log)?);
    let obj = wait_for(
        &c.domains,
        "refused",
        "Synced=False",
        CONVERGE,
        |o: &ClerkDomain| condition(o, "Synced").is_some_and(|c| c.status == "False"),
    )
    .await
    .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    let message = condition(&obj, "Synced")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let logs = std::fs::read_to_string(&log)?;
    ensure!(
        (message + &logs).to_lowercase().contains("certificate"),
        "no certificate error reported: {logs}"
    );
    ensure!(
        !fake
            .domains(LIVE_KEY)
            .iter()
            .any(|d| d.name == "refused.example.com"),
        "a domain reached Clerk without trust"
    );
    drop(op);
    Ok(())
}

/// SSL_CERT_FILE names the CA: both become Ready.
async fn trusted_with_cert_file(c: &Case<'_>) -> anyhow::Result<()> {
    let log = c.dir.join("ssl-cert-file.log");
    let op = Killed(spawn_operator(
        c.cp,
        &c.ns,
        &c.url,
        &[("SSL_CERT_FILE", c.dir.join("ca.pem").display().to_string())],
        &log,
    )?);
    c.create("trusted")?;
    for name in ["refused", "trusted"] {
        wait_for(&c.domains, name, "Ready", CONVERGE, |o: &ClerkDomain| {
            is_true(o, "Ready")
        })
        .await
        .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    }
    drop(op);
    Ok(())
}

/// SSL_CERT_DIR with a directory holding the CA (as a ConfigMap mount would): Ready too. The
/// operator, still running.
async fn trusted_with_cert_dir(c: &Case<'_>) -> anyhow::Result<Killed> {
    let ca_dir = c.dir.join("corp-ca");
    std::fs::create_dir(&ca_dir)?;
    std::fs::copy(c.dir.join("ca.pem"), ca_dir.join("corp-ca.crt"))?;
    let log = c.dir.join("ssl-cert-dir.log");
    let op = Killed(spawn_operator(
        c.cp,
        &c.ns,
        &c.url,
        &[("SSL_CERT_DIR", format!("/nonexistent:{}", ca_dir.display()))],
        &log,
    )?);
    c.create("from-dir")?;
    wait_for(&c.domains, "from-dir", "Ready", CONVERGE, |o: &ClerkDomain| {
        is_true(o, "Ready")
    })
    .await
    .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    Ok(op)
}
