/// Where a PEM certificate chain comes from.
public enum TLSCertificateSource: Sendable, Hashable {
    /// A PEM file holding the leaf certificate first, then intermediates.
    case file(String)
    /// PEM text in memory, leaf first.
    case pem(String)
    /// PEM text read from the file at `path` (named in errors, as `.file` is): what a caller that reads its files
    /// itself (to compare them with what it serves) gives.
    case read(path: String, text: String)
}

/// Where a PEM private key comes from.
public enum TLSPrivateKeySource: Sendable, Hashable {
    /// A PEM file (PKCS#8 or traditional), unencrypted (an encrypted key is refused: no passphrase is asked for).
    case file(String)
    /// PEM text in memory.
    case pem(String)
    /// PEM text read from the file at `path` (named in errors, as `.file` is).
    case read(path: String, text: String)
}

/// Which certificate authorities a peer's certificate must chain to.
public enum TLSTrustRoots: Sendable, Hashable {
    /// The operating system's store (OpenSSL's default verify paths).
    case system
    /// A PEM file of one or more CA certificates.
    case file(String)
    /// PEM text of one or more CA certificates.
    case pem(String)
    /// PEM text of one or more CA certificates read from the file at `path` (named in errors, as `.file` is).
    case read(path: String, text: String)
}

/// A TLS protocol version.
public enum TLSVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// TLS 1.2 (RFC 5246).
    case v1_2
    /// TLS 1.3 (RFC 8446).
    case v1_3

    /// OpenSSL's numeric version (`TLS1_2_VERSION`, `TLS1_3_VERSION`).
    var openSSLValue: Int32 {
        switch self {
        case .v1_2: 0x0303
        case .v1_3: 0x0304
        }
    }

    /// `TLSv1.2` / `TLSv1.3`, as OpenSSL names them.
    public var description: String {
        switch self {
        case .v1_2: "TLSv1.2"
        case .v1_3: "TLSv1.3"
        }
    }
}
