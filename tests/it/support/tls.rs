//! Throw-away certificates: a test CA with a server certificate for the registry, and the
//! self-signed certificate the token server signs its JWTs with.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM texts of a fresh CA and a server certificate signed by it for `127.0.0.1` (IP SAN) and
/// `localhost` (DNS SAN).
pub struct ServerCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "registry-mirror tests");
    dn
}

pub fn server_certs() -> ServerCerts {
    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name = dn("registry-mirror test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

    let key = KeyPair::generate().expect("generate server key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    params.distinguished_name = dn("localhost");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("sign server certificate");

    ServerCerts {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A self-signed certificate (DER, PEM) for the RSA key given as PKCS#8 DER. It is marked as a CA
/// so that Go's x509 verifier accepts it both as the leaf of the token's `x5c` chain and as the
/// root in the registry's `rootcertbundle`.
pub fn self_signed_for_rsa(pkcs8_der: &[u8]) -> (Vec<u8>, String) {
    let key = KeyPair::try_from(pkcs8_der).expect("load RSA key into rcgen");
    assert_eq!(
        key.algorithm(),
        &rcgen::PKCS_RSA_SHA256,
        "RSA key algorithm"
    );
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("token cert params");
    params.distinguished_name = dn("registry-mirror test token issuer");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let cert = params.self_signed(&key).expect("self-sign token cert");
    (cert.der().to_vec(), cert.pem())
}
