//! `examples/tls_echo.rs` driven by a rustls client over geode (futures-rustls): TLS 1.2 and
//! 1.3, a megabyte each way, a client that does not trust the certificate, and hyper over TLS
//! (`GeodeIo` over a futures-io stream that is not a socket).

#[path = "../examples/tls_echo.rs"]
mod tls_echo;

use std::io;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore, SupportedProtocolVersion};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use geode::net::{TcpListener, TcpStream};

mod util;
use util::pattern;

/// Fails the test instead of hanging it (generous: crypto and copies are slow under valgrind).
async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    util::bounded(120, what, fut).await
}

/// Starts the example's server with a fresh certificate; returns its address and certificate.
fn start() -> io::Result<(std::net::SocketAddr, CertificateDer<'static>)> {
    let (cert, _pem, key) = tls_echo::self_signed()?;
    let config = tls_echo::server_config(cert.clone(), key)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    geode::spawn(tls_echo::serve(listener, config));
    Ok((addr, cert))
}

/// A client trusting `cert` only, speaking `version` only.
fn client_config(
    cert: CertificateDer<'static>,
    version: &'static SupportedProtocolVersion,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid certificate");
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
    Arc::new(config)
}

async fn connect(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a DNS name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// A round trip of `data` through the echo server, on one connection: the client writes it
/// all while it reads the echo back (a megabyte does not fit in the sockets' buffers).
async fn echo(tls: TlsStream<TcpStream>, data: &[u8]) -> io::Result<Vec<u8>> {
    let (mut reader, mut writer) = tls.split();
    let write = async {
        writer.write_all(data).await?;
        writer.flush().await?;
        writer.close().await // close_notify and FIN: the server's read ends
    };
    let read = async {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await?;
        Ok::<_, io::Error>(back)
    };
    let (written, back) = futures_util::future::join(write, read).await;
    written?;
    back
}

#[test]
fn tls13_and_tls12_echo_a_megabyte() -> io::Result<()> {
    geode::block_on(bounded("tls echo", async {
        let (addr, cert) = start()?;
        let data = pattern(1 << 20);
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let tls = connect(addr, client_config(cert.clone(), version)).await?;
            let (_, session) = tls.get_ref();
            assert_eq!(session.protocol_version(), Some(version.version));
            let back = echo(tls, &data).await?;
            assert!(back == data, "{:?}: the echo differs", version.version);
        }
        Ok(())
    }))
}

#[test]
fn many_small_writes_and_concurrent_clients() -> io::Result<()> {
    geode::block_on(bounded("concurrent tls", async {
        let (addr, cert) = start()?;
        let config = client_config(cert, &rustls::version::TLS13);
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let config = config.clone();
                geode::spawn(async move {
                    let mut tls = connect(addr, config).await?;
                    for round in 0..20 {
                        let msg = format!("client {i} round {round}");
                        tls.write_all(msg.as_bytes()).await?;
                        tls.flush().await?;
                        let mut back = vec![0; msg.len()];
                        tls.read_exact(&mut back).await?;
                        assert_eq!(back, msg.as_bytes());
                    }
                    Ok::<_, io::Error>(())
                })
            })
            .collect();
        for client in clients {
            client.await.expect("client task")?;
        }
        Ok(())
    }))
}

/// A client that does not trust the certificate fails its handshake with rustls's error, and
/// the server goes on serving the next client.
#[test]
fn an_untrusted_certificate_fails_the_handshake_and_the_server_survives() -> io::Result<()> {
    geode::block_on(bounded("untrusted", async {
        let (addr, cert) = start()?;
        let (stranger, _, _) = tls_echo::self_signed()?;
        let err = match connect(addr, client_config(stranger, &rustls::version::TLS13)).await {
            Ok(_) => panic!("a handshake with an unknown issuer succeeded"),
            Err(e) => e,
        };
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert!(
            matches!(
                inner,
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadSignature
                        | rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        );
        let tls = connect(addr, client_config(cert, &rustls::version::TLS13)).await?;
        assert_eq!(echo(tls, b"still here").await?, b"still here");
        Ok(())
    }))
}

/// A client that connects and never starts its handshake is dropped after the handshake
/// timeout (virtual time).
#[test]
fn a_silent_client_is_dropped_after_the_handshake_timeout() -> io::Result<()> {
    geode::block_on(async {
        geode::time::pause();
        let (addr, _) = start()?;
        let tcp = TcpStream::connect(addr).await?;
        let start = geode::time::Instant::now();
        let mut buf = [0; 64];
        let n = geode::time::timeout(std::time::Duration::from_secs(3600), tcp.read(&mut buf))
            .await
            .expect("the server should have given up")?;
        assert_eq!(n, 0, "EOF");
        assert_eq!(start.elapsed(), tls_echo::HANDSHAKE_TIMEOUT);
        Ok(())
    })
}

/// hyper over TLS: `GeodeIo` wraps the futures-rustls stream, which is no geode socket.
#[cfg(feature = "hyper")]
#[test]
fn hyper_serves_and_fetches_over_tls() -> io::Result<()> {
    use futures_rustls::TlsAcceptor;
    use geode::hyper::GeodeIo;
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;

    geode::block_on(bounded("hyper over tls", async {
        let (cert, _pem, key) = tls_echo::self_signed()?;
        let acceptor = TlsAcceptor::from(tls_echo::server_config(cert.clone(), key)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        geode::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let tls = acceptor.accept(stream).await?;
            let service = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                let body = format!("secure {}", req.uri().path());
                Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
            });
            hyper::server::conn::http1::Builder::new()
                .serve_connection(GeodeIo::new(tls), service)
                .await
                .map_err(io::Error::other)
        });

        let tls = connect(addr, client_config(cert, &rustls::version::TLS13)).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(GeodeIo::new(tls))
            .await
            .map_err(io::Error::other)?;
        geode::spawn(conn);
        for path in ["/a", "/b"] {
            let req = hyper::Request::get(path)
                .header("host", "localhost")
                .body(Empty::<Bytes>::new())
                .expect("a valid request");
            let response = sender.send_request(req).await.map_err(io::Error::other)?;
            assert_eq!(response.status(), 200);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(io::Error::other)?;
            assert_eq!(body.to_bytes(), format!("secure {path}"));
        }
        Ok(())
    }))
}
