import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS
import NumberWire
import Synchronization

/// The Swift client of numberd: typed async methods for every RPC, many calls multiplexed per connection, a small
/// connection pool, deadlines, cancellation, reconnects, and retries only where they cannot do harm.
///
/// ```swift
/// let configuration = NumbersClientConfiguration(apiKey: key, trustRoots: .file(caPath))
/// let numbers = try await withNumbersClient(configuration) { client in
///     try await client.listNumbers(ListNumbersRequest(accountId: "ACC_…"))
/// }
/// ```
public final class NumbersClient: Sendable {
    /// Decodes the server's responses: bounded by the message size this client accepts, not by a count of fields —
    /// the default (``ProtoDecoder/Limits/fieldsMax``) guards a server against requests before authentication, and
    /// a page of an operator's raised `pageSizeMax` may hold more fields than that.
    static let responseDecoder = ProtoDecoder(limits: ProtoDecoder.Limits(fieldsMax: .max))

    private let configuration: NumbersClientConfiguration
    private let tls: TLSContext?
    private let sessionCache = TLSSessionCache()
    private let group: any EventLoopGroup
    private let pool = Mutex(Pool())
    /// `Bearer <apiKey>`, made once.
    private let authorization: String?
    /// Ends the backoffs of calls between attempts when the client closes.
    private let closing = CloseSignal()

    private struct Pool {
        /// The pool's connections until they end, those going away (a GOAWAY, or retired after `SHUTTING_DOWN`)
        /// included: they take no new calls, but `close()` must close them too, or their open calls would run on
        /// after it. A connection leaves once its channel is closed.
        var connections: [ClientConnection] = []
        /// The connection attempts under way: with the connections taking calls, at most `connectionPoolSize`.
        var attempts: [Attempt] = []
        /// Calls waiting for an attempt of `attempts`: as many attempts are started as calls wait (within the pool's
        /// size), so a burst of calls at cold start or after a reconnect brings every connection up at once.
        var waiting = 0
        /// Those of `waiting` that connections taking calls could also serve, oldest first: each is woken, to pick
        /// again, by a call ending on one (``NumbersClient/callEnded(on:)``), since the slot it frees often comes
        /// long before the connection being made (a connect, a TLS handshake and the server's SETTINGS, each up to its
        /// timeout).
        var roomWaiters: [EventLoopPromise<Void>] = []
        var next = 0
        var closed = false
        /// Connect attempts failed in a row (reset by one that succeeds), and until when no attempt starts while a
        /// connection takes calls (``NumbersClient/connectBackoff(failures:)``): against a numberd at its connection
        /// limits each attempt is accepted and closed, and without the pause every call would make one.
        var failures = 0
        var backoffUntil: NIODeadline?
        /// When the pool last saw a connection go away (closed, or taking no more calls after a GOAWAY): calls that
        /// then cannot connect wait for a restart (``ConnectError/afterServerWentAway``), though they saw nothing go
        /// away themselves — those started during a drain.
        var wentAway: NIODeadline?

        /// Whether another connection attempt may start, with `alive` connections taking calls: the pool's `size`
        /// leaves room and, while a connection takes calls, the backoff after failed attempts has passed. With none,
        /// a call connects whatever came before (its own retries back off), unless it `sawFailure`: the attempt it
        /// waited for failed, which it reports instead of making another.
        func mayConnect(alive: Int, size: Int, sawFailure: Bool) -> Bool {
            guard alive + attempts.count < size else { return false }
            if alive == 0 { return !sawFailure }
            guard let backoffUntil else { return true }
            return backoffUntil <= .now()
        }
    }

    /// A connection attempt under way.
    private struct Attempt {
        var future: EventLoopFuture<ClientConnection>
        /// What `close()` cuts it short with.
        var connectionAttempts: ConnectionAttempts
    }

