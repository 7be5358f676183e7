import Foundation
import Logging
import NumberAPI
import NumberTLS
import Synchronization

/// The server's TLS identity: where its certificate comes from, the context new connections use, and the checks that
/// keep it usable — once at start (with the data directory's lock held) and every
/// ``NumberdConfiguration/certificateCheckIntervalSeconds`` while serving.
///
/// - Generated (no `--tls-cert`): the data directory's certificate is re-issued from the local CA before it expires
///   (``GeneratedCertificates``); a renewal while serving replaces the context, so new connections get the new
///   certificate and open ones keep their session.
/// - The operator's (`--tls-cert`/`--tls-key`): never rewritten. An expired one refuses the start; one that expires
///   within ``NumberdConfiguration/certificateRenewalWindowSeconds`` is logged as a warning at start and at every check.
///
/// Either way a context older than ``ticketKeyLifetimeSeconds`` is replaced by a fresh one at the next check: OpenSSL
/// draws the keys that encrypt session tickets when a context is made and keeps them for its life, and a TLS 1.2
/// ticket carries its session's master secret, so a key kept for months would let whoever obtains it later decrypt
/// every recorded TLS 1.2 session resumed or issued with it. Tickets of the old key are then refused (the client
/// makes a full handshake once); open connections keep their context.
final class ServerCertificates: Sendable {
    /// How long one context (and so one session ticket key) serves new connections: the session lifetime
    /// (``NumberTLS/TLSConfiguration/sessionLifetimeSeconds``, 2 h), so a key outlives the tickets it issued by at
    /// most the check interval (1 h).
    static let ticketKeyLifetimeSeconds: Int64 = 7_200

    /// Where the certificate comes from.
    enum Source: Sendable {
        /// Generated and renewed in the data directory.
        case generated(GeneratedCertificates)
        /// The operator's files.
        case operatorFiles(chain: String)
    }

    let source: Source
    /// What the server presents to new connections.
    let context: ReloadableTLSContext
    /// A server context from the bytes ``watchedFiles`` held (read again for one that could not be read), and the
    /// other files as they are.
    private let makeContext: @Sendable (_ watched: [[UInt8]?]) throws -> TLSContext
    private let logger: Logger
    /// When the current context was made, on `uptime`'s clock.
    private let contextMadeAt: Mutex<Int64>
    /// Seconds on a monotonic clock: the ticket key's age is not fooled by the wall clock set back (a clock booted
    /// ahead and corrected by NTP would have stopped rotation until it caught up).
    private let uptime: @Sendable () -> Int64
    /// Held by a check (``check(nowSeconds:)``).
    private let checking = Mutex(())
    /// The files a check watches for an operator's change: `--tls-cert` and `--tls-key` (operator files) and
    /// `--client-ca`. Any byte of them changed makes a new context — a renewed leaf, an intermediate added to a chain
    /// first deployed without it, a CA added for mutual TLS — not only a new leaf.
    private let watchedFiles: [String]
    /// What ``watchedFiles`` held (nil: unreadable) when the served context was made from them.
    private let watchedContents: Mutex<[[UInt8]?]>

