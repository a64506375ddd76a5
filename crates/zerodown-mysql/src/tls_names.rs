//! VERIFY_CA for the MySQL driver. MySQL's VERIFY_CA checks the server's chain and not
//! its name; mysql_async can skip the name check only by matching rustls's old error
//! text, which rustls no longer prints (mysql_async issue 404, fixed upstream after
//! 0.37.1, unreleased), so its VERIFY_CA checks the name too. Until it is released,
//! this asks the server for its certificate the way a client starts TLS (the server's
//! greeting, an SSL request, a TLS handshake that checks the chain against the roots),
//! reads the DNS names the certificate holds, and the real connection then checks the
//! chain and one of those names in full. A certificate the roots do not sign is refused
//! here as it would be there.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zerodown_exec::tls::AnyName;

/// The DNS names of the certificate the server at `host:port` presents, its chain
/// checked against `roots` (PEM or DER certificates).
pub async fn certificate_names(
    host: &str,
    port: u16,
    roots: &[Vec<u8>],
) -> Result<Vec<String>, String> {
    let mut tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot reach {host}:{port}: {e}"))?;
    let greeting = read_packet(&mut tcp).await?;
    if greeting.first() == Some(&0xff) {
        return Err(format!(
            "the server refused the connection: {}",
            String::from_utf8_lossy(greeting.get(3..).unwrap_or_default())
        ));
    }
    // Protocol 10: version, server version (NUL-terminated), id (4), scramble (8),
    // filler (1), then the lower capability flags.
    let version_end = greeting
        .iter()
        .skip(1)
        .position(|b| *b == 0)
        .ok_or("unreadable server greeting")?
        + 1;
    let at = version_end + 1 + 4 + 8 + 1;
    let caps = greeting
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or("unreadable server greeting")?;
    const CLIENT_SSL: u32 = 0x0800;
    if u32::from(caps) & CLIENT_SSL == 0 {
        return Err("the server offers no TLS".into());
    }
    // SSLRequest: capabilities (PROTOCOL_41, SSL, SECURE_CONNECTION, LONG_PASSWORD),
    // max packet, utf8mb4, 23 zero bytes; sequence 1.
    let mut request = vec![32, 0, 0, 1];
    request.extend((0x0200 | CLIENT_SSL | 0x8000 | 0x0001u32).to_le_bytes());
    request.extend((16u32 << 20).to_le_bytes());
    request.push(45);
    request.extend([0u8; 23]);
    tcp.write_all(&request)
        .await
        .map_err(|e| format!("TLS request: {e}"))?;
    let seen: zerodown_exec::tls::Seen = Arc::new(Mutex::new(None));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyName::keeping(
        chain_verifier(roots)?,
        seen.clone(),
    )))
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    drop(tls);
    let der = seen
        .lock()
        .map_err(|_| "certificate lost")?
        .take()
        .ok_or("the server sent no certificate")?;
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| format!("certificate: {e}"))?;
    Ok(cert
        .valid_dns_names()
        .map(|n| n.replace("*.", "zerodown-verify-ca."))
        .collect())
}

async fn read_packet(tcp: &mut tokio::net::TcpStream) -> Result<Vec<u8>, String> {
    let mut header = [0u8; 4];
    tcp.read_exact(&mut header)
        .await
        .map_err(|e| format!("server greeting: {e}"))?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload)
        .await
        .map_err(|e| format!("server greeting: {e}"))?;
    Ok(payload)
}

fn chain_verifier(roots: &[Vec<u8>]) -> Result<Arc<WebPkiServerVerifier>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        let certs: Vec<CertificateDer> = if r.starts_with(b"-----") {
            CertificateDer::pem_slice_iter(r)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("ssl-ca: {e}"))?
        } else {
            vec![CertificateDer::from(r.clone())]
        };
        store.add_parsable_certificates(certs);
    }
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
    )
    .build()
    .map_err(|e| format!("ssl-ca: {e}"))
}
