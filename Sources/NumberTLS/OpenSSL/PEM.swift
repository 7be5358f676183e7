import COpenSSL

/// PEM parsing and printing over OpenSSL BIOs. Every returned pointer is owned by the caller.
enum PEM {
    /// Upper bound on certificates read from one chain or CA bundle (the system bundle has ~150).
    static let certificatesMax = 1024

    /// Opens a BIO over a file path or in-memory text and hands it to `body`.
    static func withBIO<T>(file: String?, text: String?, _ body: (OpaquePointer) throws -> T) throws -> T {
        if let file {
            guard let bio = BIO_new_file(file, "r") else {
                throw OpenSSLErrorQueue.error(.invalidConfiguration, "cannot open PEM file \(file)")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
        let bytes = Array((text ?? "").utf8)
        return try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw OpenSSLErrorQueue.error(.invalidConfiguration, "cannot allocate a memory BIO")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Reads every certificate in the BIO; throws when there is none, or when a block cannot be read.
    static func readCertificates(_ bio: OpaquePointer, what: String) throws -> [OpaquePointer] {
        var certificates: [OpaquePointer] = []
        OpenSSLErrorQueue.clear()
        while certificates.count < certificatesMax, let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(x509)
        }
        // At the limit, one more is looked for: a bundle cut there silently would lack the CAs after it.
        if certificates.count == certificatesMax, let extra = PEM_read_bio_X509(bio, nil, nil, nil) {
            X509_free(extra)
            certificates.forEach { X509_free($0) }
            OpenSSLErrorQueue.clear()
            throw TLSError(
                code: .invalidConfiguration, message: "\(what) holds more than \(certificatesMax) certificates")
        }
        // Reaching the end of the input leaves a "no start line" entry: the normal way out. Anything else is a block
        // that could not be read (bad base64, a damaged certificate). Dropped, it would leave a chain without its
        // intermediate or trust roots without a CA, which fails only at a handshake that needs it.
        let last = ERR_peek_last_error()
        if last != 0, ERR_GET_LIB(last) != ERR_LIB_PEM || ERR_GET_REASON(last) != PEM_R_NO_START_LINE {
            let read = certificates.count
            certificates.forEach { X509_free($0) }
            throw OpenSSLErrorQueue.error(
                .invalidConfiguration, "a PEM block in \(what) cannot be read (after \(read) certificates)")
        }
        OpenSSLErrorQueue.clear()
        guard !certificates.isEmpty else {
            throw TLSError(code: .invalidConfiguration, message: "no PEM certificate found in \(what)")
        }
        return certificates
    }

    /// Reads one unencrypted private key; an encrypted one is refused at once.
    ///
    /// With no passphrase callback OpenSSL asks for one on the terminal (or reads it from standard input), so a start
    /// with an encrypted key would wait for ever. The callback given here supplies none: it records that a passphrase
    /// was asked for, and the read fails.
    static func readPrivateKey(_ bio: OpaquePointer, what: String) throws -> OpaquePointer {
        OpenSSLErrorQueue.clear()
        var passphraseAsked: Int32 = 0
        let key = withUnsafeMutablePointer(to: &passphraseAsked) { asked in
            PEM_read_bio_PrivateKey(
                bio, nil,
                { _, _, _, asked in
                    asked?.storeBytes(of: 1, as: Int32.self)
                    return -1
                }, asked)
        }
        guard let key else {
            if passphraseAsked != 0 {
                throw OpenSSLErrorQueue.error(
                    .invalidConfiguration,
                    "encrypted private keys are not supported (\(what)); decrypt it with "
                        + "`openssl pkey -in KEY -out PLAIN-KEY` and keep the result at mode 0600")
            }
            throw OpenSSLErrorQueue.error(.invalidConfiguration, "no readable PEM private key in \(what)")
        }
        return key
    }

    /// Certificates from a chain source.
    static func certificates(_ source: TLSCertificateSource) throws -> [OpaquePointer] {
        switch source {
        case .file(let path):
            try withBIO(file: path, text: nil) { try readCertificates($0, what: path) }
        case .pem(let text):
            try withBIO(file: nil, text: text) { try readCertificates($0, what: "in-memory PEM") }
        case .read(let path, let text):
            try withBIO(file: nil, text: text) { try readCertificates($0, what: path) }
        }
    }

    /// A private key from a key source.
    static func privateKey(_ source: TLSPrivateKeySource) throws -> OpaquePointer {
        switch source {
        case .file(let path):
            try withBIO(file: path, text: nil) { try readPrivateKey($0, what: path) }
        case .pem(let text):
            try withBIO(file: nil, text: text) { try readPrivateKey($0, what: "in-memory PEM") }
        case .read(let path, let text):
            try withBIO(file: nil, text: text) { try readPrivateKey($0, what: path) }
        }
    }

    /// Runs `write` against a fresh memory BIO and returns what it wrote as text.
    static func text(what: String, _ write: (OpaquePointer) -> Int32) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot allocate a memory BIO")
        }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "cannot write \(what) as PEM")
        }
        var data: UnsafeMutablePointer<CChar>?
        let length = numberd_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else {
            throw OpenSSLErrorQueue.error(.certificateTooling, "empty PEM output for \(what)")
        }
        let bytes = UnsafeRawBufferPointer(start: data, count: Int(length))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A certificate as PEM text.
    static func certificateText(_ x509: OpaquePointer) throws -> String {
        try text(what: "certificate") { PEM_write_bio_X509($0, x509) }
    }

    /// A private key as unencrypted PKCS#8 PEM text.
    static func privateKeyText(_ key: OpaquePointer) throws -> String {
        try text(what: "private key") { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }
}
