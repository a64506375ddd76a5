//! Connecting with TLS as libpq would, over rustls (with the aws-lc-rs provider, post-quantum key exchange included: no
//! OpenSSL to match, and the OS store read by rustls-native-certs). tokio-postgres knows
//! disable, prefer and require; verify-ca, verify-full and allow are built here.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;
use zerodown_exec::tls::{AnyName, Unchecked};

use crate::conninfo::{ConnInfo, RootCerts, SslMode, Tls};

/// Opens a connection as `info` says; its task runs on the current runtime.
pub async fn connect(info: &ConnInfo) -> Result<Client, ConnectError> {
    let mut config = info.config.clone();
    match info.tls.mode {
        SslMode::Disable => plain(&config).await,
        SslMode::Allow => match plain(&config).await {
            Ok(client) => Ok(client),
            // libpq's allow: plain first, TLS when the server turns plain away.
            Err(_) => {
                config.ssl_mode(WireMode::Require);
                secure(&config, &info.tls).await
            }
        },
        SslMode::Prefer => {
            config.ssl_mode(WireMode::Prefer);
            secure(&config, &info.tls).await
        }
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            config.ssl_mode(WireMode::Require);
            secure(&config, &info.tls).await
        }
    }
}

/// [`connect`] to the first host over a TCP socket of our own, with the socket's local
/// address: what the server reports as its client's address tells whether anything sits
/// between (pooler.rs). None for a Unix socket. Multiple hosts and their failover are
/// [`connect`]'s.
pub async fn connect_observed(
    info: &ConnInfo,
) -> Result<(Client, Option<std::net::SocketAddr>), ConnectError> {
    use tokio_postgres::config::Host;
    let Some(Host::Tcp(host)) = info.config.get_hosts().first().cloned() else {
        return connect(info).await.map(|c| (c, None));
    };
    let port = info.config.get_ports().first().copied().unwrap_or(5432);
    let mut config = info.config.clone();
    let open = || async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| ConnectError::Settings(format!("cannot reach {host}:{port}: {e}")))?;
        let local = stream.local_addr().ok();
        Ok::<_, ConnectError>((stream, local))
    };
    let plain = |config: &tokio_postgres::Config| {
        let mut config = config.clone();
        config.ssl_mode(WireMode::Disable);
        config
    };
    let mode = info.tls.mode;
    if matches!(mode, SslMode::Disable | SslMode::Allow) {
        let (stream, local) = open().await?;
        match plain(&config)
            .connect_raw(stream, tokio_postgres::NoTls)
            .await
        {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return Ok((client, local));
            }
            Err(e) if mode == SslMode::Disable => return Err(ConnectError::Server(e)),
            Err(_) => {}
        }
    }
    config.ssl_mode(if mode == SslMode::Prefer {
        WireMode::Prefer
    } else {
        WireMode::Require
    });
    let mut make =
        MakeRustlsConnect::new(client_config(&info.tls).map_err(ConnectError::Settings)?);
    let tls = tokio_postgres::tls::MakeTlsConnect::<tokio::net::TcpStream>::make_tls_connect(
        &mut make, &host,
    )
    .map_err(|e| match e {})?;
    let (stream, local) = open().await?;
    let (client, connection) = config
        .connect_raw(stream, tls)
        .await
        .map_err(ConnectError::Server)?;
    tokio::spawn(connection);
    Ok((client, local))
}

/// Why a connection failed: the settings (nothing was sent) or the server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Settings(String),
    #[error("{}", chain(.0))]
    Server(#[source] tokio_postgres::Error),
}

/// An error with its causes: tokio-postgres says "error performing TLS handshake" and
/// keeps why (an unknown issuer, a wrong host name) in its source.
fn chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = std::error::Error::source(cause);
    }
    text
}

async fn plain(config: &tokio_postgres::Config) -> Result<Client, ConnectError> {
    let mut config = config.clone();
    config.ssl_mode(WireMode::Disable);
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(ConnectError::Server)?;
    tokio::spawn(async move {
        // Errors surface on the next query through the client.
        let _ = connection.await;
    });
    Ok(client)
}

async fn secure(config: &tokio_postgres::Config, tls: &Tls) -> Result<Client, ConnectError> {
    let connector = MakeRustlsConnect::new(client_config(tls).map_err(ConnectError::Settings)?);
    let (client, connection) = config
        .connect(connector)
        .await
        .map_err(ConnectError::Server)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls's client settings for `tls`: the server checked against its roots (the
/// host name too in verify-full), or not checked when no roots are known.
pub fn client_config(tls: &Tls) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match &tls.roots {
        None => Arc::new(Unchecked(provider)),
        Some(roots) => {
            let store = root_store(roots)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if tls.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyName::new(webpki))
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("client certificate \"{}\": {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("client key \"{}\": {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate and key: {e}"))
        }
    }
}

fn root_store(roots: &RootCerts) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("root certificate file \"{}\": {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "root certificate file \"{}\" holds no certificate (PEM expected)",
                    path.display()
                ));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "sslrootcert=system: no trusted root certificate found in the operating system's store{}",
                    if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
                ));
            }
        }
    }
    Ok(store)
}