    /// The first pause after a failed connect attempt during which a pool with a connection taking calls starts no
    /// other (100 ms); it doubles with each failure in a row up to ``connectBackoffMax``.
    static let connectBackoffInitial = TimeAmount.milliseconds(100)
    /// The longest such pause (30 s).
    static let connectBackoffMax = TimeAmount.seconds(30)

    /// Creates a client; connections open on first use. Throws
    /// ``NumbersClientConfiguration/ConfigurationError``, naming the field, for a configuration the client cannot work
    /// with (``NumbersClientConfiguration/validate()``): its fields are `var`s, set after its initializer checked
    /// them, and a bad one would otherwise fail every call with the wrong error, or trap at the first connect.
    public convenience init(
        configuration: NumbersClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validate()
        var tlsConfiguration = TLSConfiguration.client(trustRoots: configuration.trustRoots)
        tlsConfiguration.applicationProtocols = ["nrpc/1"]
        tlsConfiguration.handshakeTimeout = configuration.handshakeTimeout
        if let certificate = configuration.clientCertificate {
            tlsConfiguration.certificateChain = certificate.chain
            tlsConfiguration.privateKey = certificate.key
        }
        try self.init(configuration: configuration, tls: TLSContext(configuration: tlsConfiguration), group: group)
    }

    /// A client over a given TLS context, or without TLS (`nil`, protocol tests only).
    package init(configuration: NumbersClientConfiguration, tls: TLSContext?, group: any EventLoopGroup) {
        self.configuration = configuration
        self.tls = tls
        self.group = group
        self.authorization = configuration.apiKey.map { "Bearer \($0)" }
    }

    /// A client dropped without `close()` closes its connections here, without waiting: they would otherwise stay
    /// open until the server's idle timeout (300 s). No call can be running then (each holds the client), nor a
    /// connection attempt (it holds the client until its connection joins the pool). `close()` remains the way to
    /// close them and wait until they are closed.
    deinit {
        let connections = pool.withLock { pool in
            pool.closed = true
            return pool.connections
        }
        for connection in connections { connection.channel.close(promise: nil) }
    }

    /// The pool's connections that are up and not going away (tests wait on it to see a lost connection reach the
    /// client: a connection counts as gone only once its open calls have been failed).
    var liveConnectionCount: Int { pool.withLock { $0.connections.count { $0.status.isAlive } } }
    /// Calls waiting for a connection being made (tests wait on it to know a call found every connection full).
    var waitingCallCount: Int { pool.withLock { $0.waiting } }

    /// Closes every connection, those going away included; calls in flight fail and later calls throw. A connection
    /// being made is cut short: the calls waiting for it fail `CLIENT_CLOSED` now, not after its connect, handshake
    /// and greeting time out; so do calls waiting out a backoff between attempts, not when it ends (a `retryAfterMs`
    /// can be many seconds).
    public func close() async {
        let (connections, attempts) = pool.withLock { pool in
            pool.closed = true
            defer { pool.connections.removeAll() }
            return (pool.connections, pool.attempts.map(\.connectionAttempts))
        }
        closing.close()
        for attempt in attempts { attempt.cancel() }
        for connection in connections { await connection.close() }
    }

    // MARK: Calls