    /// Seconds since boot, on the monotonic clock.
    static let monotonicSeconds: @Sendable () -> Int64 = { Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000_000) }

    private init(
        source: Source, context: ReloadableTLSContext,
        makeContext: @escaping @Sendable (_ watched: [[UInt8]?]) throws -> TLSContext,
        watchedFiles: [String], watchedContents: [[UInt8]?], logger: Logger, uptime: @escaping @Sendable () -> Int64
    ) {
        self.source = source
        self.context = context
        self.makeContext = makeContext
        self.watchedFiles = watchedFiles
        self.watchedContents = Mutex(watchedContents)
        self.logger = logger
        self.uptime = uptime
        self.contextMadeAt = Mutex(uptime())
    }

    /// The largest TLS file (`--tls-cert`, `--tls-key`, `--client-ca`) numberd reads: 8 MiB, as a CA file.
    static let tlsFileBytesMax = NumberdConfiguration.caFileBytesMax

    /// What `paths` hold now, nil for one that cannot be opened or read (OpenSSL's own open of it then says why). Read
    /// by `readBoundedFile(_:bytesMax:)`, at most ``tlsFileBytesMax``: a FIFO or a device at a watched path held the
    /// hourly check's thread (and a start) for ever, and a huge file was read whole each hour. Throws for such a file.
    static func contents(_ paths: [String]) throws(TLSError) -> [[UInt8]?] {
        try paths.map { path throws(TLSError) -> [UInt8]? in
            do throws(BoundedFileError) {
                return try readBoundedFile(path, bytesMax: tlsFileBytesMax)
            } catch {
                switch error.kind {
                case .unreadable, .notText: return nil
                case .tooLarge:
                    throw TLSError(code: .invalidConfiguration, message: "\(error): not a certificate, key or CA file")
                case .notRegularFile: throw TLSError(code: .invalidConfiguration, message: "\(error)")
                }
            }
        }
    }

    /// When the certificate new connections get ends (seconds since 1970), nil if the context has none to read.
    var notAfterSeconds: Int64? { context.current.certificate?.notAfterSeconds }

    /// Makes new connections use `fresh`, made now from the watched files holding `files`.
    private func install(_ fresh: TLSContext, files: [[UInt8]?]) {
        context.replace(with: fresh)
        contextMadeAt.withLock { $0 = uptime() }
        watchedContents.withLock { $0 = files }
    }

    /// A new context from `files` (what ``watchedFiles`` hold now), unless its certificate is expired or not valid
    /// yet while the one served is neither: installed, it would refuse every new connection's handshake (a deploy
    /// that rolled back to last year's pair, the wrong files copied) — which a start would have refused. Logged at
    /// error, and nil: the served one stays. Throws as ``makeContext`` does for files it cannot use.
    private func usableContext(from files: [[UInt8]?], nowSeconds: Int64) throws -> TLSContext? {
        let fresh = try makeContext(files)
        let problem = { (context: TLSContext) in
            context.certificate.flatMap {
                GeneratedCertificates.timeProblem($0, nowSeconds: nowSeconds, windowSeconds: 0)
            }
        }
        guard let refused = problem(fresh), problem(context.current) == nil else { return fresh }
        logger.error(
            "the server certificate on disk is not served: it \(refused); new connections keep the previous one",
            metadata: [
                "certificate": "\(watchedFiles.first ?? "?")", "serial": "\(fresh.certificate?.serialNumberHex ?? "?")",
            ])
        return nil
    }

    /// Checks (and for generated material renews) the certificate, then compiles the server context. Call with the
    /// data directory's lock held. Throws when the operator's certificate has expired, or as ``TLSContext`` does for
    /// files it cannot use.
    static func start(
        _ configuration: NumberdConfiguration, _ directory: DataDirectory, nowSeconds: Int64, logger: Logger,
        uptime: @escaping @Sendable () -> Int64 = ServerCertificates.monotonicSeconds
    ) throws -> ServerCertificates {
        let inProcessSimulator = if case .simulator = configuration.provider { true } else { false }
        var generated = GeneratedCertificates(
            directory: directory, renewalWindowSeconds: NumberdConfiguration.certificateRenewalWindowSeconds)
        // The in-process simulator's certificate is issued from the CA at every start.
        generated.authorityKeyNeeded = inProcessSimulator
        let source: Source
        if let files = configuration.tlsCertificate {
            source = .operatorFiles(chain: files.chain)
            warnIfExposed(key: files.key, logger: logger)
            // The in-process simulator's certificate comes from the local CA, which the Twilio adapter trusts.
            if inProcessSimulator {
                log(try generated.ensure(nowSeconds: nowSeconds, mayRegenerateAuthority: true), directory, logger)
            }
        } else {
            source = .generated(generated)
            log(try generated.ensure(nowSeconds: nowSeconds, mayRegenerateAuthority: true), directory, logger)
        }
        let makeContext: @Sendable ([[UInt8]?]) throws -> TLSContext = {
            try serverContext(configuration, directory, watched: $0)
        }
        let watched = watchedFiles(configuration)
        let contents = try Self.contents(watched)
        let context = try makeContext(contents)
        if case .operatorFiles(let chain) = source {
            try checkOperatorCertificate(context, path: chain, nowSeconds: nowSeconds, atStart: true, logger: logger)
        }
        return ServerCertificates(
            source: source, context: ReloadableTLSContext(context), makeContext: makeContext, watchedFiles: watched,
            watchedContents: contents, logger: logger, uptime: uptime)
    }

    /// Warns when other users may read or change the operator's private key (`--tls-key` with any of the mode's
    /// "other" bits, or group-writable): whoever reads it can impersonate numberd to every client. A group-readable
    /// key stays quiet (Debian's `ssl-cert` group convention: `root:ssl-cert 0640`). A warning, not a refusal: the key
    /// is the operator's file, and numberd never changes it.
    private static func warnIfExposed(key path: String, logger: Logger) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & 0o027 != 0 else { return }
        logger.warning(
            "the TLS private key (--tls-key) can be read or changed by other users; make it 0600 (or 0640 for a group)",
            metadata: ["key": "\(path)", "mode": "\(String(status.st_mode & 0o7777, radix: 8))"])
    }

    /// The periodic check: renews a generated certificate that became due and makes new connections use it, or warns
    /// about an operator's certificate near its end. Returns what it found, for the periodic service's log line.
    func check(nowSeconds: Int64) throws -> Logger.Metadata {
        // One at a time: the hourly check and a SIGHUP's could otherwise both renew a due certificate, writing its
        // certificate and key files in an interleaved order.
        try checking.withLock { _ in try checkAlone(nowSeconds: nowSeconds) }
    }

    private func checkAlone(nowSeconds: Int64) throws -> Logger.Metadata {
        // After the certificate's own check (a renewal or a reload makes a fresh context, and is reported as one), and
        // also when that check fails (a deleted CA must not keep the old key too).
        var metadata: Logger.Metadata
        do {
            metadata = try checkCertificate(nowSeconds: nowSeconds)
        } catch {
            _ = rotateTicketKeyIfDue(nowSeconds: nowSeconds)
            throw error
        }
        metadata["ticket_key_rotated"] = rotateTicketKeyIfDue(nowSeconds: nowSeconds) ? "1" : "0"
        return metadata
    }

    /// Replaces a context older than ``ticketKeyLifetimeSeconds`` (a renewal or reload just made one) with a fresh
    /// one from the bytes the served one was made from (what the operator's files held then: a change on disk is the
    /// reload's to take or refuse, and one refused — a certificate expired on disk — must not keep the ticket key for
    /// good); if they cannot make one now, the current one serves on and the next check tries again. Whether it
    /// replaced it.
    private func rotateTicketKeyIfDue(nowSeconds: Int64) -> Bool {
        guard uptime() - contextMadeAt.withLock({ $0 }) >= Self.ticketKeyLifetimeSeconds else { return false }
        do {
            let served = watchedContents.withLock { $0 }
            install(try makeContext(served), files: served)
            logger.info("new connections use a new session ticket key")
            return true
        } catch {
            logger.warning(
                "the session ticket key is due for rotation but no new TLS context could be made; retrying at the next check",
                metadata: ["error": "\(error)"])
            return false
        }
    }

    private func checkCertificate(nowSeconds: Int64) throws -> Logger.Metadata {
        switch source {
        case .operatorFiles(let chain):
            let reloaded = reloadIfFilesChanged(nowSeconds: nowSeconds)
            try Self.checkOperatorCertificate(
                context.current, path: chain, nowSeconds: nowSeconds, atStart: false, logger: logger)
            return ["not_after": "\(Self.notAfter(context.current))", "renewed": reloaded ? "1" : "0"]
        case .generated(let generated):
            let check = try generated.ensure(nowSeconds: nowSeconds, mayRegenerateAuthority: false)
            // While serving, a renewal that could not be written fails the run (counted, and logged once by the
            // caller), as it did before the start learned to serve on: the certificate served is the one on disk.
            if let failure = check.renewalFailure {
                throw TLSError(code: .certificateTooling, message: failure)
            }
            Self.log(check, generated.directory, logger)
            // Also when nothing was renewed now: a renewal whose new context failed to compile is retried here.
            var renewed = context.current.certificate?.sha256Fingerprint != check.server.sha256Fingerprint
            if renewed {
                let files = try Self.contents(watchedFiles)
                install(try makeContext(files), files: files)
                logger.info(
                    "new connections use the renewed server certificate",
                    metadata: ["serial": "\(check.server.serialNumberHex)"])
            } else {
                // `--client-ca` replaced.
                renewed = reloadIfFilesChanged(nowSeconds: nowSeconds)
            }
            if let problem = check.authorityProblem {
                logger.warning(
                    "the local CA must be replaced: restart numberd to regenerate it, then clients must trust the new CA",
                    metadata: ["reason": "\(problem)", "ca": "\(generated.directory.caCertificate)"])
            }
            return [
                "not_after": "\(GeneratedCertificates.timestamp(check.server.notAfterSeconds))",
                "renewed": renewed ? "1" : "0",
            ]
        }
    }

    /// An operator who renews `--tls-cert` in place (certbot, a deploy), completes its chain or changes
    /// `--client-ca` gets it served without a restart: when a watched file's bytes are not those the served context
    /// was made from, a new context is made from the files and new connections use it (open ones keep theirs). Files
    /// caught mid-replacement (a key that does not match yet, a partial file) make no context, and a certificate
    /// expired or not valid yet is not served: the one served stays, and the next check tries again. Whether it
    /// reloaded.
    private func reloadIfFilesChanged(nowSeconds: Int64) -> Bool {
        let named = watchedFiles.first ?? "?"
        do {
            let files = try Self.contents(watchedFiles)
            guard !watchedFiles.isEmpty, files != watchedContents.withLock({ $0 }) else { return false }
            guard let fresh = try usableContext(from: files, nowSeconds: nowSeconds) else { return false }
            install(fresh, files: files)
            logger.notice(
                "new connections use the replaced server certificate or client CA (--tls-cert, --client-ca)",
                metadata: [
                    "certificate": "\(named)", "serial": "\(fresh.certificate?.serialNumberHex ?? "?")",
                    "not_after": "\(Self.notAfter(fresh))",
                ])
            return true
        } catch {
            logger.warning(
                "the TLS files (--tls-cert, --tls-key, --client-ca) changed on disk but cannot be used yet; still serving the previous ones",
                metadata: ["certificate": "\(named)", "error": "\(error)"])
            return false
        }
    }

    /// The files a check watches for an operator's change (``watchedFiles``), in that order.
    private static func watchedFiles(_ configuration: NumberdConfiguration) -> [String] {
        (configuration.tlsCertificate.map { [$0.chain, $0.key] } ?? [])
            + (configuration.clientCAFile.map { [$0] } ?? [])
    }

    /// The server context from the operator's files or the generated ones, as `configuration` says; a watched file
    /// (``watchedFiles(_:)``) is taken from the bytes `watched` holds for it (the ones compared with later), not read
    /// again, unless it could not be read then.
    private static func serverContext(
        _ configuration: NumberdConfiguration, _ directory: DataDirectory, watched: [[UInt8]?]
    ) throws -> TLSContext {
        var held: [String: String] = [:]
        for (path, bytes) in zip(watchedFiles(configuration), watched) {
            if let bytes { held[path] = String(decoding: bytes, as: UTF8.self) }
        }
        let files = configuration.tlsCertificate ?? (directory.serverCertificate, directory.serverKey)
        var tls = TLSConfiguration.server(
            certificateChain: held[files.chain].map { .read(path: files.chain, text: $0) } ?? .file(files.chain),
            privateKey: held[files.key].map { .read(path: files.key, text: $0) } ?? .file(files.key))
        tls.applicationProtocols = ["nrpc/1"]
        if let clientCA = configuration.clientCAFile {
            tls.clientAuthentication = .required
            tls.trustRoots = held[clientCA].map { .read(path: clientCA, text: $0) } ?? .file(clientCA)
        }
        return try TLSContext(configuration: tls)
    }

    /// An expired operator certificate refuses the start (a running numberd only says so: it keeps serving the rest of
    /// its connections' sessions); one not yet valid or near its end is a warning.
    private static func checkOperatorCertificate(
        _ context: TLSContext, path: String, nowSeconds: Int64, atStart: Bool, logger: Logger
    ) throws {
        guard let summary = context.certificate else { return }
        let window = NumberdConfiguration.certificateRenewalWindowSeconds
        guard let problem = GeneratedCertificates.timeProblem(summary, nowSeconds: nowSeconds, windowSeconds: window)
        else { return }
        let expired = nowSeconds > summary.notAfterSeconds
        if expired, atStart {
            throw TLSError(
                code: .invalidConfiguration,
                message: "the server certificate \(path) (--tls-cert) \(problem): replace it and its key; numberd "
                    + "does not renew a certificate it did not generate")
        }
        let level: Logger.Level = expired ? .error : .warning
        logger.log(
            level: level,
            "the server certificate (--tls-cert) must be replaced: numberd does not renew a certificate it did not generate",
            metadata: [
                "certificate": "\(path)", "problem": "\(problem)",
                "days_left": "\((summary.notAfterSeconds - nowSeconds) / 86_400)",
            ])
    }

    private static func notAfter(_ context: TLSContext) -> String {
        context.certificate.map { GeneratedCertificates.timestamp($0.notAfterSeconds) } ?? "unknown"
    }

    /// One line for each change to the generated material (nothing when it was kept).
    private static func log(_ check: GeneratedCertificates.Check, _ directory: DataDirectory, _ logger: Logger) {
        let metadata: Logger.Metadata = [
            "reason": "\(check.reason ?? "none")", "serial": "\(check.server.serialNumberHex)",
            "not_after": "\(GeneratedCertificates.timestamp(check.server.notAfterSeconds))",
            "ca": "\(directory.caCertificate)",
        ]
        switch check.action {
        case .kept:
            break
        case .created:
            logger.info("generated a local CA and server certificate", metadata: metadata)
        case .renewedServer:
            logger.notice(
                "renewed the server certificate from the local CA (clients trusting it need no change)",
                metadata: metadata)
        case .regeneratedAuthority:
            logger.warning(
                "replaced the local CA and server certificate: clients must trust the new CA file again",
                metadata: metadata)
        }
        if let problem = check.authorityProblem, check.action != .regeneratedAuthority {
            logger.warning("the local CA has a problem", metadata: metadata.merging(["problem": "\(problem)"]) { $1 })
        }
        // A start on a full disk serves the pair it could not replace (valid, matching) instead of failing.
        if let failure = check.renewalFailure {
            logger.error(
                "renewed TLS material could not be written; serving the valid pair on disk until it can",
                metadata: metadata.merging(["error": "\(failure)"]) { $1 })
        }
    }
}
