//! A TLS echo server on geode: rustls (futures-rustls, on the `ring` provider) over geode's
//! `TcpStream`, which implements the futures-io traits futures-rustls works on.
//!
//! Run: `cargo run --example tls_echo [addr] [cert.pem]` (default `127.0.0.1:8443`). The
//! certificate is self-signed for `localhost`, made at start-up with `rcgen`; given a path,
//! the server writes it there as PEM so a client can trust it:
//!
//! ```text
//! cargo run --example tls_echo 127.0.0.1:8443 /tmp/geode-cert.pem
//! openssl s_client -connect 127.0.0.1:8443 -servername localhost \
//!     -CAfile /tmp/geode-cert.pem -verify_return_error
//! ```
//!
//! One thread, a task per connection; each echoes what it reads until the client closes. A
//! client has [`HANDSHAKE_TIMEOUT`] to finish its handshake and may then stay silent for at
//! most [`IDLE_TIMEOUT`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use geode::net::{TcpListener, TcpStream};
use geode::time::timeout;

/// How long a client may take to complete its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an established connection may stay silent before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A certificate for `localhost` (and 127.0.0.1), self-signed: as DER, as PEM, and its
/// private key.
pub(crate) fn self_signed() -> io::Result<(CertificateDer<'static>, String, PrivateKeyDer<'static>)>
{
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    Ok((
        certified.cert.der().clone(),
        certified.cert.pem(),
        key.into(),
    ))
}

/// A server configuration on the `ring` provider, TLS 1.2 and 1.3, for `cert` and `key`.
pub(crate) fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<ServerConfig>> {
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// Serves one connection: the handshake, then an echo of everything it reads until EOF.
/// Returns how many bytes it echoed.
pub(crate) async fn serve_connection(stream: TcpStream, acceptor: TlsAcceptor) -> io::Result<u64> {
    let mut tls = timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await??;
    let mut buf = vec![0u8; 16 * 1024];
    let mut echoed = 0;
    loop {
        let n = timeout(IDLE_TIMEOUT, tls.read(&mut buf)).await??;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        tls.flush().await?;
        echoed += n as u64;
    }
    // Sends close_notify, then shuts the TCP write half.
    tls.close().await?;
    Ok(echoed)
}

/// Accepts connections forever, one task each.
pub(crate) async fn serve(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let acceptor = acceptor.clone();
                geode::spawn(async move {
                    if let Err(e) = serve_connection(stream, acceptor).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
            // Out of descriptors and the like: accept backs off by itself; keep serving.
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

#[allow(dead_code)] // unused where tests/tls_echo.rs includes this file
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8443".to_string());
    let (cert, pem, key) = self_signed()?;
    if let Some(path) = args.next() {
        std::fs::write(&path, pem)?;
    }
    let config = server_config(cert, key)?;
    geode::block_on(async {
        let listener = TcpListener::bind(&addr)?;
        println!("listening on {} (TLS)", listener.local_addr()?);
        serve(listener, config).await
    })
}