    /// Calls `method` with `request`; throws `RPCError` for every failure (server status or transport). A request
    /// that sets a field the server predates (``APIRevision/guardedFields``, above the API revision of the server the
    /// call would go to) fails `FAILED_PRECONDITION` / `SERVER_TOO_OLD` without being sent: that server would skip the
    /// field and act without the guard it carries.
    public func call<Request, Response>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, options: CallOptions = CallOptions()
    ) async throws -> Response {
        var message = ByteBuffer()
        do {
            try ProtoEncoder().encode(request, into: &message)
        } catch {
            throw RPCError(
                code: .invalidArgument, message: "cannot encode \(Request.self): \(error)", reason: "ENCODING")
        }
        var metadata = options.metadata
        // The call's own `authorization` (a service acting for several accounts) wins over the client's key.
        if let authorization, metadata["authorization"] == nil { metadata["authorization"] = authorization }
        if let id = options.requestID { metadata["request-id"] = id }
        var retry = Self.retryClass(method.path)
        var idempotencyKey: String?
        // A key given in the metadata under its wire name (FRAMING.md) is the caller's key as much as one given in
        // `idempotencyKey`: replaced by a fresh one, every retry of theirs would be a new credit or purchase.
        let given = options.metadata["idempotency-key"]
        if retry == .unsafe, let key = options.idempotencyKey ?? given {
            // numberd keys none of these, so the key would be dropped: its caller, believing a call again under it
            // safe after an unknown outcome, would do the work twice. Refused before anything is sent.
            throw RPCError(
                code: .invalidArgument,
                message: "\(method.method) takes no idempotency key (\"\(key)\" given): numberd would ignore it, and "
                    + "a call again under it would be done twice; send it without one",
                reason: "IDEMPOTENCY_KEY_NOT_TAKEN", details: ["outcome": "not-started", "method": method.method])
        }
        if retry == .keyed, let given, let explicit = options.idempotencyKey, given != explicit {
            throw RPCError(
                code: .invalidArgument,
                message: "two idempotency keys for one call: CallOptions.idempotencyKey \"\(explicit)\" and the "
                    + "metadata's idempotency-key \"\(given)\"; give one",
                reason: "CONFLICTING_KEYS", details: ["outcome": "not-started"])
        }
        if retry == .keyed, let release = request as? ReleaseNumberRequest, release.dryRun {
            // A release's dry run changes nothing: retried as a read, under no key of its own; one the caller gives
            // goes along (the server answers it with the release made under it).
            retry = .idempotent
            if let key = options.idempotencyKey ?? given { metadata["idempotency-key"] = key }
        } else if retry == .keyed {
            idempotencyKey = options.idempotencyKey ?? given ?? Self.newIdempotencyKey()
            metadata["idempotency-key"] = idempotencyKey
        }
        let deadline = NIODeadline.now() + (options.timeout ?? configuration.defaultTimeout)
        let attempts = CallAttempts(retryClass: retry, idempotencyKey: idempotencyKey, policy: configuration.retry)
        let guardedFields = APIRevision.guardedFieldsSet(in: request)
        let payload = try await run(
            path: method.path, metadata: metadata, message: message, guardedFields: guardedFields, deadline: deadline,
            attempts)
        do {
            return try Self.responseDecoder.decode(Response.self, from: payload)
        } catch {
            var malformed = RPCError(
                code: .internal, message: "the server's \(Response.self) did not decode: \(error)",
                reason: "MALFORMED_RESPONSE")
            // Done at the server, yet unreadable here: a call that changes something says so (outcome unknown to
            // its caller), and a keyed one names its key, to ask again under it.
            if retry != .idempotent { malformed.details["outcome"] = "unknown" }
            if let idempotencyKey { malformed.details["idempotencyKey"] = idempotencyKey }
            throw malformed
        }
    }

    /// Methods that change nothing: retried after any transport failure.
    static let idempotentMethods: Set<String> = [
        NumbersMethods.searchNumbers.path, NumbersMethods.listNumbers.path, NumbersMethods.getNumber.path,
        NumbersMethods.getBalance.path, NumbersMethods.listTransactions.path, NumbersMethods.getStatement.path,
        NumbersMethods.listTrunks.path,
        NumbersMethods.getAccount.path, NumbersMethods.listAccounts.path, NumbersMethods.listApiKeys.path,
        NumbersMethods.healthCheck.path, NumbersMethods.getProviderAudit.path,
    ]
    /// Methods protected by an idempotency key: a retry returns the first result, so they are retried too.
    static let keyedMethods: Set<String> = [
        NumbersMethods.purchaseNumbers.path, NumbersMethods.addFunds.path, NumbersMethods.adjustBalance.path,
        NumbersMethods.releaseNumber.path,
    ]

    enum RetryClass {
        /// Changes nothing: retried after any transport failure.
        case idempotent
        /// Carries an idempotency key: retried, the server answers a retry with the first result.
        case keyed
        /// Retried only when it never reached the server.
        case unsafe
    }

    /// The class of every method by path, looked up once per call (one hash instead of one per set).
    private static let retryClasses: [String: RetryClass] = Dictionary(
        uniqueKeysWithValues: idempotentMethods.map { ($0, .idempotent) } + keyedMethods.map { ($0, .keyed) })

    static func retryClass(_ path: String) -> RetryClass { retryClasses[path] ?? .unsafe }

    /// A new idempotency key: a random (version 4) UUID in lower case, as the client makes for a keyed call that
    /// brings none. A caller that may have to repeat a call after an unknown outcome (a CLI run again by hand)
    /// makes its key with this and keeps it. From the kernel's `getrandom` through `SystemRandomNumberGenerator`:
    /// Foundation's `UUID()` opens, reads and closes `/dev/urandom` every time, which costs three system calls and
    /// needs a free file descriptor.
    public static func newIdempotencyKey() -> String {
        var generator = SystemRandomNumberGenerator()
        var uuid = UUID(uuid: unsafeBitCast((generator.next() as UInt64, generator.next() as UInt64), to: uuid_t.self))
            .uuid
        uuid.6 = uuid.6 & 0x0f | 0x40  // version 4
        uuid.8 = uuid.8 & 0x3f | 0x80  // RFC 4122 variant
        return UUID(uuid: uuid).uuidString.lowercased()
    }

    /// Makes attempts of one call until one is answered or `attempts` says to stop, all within `deadline`: the
    /// instant fixed when the call started, which every wait (for a connection, a stream slot, the answer, a backoff)
    /// shares. Each attempt checks `guardedFields` against the server of the connection it goes out on.
    private func run(
        path: String, metadata: [String: String], message: ByteBuffer, guardedFields: [APIRevision.GuardedField],
        deadline: NIODeadline, _ attempts: CallAttempts
    ) async throws -> ByteBuffer {
        var attempts = attempts
        var headersBuffer = ByteBuffer()
        while true {
            guard deadline > .now() else { throw attempts.deadlinePassed() }
            let outcome: Result<ByteBuffer, CallAttempts.Failure>
            do {
                outcome = try await attempt(
                    path: path, metadata: metadata, headers: &headersBuffer, message: message,
                    guardedFields: guardedFields, deadline: deadline)
            } catch WaitEnded.deadline {
                throw attempts.deadlinePassed()
            } catch WaitEnded.cancelled {
                throw attempts.cancelled()
            } catch let closed as RPCError where closed.reason == "CLIENT_CLOSED" {
                // Closed while a keyed call retried an attempt that may have run: its outcome and key go with it.
                throw attempts.final(closed)
            }
            let failure: CallAttempts.Failure
            switch outcome {
            case .success(let payload): return payload
            case .failure(let failed): failure = failed
            }
            switch attempts.failed(failure) {
            case .fail(let error):
                throw error
            case .retry(let backoff, let otherwise):
                guard NIODeadline.now() + backoff < deadline else { throw otherwise }
                // Ended early by close(): the call throws CLIENT_CLOSED now (with its key and outcome when an
                // attempt may have run), not once the backoff is over.
                switch await closing.pause(backoff, on: group.next()) {
                case .elapsed:
                    break
                case .closed:
                    throw attempts.final(
                        RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED"))
                case .cancelled:
                    throw attempts.cancelled()
                }
            }
        }
    }

    /// One attempt: the response message, or why there is none. Throws `WaitEnded` when the call's `deadline`
    /// passes or its task is cancelled while it waits for a connection (nothing sent). The request's HEADERS
    /// (encoded into `headers`, reused across attempts) are made once the connection is there, so the timeout they
    /// tell the server is what is left of `deadline` after the wait (and again after a wait in the connection's queue
    /// behind the server's concurrent-call limit: the connection re-encodes them from `RequestHeaders`); the call on
    /// the connection ends at `deadline` too. The connection is one whose server's SETTINGS have arrived (the pool takes no other), so its API revision
    /// is known when `guardedFields` are checked against it: waiting for them is the wait for the connection, within
    /// `deadline`.
    private func attempt(
        path: String, metadata: [String: String], headers: inout ByteBuffer, message: ByteBuffer,
        guardedFields: [APIRevision.GuardedField], deadline: NIODeadline
    ) async throws -> Result<ByteBuffer, CallAttempts.Failure> {
        let connection: ClientConnection
        do {
            connection = try await self.connection(deadline: deadline)
        } catch let error as ConnectError {
            return .failure(.connectFailed(message: error.message, serverWentAway: error.afterServerWentAway))
        }
        // Counted on the connection by the pool (which picks the one given the fewest calls) until the attempt ends.
        defer { callEnded(on: connection) }
        let remaining = deadline - .now()
        guard remaining > .zero else { throw WaitEnded.deadline }
        headers.clear()
        let requestHeaders = RequestHeaders(
            method: path, timeoutMicros: Self.timeoutMicros(remaining), metadata: metadata)
        try ProtoEncoder().encode(requestHeaders, into: &headers)
        switch try await connection.call(
            headers: headers, message: message, deadline: deadline, guardedFields: guardedFields,
            requestHeaders: requestHeaders)
        {
        case .response(let payload):
            return .success(payload)
        case .status(let payload):
            let status =
                (try? ProtoDecoder().decode(RpcStatus.self, from: payload))
                ?? RpcStatus(code: StatusCode.internal.rawValue, message: "unreadable status")
            let error =
                RPCError(status: status)
                ?? RPCError(code: .internal, message: "an OK status without a response", reason: "MALFORMED_RESPONSE")
            // The server takes no more calls on this connection: the retry of this one goes to another.
            if CallAttempts.wasNeverStarted(error) { connection.retire(reason: error.message) }
            return .failure(.status(error))
        case .connectionFailure(let text, let unstarted):
            return .failure(.connectionLost(message: text, unstarted: unstarted))
        }
    }

    /// The `timeout_micros` telling the server that `remaining` (positive) is left, rounded up to whole microseconds:
    /// under 1 µs left must be sent as 1 µs, not as 0, which means no deadline at all.
    static func timeoutMicros(_ remaining: TimeAmount) -> Int64 {
        let nanoseconds = max(remaining.nanoseconds, 1)
        return nanoseconds / 1000 + (nanoseconds % 1000 == 0 ? 0 : 1)
    }

    /// A usable connection: of those taking calls, the one given the fewest that still has room below the server's
    /// concurrent-call limit (round-robin among equals), while the pool grows to its size in the background. When
    /// none has room, the call waits, until `deadline` (nil: none), for a connection being made — as many attempts
    /// start as calls wait, within the pool's size — or for a call to end on a connection taking calls, whichever
    /// comes first, and then picks again, rather than queueing behind a full one:
    /// a burst of calls at cold start or after a reconnect spreads over every connection, instead of running the
    /// server's limit on the first and queueing the rest there until their deadlines. Only when the pool is at its
    /// size (or connects back off after failures) is the call queued, on the connection given the fewest calls.
    /// `forCall`: the call is counted on the connection, and the caller must end it with ``callEnded(on:)``.
    private func connection(deadline: NIODeadline?, forCall: Bool = true) async throws -> ClientConnection {
        var failure: ConnectError?
        while true {
            let pick = pool.withLock { pool in choose(&pool, forCall: forCall, sawFailure: failure != nil) }
            switch pick {
            case .closed:
                throw RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED")
            case .ready(let connection):
                return connection
            case .failed:
                var error =
                    failure ?? ConnectError(message: "cannot connect to \(configuration.host):\(configuration.port)")
                error.afterServerWentAway = pool.withLock { pool in
                    pool.wentAway.map { .now() - $0 < .seconds(Self.wentAwayRecentSeconds) } ?? false
                }
                throw error
            case .wait(let future, let room):
                var picksAgain = true
                defer { stoppedWaiting(room: room, picksAgain: picksAgain) }
                do {
                    // Its connection, or the slot freed, may go to another call meanwhile: the next pick takes
                    // whichever has room.
                    try await wait(for: future, orRoom: room, until: deadline)
                } catch let error as ConnectError {
                    failure = error
                } catch {
                    picksAgain = false
                    throw error
                }
            }
        }
    }

    /// One pick of ``connection(deadline:forCall:)``, under the pool's lock; it counts the call on the connection it
    /// returns (`forCall`) and on the pool's waiting calls when it returns `.wait`. `sawFailure`: the attempt the call
    /// waited for failed; with no connection taking calls it then fails, rather than starting another attempt (its
    /// retries decide). Scans in place: this runs on every call and must not allocate.
    private func choose(_ state: inout Pool, forCall: Bool, sawFailure: Bool) -> Pick {
        // Connections that ended leave; those going away stay until then, for `close()`.
        let before = state.connections.count
        state.connections.removeAll { !$0.channel.isActive }
        if state.connections.count < before { state.wentAway = .now() }
        if state.closed { return .closed }
        var alive = 0
        var roomy: ClientConnection?
        var roomyCalls = Int.max
        var leastLoaded: ClientConnection?
        var leastLoadedCalls = Int.max
        let count = state.connections.count
        state.next &+= 1
        if count > 0 {
            let first = Int(UInt(bitPattern: state.next) % UInt(count))
            for offset in 0..<count {
                let candidate = state.connections[(first + offset) % count]
                guard candidate.status.isAlive else {
                    state.wentAway = .now()
                    continue
                }
                alive += 1
                let calls = candidate.status.callCount
                if calls < leastLoadedCalls {
                    leastLoaded = candidate
                    leastLoadedCalls = calls
                }
                if calls < roomyCalls, candidate.status.hasRoom {
                    roomy = candidate
                    roomyCalls = calls
                }
            }
        }
        let size = configuration.connectionPoolSize
        if let ready = roomy ?? (forCall ? nil : leastLoaded) {
            // The pool grows in the background, one attempt at a time.
            if state.attempts.isEmpty, state.mayConnect(alive: alive, size: size, sawFailure: sawFailure) {
                _ = startConnecting(&state)
            }
            if forCall { ready.status.callStarted() }
            return .ready(ready)
        }
        // No room: wait for a connection being made, starting one for each call waiting, within the pool's size.
        var awaited: EventLoopFuture<ClientConnection>?
        while state.attempts.count < state.waiting + 1,
            state.mayConnect(alive: alive, size: size, sawFailure: sawFailure)
        {
            awaited = startConnecting(&state)
        }
        if awaited == nil, !state.attempts.isEmpty {
            // Waiters spread over the attempts under way (round-robin), each woken when its own ends.
            awaited = state.attempts[Int(UInt(bitPattern: state.next) % UInt(state.attempts.count))].future
        }
        if let awaited {
            state.waiting += 1
            // A call ending on a connection taking calls frees a slot, often before the attempt ends.
            guard alive > 0 else { return .wait(awaited, room: nil) }
            let room = awaited.eventLoop.makePromise(of: Void.self)
            state.roomWaiters.append(room)
            return .wait(awaited, room: room)
        }
        // The pool is at its size (or backs off) and every connection is full: queue on the least loaded.
        if let leastLoaded {
            if forCall { leastLoaded.status.callStarted() }
            return .ready(leastLoaded)
        }
        return .failed
    }

    /// Waits for a connection attempt to end, or for `room` (nil: none; succeeded by ``callEnded(on:)``), until
    /// `deadline` (nil: none) or the task's cancellation, which throw `WaitEnded`; a failed attempt throws
    /// `ConnectError`. The caller then picks again (another call may have taken the connection, or the slot). Only
    /// this caller stops waiting: the attempt, which may take the connect timeout, the TLS handshake's and the connect
    /// timeout again for the server's SETTINGS, goes on for the pool and the other calls waiting on it.
    private func wait(
        for future: EventLoopFuture<ClientConnection>, orRoom room: EventLoopPromise<Void>?,
        until deadline: NIODeadline?
    ) async throws {
        let eventLoop = future.eventLoop
        let waited = room ?? eventLoop.makePromise(of: Void.self)
        // Completes `waited` in the end, whatever else did first (then it is ignored).
        future.map { _ in }.cascade(to: waited)
        let timer = deadline.map { deadline in
            eventLoop.scheduleTask(deadline: deadline) { waited.fail(WaitEnded.deadline) }
        }
        defer { timer?.cancel() }
        do {
            try await withTaskCancellationHandler {
                try await waited.futureResult.get()
            } onCancel: {
                waited.fail(WaitEnded.cancelled)
            }
        } catch let ended as WaitEnded {
            throw ended
        } catch {
            if pool.withLock({ $0.closed }) {
                throw RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED")
            }
            throw ConnectError(
                message: "cannot connect to \(configuration.host):\(configuration.port): \(Self.connectFailure(error))")
        }
    }

    /// A call stopped waiting in ``connection(deadline:forCall:)``: it leaves the pool's waiting calls, and its `room`
    /// the room waiters. A wakeup it took there but will not use — it does not pick again (its deadline, its
    /// cancellation) — goes to the next call waiting for room, which would otherwise miss the slot freed.
    private func stoppedWaiting(room: EventLoopPromise<Void>?, picksAgain: Bool) {
        let next: EventLoopPromise<Void>? = pool.withLock { pool in
            pool.waiting -= 1
            guard let room else { return nil }
            if let index = pool.roomWaiters.firstIndex(where: { $0.futureResult === room.futureResult }) {
                pool.roomWaiters.remove(at: index)
                return nil
            }
            guard !picksAgain, !pool.roomWaiters.isEmpty else { return nil }
            return pool.roomWaiters.removeFirst()
        }
        next?.succeed()
    }

    /// A call the pool gave `connection` ended (``ClientConnectionStatus/callEnded()``): the call that has waited
    /// longest for room, if any, is woken to pick again. It takes the slot freed, or waits again if another call took
    /// it first. Woken outside the pool's lock.
    private func callEnded(on connection: ClientConnection) {
        connection.status.callEnded()
        let woken: EventLoopPromise<Void>? = pool.withLock { pool in
            pool.roomWaiters.isEmpty ? nil : pool.roomWaiters.removeFirst()
        }
        woken?.succeed()
    }

    /// Why a connect attempt failed, in a line: for the addresses tried, the system's words for their error
    /// (`Connection refused`, the errno's `strerror`), each said once. NIO's own description of a failed connect
    /// (`NIOConnectionError`) dumps its `SingleConnectionFailure` values, which the CLI printed as they were. Any other
    /// failure (a TLS handshake's, a timeout) as it describes itself.
    static func connectFailure(_ error: any Error) -> String {
        guard let failure = error as? NIOConnectionError else { return systemReason(error) }
        if let lookup = failure.dnsAError ?? failure.dnsAAAAError {
            return "cannot resolve \(failure.host): \(systemReason(lookup))"
        }
        var reasons: [String] = []
        for attempt in failure.connectionErrors {
            let reason = systemReason(attempt.error)
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons.isEmpty ? "no address to connect to" : reasons.joined(separator: "; ")
    }

    /// An `IOError` as the system's words for its errno; any other error as it describes itself.
    private static func systemReason(_ error: any Error) -> String {
        guard let error = error as? IOError else { return "\(error)" }
        return String(cString: strerror(error.errnoCode))
    }

    /// An executor over the event loop of a connection of this client (connecting if none is open yet): tasks
    /// that prefer it make their calls without thread hops. See `EventLoopTaskExecutor`.
    public func preferredTaskExecutor() async throws -> EventLoopTaskExecutor {
        do {
            return EventLoopTaskExecutor(try await connection(deadline: nil, forCall: false).channel.eventLoop)
        } catch let error as ConnectError {
            throw RPCError(code: .unavailable, message: error.message, reason: "CONNECT_FAILED")
        } catch is WaitEnded {
            throw RPCError(code: .cancelled, message: "cancelled while connecting", reason: "CANCELLED")
        }
    }

    /// Starts a connection attempt and records it in `state` (the pool, under its lock): on success its connection
    /// joins the pool and the failures in a row start over; a failure counts one more and backs the pool off
    /// (``connectBackoff(failures:)``). `close()` cuts it short. The future never completes before this returns (NIO
    /// resolves and connects from the event loop), so its completion cannot run under the lock held here.
    private func startConnecting(_ state: inout Pool) -> EventLoopFuture<ClientConnection> {
        let attempts = ConnectionAttempts()
        let future = ClientConnection.connect(
            host: configuration.host, port: configuration.port, tls: tls,
            serverHostname: configuration.serverHostname ?? configuration.host, sessionCache: sessionCache,
            settings: configuration.settings, connectTimeout: configuration.connectTimeout,
            liveness: configuration.liveness, queuedCallsMax: configuration.queuedCallsMax, group: group,
            attempts: attempts)
        state.attempts.append(Attempt(future: future, connectionAttempts: attempts))
        future.whenComplete { [self] result in
            let orphan: ClientConnection? = pool.withLock { pool in
                pool.attempts.removeAll { $0.connectionAttempts === attempts }
                switch result {
                case .success(let connection):
                    if pool.closed { return connection }
                    pool.failures = 0
                    pool.backoffUntil = nil
                    pool.connections.append(connection)
                case .failure:
                    pool.failures += 1
                    pool.backoffUntil = .now() + Self.connectBackoff(failures: pool.failures)
                }
                return nil
            }
            orphan?.channel.close(promise: nil)
        }
        return future
    }

    /// The pause after `failures` (at least 1) failed connect attempts in a row: ``connectBackoffInitial`` doubled
    /// for each failure after the first, at most ``connectBackoffMax``, drawn between half of that and all of it so
    /// that clients refused together do not all come back together.
    static func connectBackoff(failures: Int) -> TimeAmount {
        let doublings = min(max(failures - 1, 0), 30)
        let bound = min(connectBackoffInitial.nanoseconds << doublings, connectBackoffMax.nanoseconds)
        return .nanoseconds(Int64.random(in: (bound / 2)...bound))
    }

    /// What ``choose(_:forCall:sawFailure:)`` decided.
    private enum Pick {
        case closed
        case ready(ClientConnection)
        /// Wait for this attempt to end, or for `room` (a call ending on a connection: nil when none takes calls),
        /// then pick again.
        case wait(EventLoopFuture<ClientConnection>, room: EventLoopPromise<Void>?)
        /// The attempt the call waited for failed, and nothing else can carry it.
        case failed
    }

    private struct ConnectError: Error {
        var message: String
        /// Whether the pool saw a connection go away shortly before (``Pool/wentAway``): a server restarting, whose
        /// refused connects the call waits out as it would after losing its own connection.
        var afterServerWentAway = false
    }

    /// How long after the pool saw a connection go away a failed connect counts as the server restarting
    /// (``CallAttempts``' restart wait): 60 s, a restart's ~1 s with room for a slow one.
    static let wentAwayRecentSeconds: Int64 = 60

    /// Why a call stopped waiting for a connection being made: nothing was sent.
    private enum WaitEnded: Error {
        case deadline
        case cancelled
    }
}

/// Runs `body` with a client and closes it afterwards, whatever happens.
public func withNumbersClient<Result: Sendable>(
    _ configuration: NumbersClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    _ body: (NumbersClient) async throws -> Result
) async throws -> Result {
    let client = try NumbersClient(configuration: configuration, group: group)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
